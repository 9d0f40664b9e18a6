// Small readers for the archive formats packages come in: ar (.deb), tar (control.tar, Helm charts,
// sdists), zip (wheels, Go module zips), and decompression (gzip natively; xz/zstd through the system's
// `xz` / `zstd` at the edge, since Node 20 has neither).
import { execFile } from 'node:child_process';
import { gunzipSync, inflateRawSync } from 'node:zlib';

export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

export interface ArchiveMember {
  name: string;
  data: Buffer;
}

/** The members of a System V / GNU `ar` archive (what a .deb is). */
export function readAr(buf: Buffer): ArchiveMember[] {
  if (buf.subarray(0, 8).toString('latin1') !== '!<arch>\n') throw new ArchiveError('not an ar archive (no "!<arch>" magic)');
  const out: ArchiveMember[] = [];
  let off = 8;
  while (off + 60 <= buf.length) {
    const hdr = buf.subarray(off, off + 60);
    if (hdr.subarray(58, 60).toString('latin1') !== '`\n') throw new ArchiveError(`ar member header at ${off} is corrupt`);
    let name = hdr.subarray(0, 16).toString('latin1').trimEnd();
    const size = Number(hdr.subarray(48, 58).toString('latin1').trim());
    if (!Number.isSafeInteger(size) || size < 0 || off + 60 + size > buf.length) throw new ArchiveError(`ar member "${name}" overruns the archive`);
    if (name.endsWith('/') && name !== '/') name = name.slice(0, -1); // GNU style
    out.push({ name, data: buf.subarray(off + 60, off + 60 + size) });
    off += 60 + size + (size % 2);
  }
  return out;
}

export interface TarEntry {
  /** Path as stored, with a leading "./" removed. */
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  data: Buffer;
}

function tarString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

function tarNumber(b: Buffer): number {
  if ((b[0]! & 0x80) !== 0) {
    // base-256 (GNU) for large sizes
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = tarString(b).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** Entries of an (uncompressed) ustar / GNU / pax tar archive. */
export function readTar(buf: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const size = tarNumber(h.subarray(124, 136));
    const typeflag = String.fromCharCode(h[156] || 0x30);
    const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? tarString(h.subarray(345, 500)) : '';
    let name = tarString(h.subarray(0, 100));
    if (prefix) name = `${prefix}/${name}`;
    const dataStart = off + 512;
    if (!Number.isSafeInteger(size) || dataStart + size > buf.length) throw new ArchiveError(`tar entry "${name}" overruns the archive`);
    const data = buf.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / 512) * 512;
    if (typeflag === 'L') {
      longName = tarString(data);
      continue;
    }
    if (typeflag === 'x') {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
      paxPath = m?.[1];
      continue;
    }
    if (typeflag === 'g') continue;
    name = paxPath ?? longName ?? name;
    longName = paxPath = undefined;
    name = name.replace(/^\.\//, '');
    const type = typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'dir' : typeflag === '2' ? 'symlink' : 'other';
    out.push({ name, type, data });
  }
  return out;
}

function run(cmd: string, args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'buffer', maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
      if (err) reject(new ArchiveError(`${cmd} ${args.join(' ')} failed: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? `${cmd} is not installed` : stderr.toString().trim() || err.message}`));
      else resolve(stdout);
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input);
  });
}

/** Decompress by magic number: gzip natively, xz and zstd with the system tools, anything else as is. */
export async function decompress(buf: Buffer): Promise<Buffer> {
  if (buf[0] === 0x1f && buf[1] === 0x8b) return gunzipSync(buf);
  if (buf.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return run('xz', ['-dc'], buf);
  if (buf.readUInt32LE(0) === 0xfd2fb528) return run('zstd', ['-dcq'], buf);
  if (buf.subarray(0, 3).toString('latin1') === 'BZh') return run('bzip2', ['-dc'], buf);
  return buf;
}

export interface ZipEntry {
  name: string;
  compressedSize: number;
  size: number;
  method: number;
  localHeaderOffset: number;
}

/** The central directory of a zip archive (wheels, Go module zips). ZIP64 is not supported. */
export function zipEntries(buf: Buffer): ZipEntry[] {
  const min = Math.max(0, buf.length - 65557);
  let eocd = -1;
  for (let i = buf.length - 22; i >= min; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ArchiveError('not a zip archive (no end of central directory)');
  const count = buf.readUInt16LE(eocd + 10);
  let off = buf.readUInt32LE(eocd + 16);
  const out: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (off + 46 > buf.length || buf.readUInt32LE(off) !== 0x02014b50) throw new ArchiveError('zip central directory is corrupt');
    const method = buf.readUInt16LE(off + 10);
    const compressedSize = buf.readUInt32LE(off + 20);
    const size = buf.readUInt32LE(off + 24);
    const nameLen = buf.readUInt16LE(off + 28);
    const extraLen = buf.readUInt16LE(off + 30);
    const commentLen = buf.readUInt16LE(off + 32);
    const localHeaderOffset = buf.readUInt32LE(off + 42);
    const name = buf.subarray(off + 46, off + 46 + nameLen).toString('utf8');
    out.push({ name, compressedSize, size, method, localHeaderOffset });
    off += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

export function zipRead(buf: Buffer, e: ZipEntry): Buffer {
  const off = e.localHeaderOffset;
  if (off + 30 > buf.length || buf.readUInt32LE(off) !== 0x04034b50) throw new ArchiveError(`zip local header of "${e.name}" is corrupt`);
  const start = off + 30 + buf.readUInt16LE(off + 26) + buf.readUInt16LE(off + 28);
  const raw = buf.subarray(start, start + e.compressedSize);
  if (e.method === 0) return Buffer.from(raw);
  if (e.method === 8) return inflateRawSync(raw);
  throw new ArchiveError(`zip entry "${e.name}" uses compression method ${e.method} (only stored and deflate are supported)`);
}

/** RFC 822-style headers (core metadata, PKG-INFO): first value of each field, lower-cased names. */
export function parseEmailHeaders(text: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  let last: string | undefined;
  for (const line of lines) {
    if (line === '') break; // body (description) follows
    if (/^[ \t]/.test(line) && last) {
      const vals = fields.get(last)!;
      vals[vals.length - 1] += `\n${line.trim()}`;
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    last = line.slice(0, i).trim().toLowerCase();
    const list = fields.get(last) ?? [];
    list.push(line.slice(i + 1).trim());
    fields.set(last, list);
  }
  return fields;
}
