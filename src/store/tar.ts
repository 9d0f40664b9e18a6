// A small random-access reader for plain (uncompressed) tar files: ustar, pax ("x" headers for long
// names and sizes) and GNU long names. Enough for docker-archive / OCI-archive files; nothing is
// extracted to disk, entries are read in place by offset.
import { createReadStream, promises as fsp } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';

export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  /** offset of the entry's data in the tar file */
  offset: number;
  size: number;
  linkname?: string;
}

export class TarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarError';
  }
}

const BLOCK = 512;
const MAX_META = 1 << 20;
const MAX_ENTRIES = 1_000_000;

function cstr(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end >= 0 && end < start + len ? end : start + len);
}

function num(buf: Buffer, start: number, len: number): number {
  if ((buf[start] ?? 0) & 0x80) {
    // base-256 (GNU): big-endian, first byte's high bit is the marker
    let v = (buf[start] ?? 0) & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + (buf[start + i] ?? 0);
    return v;
  }
  const s = cstr(buf, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError('not a tar file (bad numeric field)');
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = num(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] ?? 0);
  return sum === stored;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = Number(data.toString('ascii', pos, sp));
    if (!Number.isSafeInteger(len) || len <= 0 || pos + len > data.length) break;
    const rec = data.toString('utf8', sp + 1, pos + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

const normalize = (name: string): string => {
  const n = posix.normalize(name.replace(/^\/+/, '')).replace(/\/+$/, '');
  return n === '.' ? '' : n.replace(/^\.\//, '');
};

export class TarReader {
  private constructor(
    readonly path: string,
    readonly entries: Map<string, TarEntry>,
  ) {}

  static async open(path: string): Promise<TarReader> {
    const fh = await fsp.open(path, 'r');
    const entries = new Map<string, TarEntry>();
    try {
      const size = (await fh.stat()).size;
      const h = Buffer.alloc(BLOCK);
      let pos = 0;
      let pax: Record<string, string> = {};
      let longName: string | undefined;
      let longLink: string | undefined;
      const readAt = async (buf: Buffer, at: number): Promise<void> => {
        const { bytesRead } = await fh.read(buf, 0, buf.length, at);
        if (bytesRead !== buf.length) throw new TarError('truncated tar file');
      };
      for (let count = 0; pos + BLOCK <= size; count++) {
        if (count > MAX_ENTRIES) throw new TarError('too many tar entries');
        await readAt(h, pos);
        if (h.every((b) => b === 0)) break;
        if (!checksumOk(h)) throw new TarError(`not a tar file (bad header checksum at offset ${pos})`);
        const flag = String.fromCharCode(h[156] ?? 0);
        let entSize = num(h, 124, 12);
        if (pax.size !== undefined) entSize = Number(pax.size);
        const dataAt = pos + BLOCK;
        const next = dataAt + Math.ceil(entSize / BLOCK) * BLOCK;
        if (dataAt + entSize > size) throw new TarError('truncated tar file');
        if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
          if (entSize > MAX_META) throw new TarError('tar metadata entry too large');
          const data = Buffer.alloc(entSize);
          await readAt(data, dataAt);
          if (flag === 'x') pax = { ...pax, ...parsePax(data) };
          else if (flag === 'L') longName = cstr(data, 0, data.length);
          else if (flag === 'K') longLink = cstr(data, 0, data.length);
          pos = next;
          continue;
        }
        let name = cstr(h, 0, 100);
        const magic = h.toString('ascii', 257, 262);
        if (magic === 'ustar') {
          const prefix = cstr(h, 345, 155);
          if (prefix) name = `${prefix}/${name}`;
        }
        name = pax.path ?? longName ?? name;
        const linkname = pax.linkpath ?? longLink ?? cstr(h, 157, 100);
        const type: TarEntry['type'] =
          flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'dir' : flag === '2' ? 'symlink' : flag === '1' ? 'hardlink' : 'other';
        const key = normalize(name);
        if (key !== '') {
          const ent: TarEntry = { name: key, type, offset: dataAt, size: type === 'file' ? entSize : 0 };
          if (type === 'symlink' || type === 'hardlink') ent.linkname = linkname;
          entries.set(key, ent);
        }
        pax = {};
        longName = undefined;
        longLink = undefined;
        pos = next;
      }
    } finally {
      await fh.close();
    }
    return new TarReader(path, entries);
  }

  /** The regular-file entry at `name`, following symlinks and hard links. */
  file(name: string): TarEntry | undefined {
    let key = normalize(name);
    for (let hops = 0; hops < 16; hops++) {
      const e = this.entries.get(key);
      if (!e) return undefined;
      if (e.type === 'file') return e;
      if (e.type === 'symlink' && e.linkname !== undefined) {
        key = normalize(e.linkname.startsWith('/') ? e.linkname : posix.join(posix.dirname(key), e.linkname));
      } else if (e.type === 'hardlink' && e.linkname !== undefined) {
        key = normalize(e.linkname);
      } else {
        return undefined;
      }
    }
    return undefined;
  }

  async read(name: string, limit = 64 * 1024 * 1024): Promise<Buffer> {
    const e = this.file(name);
    if (!e) throw new TarError(`${name} not found in the archive`);
    if (e.size > limit) throw new TarError(`${name} is larger than ${limit} bytes`);
    return this.readAt(e, e.size);
  }

  /** The first `n` bytes (fewer if the file is shorter). */
  async head(name: string, n: number): Promise<Buffer> {
    const e = this.file(name);
    if (!e) throw new TarError(`${name} not found in the archive`);
    return this.readAt(e, Math.min(n, e.size));
  }

  private async readAt(e: TarEntry, n: number): Promise<Buffer> {
    const buf = Buffer.alloc(n);
    if (n === 0) return buf;
    const fh = await fsp.open(this.path, 'r');
    try {
      const { bytesRead } = await fh.read(buf, 0, n, e.offset);
      if (bytesRead !== n) throw new TarError('truncated tar file');
    } finally {
      await fh.close();
    }
    return buf;
  }

  stream(name: string): NodeJS.ReadableStream {
    const e = this.file(name);
    if (!e) throw new TarError(`${name} not found in the archive`);
    if (e.size === 0) return Readable.from([]);
    return createReadStream(this.path, { start: e.offset, end: e.offset + e.size - 1, highWaterMark: 1 << 20 });
  }
}
