// Reading a bundle as it arrives: one bundle directory, or any set of its parts (or directories that
// hold parts). Every part must carry the same signed index.
import { createReadStream, promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { INDEX_FILE, PART_FILE, SIG_FILE, parsePart, sha256Hex, type PartPiece } from './format.ts';
import { exists } from './fsutil.ts';

export interface PieceLocation extends PartPiece {
  /** Absolute path of the data file. */
  path: string;
  /** Part directory it is in. */
  part: string;
}

export interface BundleSource {
  indexBytes: Buffer;
  sigBytes: Buffer;
  /** Where each blob's bytes are: pieces in offset order (one piece when whole). */
  pieces: Map<string, PieceLocation[]>;
  /** Part directories read (empty for an unsplit bundle). */
  parts: string[];
  /** For split bundles: how many parts there are, and which numbers were given. */
  partCount?: number;
  partNumbers: number[];
  /** Problems found while opening (an index that differs between parts, unreadable part.json). */
  problems: { where: string; message: string }[];
}

export class BundleOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleOpenError';
  }
}

async function partDirsUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await fsp.readdir(dir)).sort()) {
    if (/^part-\d+-of-\d+$/.test(e) && (await exists(join(dir, e, PART_FILE)))) out.push(join(dir, e));
  }
  return out;
}

/** Open what the user gave: a bundle directory, part directories, or directories of parts. */
export async function openBundle(paths: readonly string[]): Promise<BundleSource> {
  const parts: string[] = [];
  let bundleDir: string | undefined;
  for (const p of paths) {
    const st = await fsp.stat(p).catch(() => undefined);
    if (!st?.isDirectory()) throw new BundleOpenError(`${p}: not a directory`);
    if (await exists(join(p, PART_FILE))) parts.push(p);
    else if (await exists(join(p, INDEX_FILE))) {
      if (bundleDir) throw new BundleOpenError(`two bundle directories given (${bundleDir}, ${p}); give one bundle, or its parts`);
      bundleDir = p;
    } else {
      const under = await partDirsUnder(p);
      if (under.length === 0) throw new BundleOpenError(`${p}: neither a bundle (${INDEX_FILE}) nor a part (${PART_FILE}), nor a directory of parts`);
      parts.push(...under);
    }
  }
  if (bundleDir && parts.length) throw new BundleOpenError('give a bundle directory or its parts, not both');
  const problems: BundleSource['problems'] = [];
  const pieces = new Map<string, PieceLocation[]>();
  if (bundleDir) {
    const indexBytes = await fsp.readFile(join(bundleDir, INDEX_FILE));
    const sigBytes = await fsp.readFile(join(bundleDir, SIG_FILE)).catch(() => Buffer.alloc(0));
    const blobDir = join(bundleDir, 'blobs', 'sha256');
    for (const hex of await fsp.readdir(blobDir).catch(() => [] as string[])) {
      if (!/^[a-f0-9]{64}$/.test(hex)) continue;
      const path = join(blobDir, hex);
      const st = await fsp.stat(path);
      pieces.set(`sha256:${hex}`, [{ digest: `sha256:${hex}`, offset: 0, length: st.size, size: st.size, sha256: hex, file: hex, path, part: bundleDir }]);
    }
    return { indexBytes, sigBytes, pieces, parts: [], partNumbers: [], problems };
  }
  let indexBytes: Buffer | undefined;
  let sigBytes: Buffer | undefined;
  let partCount: number | undefined;
  const partNumbers: number[] = [];
  for (const dir of [...new Set(parts)]) {
    const ib = await fsp.readFile(join(dir, INDEX_FILE)).catch(() => undefined);
    const sb = await fsp.readFile(join(dir, SIG_FILE)).catch(() => undefined);
    if (!ib || !sb) {
      problems.push({ where: dir, message: `part has no ${!ib ? INDEX_FILE : SIG_FILE}` });
      continue;
    }
    if (indexBytes === undefined) {
      indexBytes = ib;
      sigBytes = sb;
    } else if (!ib.equals(indexBytes) || !sb.equals(sigBytes!)) {
      problems.push({ where: dir, message: `this part's ${!ib.equals(indexBytes) ? INDEX_FILE : SIG_FILE} differs from ${parts[0]}'s: parts of different bundles, or a swapped index` });
      continue;
    }
    let pm;
    try {
      pm = parsePart(await fsp.readFile(join(dir, PART_FILE)), dir);
    } catch (e) {
      problems.push({ where: dir, message: e instanceof Error ? e.message : String(e) });
      continue;
    }
    if (pm.index !== sha256Hex(ib)) {
      problems.push({ where: dir, message: `${PART_FILE} belongs to another index` });
      continue;
    }
    if (partCount !== undefined && pm.of !== partCount) problems.push({ where: dir, message: `says it is one of ${pm.of} parts, others say ${partCount}` });
    partCount ??= pm.of;
    partNumbers.push(pm.part);
    for (const pc of pm.pieces) {
      const l = pieces.get(pc.digest) ?? [];
      l.push({ ...pc, path: join(dir, 'data', pc.file), part: dir });
      pieces.set(pc.digest, l);
    }
  }
  if (!indexBytes || !sigBytes) throw new BundleOpenError(`no readable part among ${parts.join(', ')}`);
  for (const l of pieces.values()) l.sort((a, b) => a.offset - b.offset);
  return { indexBytes, sigBytes, pieces, parts, ...(partCount !== undefined ? { partCount } : {}), partNumbers: partNumbers.sort((a, b) => a - b), problems };
}

/** Whether the pieces cover the whole blob, end to end. */
export function complete(pieces: readonly PieceLocation[] | undefined, size: number): boolean {
  if (!pieces || pieces.length === 0) return false;
  let at = 0;
  for (const p of pieces) {
    if (p.offset !== at) return false;
    at += p.length;
  }
  return at === size;
}

/**
 * The blob's bytes as one stream, pieces in order. Each piece is hashed on the way; a piece whose
 * bytes differ from its part.json hash (or whose file is shorter) errors the stream with a PieceError.
 */
export function blobStream(pieces: readonly PieceLocation[], opts: { consumerChecksDigest?: boolean } = {}): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  (async () => {
    for (const p of pieces) {
      // A whole blob's piece hash is the blob digest: a consumer that checks the digest checks it once.
      const skipHash = opts.consumerChecksDigest === true && p.offset === 0 && p.length === p.size && p.sha256 === p.digest.slice(7);
      const h = createHash('sha256');
      let n = 0;
      if (p.length > 0) {
        for await (const c of createReadStream(p.path, { highWaterMark: 1 << 20 })) {
          const b = c as Buffer;
          n += b.length;
          if (!skipHash) h.update(b);
          if (!out.write(b)) await new Promise<void>((r) => out.once('drain', r));
        }
      }
      const sum = skipHash ? p.sha256 : h.digest('hex');
      if (n !== p.length || sum !== p.sha256) throw new PieceError(p, n !== p.length ? `${n} bytes, expected ${p.length}` : `sha256 ${sum}, expected ${p.sha256}`);
    }
    out.end();
  })().catch((e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
  return out;
}

export class PieceError extends Error {
  constructor(readonly piece: PieceLocation, detail: string) {
    super(`${piece.path}: ${detail}`);
    this.name = 'PieceError';
  }
}
