// The site's bundle signing key on disk (PKCS#8 PEM, 0600): made on first use.
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { generateSigningKey, parseSigningKey, type SigningKey } from './format.ts';
import { writeFileAtomic } from './fsutil.ts';

export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

/** Read the key at path, or make one there when there is none; `created` says which. */
export async function loadOrCreateSigningKey(path: string): Promise<SigningKey & { created: boolean }> {
  const pem = await fsp.readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw new KeyFileError(`${path}: ${e.message}`);
  });
  if (pem !== undefined) {
    try {
      return { ...parseSigningKey(pem), created: false };
    } catch (e) {
      throw new KeyFileError(`${path}: not an ed25519 private key (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const key = generateSigningKey();
  await fsp.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, key.pem, 0o600);
  return { privateKey: key.privateKey, publicKey: key.publicKey, fingerprint: key.fingerprint, created: true };
}
