// SSH host key pinning: OpenSSH-style SHA256 fingerprints and known_hosts lines.

import { createHash, createHmac } from 'node:crypto';

/** A public key type as it appears in known_hosts and *.pub files. */
const KEY_TYPE = /^(ssh-(ed25519|rsa|dss|ed448)|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+|[a-z0-9-]+-cert-v01@openssh\.com)$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** "SHA256:<unpadded base64>" of a raw key blob, the way `ssh-keygen -l` prints it. */
export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The fingerprint of a public key given as a line: "ssh-ed25519 AAAA... comment" (a *.pub file) or a
 * known_hosts line. Throws RangeError if there is no key in it.
 */
export function fingerprintOf(publicKey: string): string {
  const parsed = parsePinLine(publicKey.trim());
  if (parsed === undefined || parsed.kind !== 'key') throw new RangeError('not a public key line');
  return fingerprintOfBlob(parsed.blob);
}

/** The key type named inside a raw key blob ("ssh-ed25519"), or "unknown". */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || blob.length < 4 + len) return 'unknown';
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** "ssh-ed25519 AAAA..." for a raw key blob: what a caller stores to pin the key later. */
export function publicKeyLineOfBlob(blob: Buffer): string {
  return `${keyTypeOfBlob(blob)} ${blob.toString('base64')}`;
}

type PinLine =
  | { kind: 'fingerprint'; fingerprint: string }
  | { kind: 'key'; marker: '' | 'revoked' | 'cert-authority'; hosts: string | undefined; blob: Buffer };

function parsePinLine(line: string): PinLine | undefined {
  if (line.startsWith('SHA256:')) {
    const fp = line.split(/\s+/)[0]!;
    return { kind: 'fingerprint', fingerprint: fp.replace(/=+$/, '') };
  }
  const tokens = line.split(/\s+/);
  let marker: '' | 'revoked' | 'cert-authority' = '';
  if (tokens[0]?.startsWith('@')) {
    const m = tokens.shift()!;
    if (m === '@revoked') marker = 'revoked';
    else if (m === '@cert-authority') marker = 'cert-authority';
    else return undefined;
  }
  const isKeyAt = (i: number): boolean =>
    KEY_TYPE.test(tokens[i] ?? '') && BASE64.test(tokens[i + 1] ?? '');
  let hosts: string | undefined;
  let at: number;
  if (tokens.length >= 3 && isKeyAt(1)) {
    hosts = tokens[0];
    at = 1;
  } else if (isKeyAt(0)) {
    at = 0;
  } else {
    return undefined;
  }
  return { kind: 'key', marker, hosts, blob: Buffer.from(tokens[at + 1]!, 'base64') };
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** Whether a known_hosts host field ("a,b,[c]:2222,!d,|1|salt|hash") names host:port. */
export function knownHostsMatches(hostsField: string, host: string, port: number): boolean {
  const name = port === 22 ? host : `[${host}]:${port}`;
  let matched = false;
  for (const raw of hostsField.split(',')) {
    if (raw === '') continue;
    if (raw.startsWith('|1|')) {
      const [, , salt, hash] = raw.split('|');
      if (salt === undefined || hash === undefined) continue;
      const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
      if (mac === hash) matched = true;
      continue;
    }
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (globToRegExp(pattern).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

export interface HostKeyDecision {
  ok: boolean;
  /** Why the key was refused. */
  reason?: string;
}

/**
 * Check a server's raw host key blob against pins: one per line, each a "SHA256:..." fingerprint, a
 * bare public key ("ssh-ed25519 AAAA..."), or a known_hosts line (its host field must name host:port;
 * "@revoked" lines refuse their key; "@cert-authority" lines are not supported and ignored). Blank
 * lines and "#" comments are skipped. A line that parses as none of these is an error.
 */
export function checkHostKey(pins: string, blob: Buffer, host: string, port: number): HostKeyDecision {
  const seen = fingerprintOfBlob(blob);
  let accepted = false;
  let usable = 0;
  const lines = pins.split(/\r?\n/);
  for (const [i, rawLine] of lines.entries()) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const pin = parsePinLine(line);
    if (pin === undefined) return { ok: false, reason: `host key pin line ${i + 1} is neither a SHA256 fingerprint nor a known_hosts line` };
    if (pin.kind === 'fingerprint') {
      usable++;
      if (pin.fingerprint === seen) accepted = true;
      continue;
    }
    if (pin.marker === 'cert-authority') continue;
    if (pin.hosts !== undefined && !knownHostsMatches(pin.hosts, host, port)) continue;
    const same = pin.blob.equals(blob);
    if (pin.marker === 'revoked') {
      if (same) return { ok: false, reason: `the server's host key ${seen} is revoked` };
      continue;
    }
    usable++;
    if (same) accepted = true;
  }
  if (accepted) return { ok: true };
  if (usable === 0) return { ok: false, reason: `no pinned host key applies to ${host}:${port} (server offered ${seen})` };
  return { ok: false, reason: `host key mismatch: server offered ${keyTypeOfBlob(blob)} ${seen}, which is not pinned` };
}
