// Splitting a bundle into parts for size-limited media. The blobs, in index order, are laid end to end
// and cut into parts; a blob that crosses a cut becomes pieces. Every part carries the signed index,
// so any one part can be checked on its own, and parts can be loaded in any order.
import { createReadStream, promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { INDEX_FILE, parsePart, PART_FILE, SIG_FILE, sha256Hex, type BundleIndex, type PartManifest } from './format.ts';
import { exists, linkOrCopy, writeFileAtomic } from './fsutil.ts';
import type { Progress } from './types.ts';

export interface PlannedPiece {
  digest: string;
  offset: number;
  length: number;
  size: number;
}

/** Room a part keeps for its index, signature and part.json. */
export function partOverhead(indexBytes: number, blobCount: number): number {
  return indexBytes + 4096 + blobCount * 256;
}

/**
 * Cut blobs (in order) into parts of at most `capacity` data bytes each (pure). Empty blobs go into
 * the part where they fall. Throws when capacity is not positive.
 */
export function layoutParts(blobs: readonly { digest: string; size: number }[], capacity: number): PlannedPiece[][] {
  if (!(capacity > 0)) throw new Error('the part size leaves no room for data (smaller than the index)');
  const parts: PlannedPiece[][] = [[]];
  let room = capacity;
  for (const b of blobs) {
    let offset = 0;
    do {
      if (room === 0) {
        parts.push([]);
        room = capacity;
      }
      const length = Math.min(room, b.size - offset);
      parts[parts.length - 1]!.push({ digest: b.digest, offset, length, size: b.size });
      offset += length;
      room -= length;
    } while (offset < b.size);
  }
  return parts;
}

export const partName = (n: number, of: number): string => {
  const w = Math.max(3, String(of).length);
  return `part-${String(n).padStart(w, '0')}-of-${String(of).padStart(w, '0')}`;
};

/** Copy bytes start..start+length of src to dest, hashing them; returns the sha256 hex. */
async function copyRange(src: string, dest: string, start: number, length: number, progress?: Progress): Promise<string> {
  const h = createHash('sha256');
  const tap = new Transform({
    transform(c: Buffer, _e, cb) {
      h.update(c);
      progress?.bytes?.(c.length);
      cb(null, c);
    },
  });
  const fh = await fsp.open(dest, 'w');
  try {
    if (length > 0) await pipeline(createReadStream(src, { start, end: start + length - 1, highWaterMark: 1 << 20 }), tap, fh.createWriteStream());
    await fh.datasync().catch(() => undefined);
  } finally {
    await fh.close().catch(() => undefined);
  }
  return h.digest('hex');
}

/**
 * Write the bundle at `bundleDir` as parts under partsDir. Whole blobs are hard-linked (no extra disk
 * on the same filesystem); pieces are copied. A part already written for this index is kept (resumable).
 */
export async function writeParts(bundleDir: string, indexBytes: Buffer, sigBytes: Buffer, index: BundleIndex, partSize: number, partsDir: string, progress?: Progress): Promise<string[]> {
  const layout = layoutParts(index.blobs, partSize - partOverhead(indexBytes.length + sigBytes.length, index.blobs.length));
  const indexSha = sha256Hex(indexBytes);
  await fsp.mkdir(partsDir, { recursive: true });
  // Parts of an older index in the same directory are removed (they would confuse a later load).
  for (const e of await fsp.readdir(partsDir)) {
    if (!/^part-\d+-of-\d+(\.tmp)?$/.test(e)) continue;
    const pj = await fsp.readFile(join(partsDir, e, PART_FILE)).catch(() => undefined);
    let keep = false;
    try {
      const pm = pj && parsePart(pj, e);
      keep = Boolean(pm && pm.index === indexSha && pm.of === layout.length);
    } catch {
      keep = false;
    }
    if (!keep) await fsp.rm(join(partsDir, e), { recursive: true, force: true });
  }
  const names: string[] = [];
  for (const [i, pieces] of layout.entries()) {
    const name = partName(i + 1, layout.length);
    const dir = join(partsDir, name);
    names.push(dir);
    if (await exists(join(dir, PART_FILE))) continue;
    const tmp = `${dir}.tmp`;
    await fsp.rm(tmp, { recursive: true, force: true });
    await fsp.mkdir(join(tmp, 'data'), { recursive: true });
    const manifest: PartManifest = { apiVersion: 'airlock/v1', kind: 'BundlePart', index: indexSha, part: i + 1, of: layout.length, pieces: [] };
    for (const p of pieces) {
      const hex = p.digest.slice(7);
      const src = join(bundleDir, 'blobs', 'sha256', hex);
      const whole = p.offset === 0 && p.length === p.size;
      const file = whole ? hex : `${hex}.${p.offset}`;
      let sha: string;
      if (whole) {
        await linkOrCopy(src, join(tmp, 'data', file));
        sha = hex; // the piece is the blob: its sha256 is the digest (checked when read)
        progress?.bytes?.(p.length);
      } else {
        sha = await copyRange(src, join(tmp, 'data', file), p.offset, p.length, progress);
      }
      manifest.pieces.push({ ...p, sha256: sha, file });
    }
    await fsp.writeFile(join(tmp, INDEX_FILE), indexBytes);
    await fsp.writeFile(join(tmp, SIG_FILE), sigBytes);
    await writeFileAtomic(join(tmp, PART_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
    await fsp.rename(tmp, dir);
  }
  return names;
}

