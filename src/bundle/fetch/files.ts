// Plain files (bundle.files: url + sha256) into the bundle's store, verified by their sha256 while
// streaming: a mismatch stores nothing. dryRun asks the size with HEAD, and copes when HEAD is refused.
import { isStoreError } from '../../store/index.ts';
import type { Artifact, Fetcher, Missing, PlannedArtifact } from '../types.ts';
import { downloadToStore, FetchError, mapLimit, request } from './http.ts';

const HEX_RE = /^[a-f0-9]{64}$/;

/** The size a HEAD answer gives, or undefined (no Content-Length, or HEAD refused). 404/410 → FetchError. */
async function headSize(url: string, signal?: AbortSignal): Promise<number | undefined> {
  try {
    const res = await request(url, { method: 'HEAD', retries: 2, ...(signal ? { signal } : {}) });
    await res.body?.cancel().catch(() => undefined);
    const n = Number(res.headers.get('content-length') ?? NaN);
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  } catch (e) {
    if (e instanceof FetchError && (e.status === 404 || e.status === 410)) throw e;
    if (signal?.aborted) throw e;
    return undefined; // 405, 403 on GET-only links, a server that hangs up on HEAD: the size stays unknown
  }
}

/** "sha256 mismatch: got X expected Y" from downloadToStore's error, when that is what it was. */
function mismatchReason(e: unknown, expectedHex: string): string | undefined {
  if (!(e instanceof FetchError) || !isStoreError(e.cause) || e.cause.code !== 'digest-mismatch') return undefined;
  const got = /content digest sha256:([a-f0-9]{64})/.exec(e.cause.message)?.[1];
  return `sha256 mismatch: got ${got ?? 'other content'} expected ${expectedHex}`;
}

/** Fetch one file (or in dryRun, look it up); a reason string when it is missing. */
async function fetchFile(
  ctx: Parameters<Fetcher>[0],
  item: PlannedArtifact,
  count: { downloaded: number; skipped: number },
): Promise<Artifact | string> {
  const hex = item.sha256?.toLowerCase();
  if (!item.url || !hex || !HEX_RE.test(hex)) return 'the plan gives no url and sha256 for this file';
  const digest = `sha256:${hex}`;
  const art = (size: number): Artifact => ({
    kind: 'file',
    name: item.name,
    version: hex.slice(0, 12),
    blobs: [{ digest, size, role: 'file' }],
    meta: { name: item.name, url: item.url! },
  });
  const signal = ctx.signal ? { signal: ctx.signal } : {};
  if (ctx.dryRun) {
    const st = await ctx.store.stat(digest);
    if (st) {
      count.skipped += st.size;
      return art(st.size);
    }
    try {
      return art((await headSize(item.url, ctx.signal)) ?? 0);
    } catch (e) {
      if (e instanceof FetchError && !ctx.signal?.aborted) return `${item.url}: not found (HTTP ${e.status})`;
      throw e;
    }
  }
  ctx.progress?.start?.(item.name);
  try {
    const r = await downloadToStore(ctx.store, item.url, { ...signal, expectedDigest: digest, ...(ctx.progress ? { progress: ctx.progress } : {}) });
    if (r.downloaded) count.downloaded += r.size;
    else count.skipped += r.size;
    ctx.progress?.done?.(item.name, !r.downloaded);
    return art(r.size);
  } catch (e) {
    if (ctx.signal?.aborted) throw e;
    const mismatch = mismatchReason(e, hex);
    if (mismatch) return mismatch;
    if (e instanceof FetchError) return e.message;
    throw e;
  }
}

/** Files of the plan (kind 'file'), by url, verified by sha256. */
export const fetchFiles: Fetcher = async (ctx, items) => {
  const files = items.filter((i) => i.kind === 'file');
  const count = { downloaded: 0, skipped: 0 };
  const results = await mapLimit(files, Math.max(1, ctx.concurrency), (item) => fetchFile(ctx, item, count));
  const artifacts: Artifact[] = [];
  const missing: Missing[] = [];
  results.forEach((r, i) => {
    const item = files[i]!;
    if (typeof r === 'string') missing.push({ kind: 'file', name: item.name, ...(item.sha256 ? { version: item.sha256.slice(0, 12) } : {}), reason: r });
    else artifacts.push(r);
  });
  return { artifacts, missing, downloadedBytes: count.downloaded, skippedBytes: count.skipped };
};
