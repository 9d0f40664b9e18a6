// Go modules from a GOPROXY (the module proxy protocol): <base>/<escaped module>/@v/<escaped version>.info,
// .mod and .zip, with module paths and versions case-encoded ("!" + lower case). The proxy gives no sha256,
// so each downloaded URL's digest is remembered in the store's "fetch" meta (see downloadCached) and a
// re-run downloads nothing it already has. The go.sum checksum database (h1: hashes) is not consulted.
import { escapePath } from '../../serve/repos/goproxy.ts';
import type { Artifact, ArtifactBlob, FetchContext, FetchResult, Missing, PlannedArtifact } from '../types.ts';
import { createHash } from 'node:crypto';
import { FetchError, getBytes, mapLimit, request } from './http.ts';
import { cachedDigest, downloadCached, failureReason, isNotFound } from './cache.ts';

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
