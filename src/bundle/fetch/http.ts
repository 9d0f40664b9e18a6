// HTTP for the connected side: small documents and blobs streamed into the store, with retries.
// Node's own fetch (undici); bodies are streamed, never buffered whole, except small documents (capped).
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { isStoreError, type Store } from '../../store/index.ts';
import type { Progress } from '../types.ts';

export class FetchError extends Error {
  /** HTTP status when the server answered (404 → the artifact does not exist there). */
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FetchError';
    this.status = status;
  }
}

export interface HttpOptions {
  headers?: Record<string, string>;
  /** Attempts for network errors and 5xx/429 (default 4); 4xx other than 429 is final at once. */
  retries?: number;
  /** Delay before the first retry in ms (doubled each time; default 250). */
  backoffMs?: number;
  signal?: AbortSignal;
  /** Per-attempt time limit for the response headers (default 30 s). */
  timeoutMs?: number;
}

/** undici says only "fetch failed"; the cause says why (ENOTFOUND, ECONNREFUSED, a TLS error…). */
function reason(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const c = e.cause;
  if (c instanceof Error) {
    const code = (c as NodeJS.ErrnoException).code;
    return `${e.message} (${code ? `${code}: ` : ''}${c.message})`;
  }
  return e.message;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const retryable = (status: number) => status === 429 || status >= 500;

/** GET with retries; the caller consumes (or cancels) the body. 4xx → FetchError with that status at once. */
export async function request(url: string, opts: HttpOptions & { method?: string } = {}): Promise<Response> {
  const attempts = Math.max(1, opts.retries ?? 4);
  let delay = opts.backoffMs ?? 250;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    if (i > 0) {
      await sleep(delay);
      delay *= 2;
    }
    // The time limit covers the response headers only: it must not abort a long body being streamed.
    const limitMs = opts.timeoutMs ?? 30_000;
    const headersDue = new AbortController();
    const timer = setTimeout(() => headersDue.abort(new FetchError(`${opts.method ?? 'GET'} ${url}: no response within ${limitMs} ms`)), limitMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, headersDue.signal]) : headersDue.signal;
    try {
      const res = await fetch(url, { method: opts.method ?? 'GET', headers: opts.headers, redirect: 'follow', signal });
      clearTimeout(timer);
      if (res.ok) return res;
      await res.body?.cancel().catch(() => undefined);
      last = new FetchError(`${opts.method ?? 'GET'} ${url}: HTTP ${res.status}`, res.status);
      if (!retryable(res.status)) throw last;
    } catch (e) {
      if (e instanceof FetchError && e.status !== undefined && !retryable(e.status)) throw e;
      if (opts.signal?.aborted) throw e;
      last = e instanceof FetchError ? e : new FetchError(`${opts.method ?? 'GET'} ${url}: ${reason(e)}`, undefined, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }
  throw last instanceof Error ? last : new FetchError(`GET ${url} failed`);
}

/** A small document (JSON, index.yaml, Release…), at most maxBytes (default 64 MiB). */
export async function getBytes(url: string, opts: HttpOptions & { maxBytes?: number } = {}): Promise<{ body: Buffer; headers: Headers }> {
  const res = await request(url, opts);
  const max = opts.maxBytes ?? 64 * 1024 * 1024;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of Readable.fromWeb(res.body as WebReadableStream<Uint8Array>)) {
    n += (c as Buffer).length;
    if (n > max) throw new FetchError(`GET ${url}: larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  return { body: Buffer.concat(chunks), headers: res.headers };
}

export interface DownloadResult {
  digest: string;
  size: number;
  /** Whether this call added the blob to the store (false: it was there already, fetched or not). */
  downloaded: boolean;
}

/**
 * Stream url into the store. With expectedDigest: skipped when the store already has it, and a
 * mismatch fails (nothing stored; retried as a network error would be, then FetchError).
 */
export async function downloadToStore(
  store: Store,
  url: string,
  opts: HttpOptions & { expectedDigest?: string; progress?: Progress } = {},
): Promise<DownloadResult> {
  if (opts.expectedDigest) {
    const st = await store.stat(opts.expectedDigest);
    if (st) return { digest: st.digest, size: st.size, downloaded: false };
  }
  const attempts = Math.max(1, opts.retries ?? 4);
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    const res = await request(url, opts);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        opts.progress?.bytes?.(chunk.length);
        cb(null, chunk);
      },
    });
    try {
      const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      body.on('error', (e) => counter.destroy(e));
      const info = await store.put(body.pipe(counter), opts.expectedDigest ? { expectedDigest: opts.expectedDigest } : {});
      return { digest: info.digest, size: info.size, downloaded: info.created };
    } catch (e) {
      last = e;
      if (opts.signal?.aborted) throw e;
      // A complete body with other content is the source's answer, not a network hiccup: no retry.
      if (isStoreError(e) && e.code === 'digest-mismatch') break;
    }
  }
  throw new FetchError(`GET ${url}: ${last instanceof Error ? last.message : String(last)}`, undefined, { cause: last });
}

/** Run fn over items with at most `limit` at once; results in input order; the first error rejects. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
