// Downloads the package fetchers share: once per URL into the store, remembered by URL for sources that
// publish no sha256 (GOPROXY, some indexes), and the per-item failure rules.
import { createHash } from 'node:crypto';
import { isStoreError } from '../../store/types.ts';
import type { FetchContext } from '../types.ts';
import { downloadToStore, FetchError, type DownloadResult } from './http.ts';

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

