// Digests: sha256 only. "sha256:<64 lowercase hex>".
import { createHash, type Hash } from 'node:crypto';
import { StoreError } from './types.ts';

export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
/** The OCI grammar for any digest (algorithm:encoded), to tell "malformed" from "unsupported algorithm". */
export const ANY_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export const isDigest = (s: string): boolean => DIGEST_RE.test(s);

/** The hex part of a valid sha256 digest; throws StoreError('invalid-digest') otherwise. */
export function digestHex(digest: string): string {
  if (typeof digest !== 'string' || !DIGEST_RE.test(digest)) {
    throw new StoreError('invalid-digest', `invalid digest ${JSON.stringify(String(digest).slice(0, 100))}: expected sha256:<64 lowercase hex>`);
  }
  return digest.slice(7);
}

export const sha256 = (): Hash => createHash('sha256');
export const digestOf = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
