// `airlock bundle diff OLD NEW`: what changed between two bundles, and an incremental bundle that
// carries only the blobs the old one did not have (the site loads the old one first).
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { artifactLabel, sha256Hex, type BundleIndex, type SigningKey } from './format.ts';
import { linkOrCopy } from './fsutil.ts';
import { writeSignedIndex } from './create.ts';
import type { Artifact } from './types.ts';

export interface BundleDiff {
  added: string[];
  removed: string[];
  /** "deb hello: 2.10-2 → 2.10-3" */
  changed: string[];
  unchanged: number;
  /** Blobs NEW has that OLD does not: what an incremental bundle carries. */
  newBlobs: { digest: string; size: number }[];
  newBytes: number;
  /** Bytes of NEW already in OLD. */
  sharedBytes: number;
}

const keyOf = (a: Artifact) => `${a.kind}\0${a.meta.os ?? ''}\0${a.name}`;
const blobSet = (a: Artifact) => a.blobs.map((b) => b.digest).sort().join(',');

/** Pure: compare two indexes artifact by artifact (kind + name) and blob by blob. */
export function diffIndexes(old: BundleIndex, neu: BundleIndex): BundleDiff {
  const before = new Map(old.artifacts.map((a) => [keyOf(a), a]));
  const after = new Map(neu.artifacts.map((a) => [keyOf(a), a]));
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  let unchanged = 0;
  for (const [k, a] of after) {
    const o = before.get(k);
    if (!o) added.push(artifactLabel(a));
    else if (o.version !== a.version || blobSet(o) !== blobSet(a)) changed.push(`${a.kind} ${a.name}: ${o.version} → ${a.version}${o.version === a.version ? ' (content changed)' : ''}`);
    else unchanged++;
  }
  for (const [k, o] of before) if (!after.has(k)) removed.push(artifactLabel(o));
  // Incremental bundles list only their new blobs; the old side is everything its artifacts name.
  const oldBlobs = new Set([...old.blobs.map((b) => b.digest), ...old.artifacts.flatMap((a) => a.blobs.map((b) => b.digest))]);
  const newBlobs = neu.blobs.filter((b) => !oldBlobs.has(b.digest));
  const newBytes = newBlobs.reduce((n, b) => n + b.size, 0);
  const sharedBytes = neu.blobs.reduce((n, b) => n + b.size, 0) - newBytes;
  return { added, removed, changed, unchanged, newBlobs, newBytes, sharedBytes };
}

/**
 * Write an incremental bundle at `out`: NEW's artifacts (all of them, so loading publishes the whole
 * new state), only the blobs OLD lacks, and `base` = the sha256 of OLD's index.
 */
export async function writeIncremental(newDir: string, neu: BundleIndex, oldIndexBytes: Buffer, diff: BundleDiff, out: string, key: SigningKey, now = new Date()): Promise<BundleIndex> {
  const blobDir = join(out, 'blobs', 'sha256');
  await fsp.mkdir(blobDir, { recursive: true });
  for (const b of diff.newBlobs) await linkOrCopy(join(newDir, 'blobs', 'sha256', b.digest.slice(7)), join(blobDir, b.digest.slice(7)));
  const index: BundleIndex = { ...neu, created: now.toISOString(), base: sha256Hex(oldIndexBytes), blobs: diff.newBlobs };
  await writeSignedIndex(out, index, key);
  return index;
}
