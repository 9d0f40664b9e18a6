// Basic auth for writes: scrypt password hashes ("scrypt$N$r$p$salt$hash", salt and hash base64).
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

export interface ScryptParams {
  /** CPU/memory cost, a power of two (default 2^15) */
  N?: number;
  r?: number;
  p?: number;
}

const DEFAULTS = { N: 1 << 15, r: 8, p: 1 };
const KEY_LEN = 32;

const maxmem = (N: number, r: number, p: number) => 128 * N * r * (p + 1) + (1 << 20);

function checkParams(N: number, r: number, p: number): boolean {
  return Number.isSafeInteger(N) && N >= 2 && N <= 1 << 20 && (N & (N - 1)) === 0 && Number.isSafeInteger(r) && r >= 1 && r <= 32 && Number.isSafeInteger(p) && p >= 1 && p <= 16;
}

/** Hash a password for `users[].passwordHash`. */
export async function hashPassword(password: string, params: ScryptParams = {}): Promise<string> {
  const { N, r, p } = { ...DEFAULTS, ...params };
  if (!checkParams(N, r, p)) throw new RangeError('scrypt parameters out of range (N a power of two ≤ 2^20, r ≤ 32, p ≤ 16)');
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LEN, { N, r, p, maxmem: maxmem(N, r, p) });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parseHash(hash: string): Parsed | undefined {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=_-]+)\$([A-Za-z0-9+/=_-]+)$/.exec(hash);
  if (!m) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (!checkParams(N, r, p)) return undefined;
  const salt = Buffer.from(m[4] ?? '', 'base64');
  const key = Buffer.from(m[5] ?? '', 'base64');
  if (salt.length < 8 || key.length < 16 || key.length > 128) return undefined;
  return { N, r, p, salt, key };
}

/** True when `password` matches `hash` (constant time; false for a malformed hash). */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const parsed = parseHash(hash);
  if (!parsed) return false;
  const key = await scrypt(password, parsed.salt, parsed.key.length, { N: parsed.N, r: parsed.r, p: parsed.p, maxmem: maxmem(parsed.N, parsed.r, parsed.p) });
  return timingSafeEqual(key, parsed.key);
}

export const isPasswordHash = (s: string): boolean => parseHash(s) !== undefined;

/** Parse "Basic base64(user:pass)". */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) return undefined;
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}

/**
 * Checks Basic credentials against the configured users. Successful checks are remembered for a few
 * minutes (keyed by a hash of the header), so a push of many blobs costs one scrypt, not one per request.
 */
export class BasicAuth {
  private readonly users: Map<string, string>;
  private readonly cache = new Map<string, { user: string; until: number }>();
  private readonly dummy: string;

  constructor(users: { name: string; passwordHash: string }[], private readonly ttlMs = 5 * 60_000) {
    this.users = new Map(users.map((u) => [u.name, u.passwordHash]));
    // Unknown users still cost one scrypt, with the first user's parameters.
    this.dummy = users[0]?.passwordHash ?? 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** The authenticated user name, or undefined. */
  async check(req: IncomingMessage): Promise<string | undefined> {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const key = createHash('sha256').update(header).digest('base64');
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && hit.until > now && this.users.has(hit.user)) return hit.user;
    const creds = parseBasic(header);
    if (!creds) return undefined;
    const hash = this.users.get(creds.user);
    const ok = await verifyPassword(creds.password, hash ?? this.dummy);
    if (!ok || hash === undefined) return undefined;
    if (this.cache.size >= 1000) this.cache.clear();
    this.cache.set(key, { user: creds.user, until: now + this.ttlMs });
    return creds.user;
  }
}
