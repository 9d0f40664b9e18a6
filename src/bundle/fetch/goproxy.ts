// Go modules from a GOPROXY (the module proxy protocol): <base>/<escaped module>/@v/<escaped version>.info,
// .mod and .zip, with module paths and versions case-encoded ("!" + lower case). The proxy gives no sha256,
// so each downloaded URL's digest is remembered in the store's "fetch" meta (see downloadCached) and a
// re-run downloads nothing it already has. The go.sum checksum database (h1: hashes) is not consulted.
//
// This file also holds the small URL → digest cache the other package fetchers share for sources that do
// not publish a sha256 (downloadCached, cachedDigest).
import { createHash } from 'node:crypto';
import { escapePath } from '../../serve/repos/goproxy.ts';
import { isStoreError } from '../../store/types.ts';
import type { Artifact, ArtifactBlob, FetchContext, FetchResult, Missing, PlannedArtifact } from '../types.ts';
import { downloadToStore, FetchError, getBytes, mapLimit, request, type DownloadResult } from './http.ts';

/** Meta namespace of the URL → digest cache. */
export const FETCH_NS = 'fetch';

interface CachedUrl {
  url: string;
  digest: string;
  size: number;
}

const cacheKey = (url: string) => `urls/${createHash('sha256').update(url).digest('hex')}.json`;

/** The digest remembered for url, when its blob is still in the store. */
export async function cachedDigest(ctx: FetchContext, url: string): Promise<{ digest: string; size: number } | undefined> {
  const raw = await ctx.store.readMeta(FETCH_NS, cacheKey(url));
  if (!raw) return undefined;
  let rec: Partial<CachedUrl>;
  try {
    rec = JSON.parse(raw.toString('utf8')) as Partial<CachedUrl>;
  } catch {
    return undefined;
  }
  if (rec.url !== url || typeof rec.digest !== 'string') return undefined;
  const st = await ctx.store.stat(rec.digest).catch(() => undefined);
  return st ? { digest: st.digest, size: st.size } : undefined;
}

/**
 * Download url into ctx.store once. With expectedDigest: skipped when the store has it, verified otherwise.
 * Without: skipped when an earlier run recorded this URL's digest (store.writeMeta('fetch', ...)) and the
 * blob is still in the store; after a download the URL → digest record is written. Progress: start/done
 * per URL (label), bytes as they arrive.
 */
export async function downloadCached(ctx: FetchContext, url: string, opts: { expectedDigest?: string; label?: string; size?: number } = {}): Promise<DownloadResult> {
  const label = opts.label ?? url;
  if (!opts.expectedDigest) {
    const hit = await cachedDigest(ctx, url);
    if (hit) {
      ctx.progress?.done?.(label, true);
      return { ...hit, downloaded: false };
    }
  } else {
    const st = await ctx.store.stat(opts.expectedDigest);
    if (st) {
      ctx.progress?.done?.(label, true);
      return { digest: st.digest, size: st.size, downloaded: false };
    }
  }
  ctx.progress?.start?.(label, opts.size);
  const r = await downloadToStore(ctx.store, url, {
    ...(opts.expectedDigest ? { expectedDigest: opts.expectedDigest } : {}),
    ...(ctx.progress ? { progress: ctx.progress } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  if (!opts.expectedDigest) await ctx.store.writeMeta(FETCH_NS, cacheKey(url), `${JSON.stringify({ url, digest: r.digest, size: r.size } satisfies CachedUrl)}\n`);
  ctx.progress?.done?.(label, !r.downloaded);
  return r;
}

/** A per-item failure becomes a Missing reason; abort and local store I/O errors are the caller's. */
export function failureReason(e: unknown, ctx: FetchContext): string {
  if (ctx.signal?.aborted) throw e;
  if (isStoreError(e) && e.code === 'io') throw e;
  return e instanceof Error ? e.message : String(e);
}

/** 404 and 410 are the source saying "no such thing". */
export const isNotFound = (e: unknown): boolean => e instanceof FetchError && (e.status === 404 || e.status === 410);

/** The three proxy URLs of one module version. */
export function goModuleUrls(base: string, module: string, version: string): { info: string; mod: string; zip: string } {
  const b = `${base.replace(/\/+$/, '')}/${escapePath(module)}/@v/${escapePath(version)}`;
  return { info: `${b}.info`, mod: `${b}.mod`, zip: `${b}.zip` };
}

/**
 * Fetch planned Go modules (kind 'gomod'; name = module path, version = exact version) from
 * ctx.sources.goproxy: .info, .mod and .zip, roles 'info', 'mod', 'zip'; meta {module, version}.
 * 404/410 → Missing. Dependencies of modules are not resolved (the site lists every module it needs).
 * dryRun: the .info document is read (to know the version exists) and the zip's size asked with HEAD.
 */
export async function fetchGoModules(ctx: FetchContext, items: readonly PlannedArtifact[]): Promise<FetchResult> {
  const result: FetchResult = { artifacts: [], missing: [], downloadedBytes: 0, skippedBytes: 0 };
  const mine = items.filter((i) => i.kind === 'gomod');
  const base = ctx.sources.goproxy;
  const one = async (item: PlannedArtifact): Promise<Artifact | Missing> => {
    const module = item.name;
    const version = item.version;
    if (!version) return { kind: 'gomod', name: module, reason: 'no version given (Go modules are fetched at an exact version, "path@vX.Y.Z")' };
    const urls = goModuleUrls(base, module, version);
    const missing = (reason: string): Missing => ({ kind: 'gomod', name: module, version, reason });
    try {
      if (ctx.dryRun) {
        const blobs: ArtifactBlob[] = [];
        // .info first: it says whether the version exists, and being small its digest is simply computed.
        for (const role of ['info', 'mod', 'zip'] as const) {
          const hit = await cachedDigest(ctx, urls[role]);
          if (hit) {
            result.skippedBytes += hit.size;
            blobs.push({ role, ...hit });
          } else if (role === 'info') {
            const { body } = await getBytes(urls.info, { maxBytes: 1 << 20, ...(ctx.signal ? { signal: ctx.signal } : {}) });
            blobs.push({ role, digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, size: body.length });
          } else {
            let size = 0;
            try {
              const res = await request(urls[role], { method: 'HEAD', ...(ctx.signal ? { signal: ctx.signal } : {}) });
              size = Number(res.headers.get('content-length') ?? 0) || 0;
            } catch (e) {
              if (isNotFound(e)) throw e;
            }
            blobs.push({ role, digest: '', size });
          }
        }
        return { kind: 'gomod', name: module, version, blobs, meta: { module, version } };
      }
      const blobs: ArtifactBlob[] = [];
      // .info first: a module the proxy does not have fails before anything big is asked for.
      for (const role of ['info', 'mod', 'zip'] as const) {
        const r = await downloadCached(ctx, urls[role], { label: `${module}@${version}.${role}` });
        if (r.downloaded) result.downloadedBytes += r.size;
        else result.skippedBytes += r.size;
        blobs.push({ role, digest: r.digest, size: r.size });
      }
      return { kind: 'gomod', name: module, version, blobs, meta: { module, version } };
    } catch (e) {
      if (isNotFound(e)) {
        const gone = e instanceof FetchError && e.status === 410;
        return missing(gone ? `${module}@${version} was removed from ${base} (410 Gone)` : `${base} has no ${module}@${version} (404)`);
      }
      return missing(failureReason(e, ctx));
    }
  };
  for (const r of await mapLimit(mine, ctx.concurrency, one)) {
    if ('blobs' in r) result.artifacts.push(r);
    else result.missing.push(r);
  }
  return result;
}
