// `airlock bundle verify`: the signature (and that the signer is the trusted one), every blob's hash
// and size, every part present, and completeness against the site's plan. Every problem names the
// artifact(s) behind it.
import { createHash } from 'node:crypto';
import { artifactLabel, blobOwners, checkSignature, parseIndex, type BundleIndex } from './format.ts';
import { blobStream, complete, openBundle, PieceError, type BundleSource, type PieceLocation } from './source.ts';
import { mapLimit } from './fetch/http.ts';
import type { BundlePlan, Progress } from './types.ts';

export type BundleProblemCode = 'signature' | 'unpinned' | 'part' | 'missing-part' | 'missing-blob' | 'corrupt-blob' | 'missing-artifact' | 'incomplete';

export interface BundleProblem {
  code: BundleProblemCode;
  message: string;
  digest?: string;
  /** The artifacts this problem affects ("image docker.io/calico/node:v3.28.2", "deb hello 2.10-3"). */
  artifacts?: string[];
  /** The part or file involved. */
  where?: string;
}

export interface BundleCheck {
  index?: BundleIndex;
  signer?: string;
  pinned: boolean;
  blobsOk: number;
  bytes: number;
  problems: BundleProblem[];
}

export interface VerifyOptions {
  /** Fingerprint of the trusted signing key (site.yaml bundle.signer or --trust). */
  trusted?: string;
  /** The site's plan: every planned artifact must be in the bundle. */
  plan?: BundlePlan;
  /** Blobs the loading side already has (incremental bundles, resumed loads). */
  have?: (digest: string) => Promise<boolean>;
  concurrency?: number;
  progress?: Progress;
}

/** Open + signature + index. Without an index, the problems say why. */
export async function openVerified(paths: readonly string[], opts: Pick<VerifyOptions, 'trusted'>): Promise<{ src?: BundleSource; check: BundleCheck }> {
  const check: BundleCheck = { pinned: opts.trusted !== undefined, blobsOk: 0, bytes: 0, problems: [] };
  const src = await openBundle(paths);
  for (const p of src.problems) check.problems.push({ code: 'part', message: p.message, where: p.where });
  const sig = checkSignature(src.indexBytes, src.sigBytes, opts.trusted);
  if (sig.fingerprint) check.signer = sig.fingerprint;
  if (!sig.ok) {
    check.problems.push({ code: 'signature', message: src.sigBytes.length === 0 ? 'the bundle has no signature' : sig.reason });
    return { check };
  }
  if (!sig.pinned) check.problems.push({ code: 'unpinned', message: `signed by ${sig.fingerprint}, which nothing pins: set bundle.signer in site.yaml or pass --trust ${sig.fingerprint}` });
  try {
    check.index = parseIndex(src.indexBytes);
  } catch (e) {
    check.problems.push({ code: 'signature', message: e instanceof Error ? e.message : String(e) });
    return { check };
  }
  return { src, check };
}

/**
 * Go over every blob the index lists: `each` gets the complete pieces of a blob and returns a problem or
 * nothing; blobs with no complete pieces are missing (unless `have` says the loading side has them).
 */
export async function forEachBlob(
  src: BundleSource,
  index: BundleIndex,
  check: BundleCheck,
  opts: Pick<VerifyOptions, 'have' | 'concurrency' | 'progress'>,
  each: (blob: { digest: string; size: number }, pieces: PieceLocation[]) => Promise<BundleProblem | undefined>,
): Promise<void> {
  const owners = blobOwners(index);
  const missingParts = new Set<number>();
  if (src.partCount !== undefined) for (let i = 1; i <= src.partCount; i++) if (!src.partNumbers.includes(i)) missingParts.add(i);
  const missingBefore = check.problems.filter((p) => p.code === 'missing-blob').length;
  opts.progress?.total?.(index.blobs.reduce((n, b) => n + b.size, 0));
  await mapLimit(index.blobs, opts.concurrency ?? 2, async (b) => {
    const pieces = src.pieces.get(b.digest);
    const artifacts = owners.get(b.digest) ?? [];
    if (!complete(pieces, b.size)) {
      if (opts.have && (await opts.have(b.digest))) {
        check.blobsOk++;
        return;
      }
      const where = pieces?.length ? `has pieces in ${pieces.map((p) => p.part).join(', ')} only` : src.parts.length ? 'in a part not given' : 'not in the bundle';
      check.problems.push({ code: 'missing-blob', digest: b.digest, artifacts, message: `${b.digest} (${artifacts.join('; ') || 'no artifact'}) is missing: ${where}` });
      return;
    }
    opts.progress?.start?.(b.digest, b.size);
    const problem = await each(b, pieces!);
    opts.progress?.done?.(b.digest, false);
    if (problem) check.problems.push({ ...problem, digest: b.digest, artifacts });
    else {
      check.blobsOk++;
      check.bytes += b.size;
    }
  });
  // Parts not given matter only when something is still missing (a load may have the rest already).
  if (missingParts.size > 0 && check.problems.filter((p) => p.code === 'missing-blob').length > missingBefore) {
    check.problems.push({ code: 'missing-part', message: `part(s) ${[...missingParts].join(', ')} of ${src.partCount} not given` });
  }
  // Blobs an artifact needs that this bundle does not carry (incremental bundles): the loading side must have them.
  const carried = new Set(index.blobs.map((b) => b.digest));
  for (const [digest, arts] of owners) {
    if (carried.has(digest)) continue;
    if (opts.have && (await opts.have(digest))) continue;
    check.problems.push({ code: 'missing-blob', digest, artifacts: arts, message: `${digest} (${arts.join('; ')}) is neither in this bundle nor in the store${index.base ? ` (load the base bundle ${index.base.slice(0, 12)}… first)` : ''}` });
  }
}

/** A damaged piece (thrown by blobStream, or wrapped by whoever read the stream) as the problem naming its part. */
export function pieceProblem(digest: string, e: unknown): BundleProblem | undefined {
  const pe = e instanceof PieceError ? e : e instanceof Error && e.cause instanceof PieceError ? e.cause : undefined;
  return pe && { code: 'corrupt-blob', where: pe.piece.part, message: `${digest} is corrupt in ${pe.piece.part}: ${pe.message}` };
}

/** A blob's pieces hashed end to end: a problem when the bytes are not the digest. */
async function hashPieces(b: { digest: string; size: number }, pieces: PieceLocation[], progress?: Progress): Promise<BundleProblem | undefined> {
  const h = createHash('sha256');
  let n = 0;
  try {
    for await (const c of blobStream(pieces)) {
      h.update(c as Buffer);
      n += (c as Buffer).length;
      progress?.bytes?.((c as Buffer).length);
    }
  } catch (e) {
    const bad = pieceProblem(b.digest, e);
    if (bad) return bad;
    throw e;
  }
  const got = `sha256:${h.digest('hex')}`;
  if (n !== b.size || got !== b.digest) return { code: 'corrupt-blob', where: pieces[0]!.part, message: `${b.digest} is corrupt: ${n !== b.size ? `${n} bytes, expected ${b.size}` : `content hashes to ${got}`}` };
  return undefined;
}

/** Planned artifacts the index neither has nor lists as missing, and those it lists as missing. */
export function completeness(index: BundleIndex, plan: BundlePlan | undefined): BundleProblem[] {
  const problems: BundleProblem[] = index.missing.map((m) => ({ code: 'incomplete' as const, artifacts: [artifactLabel({ kind: m.kind, name: m.name, version: m.version ?? '' })], message: `${m.kind} ${m.name}${m.version ? ` ${m.version}` : ''} is not in the bundle: ${m.reason}` }));
  if (!plan) return problems;
  for (const p of plan.artifacts) {
    const found = index.artifacts.some((a) => a.kind === p.kind && a.name === p.name && (!p.version || a.version === p.version || a.version.startsWith(`${p.version}-`)));
    const listed = index.missing.some((m) => m.kind === p.kind && m.name === p.name);
    if (!found && !listed) problems.push({ code: 'missing-artifact', artifacts: [`${p.kind} ${p.name}${p.version ? ` ${p.version}` : ''}`], message: `${p.kind} ${p.name}${p.version ? ` ${p.version}` : ''} (${p.reason}) is planned for this site but not in the bundle` });
  }
  return problems;
}

export async function verifyBundle(paths: readonly string[], opts: VerifyOptions = {}): Promise<BundleCheck> {
  const { src, check } = await openVerified(paths, opts);
  if (!src || !check.index) return check;
  await forEachBlob(src, check.index, check, opts, (b, pieces) => hashPieces(b, pieces, opts.progress));
  check.problems.push(...completeness(check.index, opts.plan));
  return check;
}
