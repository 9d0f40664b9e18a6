// The content-addressed store on a local filesystem.
//
//   root/blobs/sha256/<hex>   immutable blobs, named by the sha256 of their bytes
//   root/meta/<ns>/<key>      small named documents (tags, indexes), replaced atomically
//   root/tmp/                 temp files of writes in progress (put-<pid>-*, meta-<pid>-*) and
//                             upload sessions (uploads/<id>/), all on the same filesystem as blobs
//
// Every write goes to a temp file that is fsynced, then linked/renamed into place and the directory
// fsynced, so a crash never leaves a partial blob or document visible under its name.
import { constants as fsc, createReadStream, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { digestHex, DIGEST_RE, sha256 } from './digest.ts';
import { StoreError, type BlobInfo, type Store } from './types.ts';

const HEX_RE = /^[a-f0-9]{64}$/;
const NS_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const KEY_RE = /^[A-Za-z0-9._/@+-]+$/;
const MAX_KEY = 1024;
const WRITE_BATCH = 1 << 20;
/** Upload sessions idle longer than this are removed by verify(). */
export const UPLOAD_MAX_IDLE_MS = 24 * 3600 * 1000;

/** Temp files this process is writing right now (verify() leaves them alone). */
const activeTemps = new Set<string>();

const errCode = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;

const ioError = (what: string, e: unknown): StoreError =>
  e instanceof StoreError ? e : new StoreError('io', `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });

/**
 * Writes a stream of buffers to a file in batches, with one batch in flight while the next one is
 * gathered (so receiving/hashing overlaps with the disk write).
 */
export class BatchWriter {
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private pending: Promise<void> | undefined;
  /** file position after everything pushed so far */
  pos: number;

  constructor(
    private readonly fh: fsp.FileHandle,
    start = 0,
    private readonly batchLimit = WRITE_BATCH,
  ) {
    this.pos = start;
  }

  async push(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    this.batch.push(buf);
    this.batchBytes += buf.length;
    if (this.batchBytes >= this.batchLimit) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending) await this.pending;
    this.pending = undefined;
    if (this.batchBytes === 0) return;
    const bufs = this.batch;
    const n = this.batchBytes;
    const at = this.pos;
    this.batch = [];
    this.batchBytes = 0;
    this.pos += n;
    const p = this.fh.writev(bufs, at).then((r) => {
      if (r.bytesWritten !== n) throw new StoreError('io', `short write (${r.bytesWritten} of ${n} bytes)`);
    });
    p.catch(() => undefined); // awaited later; never an unhandled rejection
    this.pending = p;
  }

  /** Write what is left and wait for every write. */
  async end(): Promise<void> {
    await this.flush();
    if (this.pending) await this.pending;
    this.pending = undefined;
  }

  /** Wait for the write in flight (after an error), ignoring its outcome. */
  async settle(): Promise<void> {
    await this.pending?.catch(() => undefined);
    this.pending = undefined;
  }
}

/** Make a temp-file name for this process under root/tmp. */
export function tempName(root: string, kind: 'put' | 'meta'): string {
  return join(root, 'tmp', `${kind}-${process.pid}-${randomBytes(8).toString('hex')}`);
}

export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    await fh.sync();
  } catch (e) {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
    if (!['EINVAL', 'ENOTSUP', 'EISDIR', 'EBADF', 'EPERM'].includes(errCode(e) ?? '')) throw e;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

async function unlinkQuiet(path: string): Promise<void> {
  await fsp.unlink(path).catch(() => undefined);
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === 'EPERM';
  }
}

/**
 * Move a fully written, fsynced temp file to its blob path. Returns whether this call created the
 * blob (false when an intact copy was already there). The temp file is gone afterwards.
 */
export async function commitBlobFile(tmp: string, dest: string, size: number): Promise<boolean> {
  let created: boolean;
  try {
    await fsp.link(tmp, dest);
    created = true;
  } catch (e) {
    const code = errCode(e);
    if (code === 'EEXIST') {
      // Already stored (a concurrent put, or an earlier one). Heal a truncated/extended copy.
      const st = await fsp.stat(dest).catch(() => undefined);
      if (st && st.isFile() && st.size === size) {
        await unlinkQuiet(tmp);
        // Fresh again: `store gc` spares recent blobs while whoever stored them writes their references.
        const now = new Date();
        await fsp.utimes(dest, now, now).catch(() => undefined);
        return false;
      }
      await fsp.rename(tmp, dest);
      created = true;
    } else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK') {
      // No hard links here: rename (atomic; replaces an identical file at worst).
      const existed = await fsp.stat(dest).then(() => true, () => false);
      await fsp.rename(tmp, dest);
      created = !existed;
    } else {
      throw e;
    }
  }
  await unlinkQuiet(tmp);
  await fsyncDir(join(dest, '..'));
  return created;
}

export function validateNs(ns: string): void {
  if (typeof ns !== 'string' || !NS_RE.test(ns)) {
    throw new StoreError('invalid-key', `invalid meta namespace ${JSON.stringify(String(ns).slice(0, 80))}: expected [a-z0-9][a-z0-9._-]*`);
  }
}

export function validateKey(key: string): void {
  const bad = (why: string) =>
    new StoreError('invalid-key', `invalid meta key ${JSON.stringify(String(key).slice(0, 120))}: ${why}`);
  if (typeof key !== 'string' || key.length === 0) throw bad('empty');
  if (key.length > MAX_KEY) throw bad(`longer than ${MAX_KEY} characters`);
  if (!KEY_RE.test(key)) throw bad('only A-Z a-z 0-9 . _ / @ + - are allowed');
  if (key.startsWith('/')) throw bad('absolute');
  for (const seg of key.split('/')) {
    if (seg === '') throw bad('empty path segment');
    if (seg === '.' || seg === '..') throw bad('"." and ".." segments are not allowed');
    if (seg.length > 255) throw bad('segment longer than 255 characters');
  }
}

class FsStore implements Store {
  readonly root: string;
  private readonly blobDir: string;
  private readonly metaDir: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = root;
    this.blobDir = join(root, 'blobs', 'sha256');
    this.metaDir = join(root, 'meta');
    this.tmpDir = join(root, 'tmp');
  }

  async init(): Promise<void> {
    for (const d of [this.blobDir, this.metaDir, join(this.tmpDir, 'uploads')]) {
      await fsp.mkdir(d, { recursive: true });
    }
  }

  blobPath(digest: string): string {
    return join(this.blobDir, digestHex(digest));
  }

  async put(
    input: NodeJS.ReadableStream | Buffer | string,
    opts: { expectedDigest?: string } = {},
  ): Promise<BlobInfo & { created: boolean }> {
    if (opts.expectedDigest !== undefined) digestHex(opts.expectedDigest);
    const tmp = tempName(this.root, 'put');
    activeTemps.add(tmp);
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(tmp, 'wx', 0o644);
      const hash = sha256();
      let size = 0;
      if (typeof input === 'string' || Buffer.isBuffer(input)) {
        const buf = typeof input === 'string' ? Buffer.from(input) : input;
        hash.update(buf);
        size = buf.length;
        if (buf.length > 0) await fh.write(buf);
      } else {
        const writer = new BatchWriter(fh);
        try {
          for await (const chunk of input) {
            const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
            hash.update(buf);
            size += buf.length;
            await writer.push(buf);
          }
          await writer.end();
        } finally {
          await writer.settle();
        }
      }
      await fh.datasync();
      await fh.close();
      fh = undefined;
      const digest = `sha256:${hash.digest('hex')}`;
      if (opts.expectedDigest !== undefined && opts.expectedDigest !== digest) {
        throw new StoreError('digest-mismatch', `content digest ${digest} does not match the expected ${opts.expectedDigest}`);
      }
      const created = await commitBlobFile(tmp, this.blobPath(digest), size);
      return { digest, size, created };
    } catch (e) {
      throw ioError('storing a blob', e);
    } finally {
      await fh?.close().catch(() => undefined);
      await unlinkQuiet(tmp);
      activeTemps.delete(tmp);
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    const path = this.blobPath(digest);
    try {
      const st = await fsp.stat(path);
      return st.isFile() ? { digest, size: st.size } : undefined;
    } catch (e) {
      if (errCode(e) === 'ENOENT') return undefined;
      throw ioError(`stat ${digest}`, e);
    }
  }

  async open(digest: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream | undefined> {
    const path = this.blobPath(digest);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, 'r');
    } catch (e) {
      if (errCode(e) === 'ENOENT') return undefined;
      throw ioError(`open ${digest}`, e);
    }
    if (range && (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start)) {
      await fh.close();
      throw new StoreError('io', `invalid range ${range.start}-${range.end}`);
    }
    return fh.createReadStream({ highWaterMark: 1 << 20, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async delete(digest: string): Promise<boolean> {
    const path = this.blobPath(digest);
    try {
      await fsp.unlink(path);
      return true;
    } catch (e) {
      if (errCode(e) === 'ENOENT') return false;
      throw ioError(`delete ${digest}`, e);
    }
  }

  private metaPath(ns: string, key: string): string {
    validateNs(ns);
    validateKey(key);
    return join(this.metaDir, ns, ...key.split('/'));
  }

  async readMeta(ns: string, key: string): Promise<Buffer | undefined> {
    const path = this.metaPath(ns, key);
    try {
      return await fsp.readFile(path);
    } catch (e) {
      const code = errCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
      throw ioError(`read meta ${ns}/${key}`, e);
    }
  }

  async writeMeta(ns: string, key: string, data: Buffer | string): Promise<void> {
    const path = this.metaPath(ns, key);
    const dir = join(path, '..');
    const tmp = tempName(this.root, 'meta');
    activeTemps.add(tmp);
    try {
      const fh = await fsp.open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      // A concurrent deleteMeta may prune the directory between mkdir and rename: retry a little.
      for (let attempt = 0; ; attempt++) {
        try {
          await fsp.mkdir(dir, { recursive: true });
          await fsp.rename(tmp, path);
          break;
        } catch (e) {
          if (errCode(e) === 'ENOENT' && attempt < 5) continue;
          throw e;
        }
      }
      await fsyncDir(dir);
    } catch (e) {
      const code = errCode(e);
      if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST') {
        throw new StoreError('invalid-key', `meta key ${ns}/${key} conflicts with an existing key (a file and a folder of one name)`, { cause: e });
      }
      throw ioError(`write meta ${ns}/${key}`, e);
    } finally {
      await unlinkQuiet(tmp);
      activeTemps.delete(tmp);
    }
  }

  async listMeta(ns: string, prefix = ''): Promise<string[]> {
    validateNs(ns);
    if (prefix !== '') {
      if (prefix.length > MAX_KEY || !KEY_RE.test(prefix) || prefix.startsWith('/') || prefix.split('/').some((s) => s === '..' || s === '.')) {
        throw new StoreError('invalid-key', `invalid meta prefix ${JSON.stringify(prefix.slice(0, 120))}`);
      }
    }
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const out: string[] = [];
    const walk = async (dirKey: string): Promise<void> => {
      const dir = dirKey === '' ? join(this.metaDir, ns) : join(this.metaDir, ns, ...dirKey.split('/'));
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (e) {
        const code = errCode(e);
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw ioError(`list meta ${ns}/${dirKey}`, e);
      }
      for (const ent of entries) {
        const key = dirKey === '' ? ent.name : `${dirKey}/${ent.name}`;
        if (ent.isDirectory()) {
          // Only descend where keys below could still match the prefix.
          if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix) || key.startsWith(prefix)) await walk(key);
        } else if (ent.isFile() && key.startsWith(prefix)) {
          out.push(key);
        }
      }
    };
    await walk(baseKey);
    return out.sort();
  }

  async deleteMeta(ns: string, key: string): Promise<boolean> {
    const path = this.metaPath(ns, key);
    try {
      await fsp.unlink(path);
    } catch (e) {
      const code = errCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return false;
      throw ioError(`delete meta ${ns}/${key}`, e);
    }
    // Prune now-empty folders up to the namespace folder (best effort).
    const segs = key.split('/');
    for (let i = segs.length - 1; i > 0; i--) {
      try {
        await fsp.rmdir(join(this.metaDir, ns, ...segs.slice(0, i)));
      } catch {
        break;
      }
    }
    return true;
  }

  async verify(
    opts: { onProgress?: (done: number, total: number) => void; uploadMaxIdleMs?: number } = {},
  ): Promise<{ ok: number; corrupt: string[]; removedTemp: number }> {
    const removedTemp = await this.cleanTemp(opts.uploadMaxIdleMs ?? UPLOAD_MAX_IDLE_MS);
    let names: string[];
    try {
      names = (await fsp.readdir(this.blobDir)).sort();
    } catch (e) {
      throw ioError('list blobs', e);
    }
    const corrupt: string[] = [];
    let ok = 0;
    let done = 0;
    for (const name of names) {
      const path = join(this.blobDir, name);
      if (!HEX_RE.test(name)) {
        corrupt.push(`sha256:${name}`);
      } else {
        try {
          const hash = sha256();
          for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
          if (hash.digest('hex') === name) ok++;
          else corrupt.push(`sha256:${name}`);
        } catch (e) {
          if (errCode(e) !== 'ENOENT') corrupt.push(`sha256:${name}`); // vanished meanwhile: deleted, not corrupt
        }
      }
      done++;
      opts.onProgress?.(done, names.length);
    }
    return { ok, corrupt, removedTemp };
  }

  /** Remove temp files whose writer process is gone, and upload sessions idle too long. */
  private async cleanTemp(uploadMaxIdleMs: number): Promise<number> {
    let removed = 0;
    let names: string[] = [];
    try {
      names = await fsp.readdir(this.tmpDir);
    } catch (e) {
      if (errCode(e) !== 'ENOENT') throw ioError('list tmp', e);
    }
    for (const name of names) {
      const m = /^(?:put|meta)-(\d+)-[a-f0-9]+$/.exec(name);
      if (!m) continue;
      const path = join(this.tmpDir, name);
      const pid = Number(m[1]);
      if (activeTemps.has(path) || (pid !== process.pid && pidAlive(pid))) continue;
      await unlinkQuiet(path);
      removed++;
    }
    const uploads = join(this.tmpDir, 'uploads');
    let sessions: string[] = [];
    try {
      sessions = await fsp.readdir(uploads);
    } catch {
      /* none */
    }
    const now = Date.now();
    for (const id of sessions) {
      const dir = join(uploads, id);
      const st = await fsp.stat(join(dir, 'data')).catch(() => fsp.stat(dir).catch(() => undefined));
      if (st && now - st.mtimeMs <= uploadMaxIdleMs) continue;
      await fsp.rm(dir, { recursive: true, force: true });
      removed++;
    }
    return removed;
  }
}

/** Open (creating if needed) the store at `root`. */
export async function openStore(root: string): Promise<Store> {
  const store = new FsStore(resolve(root));
  try {
    await store.init();
  } catch (e) {
    throw ioError(`opening the store at ${root}`, e);
  }
  return store;
}

export { DIGEST_RE };
