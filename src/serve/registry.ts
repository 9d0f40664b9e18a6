// The OCI registry (distribution-spec v1.1) under /v2/, over the shared Store.
//
// Hot path (blob GET): name/digest checks, a cached repo-link check, open + fstat, then either one read
// into a buffer (small blobs) or fs.createReadStream with a 1 MiB buffer piped to the socket.
import { close as fsClose, createReadStream, fstat, open as fsOpen, read as fsRead, type Stats } from 'node:fs';
import { pipeline } from 'node:stream';
import { promises as fsp } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ANY_DIGEST_RE, DIGEST_RE } from '../store/digest.ts';
import { isValidName, isValidTag, MAX_MANIFEST_BYTES, MT, OciError, OciMeta, tagOrder, type Descriptor } from '../store/oci.ts';
import { StoreError, type Store } from '../store/types.ts';
import { UploadError, Uploads } from '../store/uploads.ts';
import type { RepoHandler, RequestContext } from './types.ts';

const API_VERSION = 'registry/2.0';
/** Blobs up to this size are answered with one read into memory; larger ones are streamed. */
const SMALL_BLOB = 2 * 1024 * 1024;
const STREAM_HWM = 1 << 20;
const MAX_LIST = 10_000;

type Headers = Record<string, string | number>;

const err = (code: ConstructorParameters<typeof OciError>[0], status: number, message: string, detail?: unknown) =>
  new OciError(code, status, message, detail);

function openFd(path: string): Promise<number | undefined> {
  return new Promise((resolve, reject) =>
    fsOpen(path, 'r', (e, fd) => (e ? (e.code === 'ENOENT' ? resolve(undefined) : reject(e)) : resolve(fd))),
  );
}
const fstatFd = (fd: number): Promise<Stats> => new Promise((resolve, reject) => fstat(fd, (e, st) => (e ? reject(e) : resolve(st))));
const closeFd = (fd: number): void => fsClose(fd, () => undefined);

function readFully(fd: number, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const step = (): void => {
      fsRead(fd, buf, off, buf.length - off, position + off, (e, n) => {
        if (e) return reject(e);
        if (n === 0) return reject(new Error('unexpected end of file'));
        off += n;
        if (off >= buf.length) resolve();
        else step();
      });
    };
    if (buf.length === 0) resolve();
    else step();
  });
}

/** Parse a single "bytes=a-b" range against `size`; undefined = serve whole, 'unsatisfiable' = 416. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // multi-range or junk: ignore (RFC 9110 allows)
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (!Number.isSafeInteger(start) || start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > limit) throw err('SIZE_INVALID', 413, `request body larger than ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}

/** LRU (Map insertion order), bounded by entries and bytes. */
class LruCache<V extends { body: Buffer }> {
  private readonly map = new Map<string, V>();
  private bytes = 0;
  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    if (v.body.length > this.maxBytes) return;
    this.delete(k);
    this.map.set(k, v);
    this.bytes += v.body.length;
    while (this.map.size > this.maxEntries || this.bytes > this.maxBytes) {
      const first = this.map.keys().next().value;
      if (first === undefined) break;
      this.delete(first);
    }
  }
  delete(k: string): void {
    const v = this.map.get(k);
    if (v) {
      this.bytes -= v.body.length;
      this.map.delete(k);
    }
  }
}

export interface RegistryOptions {
  /** RAM for hot small blobs (immutable, so always safe to cache); 0 turns the cache off. Default 256 MiB. */
  blobCacheBytes?: number;
  /** only blobs up to this size are cached. Default 4 MiB. */
  blobCacheMaxItem?: number;
  /** how long a tag lookup is reused before the tag file is read again (writes through this server
   * update it at once; other processes' writes show within this time). Default 1000 ms. */
  tagCacheMs?: number;
  /** read size when streaming large blobs from disk. Default 1 MiB. */
  streamChunkBytes?: number;
}

type Route =
  | { kind: 'ping' }
  | { kind: 'catalog' }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'manifest'; name: string; ref: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

/** Route a /v2/ path (already checked for traversal by the server). Matches from the end, since names contain "/". */
export function routeV2(path: string, method: string): Route {
  if (path === '/v2' || path === '/v2/') return { kind: 'ping' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  const segs = path.slice(4).split('/');
  const n = segs.length;
  const nameOf = (k: number): string => {
    const name = segs.slice(0, k).join('/');
    if (k < 1 || !isValidName(name)) throw err('NAME_INVALID', 400, 'invalid repository name', { name: name.slice(0, 300) });
    return name;
  };
  if (n >= 4 && segs[n - 3] === 'blobs' && segs[n - 2] === 'uploads') return { kind: 'upload', name: nameOf(n - 3), id: segs[n - 1] ?? '' };
  if (n >= 3 && segs[n - 2] === 'blobs' && segs[n - 1] === 'uploads' && method === 'POST') return { kind: 'upload', name: nameOf(n - 2), id: '' };
  if (n >= 3 && segs[n - 2] === 'blobs') return { kind: 'blob', name: nameOf(n - 2), digest: segs[n - 1] ?? '' };
  if (n >= 3 && segs[n - 2] === 'manifests') return { kind: 'manifest', name: nameOf(n - 2), ref: segs[n - 1] ?? '' };
  if (n >= 3 && segs[n - 2] === 'tags' && segs[n - 1] === 'list') return { kind: 'tags', name: nameOf(n - 2) };
  if (n >= 3 && segs[n - 2] === 'referrers') return { kind: 'referrers', name: nameOf(n - 2), digest: segs[n - 1] ?? '' };
  throw err('UNSUPPORTED', 404, 'unknown registry endpoint');
}

function checkDigest(d: string): string {
  let digest = d;
  if (digest.includes('%')) {
    try {
      digest = decodeURIComponent(digest);
    } catch {
      /* falls through to invalid */
    }
  }
  if (DIGEST_RE.test(digest)) return digest;
  if (ANY_DIGEST_RE.test(digest) && !digest.startsWith('sha256:')) throw err('UNSUPPORTED', 400, 'only sha256 digests are supported', { digest: digest.slice(0, 200) });
  throw err('DIGEST_INVALID', 400, 'invalid digest', { digest: digest.slice(0, 200) });
}

function paginate(all: string[], url: URL, linkBase: string): { items: string[]; link?: string } {
  const nRaw = url.searchParams.get('n');
  const last = url.searchParams.get('last');
  let items = last !== null ? all.filter((t) => tagOrder(t, last) > 0) : all;
  if (nRaw !== null) {
    if (!/^\d{1,9}$/.test(nRaw)) throw err('UNSUPPORTED', 400, 'n must be a non-negative integer');
    const n = Math.min(Number(nRaw), MAX_LIST);
    if (n === 0) return { items: [] };
    if (items.length > n) {
      items = items.slice(0, n);
      const lastItem = items[items.length - 1] as string;
      return { items, link: `<${linkBase}?n=${n}&last=${encodeURIComponent(lastItem)}>; rel="next"` };
    }
  }
  return { items };
}

export interface Registry extends RepoHandler {
  readonly meta: OciMeta;
}

export function createRegistry(store: Store, opts: RegistryOptions = {}): Registry {
  const meta = new OciMeta(store);
  const uploads = new Uploads(store);
  const manifests = new LruCache<{ body: Buffer; mediaType: string }>(4096, 64 * 1024 * 1024);
  const blobCacheMaxItem = opts.blobCacheMaxItem ?? 4 * 1024 * 1024;
  const blobCache = new LruCache<{ body: Buffer }>(100_000, opts.blobCacheBytes ?? 256 * 1024 * 1024);
  const useBlobCache = (opts.blobCacheBytes ?? 1) > 0;
  const tagCacheMs = opts.tagCacheMs ?? 1000;
  const streamHwm = opts.streamChunkBytes ?? STREAM_HWM;
  const tagCache = new Map<string, { digest: string; until: number }>();
  const getTag = async (name: string, tag: string): Promise<string | undefined> => {
    const k = `${name}:${tag}`;
    const hit = tagCache.get(k);
    const now = Date.now();
    if (hit && hit.until > now) return hit.digest;
    const d = await meta.getTag(name, tag);
    if (d && tagCacheMs > 0) {
      if (tagCache.size > 100_000) tagCache.clear();
      tagCache.set(k, { digest: d, until: now + tagCacheMs });
    } else {
      tagCache.delete(k);
    }
    return d;
  };
  const forgetTags = (name: string): void => {
    for (const k of tagCache.keys()) if (k.startsWith(`${name}:`)) tagCache.delete(k);
  };
  /** positive cache of "repo holds blob" (a single-process server is the only writer of links) */
  const links = new Set<string>();

  const blobLinked = async (name: string, digest: string): Promise<boolean> => {
    const k = `${name}@${digest}`;
    if (links.has(k)) return true;
    if (!(await meta.hasBlob(name, digest)) && !(await meta.getManifest(name, digest))) return false;
    if (links.size > 200_000) links.clear();
    links.add(k);
    return true;
  };
  const linkBlob = async (name: string, digest: string): Promise<void> => {
    await meta.linkBlob(name, digest);
    links.add(`${name}@${digest}`);
  };

  const uploadHeaders = (name: string, id: string, size: number): Headers => ({
    Location: `/v2/${name}/blobs/uploads/${id}`,
    Range: `0-${size > 0 ? size - 1 : 0}`,
    'Docker-Upload-UUID': id,
    'Blob-Upload-Session-ID': id,
    'Content-Length': 0,
    'Docker-Distribution-API-Version': API_VERSION,
  });
  const created = (res: ServerResponse, location: string, digest: string, extra: Headers = {}): void => {
    res.writeHead(201, { Location: location, 'Docker-Content-Digest': digest, 'Content-Length': 0, 'Docker-Distribution-API-Version': API_VERSION, ...extra });
    res.end();
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Headers = {}, head = false): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Docker-Distribution-API-Version': API_VERSION, ...headers });
    res.end(head ? undefined : text);
  };

  const blobHeaders = (digest: string): Headers => ({
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Docker-Distribution-API-Version': API_VERSION,
    ETag: `"${digest}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000, immutable',
  });

  /** Answer a blob from memory (whole, a range, 304 or 416). */
  function sendBuffer(req: IncomingMessage, res: ServerResponse, digest: string, body: Buffer): void {
    const headers = blobHeaders(digest);
    if (req.headers['if-none-match'] === headers.ETag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const range = parseRange(req.headers.range, body.length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${body.length}`, 'Content-Length': 0 });
      res.end();
      return;
    }
    const part = range ? body.subarray(range.start, range.end + 1) : body;
    headers['Content-Length'] = part.length;
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${body.length}`;
    res.writeHead(range ? 206 : 200, headers);
    res.end(req.method === 'HEAD' ? undefined : part);
  }

  async function getBlob(req: IncomingMessage, res: ServerResponse, name: string, rawDigest: string): Promise<void> {
    const digest = checkDigest(rawDigest);
    if (!(await blobLinked(name, digest))) throw err('BLOB_UNKNOWN', 404, 'blob unknown to registry', { digest });
    const cached = useBlobCache ? blobCache.get(digest) : undefined;
    if (cached) {
      sendBuffer(req, res, digest, cached.body);
      return;
    }
    const fd = await openFd(store.blobPath(digest));
    if (fd === undefined) {
      links.delete(`${name}@${digest}`);
      throw err('BLOB_UNKNOWN', 404, 'blob unknown to registry', { digest });
    }
    let owned = true;
    try {
      const size = (await fstatFd(fd)).size;
      if (useBlobCache && size <= blobCacheMaxItem && req.method !== 'HEAD') {
        // Small blob: one read, keep it in memory for the next clients (blobs are immutable).
        const body = Buffer.allocUnsafe(size);
        await readFully(fd, body, 0);
        blobCache.set(digest, { body });
        sendBuffer(req, res, digest, body);
        return;
      }
      const headers = blobHeaders(digest);
      if (req.headers['if-none-match'] === headers.ETag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      const range = parseRange(req.headers.range, size);
      if (range === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
        res.end();
        return;
      }
      const start = range?.start ?? 0;
      const end = range?.end ?? size - 1;
      const length = size === 0 ? 0 : end - start + 1;
      headers['Content-Length'] = length;
      if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      const status = range ? 206 : 200;
      if (req.method === 'HEAD' || length === 0) {
        res.writeHead(status, headers);
        res.end();
        return;
      }
      if (length <= SMALL_BLOB) {
        const buf = Buffer.allocUnsafe(length);
        await readFully(fd, buf, start);
        res.writeHead(status, headers);
        res.end(buf);
        return;
      }
      res.writeHead(status, headers);
      owned = false;
      const stream = createReadStream('', { fd, start, end, highWaterMark: streamHwm, autoClose: true });
      pipeline(stream, res, () => undefined);
    } finally {
      if (owned) closeFd(fd);
    }
  }

  async function resolveManifest(name: string, ref: string): Promise<{ digest: string; body: Buffer; mediaType: string }> {
    let digest: string;
    if (ref.startsWith('sha256:') || ref.includes(':') || ref.includes('%')) {
      digest = checkDigest(ref);
    } else {
      // A reference that cannot be a tag names no manifest: 404 (distribution-spec "Pulling manifests";
      // the conformance suite pulls ".INVALID_MANIFEST_NAME" and requires 404). PUT still answers 400.
      if (!isValidTag(ref)) throw err('MANIFEST_UNKNOWN', 404, 'manifest unknown', { tag: ref.slice(0, 200) });
      const d = await getTag(name, ref);
      if (!d) {
        if (!(await meta.repoExists(name))) throw err('NAME_UNKNOWN', 404, 'repository name not known to registry', { name });
        throw err('MANIFEST_UNKNOWN', 404, 'manifest unknown', { tag: ref });
      }
      digest = d;
    }
    const key = `${name}@${digest}`;
    const hit = manifests.get(key);
    if (hit) return { digest, ...hit };
    const rec = await meta.getManifest(name, digest);
    if (!rec) {
      if (!(await meta.repoExists(name))) throw err('NAME_UNKNOWN', 404, 'repository name not known to registry', { name });
      throw err('MANIFEST_UNKNOWN', 404, 'manifest unknown', { digest });
    }
    let body: Buffer;
    try {
      body = await fsp.readFile(store.blobPath(digest));
    } catch {
      throw err('MANIFEST_UNKNOWN', 404, 'manifest unknown', { digest });
    }
    manifests.set(key, { body, mediaType: rec.mediaType });
    return { digest, body, mediaType: rec.mediaType };
  }

  async function manifest(req: IncomingMessage, res: ServerResponse, name: string, ref: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') {
      const m = await resolveManifest(name, ref);
      const etag = `"${m.digest}"`;
      const headers: Headers = {
        'Content-Type': m.mediaType,
        'Content-Length': m.body.length,
        'Docker-Content-Digest': m.digest,
        'Docker-Distribution-API-Version': API_VERSION,
        ETag: etag,
      };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      res.writeHead(200, headers);
      res.end(method === 'HEAD' ? undefined : m.body);
      return;
    }
    if (method === 'PUT') {
      let tag: string | undefined;
      let expectedDigest: string | undefined;
      if (ref.includes(':') || ref.includes('%')) expectedDigest = checkDigest(ref);
      else if (isValidTag(ref)) tag = ref;
      else throw err('MANIFEST_INVALID', 400, 'invalid tag', { tag: ref.slice(0, 200) });
      const body = await readBody(req, MAX_MANIFEST_BYTES);
      const contentType = req.headers['content-type'];
      const r = await meta.putManifest(name, body, {
        ...(contentType ? { contentType } : {}),
        ...(tag !== undefined ? { tag } : {}),
        ...(expectedDigest !== undefined ? { expectedDigest } : {}),
      });
      const extra: Headers = {};
      if (r.subject) extra['OCI-Subject'] = r.subject;
      if (tag !== undefined) tagCache.set(`${name}:${tag}`, { digest: r.digest, until: Date.now() + tagCacheMs });
      created(res, `/v2/${name}/manifests/${r.digest}`, r.digest, extra);
      return;
    }
    if (method === 'DELETE') {
      if (ref.includes(':') || ref.includes('%')) {
        const digest = checkDigest(ref);
        if (!(await meta.deleteManifest(name, digest))) throw err('MANIFEST_UNKNOWN', 404, 'manifest unknown', { digest });
        manifests.delete(`${name}@${digest}`);
        links.delete(`${name}@${digest}`);
        forgetTags(name);
      } else {
        if (!isValidTag(ref)) throw err('MANIFEST_INVALID', 400, 'invalid tag', { tag: ref.slice(0, 200) });
        tagCache.delete(`${name}:${ref}`);
        if (!(await meta.deleteTag(name, ref))) throw err('MANIFEST_UNKNOWN', 404, 'manifest unknown', { tag: ref });
      }
      res.writeHead(202, { 'Content-Length': 0, 'Docker-Distribution-API-Version': API_VERSION });
      res.end();
      return;
    }
    throw err('UNSUPPORTED', 405, `method ${method} not allowed here`);
  }

  async function blob(req: IncomingMessage, res: ServerResponse, name: string, rawDigest: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') return getBlob(req, res, name, rawDigest);
    if (method === 'DELETE') {
      const digest = checkDigest(rawDigest);
      links.delete(`${name}@${digest}`);
      if (!(await meta.unlinkBlob(name, digest))) throw err('BLOB_UNKNOWN', 404, 'blob unknown to registry', { digest });
      res.writeHead(202, { 'Content-Length': 0, 'Docker-Distribution-API-Version': API_VERSION });
      res.end();
      return;
    }
    throw err('UNSUPPORTED', 405, `method ${method} not allowed here`);
  }

  const hasBody = (req: IncomingMessage): boolean => {
    const len = req.headers['content-length'];
    if (len !== undefined) return Number(len) > 0;
    return req.headers['transfer-encoding'] !== undefined;
  };
  const declaredLength = (req: IncomingMessage): number | undefined => {
    const len = req.headers['content-length'];
    return len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined;
  };
  /** Content-Range of a chunk: "<start>-<end>" (a "bytes " / "bytes=" prefix tolerated). */
  const chunkRange = (req: IncomingMessage, name: string, id: string, size: number): { start: number; length: number } | undefined => {
    const h = req.headers['content-range'];
    if (h === undefined) return undefined;
    const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(h.trim());
    if (!m || Number(m[2]) < Number(m[1])) {
      throw Object.assign(err('BLOB_UPLOAD_INVALID', 416, 'invalid Content-Range'), { uploadHeaders: uploadHeaders(name, id, size) });
    }
    return { start: Number(m[1]), length: Number(m[2]) - Number(m[1]) + 1 };
  };

  async function upload(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, name: string, id: string): Promise<void> {
    const method = req.method ?? 'GET';
    const url = ctx.url;
    if (method === 'POST') {
      if (id !== '') throw err('UNSUPPORTED', 405, 'POST starts an upload at /blobs/uploads/');
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      if (mount !== null && DIGEST_RE.test(mount)) {
        const fromOk = from === null ? await store.has(mount) : isValidName(from) && (await meta.hasBlob(from, mount)) && (await store.has(mount));
        if (fromOk) {
          await linkBlob(name, mount);
          created(res, `/v2/${name}/blobs/${mount}`, mount);
          return;
        }
      }
      const digestParam = url.searchParams.get('digest');
      if (digestParam !== null) {
        const digest = checkDigest(digestParam);
        try {
          await store.put(req, { expectedDigest: digest });
        } catch (e) {
          if (e instanceof StoreError && e.code === 'digest-mismatch') throw err('DIGEST_INVALID', 400, 'provided digest did not match uploaded content', { digest });
          throw e;
        }
        await linkBlob(name, digest);
        created(res, `/v2/${name}/blobs/${digest}`, digest);
        return;
      }
      const sess = await uploads.create(name);
      res.writeHead(202, uploadHeaders(name, sess.id, 0));
      res.end();
      return;
    }
    const sess = await uploads.get(id, name);
    if (!sess) throw err('BLOB_UPLOAD_UNKNOWN', 404, 'blob upload unknown to registry');
    if (method === 'GET') {
      res.writeHead(204, uploadHeaders(name, id, sess.size));
      res.end();
      return;
    }
    if (method === 'DELETE') {
      await uploads.cancel(id, name);
      res.writeHead(204, { 'Content-Length': 0, 'Docker-Distribution-API-Version': API_VERSION });
      res.end();
      return;
    }
    const onUploadError = (e: unknown): never => {
      if (e instanceof UploadError) {
        if (e.code === 'unknown') throw err('BLOB_UPLOAD_UNKNOWN', 404, 'blob upload unknown to registry');
        if (e.code === 'range') throw Object.assign(err('BLOB_UPLOAD_INVALID', 416, e.message), { uploadHeaders: uploadHeaders(name, id, e.offset) });
        throw err('BLOB_UPLOAD_INVALID', 400, e.message);
      }
      throw e;
    };
    if (method === 'PATCH') {
      const r = chunkRange(req, name, id, sess.size);
      const length = declaredLength(req);
      if (r && length !== undefined && length !== r.length) throw err('BLOB_UPLOAD_INVALID', 400, 'Content-Length does not match Content-Range');
      const lengthOpt = r?.length ?? length;
      const size = await uploads
        .append(id, name, req, { ...(r ? { start: r.start } : {}), ...(lengthOpt !== undefined ? { length: lengthOpt } : {}) })
        .catch(onUploadError);
      res.writeHead(202, uploadHeaders(name, id, size));
      res.end();
      return;
    }
    if (method === 'PUT') {
      const digestParam = url.searchParams.get('digest');
      if (digestParam === null) throw err('DIGEST_INVALID', 400, 'digest parameter missing');
      const digest = checkDigest(digestParam);
      const final = hasBody(req) ? (() => {
        const r = chunkRange(req, name, id, sess.size);
        const length = r?.length ?? declaredLength(req);
        return { body: req, opts: { ...(r ? { start: r.start } : {}), ...(length !== undefined ? { length } : {}) } };
      })() : undefined;
      try {
        await uploads.commit(id, name, digest, final);
      } catch (e) {
        if (e instanceof StoreError && e.code === 'digest-mismatch') throw err('DIGEST_INVALID', 400, 'provided digest did not match uploaded content', { digest });
        onUploadError(e);
      }
      await linkBlob(name, digest);
      created(res, `/v2/${name}/blobs/${digest}`, digest);
      return;
    }
    throw err('UNSUPPORTED', 405, `method ${method} not allowed here`);
  }

  async function tags(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, name: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw err('UNSUPPORTED', 405, 'method not allowed');
    if (!(await meta.repoExists(name))) throw err('NAME_UNKNOWN', 404, 'repository name not known to registry', { name });
    const all = await meta.listTags(name);
    const page = paginate(all, ctx.url, `/v2/${name}/tags/list`);
    json(res, 200, { name, tags: page.items }, page.link ? { Link: page.link } : {}, req.method === 'HEAD');
  }

  async function referrers(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, name: string, rawDigest: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw err('UNSUPPORTED', 405, 'method not allowed');
    const digest = checkDigest(rawDigest);
    let list: Descriptor[] = await meta.listReferrers(name, digest);
    const artifactType = ctx.url.searchParams.get('artifactType');
    const headers: Headers = { 'Content-Type': MT.ociIndex };
    if (artifactType !== null && artifactType !== '') {
      list = list.filter((d) => d.artifactType === artifactType);
      headers['OCI-Filters-Applied'] = 'artifactType';
    }
    list.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    const text = JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: list });
    res.writeHead(200, { ...headers, 'Content-Length': Buffer.byteLength(text), 'Docker-Distribution-API-Version': API_VERSION });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  async function catalog(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw err('UNSUPPORTED', 405, 'method not allowed');
    const page = paginate((await meta.listRepos()).sort(tagOrder), ctx.url, '/v2/_catalog');
    json(res, 200, { repositories: page.items }, page.link ? { Link: page.link } : {}, req.method === 'HEAD');
  }

  return {
    prefix: '/v2/',
    meta,
    async handle(req, res, ctx) {
      const method = req.method ?? 'GET';
      try {
        const route = routeV2(ctx.url.pathname, method);
        switch (route.kind) {
          case 'ping':
            if (method !== 'GET' && method !== 'HEAD') throw err('UNSUPPORTED', 405, 'method not allowed');
            json(res, 200, {}, {}, method === 'HEAD');
            return true;
          case 'catalog':
            await catalog(req, res, ctx);
            return true;
          case 'blob':
            await blob(req, res, route.name, route.digest);
            return true;
          case 'upload':
            await upload(req, res, ctx, route.name, route.id);
            return true;
          case 'manifest':
            await manifest(req, res, route.name, route.ref);
            return true;
          case 'tags':
            await tags(req, res, ctx, route.name);
            return true;
          case 'referrers':
            await referrers(req, res, ctx, route.name, route.digest);
            return true;
        }
      } catch (e) {
        // 416 answers of uploads carry the session's Location/Range headers.
        if (e instanceof OciError && 'uploadHeaders' in e && !res.headersSent) {
          const h = (e as OciError & { uploadHeaders: Headers }).uploadHeaders;
          for (const [k, v] of Object.entries(h)) if (k !== 'Content-Length') res.setHeader(k, v);
        }
        throw e;
      }
    },
  };
}
