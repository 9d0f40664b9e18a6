// Shared plumbing for the repo handlers: strict request-path parsing, the "published path" table every
// repo kind serves from, and blob responses with ETag / If-None-Match / Range.
//
// Every URL a repo serves maps to a record in the store's meta area (namespace = repo kind, key =
// "paths/<sha256 of the URL path>"), written by the import functions. A handler never turns a URL into a
// file-system path: it validates the path, looks the record up, and streams the blob by digest.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from '../../store/types.ts';
import { HttpError, type RepoHandler, type RequestContext } from '../types.ts';

/** Longest request path (bytes of the raw, still-encoded path) a repo handler accepts. */
export const MAX_PATH = 2048;
/** Longest single path segment after decoding. */
export const MAX_SEGMENT = 255;

/**
 * Split the raw request path (before any URL normalisation) into decoded segments after `prefix`.
 * Rejects, with a 4xx HttpError: dot segments ("..", ".", also percent-encoded), encoded "/" or "\",
 * NUL and control characters, empty inner segments, malformed percent-encoding, over-long paths.
 * A trailing "/" yields a final "" segment, so callers can tell "/simple/x" from "/simple/x/".
 */
export function pathSegments(rawUrl: string | undefined, prefix: string): string[] {
  const raw = (rawUrl ?? '').split('?')[0]!.split('#')[0]!;
  if (raw.length > MAX_PATH) throw new HttpError(414, 'request path too long');
  if (!raw.startsWith(prefix)) throw new HttpError(404, 'not found');
  const rest = raw.slice(prefix.length);
  if (rest === '') return [];
  const parts = rest.split('/');
  return parts.map((p, i) => {
    const last = i === parts.length - 1;
    if (p === '') {
      if (last) return '';
      throw new HttpError(400, 'empty path segment');
    }
    let d: string;
    try {
      d = decodeURIComponent(p);
    } catch {
      throw new HttpError(400, 'malformed percent-encoding in path');
    }
    if (d === '.' || d === '..') throw new HttpError(400, 'dot segments are not allowed in paths');
    if (/[\u0000-\u001f\u007f/\\]/.test(d)) throw new HttpError(400, 'control characters, "/" or "\\" inside a path segment');
    if (Buffer.byteLength(d) > MAX_SEGMENT) throw new HttpError(400, 'path segment too long');
    return d;
  });
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

/** A URL path published by a repo: the blob it serves, or a tombstone (410 Gone). */
export interface PathRecord {
  digest?: string;
  size?: number;
  contentType: string;
  /** Content never changes at this path (pool files, by-hash, charts): long cache lifetime. */
  immutable?: boolean;
  gone?: boolean;
}

const pathKey = (urlPath: string) => `paths/${sha256Hex(urlPath)}`;

export async function publishPath(store: Store, ns: string, urlPath: string, rec: PathRecord): Promise<void> {
  await store.writeMeta(ns, pathKey(urlPath), JSON.stringify({ path: urlPath, ...rec }));
}

export async function lookupPath(store: Store, ns: string, urlPath: string): Promise<PathRecord | undefined> {
  const buf = await store.readMeta(ns, pathKey(urlPath));
  if (!buf) return undefined;
  const rec = JSON.parse(buf.toString('utf8')) as PathRecord & { path: string };
  return rec.path === urlPath ? rec : undefined;
}

/** Put bytes in the store and publish them at a URL path in one go. */
export async function putAndPublish(store: Store, ns: string, urlPath: string, data: Buffer | string, contentType: string, immutable = false) {
  const info = await store.put(typeof data === 'string' ? Buffer.from(data) : data);
  await publishPath(store, ns, urlPath, { digest: info.digest, size: info.size, contentType, immutable });
  return info;
}

export async function readJsonMeta<T>(store: Store, ns: string, key: string): Promise<T | undefined> {
  const buf = await store.readMeta(ns, key);
  return buf ? (JSON.parse(buf.toString('utf8')) as T) : undefined;
}

export async function writeJsonMeta(store: Store, ns: string, key: string, value: unknown): Promise<void> {
  await store.writeMeta(ns, key, `${JSON.stringify(value, null, 1)}\n`);
}

const locks = new Map<string, Promise<unknown>>();
/** Serialise read-modify-write of one meta document within this process. */
export async function withLock<T>(store: Store, key: string, fn: () => Promise<T>): Promise<T> {
  const k = `${store.root}\0${key}`;
  const prev = locks.get(k) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  locks.set(k, tail);
  try {
    return await run;
  } finally {
    if (locks.get(k) === tail) locks.delete(k);
  }
}

export function requireGetOrHead(req: IncomingMessage): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method not allowed', { Allow: 'GET, HEAD' });
}

/** Parse a single "bytes=" range against a size; undefined = serve whole, 'unsatisfiable' = 416. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined; // multi-range or other units: ignore, serve the whole entity (RFC 9110 allows it)
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || (b !== '' && Number(b) < start)) return 'unsatisfiable';
  return { start, end };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** Serve a stored blob: ETag = digest, conditional GET, single byte ranges, HEAD. */
export async function sendBlob(
  req: IncomingMessage,
  res: ServerResponse,
  store: Store,
  rec: { digest: string; contentType: string; immutable?: boolean },
  extraHeaders: Record<string, string> = {},
): Promise<void> {
  const info = await store.stat(rec.digest);
  if (!info) throw new HttpError(404, 'content missing from the store');
  const etag = `"${rec.digest}"`;
  const headers: Record<string, string> = {
    'Content-Type': rec.contentType,
    ETag: etag,
    'Accept-Ranges': 'bytes',
    'Cache-Control': rec.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    ...extraHeaders,
  };
  if (etagMatches(req.headers['if-none-match'], etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  let range = parseRange(req.headers.range, info.size);
  const ifRange = req.headers['if-range'];
  if (range && ifRange && ifRange !== etag) range = undefined;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${info.size}`, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('range not satisfiable\n');
    return;
  }
  const status = range ? 206 : 200;
  const length = range ? range.end - range.start + 1 : info.size;
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${info.size}`;
  headers['Content-Length'] = String(length);
  if (req.method === 'HEAD' || length === 0) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const stream = await store.open(rec.digest, range ?? undefined);
  if (!stream) throw new HttpError(404, 'content missing from the store');
  res.writeHead(status, headers);
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    res.on('finish', resolve);
    res.on('close', () => {
      // The client went away early: release the file.
      const d = (stream as { destroy?: () => void }).destroy;
      if (typeof d === 'function') d.call(stream);
      resolve();
    });
    stream.pipe(res);
  });
}

/** Serve a published path record (404 when absent, 410 for a tombstone). */
export async function sendPublished(req: IncomingMessage, res: ServerResponse, store: Store, ns: string, urlPath: string): Promise<boolean> {
  const rec = await lookupPath(store, ns, urlPath);
  if (!rec) return false;
  if (rec.gone || !rec.digest) throw new HttpError(410, 'gone');
  await sendBlob(req, res, store, { digest: rec.digest, contentType: rec.contentType, immutable: rec.immutable });
  return true;
}

export function sendText(req: IncomingMessage, res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string>): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Length': String(buf.length), ...headers });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

export function redirect(res: ServerResponse, location: string, status = 301): void {
  res.writeHead(status, { Location: location, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '0' });
  res.end();
}

/** Encode decoded segments back into a URL path (each segment percent-encoded as needed). */
export function joinPath(segments: readonly string[]): string {
  return segments.map((s) => encodeURIComponent(s).replace(/%40/g, '@').replace(/%2B/g, '+').replace(/%21/g, '!')).join('/');
}

/** Semver §11 precedence of two pre-release strings ("rc.1" vs "rc.10"); both non-empty. */
export function comparePrerelease(a: string, b: string): number {
  const xs = a.split('.');
  const ys = b.split('.');
  for (let i = 0; i < Math.max(xs.length, ys.length); i++) {
    const p = xs[i];
    const q = ys[i];
    if (p === q) continue;
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return 0;
}

/**
 * A read-only repo handler at prefix: anything but GET/HEAD is 405, and `serve` gets the path below the
 * prefix as decoded segments (traversal refused by pathSegments).
 */
export function readOnlyHandler(
  prefix: string,
  serve: (req: IncomingMessage, res: ServerResponse, store: Store, segs: string[]) => Promise<boolean>,
): RepoHandler {
  return {
    prefix,
    async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean> {
      requireGetOrHead(req);
      return serve(req, res, ctx.store, pathSegments(req.url, prefix));
    },
  };
}

/** A read-only handler for a repo kind whose files are all published paths in one meta namespace (APT, YUM). */
export function publishedHandler(prefix: string, ns: string): RepoHandler {
  return readOnlyHandler(prefix, async (req, res, store, segs) => {
    if (segs.length === 0 || segs[segs.length - 1] === '') throw new HttpError(404, 'no directory listings');
    return sendPublished(req, res, store, ns, segs.join('/'));
  });
}
