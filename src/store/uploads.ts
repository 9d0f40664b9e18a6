// Resumable upload sessions (OCI blob uploads), kept in the store's tmp so they survive a restart:
//
//   root/tmp/uploads/<id>/info.json   { repo, started }
//   root/tmp/uploads/<id>/data        the bytes received so far, in order
//
// A chunk is all-or-nothing while this process lives (a failed chunk is cut off again); after a crash
// the data file holds whatever reached it, and the session's offset is simply its length. The sha256 is
// kept incrementally in memory and recomputed from the file when the process has restarted. Closing a
// session hard-links the (fsynced) data file into the blob directory: no second copy of the bytes.
import { randomUUID } from 'node:crypto';
import { promises as fsp, createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Hash } from 'node:crypto';
import { BatchWriter, commitBlobFile, UPLOAD_MAX_IDLE_MS } from './fs-store.ts';
import { digestHex, sha256 } from './digest.ts';
import { StoreError, type BlobInfo, type Store } from './types.ts';

const ID_RE = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/;
const MAX_HASHERS = 10_000;

export type UploadErrorCode = 'unknown' | 'range' | 'size';

/** 'unknown': no such session; 'range': chunk does not start at the current offset; 'size': body length differs from what was declared. */
export class UploadError extends Error {
  readonly code: UploadErrorCode;
  /** the session's current size (bytes accepted so far) */
  readonly offset: number;
  constructor(code: UploadErrorCode, message: string, offset = 0) {
    super(message);
    this.name = 'UploadError';
    this.code = code;
    this.offset = offset;
  }
}

export interface UploadSession {
  id: string;
  repo: string;
  /** bytes received so far */
  size: number;
}

export interface AppendOptions {
  /** where the client says the chunk starts (Content-Range); must equal the current size */
  start?: number;
  /** declared chunk length (Content-Length / Content-Range); a different byte count is rejected */
  length?: number;
}

export class Uploads {
  private readonly dir: string;
  private readonly hashers = new Map<string, { hash: Hash; size: number }>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly store: Store) {
    this.dir = join(store.root, 'tmp', 'uploads');
  }

  /** Max idle time before verify() may remove a session. */
  static readonly maxIdleMs = UPLOAD_MAX_IDLE_MS;

  async create(repo: string): Promise<UploadSession> {
    const id = randomUUID();
    const dir = join(this.dir, id);
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(join(dir, 'data'), Buffer.alloc(0), { flag: 'wx' });
    await fsp.writeFile(join(dir, 'info.json'), JSON.stringify({ repo, started: new Date().toISOString() }));
    return { id, repo, size: 0 };
  }

  /** The session, if it exists and belongs to `repo`. */
  async get(id: string, repo: string): Promise<UploadSession | undefined> {
    if (!ID_RE.test(id)) return undefined;
    const dir = join(this.dir, id);
    try {
      const info = JSON.parse(await fsp.readFile(join(dir, 'info.json'), 'utf8')) as { repo?: unknown };
      if (info.repo !== repo) return undefined;
      const st = await fsp.stat(join(dir, 'data'));
      return { id, repo, size: st.size };
    } catch {
      return undefined;
    }
  }

  /** Run `fn` with the session locked (requests to one session are serialized). */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  /** Append a chunk; returns the new size. */
  append(id: string, repo: string, body: AsyncIterable<Buffer | string>, opts: AppendOptions = {}): Promise<number> {
    return this.locked(id, () => this.appendLocked(id, repo, body, opts));
  }

  private async appendLocked(id: string, repo: string, body: AsyncIterable<Buffer | string>, opts: AppendOptions): Promise<number> {
    const sess = await this.get(id, repo);
    if (!sess) throw new UploadError('unknown', 'upload session unknown');
    const start = sess.size;
    if (opts.start !== undefined && opts.start !== start) {
      throw new UploadError('range', `chunk starts at ${opts.start}, expected ${start}`, start);
    }
    const hash = await this.hasherAt(id, start);
    const before = hash.copy();
    const path = join(this.dir, id, 'data');
    const fh = await fsp.open(path, 'r+');
    const writer = new BatchWriter(fh, start);
    try {
      for await (const chunk of body) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        if (opts.length !== undefined && writer.pos - start + buf.length > opts.length) {
          throw new UploadError('size', `chunk is longer than the declared ${opts.length} bytes`, start);
        }
        hash.update(buf);
        await writer.push(buf);
      }
      await writer.end();
      const pos = writer.pos;
      if (opts.length !== undefined && pos - start !== opts.length) {
        throw new UploadError('size', `chunk has ${pos - start} bytes, declared ${opts.length}`, start);
      }
      this.remember(id, hash, pos);
      return pos;
    } catch (e) {
      // Cut the failed chunk off again, so the session stays where the client last saw it.
      await writer.settle();
      await fh.truncate(start).catch(() => undefined);
      this.remember(id, before, start);
      if (e instanceof UploadError) throw new UploadError(e.code, e.message, start);
      throw e;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  private remember(id: string, hash: Hash, size: number): void {
    if (this.hashers.size >= MAX_HASHERS && !this.hashers.has(id)) {
      const oldest = this.hashers.keys().next().value;
      if (oldest !== undefined) this.hashers.delete(oldest);
    }
    this.hashers.set(id, { hash, size });
  }

  /** The running hash of the first `size` bytes (recomputed from the file after a restart). */
  private async hasherAt(id: string, size: number): Promise<Hash> {
    const h = this.hashers.get(id);
    if (h && h.size === size) return h.hash;
    const hash = sha256();
    if (size > 0) {
      for await (const chunk of createReadStream(join(this.dir, id, 'data'), { start: 0, end: size - 1, highWaterMark: 1 << 20 })) {
        hash.update(chunk as Buffer);
      }
    }
    return hash;
  }

  /**
   * Close the session: append the final chunk (if any), check the digest, store the blob. A digest
   * mismatch throws StoreError('digest-mismatch') and removes the session; nothing is stored.
   */
  commit(
    id: string,
    repo: string,
    digest: string,
    finalChunk?: { body: AsyncIterable<Buffer | string>; opts?: AppendOptions },
  ): Promise<BlobInfo & { created: boolean }> {
    digestHex(digest);
    return this.locked(id, async () => {
      if (finalChunk) await this.appendLocked(id, repo, finalChunk.body, finalChunk.opts ?? {});
      const sess = await this.get(id, repo);
      if (!sess) throw new UploadError('unknown', 'upload session unknown');
      const hash = await this.hasherAt(id, sess.size);
      const actual = `sha256:${hash.copy().digest('hex')}`;
      if (actual !== digest) {
        await this.removeSession(id);
        throw new StoreError('digest-mismatch', `uploaded content has digest ${actual}, not ${digest}`);
      }
      const path = join(this.dir, id, 'data');
      const fh = await fsp.open(path, 'r+');
      try {
        await fh.datasync();
      } finally {
        await fh.close();
      }
      const created = await commitBlobFile(path, this.store.blobPath(digest), sess.size);
      await this.removeSession(id);
      return { digest, size: sess.size, created };
    });
  }

  /** Drop a session and its data. */
  cancel(id: string, repo: string): Promise<boolean> {
    return this.locked(id, async () => {
      if (!(await this.get(id, repo))) return false;
      await this.removeSession(id);
      return true;
    });
  }

  private async removeSession(id: string): Promise<void> {
    this.hashers.delete(id);
    if (!ID_RE.test(id)) return;
    await fsp.rm(join(this.dir, id), { recursive: true, force: true });
  }
}
