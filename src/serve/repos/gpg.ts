// The site's repository signing key (OpenPGP), kept with GnuPG in a private home under the store
// (<store>/gnupg, mode 0700). Generated on first use (ed25519 by default), never leaves the mirror host;
// the public key is published for clients (apt `Signed-By:`, dnf `gpgkey=`). I/O edge: runs `gpg`.
import { execFile } from 'node:child_process';
import { mkdir, chmod } from 'node:fs/promises';
import { join } from 'node:path';

export class SigningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningError';
  }
}

export interface SiteSigner {
  /** Full fingerprint of the signing key (40 hex, upper case). */
  readonly fingerprint: string;
  /** The public key, ASCII-armored (what clients put in a keyring file). */
  readonly publicKeyArmored: string;
  /** The public key as a binary OpenPGP keyring (for `/usr/share/keyrings/*.gpg`). */
  readonly publicKeyBinary: Buffer;
  /** Clear-signed text (apt InRelease). */
  clearsign(data: Buffer | string): Promise<Buffer>;
  /** Detached, ASCII-armored signature (apt Release.gpg, yum repomd.xml.asc). */
  detachSign(data: Buffer | string): Promise<Buffer>;
  /** Stop the gpg-agent this signer started. */
  close(): Promise<void>;
}

export interface SignerOptions {
  /** The key's user id; default "airlock site repository signing key". */
  userId?: string;
  /** Key algorithm for a new key: ed25519 (default, fast) or rsa3072 (for old clients). */
  algorithm?: 'ed25519' | 'rsa3072';
  /** The gpg binary; default "gpg" from PATH. */
  gpg?: string;
}

function gpgRun(gpg: string, home: string, args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      gpg,
      ['--homedir', home, '--batch', '--no-tty', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...args],
      { encoding: 'buffer', maxBuffer: 1 << 28 },
      (err, stdout, stderr) => {
        if (err) {
          const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
          reject(new SigningError(missing ? `${gpg} is not installed (Debian/Rocky package "gnupg2"/"gnupg")` : `gpg ${args[0]} failed: ${stderr.toString().trim() || err.message}`));
        } else resolve(stdout);
      },
    );
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input ?? Buffer.alloc(0));
  });
}

function secretFingerprint(listing: string): string | undefined {
  // --with-colons: "sec:..." then "fpr:::::::::<FPR>:"
  const lines = listing.split('\n');
  const sec = lines.findIndex((l) => l.startsWith('sec:'));
  if (sec < 0) return undefined;
  const fpr = lines.slice(sec + 1).find((l) => l.startsWith('fpr:'));
  return fpr?.split(':')[9];
}

/** The site signer for a store: `<storeRoot>/gnupg`, with a key generated if there is none yet. */
export async function siteSigner(storeRoot: string, opts: SignerOptions = {}): Promise<SiteSigner> {
  const gpg = opts.gpg ?? 'gpg';
  const home = join(storeRoot, 'gnupg');
  await mkdir(home, { recursive: true, mode: 0o700 });
  await chmod(home, 0o700);
  let fpr = secretFingerprint((await gpgRun(gpg, home, ['--with-colons', '--list-secret-keys'])).toString());
  if (!fpr) {
    const algo = opts.algorithm ?? 'ed25519';
    await gpgRun(gpg, home, ['--quick-generate-key', opts.userId ?? 'airlock site repository signing key', algo, 'sign', 'never']);
    fpr = secretFingerprint((await gpgRun(gpg, home, ['--with-colons', '--list-secret-keys'])).toString());
    if (!fpr) throw new SigningError('gpg generated no key');
  }
  const fingerprint = fpr;
  const publicKeyArmored = (await gpgRun(gpg, home, ['--armor', '--export', fingerprint])).toString();
  const publicKeyBinary = await gpgRun(gpg, home, ['--export', fingerprint]);
  const sign = (args: string[], data: Buffer | string) =>
    gpgRun(gpg, home, ['--local-user', fingerprint, '--digest-algo', 'SHA256', ...args], typeof data === 'string' ? Buffer.from(data) : data);
  return {
    fingerprint,
    publicKeyArmored,
    publicKeyBinary,
    clearsign: (data) => sign(['--clearsign', '--output', '-'], data),
    detachSign: (data) => sign(['--armor', '--detach-sign', '--output', '-'], data),
    close: async () => {
      await new Promise<void>((resolve) => execFile('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], () => resolve()));
    },
  };
}
