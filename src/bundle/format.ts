// The bundle on disk, and its signature.
//
//   <bundle>/airlock-bundle.json   the index: every artifact (kind, name, version, blobs by sha256 + size)
//   <bundle>/airlock-bundle.sig    ed25519 signature over the exact bytes of the index, with the public key
//   <bundle>/oci-layout, index.json   an OCI image layout of the images (tools like skopeo read it)
//   <bundle>/blobs/sha256/<hex>    every blob once, whatever its kind (deduplicated across images and kinds)
//
// Split for media (`--split SIZE`), the same bytes become parts that can travel separately:
//   <parts>/part-001-of-003/{airlock-bundle.json, airlock-bundle.sig, part.json, data/<hex>[.<offset>]}
// Each part repeats the signed index; part.json says which piece of which blob each data file is.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { Artifact, Missing } from './types.ts';

export const INDEX_FILE = 'airlock-bundle.json';
export const SIG_FILE = 'airlock-bundle.sig';
export const PART_FILE = 'part.json';

export interface BundleIndex {
  apiVersion: 'airlock/v1';
  kind: 'BundleIndex';
  site: string;
  created: string;
  /** Incremental bundle: the sha256 of the base bundle's index; its blobs are expected on the loading side. */
  base?: string;
  artifacts: Artifact[];
  /** Every blob this bundle carries, sorted by digest (an incremental bundle: only the new ones). */
  blobs: { digest: string; size: number }[];
  /** What the plan asked for and the sources did not have (the bundle is incomplete for these). */
  missing: Missing[];
}

export interface BundleSignature {
  algorithm: 'ed25519';
  /** sha256 (hex) of the raw 32-byte public key. */
  fingerprint: string;
  /** Raw public key, base64. */
  publicKey: string;
  /** Signature over the exact bytes of airlock-bundle.json, base64. */
  signature: string;
}

export interface PartPiece {
  digest: string;
  /** Byte range of the blob this data file holds. */
  offset: number;
  length: number;
  /** Size of the whole blob. */
  size: number;
  /** sha256 (hex) of this piece's bytes, so a damaged part is named before anything is assembled. */
  sha256: string;
  /** File under data/. */
  file: string;
}

export interface PartManifest {
  apiVersion: 'airlock/v1';
  kind: 'BundlePart';
  /** sha256 (hex) of the index bytes this part belongs to. */
  index: string;
  part: number;
  of: number;
  pieces: PartPiece[];
}

/** The index as written: stable key order, one artifact per line-ish (readable, diffable). */
export function serializeIndex(index: BundleIndex): Buffer {
  return Buffer.from(`${JSON.stringify(index, null, 1)}\n`);
}

export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** The raw 32 bytes of an ed25519 public key. */
function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

export const fingerprintOf = (publicKey: KeyObject): string => sha256Hex(rawPublicKey(publicKey));

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  fingerprint: string;
}

/** A new ed25519 signing key; `pem` is the PKCS#8 private key to keep (0600). */
export function generateSigningKey(): SigningKey & { pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, fingerprint: fingerprintOf(publicKey), pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/** Read a PKCS#8 PEM ed25519 private key; throws with a plain message when it is not one. */
export function parseSigningKey(pem: string): SigningKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`the key is ${privateKey.asymmetricKeyType}, not ed25519`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, fingerprint: fingerprintOf(publicKey) };
}

export function signIndex(indexBytes: Buffer, key: SigningKey): BundleSignature {
  return {
    algorithm: 'ed25519',
    fingerprint: key.fingerprint,
    publicKey: rawPublicKey(key.publicKey).toString('base64'),
    signature: sign(null, indexBytes, key.privateKey).toString('base64'),
  };
}

export type SignatureCheck =
  | { ok: true; fingerprint: string }
  | { ok: false; fingerprint?: string; reason: string };

/**
 * Check a signature over the index bytes, and that the signer is the trusted one. Without `trusted`
 * the signature is checked against the key it carries, and the result says it was not pinned.
 */
export function checkSignature(indexBytes: Buffer, sigBytes: Buffer, trusted: string | undefined): SignatureCheck & { pinned: boolean } {
  let sig: BundleSignature;
  try {
    sig = JSON.parse(sigBytes.toString('utf8')) as BundleSignature;
  } catch {
    return { ok: false, reason: `${SIG_FILE} is not JSON`, pinned: false };
  }
  if (sig?.algorithm !== 'ed25519' || typeof sig.publicKey !== 'string' || typeof sig.signature !== 'string') {
    return { ok: false, reason: `${SIG_FILE}: expected an ed25519 signature with its public key`, pinned: false };
  }
  const raw = Buffer.from(sig.publicKey, 'base64');
  if (raw.length !== 32) return { ok: false, reason: `${SIG_FILE}: the public key is not 32 bytes`, pinned: false };
  const fingerprint = sha256Hex(raw);
  if (trusted !== undefined && fingerprint !== trusted) {
    return { ok: false, fingerprint, reason: `signed by ${fingerprint}, not by the trusted key ${trusted}`, pinned: true };
  }
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  const good = verify(null, indexBytes, publicKey, Buffer.from(sig.signature, 'base64'));
  if (!good) return { ok: false, fingerprint, reason: `the signature does not match ${INDEX_FILE} (changed after signing, or signed by another key)`, pinned: trusted !== undefined };
  return { ok: true, fingerprint, pinned: trusted !== undefined };
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** Parse and shape-check an index; throws Error with a plain message. */
export function parseIndex(bytes: Buffer): BundleIndex {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new Error(`${INDEX_FILE} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const idx = v as BundleIndex;
  if (idx?.apiVersion !== 'airlock/v1' || idx.kind !== 'BundleIndex' || !Array.isArray(idx.artifacts) || !Array.isArray(idx.blobs) || !Array.isArray(idx.missing)) {
    throw new Error(`${INDEX_FILE}: not an airlock/v1 BundleIndex`);
  }
  for (const b of idx.blobs) {
    if (!DIGEST_RE.test(b?.digest) || !Number.isSafeInteger(b.size) || b.size < 0) throw new Error(`${INDEX_FILE}: bad blob entry ${JSON.stringify(b).slice(0, 120)}`);
  }
  for (const a of idx.artifacts) {
    if (typeof a?.kind !== 'string' || typeof a.name !== 'string' || !Array.isArray(a.blobs) || a.blobs.some((b) => !DIGEST_RE.test(b?.digest))) {
      throw new Error(`${INDEX_FILE}: bad artifact entry ${JSON.stringify(a).slice(0, 120)}`);
    }
  }
  return idx;
}

export function parsePart(bytes: Buffer, where: string): PartManifest {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error(`${where}/${PART_FILE} is not JSON`);
  }
  const p = v as PartManifest;
  if (p?.kind !== 'BundlePart' || !Array.isArray(p.pieces)) throw new Error(`${where}/${PART_FILE}: not an airlock BundlePart`);
  for (const pc of p.pieces) {
    if (!DIGEST_RE.test(pc?.digest) || !/^[a-f0-9]{64}(\.\d+)?$/.test(pc.file) || !Number.isSafeInteger(pc.offset) || !Number.isSafeInteger(pc.length)) {
      throw new Error(`${where}/${PART_FILE}: bad piece ${JSON.stringify(pc).slice(0, 120)}`);
    }
  }
  return p;
}

/** "artifact kind name version" for messages. */
export const artifactLabel = (a: Pick<Artifact, 'kind' | 'name' | 'version'>): string => `${a.kind} ${a.name}${a.version && !a.name.endsWith(a.version) ? ` ${a.version}` : ''}`;

/** Which artifacts hold each blob (for naming the artifact behind a bad blob). */
export function blobOwners(index: BundleIndex): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const a of index.artifacts) {
    for (const b of a.blobs) {
      const l = m.get(b.digest) ?? [];
      const label = artifactLabel(a);
      if (!l.includes(label)) l.push(label);
      m.set(b.digest, l);
    }
  }
  return m;
}

/** "4G", "700M", "1.5GiB", "123" (bytes) → bytes; undefined when it is not a size. */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.floor(Number(m[1]) * mult);
  return n > 0 ? n : undefined;
}
