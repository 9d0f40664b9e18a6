// The cluster CA and bootstrap token made before `kubeadm init` (`airlock pki`), so every join file can be
// rendered ahead of time: kubeadm uses a ca.crt/ca.key it finds in /etc/kubernetes/pki instead of making
// its own, and the join's --discovery-token-ca-cert-hash is known before the cluster exists.
//
// The certificate is encoded here (a small DER writer) and signed by node:crypto: no X.509 library. Key
// generation is node:crypto's; everything else is a function of its inputs (clock, random bytes, key).
// writePki/loadPki are the I/O edge.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';

/** Where randomness comes from: node's `crypto.randomBytes` in production, a seeded source in tests. */
export type RandomSource = (size: number) => Uint8Array;

/** RSA 2048 is kubeadm's default (ClusterConfiguration.encryptionAlgorithm RSA-2048); ECDSA P-256 also works. */
export type KeyAlgorithm = 'rsa-2048' | 'ecdsa-p256';

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

export interface CaOptions {
  /** kubeadm's own CA is CN=kubernetes. */
  commonName?: string;
  /** Start of validity. Pass a few minutes before "now" to absorb clock skew between hosts. */
  notBefore: Date;
  /** Validity in days; kubeadm's CA default is 10 years (3650). */
  days: number;
  algorithm?: KeyAlgorithm;
  /** For the serial number. Default: crypto.randomBytes. */
  random?: RandomSource;
  /** Re-use this private key (PEM) instead of generating one: with RSA the certificate is then reproducible. */
  keyPem?: string;
}

/** Everything the kubeadm files and the join command need. */
export interface PkiMaterial {
  ca: CertificateAuthority;
  /** Bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}`. */
  token: string;
  /** `sha256:<hex>` over the CA's DER SubjectPublicKeyInfo (what --discovery-token-ca-cert-hash takes). */
  caCertHash: string;
  /** 32 bytes hex: encrypts the control-plane certificates `kubeadm init --upload-certs` puts in the cluster. */
  certificateKey?: string;
}

// ---------------------------------------------------------------------------------------------------------
// DER, just enough for one self-signed CA certificate.

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...content: Uint8Array[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
};
const seq = (...parts: Uint8Array[]) => tlv(0x30, ...parts);
const set = (...parts: Uint8Array[]) => tlv(0x31, ...parts);
const octets = (b: Uint8Array) => tlv(0x04, b);
const bitString = (b: Uint8Array, unusedBits = 0) => tlv(0x03, Buffer.from([unusedBits]), b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const TRUE = Buffer.from([0x01, 0x01, 0xff]);
const NULL = Buffer.from([0x05, 0x00]);
/** A positive INTEGER from big-endian bytes: minimal, with a 0x00 in front when the top bit is set. */
function integer(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = Buffer.from(bytes.subarray(i));
  return tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}
function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const b128: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) b128.unshift((v & 0x7f) | 0x80);
    out.push(...b128);
  }
  return tlv(0x06, Buffer.from(out));
}
/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(d: Date): Buffer {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const y = d.getUTCFullYear();
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return y < 2050 ? tlv(0x17, Buffer.from(`${p(y % 100)}${rest}`)) : tlv(0x18, Buffer.from(`${p(y, 4)}${rest}`));
}

/** One DER TLV at `at`: its tag, where its content starts and ends. */
function readTlv(buf: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  return { tag, start, end: start + len };
}

/** The subjectPublicKey BIT STRING's bytes inside a DER SubjectPublicKeyInfo (what the key identifier hashes). */
function subjectPublicKeyBits(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const alg = readTlv(spki, outer.start);
  const bits = readTlv(spki, alg.end);
  if (outer.tag !== 0x30 || alg.tag !== 0x30 || bits.tag !== 0x03) throw new Error('not a DER SubjectPublicKeyInfo');
  return spki.subarray(bits.start + 1, bits.end);
}

/** The subject Name of a DER certificate, byte for byte (an issued certificate's issuer must equal it). */
function subjectName(certDer: Buffer): Buffer {
  const cert = readTlv(certDer, 0);
  const tbs = readTlv(certDer, cert.start);
  let at = tbs.start;
  const fields: { start: number; end: number; tag: number; at: number }[] = [];
  while (at < tbs.end && fields.length < 6) {
    const f = readTlv(certDer, at);
    fields.push({ ...f, at });
    at = f.end;
  }
  // [0] version, serial, signature, issuer, validity, subject
  const subj = fields[0]?.tag === 0xa0 ? fields[5] : fields[4];
  if (!subj || subj.tag !== 0x30) throw new Error('not a DER certificate');
  return certDer.subarray(subj.at, subj.end);
}

const OID = {
  commonName: '2.5.4.3',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [TRUE] : []), octets(value));

function generateKey(algorithm: KeyAlgorithm): KeyObject {
  return algorithm === 'rsa-2048'
    ? generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 }).privateKey
    : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** PKCS#1 for RSA, SEC1 for EC: what kubeadm itself writes to ca.key (and every version of it reads). */
function keyToPem(key: KeyObject): string {
  const type = key.asymmetricKeyType === 'rsa' ? 'pkcs1' : 'sec1';
  return key.export({ type, format: 'pem' }).toString();
}

/**
 * A self-signed cluster CA: basicConstraints CA:TRUE (critical), keyUsage digitalSignature + keyCertSign +
 * cRLSign (critical), subject and authority key identifiers (SHA-1 of the public key, RFC 5280 4.2.1.2).
 */
export function generateCA(opts: CaOptions): CertificateAuthority {
  if (!Number.isFinite(opts.days) || opts.days <= 0) throw new RangeError(`CA validity must be a positive number of days, got ${opts.days}`);
  const key = opts.keyPem ? createPrivateKey(opts.keyPem) : generateKey(opts.algorithm ?? 'rsa-2048');
  const keyType = key.asymmetricKeyType;
  if (keyType !== 'rsa' && !(keyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'))
    throw new TypeError(`the CA key must be RSA or ECDSA P-256, got ${keyType}`);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const keyId = createHash('sha1').update(subjectPublicKeyBits(spki)).digest();
  const sigAlg = keyType === 'rsa' ? seq(oid(OID.sha256WithRSA), NULL) : seq(oid(OID.ecdsaWithSHA256));

  // A positive serial of up to 20 octets (RFC 5280 4.1.2.2); 16 random bytes with the top bit cleared.
  const serial = Buffer.from((opts.random ?? randomBytes)(16));
  if (serial.length !== 16) throw new RangeError('the random source returned the wrong number of bytes');
  serial[0] = (serial[0]! & 0x7f) | 0x01;

  const name = seq(set(seq(oid(OID.commonName), utf8(opts.commonName ?? 'kubernetes'))));
  const notAfter = new Date(opts.notBefore.getTime() + opts.days * 86_400_000);
  // keyUsage bits 0 (digitalSignature), 5 (keyCertSign), 6 (cRLSign): 1000 0110, last bit unused.
  const keyUsage = bitString(Buffer.from([0x86]), 1);
  const extensions = seq(
    extension(OID.basicConstraints, true, seq(TRUE)),
    extension(OID.keyUsage, true, keyUsage),
    extension(OID.subjectKeyIdentifier, false, octets(keyId)),
    extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, keyId))),
  );
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    sigAlg,
    name,
    seq(time(opts.notBefore), time(notAfter)),
    name,
    spki,
    tlv(0xa3, extensions),
  );
  // RSA: PKCS#1 v1.5 (deterministic); ECDSA: DER-encoded (r, s), node's default dsaEncoding.
  const signature = sign('sha256', tbs, key);
  const cert = seq(tbs, sigAlg, bitString(signature));
  const b64 = cert.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return { certPem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`, keyPem: keyToPem(key) };
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

export interface ServerCertOptions {
  /** DNS names and IPv4 addresses the server answers on (subjectAltName). */
  dnsNames: string[];
  ipAddresses: string[];
  commonName?: string;
  notBefore: Date;
  days: number;
  random?: RandomSource;
}

/**
 * A TLS server certificate signed by the site CA (ECDSA P-256 key): subjectAltName with the given names and
 * addresses, extendedKeyUsage serverAuth, CA:FALSE, issuer = the CA's subject byte for byte, authority key id =
 * the CA's key id. What the mirror serves HTTPS with; nodes trust it through the site CA.
 */
export function issueServerCertificate(ca: CertificateAuthority, opts: ServerCertOptions): { certPem: string; keyPem: string } {
  if (opts.dnsNames.length + opts.ipAddresses.length === 0) throw new RangeError('a server certificate needs at least one name or address');
  const caKey = createPrivateKey(ca.keyPem);
  const caDer = Buffer.from(new X509Certificate(ca.certPem).raw);
  const caSpki = createPublicKey(caKey).export({ type: 'spki', format: 'der' });
  const caKeyId = createHash('sha1').update(subjectPublicKeyBits(caSpki)).digest();
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const keyId = createHash('sha1').update(subjectPublicKeyBits(spki)).digest();
  const sigAlg = caKey.asymmetricKeyType === 'rsa' ? seq(oid(OID.sha256WithRSA), NULL) : seq(oid(OID.ecdsaWithSHA256));
  const serial = Buffer.from((opts.random ?? randomBytes)(16));
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const ip = (a: string) => {
    const parts = a.split('.').map(Number);
    if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) throw new RangeError(`not an IPv4 address: ${a}`);
    return tlv(0x87, Buffer.from(parts));
  };
  const san = seq(...opts.dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))), ...opts.ipAddresses.map(ip));
  const extensions = seq(
    extension(OID.basicConstraints, true, seq()),
    extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
    extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
    extension(OID.subjectKeyIdentifier, false, octets(keyId)),
    extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, caKeyId))),
    extension(OID.subjectAltName, false, san),
  );
  const notAfter = new Date(opts.notBefore.getTime() + opts.days * 86_400_000);
  const subject = seq(set(seq(oid(OID.commonName), utf8(opts.commonName ?? opts.dnsNames[0] ?? opts.ipAddresses[0]!))));
  const tbs = seq(tlv(0xa0, integer(Buffer.from([2]))), integer(serial), sigAlg, subjectName(caDer), seq(time(opts.notBefore), time(notAfter)), subject, spki, tlv(0xa3, extensions));
  const cert = seq(tbs, sigAlg, bitString(sign('sha256', tbs, caKey)));
  return { certPem: toPem(cert), keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** `sha256:<hex>` of the certificate's DER SubjectPublicKeyInfo: kubeadm's --discovery-token-ca-cert-hash. */
export function caCertHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** What k8s.io/cluster-bootstrap's IsValidBootstrapToken accepts. */
export const BOOTSTRAP_TOKEN_RE = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;

export function isBootstrapToken(token: string): boolean {
  return BOOTSTRAP_TOKEN_RE.test(token);
}

const TOKEN_CHARS = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * A bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}` (id.secret), like `kubeadm token generate`: each character
 * uniform over [a-z0-9] (bytes ≥ 252 are rejected so 256 does not bias the modulo). Deterministic for a
 * given random source.
 */
export function bootstrapToken(random: RandomSource = randomBytes): string {
  const chars: string[] = [];
  while (chars.length < 22) {
    const bytes = random(32);
    if (bytes.length === 0) throw new RangeError('the random source returned no bytes');
    for (const b of bytes) {
      if (b >= 252) continue;
      chars.push(TOKEN_CHARS[b % 36]!);
      if (chars.length === 22) break;
    }
  }
  return `${chars.slice(0, 6).join('')}.${chars.slice(6).join('')}`;
}

/** A certificate key for `kubeadm init --upload-certs` / control-plane joins: 32 random bytes, hex. */
export function certificateKey(random: RandomSource = randomBytes): string {
  const b = random(32);
  if (b.length !== 32) throw new RangeError('the random source returned the wrong number of bytes');
  return Buffer.from(b).toString('hex');
}

export function isCertificateKey(key: string): boolean {
  return /^[0-9a-f]{64}$/i.test(key);
}

export function isCaCertHash(hash: string): boolean {
  return /^sha256:[0-9a-f]{64}$/i.test(hash);
}

const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/**
 * A token TTL in Go's time.ParseDuration syntax (what kubeadm's metav1.Duration reads): "24h", "2h30m",
 * "1.5h", "90s", "0" → seconds. Undefined for anything else, and for negative durations. 0 means the token
 * never expires.
 */
export function parseTTL(text: string): number | undefined {
  const s = text.trim();
  if (s === '0' || s === '+0') return 0;
  const body = s.startsWith('+') ? s.slice(1) : s;
  if (body === '' || body.startsWith('-')) return undefined;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
    at = re.lastIndex;
  }
  return at === body.length && at > 0 ? total : undefined;
}

/** Assemble the material from a CA and a token (the hash is derived, never typed in). */
export function pkiMaterial(ca: CertificateAuthority, token: string, certKey?: string): PkiMaterial {
  return { ca, token, caCertHash: caCertHash(ca.certPem), ...(certKey ? { certificateKey: certKey } : {}) };
}

/** `kubeadm join <endpoint> --token <t> --discovery-token-ca-cert-hash sha256:<hex>`; `--control-plane --certificate-key` for extra control planes. */
export function joinCommand(endpoint: string, material: Pick<PkiMaterial, 'token' | 'caCertHash' | 'certificateKey'>, opts: { controlPlane?: boolean } = {}): string {
  const withPort = /:\d+$/.test(endpoint) ? endpoint : `${endpoint}:6443`;
  let cmd = `kubeadm join ${withPort} --token ${material.token} --discovery-token-ca-cert-hash ${material.caCertHash}`;
  if (opts.controlPlane) {
    cmd += ' --control-plane';
    if (material.certificateKey) cmd += ` --certificate-key ${material.certificateKey}`;
  }
  return cmd;
}

/** What is wrong with a CA for kubeadm (empty when it is usable): not a CA, key mismatch, expired. */
export function caProblems(ca: CertificateAuthority, now: Date): string[] {
  const out: string[] = [];
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ca.certPem);
  } catch (e) {
    return [`ca.crt is not a PEM certificate (${(e as Error).message})`];
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(ca.keyPem);
  } catch (e) {
    return [`ca.key is not a PEM private key (${(e as Error).message})`];
  }
  if (!cert.ca) out.push('ca.crt is not a CA certificate (basicConstraints CA:TRUE missing)');
  if (cert.keyUsage !== undefined && cert.keyUsage.length > 0 && !cert.keyUsage.some((u) => /cert.?sign/i.test(u)))
    out.push('ca.crt may not sign certificates (keyUsage lacks keyCertSign)');
  if (!cert.checkPrivateKey(key)) out.push('ca.key does not belong to ca.crt');
  if (new Date(cert.validTo).getTime() <= now.getTime()) out.push(`ca.crt expired on ${new Date(cert.validTo).toISOString()}`);
  if (new Date(cert.validFrom).getTime() > now.getTime()) out.push(`ca.crt is not valid before ${new Date(cert.validFrom).toISOString()}`);
  if (!cert.verify(cert.publicKey)) out.push('ca.crt is not self-signed (kubeadm needs the root CA and its key)');
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Edge: the pki directory.

export const PKI_FILES = {
  caCert: { name: 'ca.crt', mode: 0o644 },
  caKey: { name: 'ca.key', mode: 0o600 },
  token: { name: 'token', mode: 0o600 },
  certificateKey: { name: 'certificate-key', mode: 0o600 },
  joinCommand: { name: 'join-command', mode: 0o600 },
  mirrorCert: { name: 'mirror.crt', mode: 0o644 },
  mirrorKey: { name: 'mirror.key', mode: 0o600 },
} as const;

export interface WrittenFile {
  path: string;
  /** Octal, like "0600". Contents are never returned or printed. */
  mode: string;
  changed: boolean;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw errors.read(path, (e as Error).message);
  }
}

/** Write one file with exactly `mode` (umask-proof), atomically: temp file, chmod, rename. */
async function writeFileMode(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, content, { mode, flag: 'w' });
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw errors.write(path, (e as Error).message);
  }
}

/**
 * Write ca.crt (0644), ca.key, token, certificate-key and join-command (0600) into `dir` (made 0700).
 * Refuses to replace a different CA already there unless `overwrite` (a cluster built on the old CA would
 * lose its root). Returns what was written, never the contents.
 */
export async function writePki(dir: string, material: PkiMaterial, opts: { joinCommand?: string; overwrite?: boolean } = {}): Promise<WrittenFile[]> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw errors.write(dir, (e as Error).message);
  }
  const files: [keyof typeof PKI_FILES, string | undefined][] = [
    ['caCert', material.ca.certPem],
    ['caKey', material.ca.keyPem],
    ['token', `${material.token}\n`],
    ['certificateKey', material.certificateKey && `${material.certificateKey}\n`],
    ['joinCommand', opts.joinCommand && `${opts.joinCommand}\n`],
  ];
  if (!opts.overwrite) {
    for (const which of ['caCert', 'caKey'] as const) {
      const path = join(dir, PKI_FILES[which].name);
      const existing = await readIfExists(path);
      const wanted = which === 'caCert' ? material.ca.certPem : material.ca.keyPem;
      if (existing !== undefined && existing !== wanted)
        throw errors.write(path, 'a different CA is already there; load it (airlock pki uses an existing ca.crt + ca.key) or remove it first');
    }
  }
  const written: WrittenFile[] = [];
  for (const [which, content] of files) {
    if (content === undefined) continue;
    const { name, mode } = PKI_FILES[which];
    const path = join(dir, name);
    const existing = await readIfExists(path);
    await writeFileMode(path, content, mode);
    written.push({ path, mode: `0${mode.toString(8)}`, changed: existing !== content });
  }
  return written;
}

export interface LoadedPki {
  ca: CertificateAuthority;
  token?: string;
  certificateKey?: string;
}

/**
 * Read an existing CA (ca.crt + ca.key, both required) and, if present, the token and certificate key.
 * Throws AirlockError(READ) when a file is missing or the CA is unusable for kubeadm (see caProblems).
 */
export async function loadPki(dir: string, now: Date): Promise<LoadedPki> {
  const need = async (name: string) => {
    const path = join(dir, name);
    const text = await readIfExists(path);
    if (text === undefined) throw errors.read(path, 'no such file (a CA needs both ca.crt and ca.key)');
    return text;
  };
  const ca = { certPem: await need(PKI_FILES.caCert.name), keyPem: await need(PKI_FILES.caKey.name) };
  const problems = caProblems(ca, now);
  if (problems.length > 0) throw errors.read(join(dir, PKI_FILES.caCert.name), problems.join('; '));
  const token = (await readIfExists(join(dir, PKI_FILES.token.name)))?.trim();
  if (token !== undefined && !isBootstrapToken(token))
    throw errors.read(join(dir, PKI_FILES.token.name), 'not a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})');
  const certKey = (await readIfExists(join(dir, PKI_FILES.certificateKey.name)))?.trim();
  if (certKey !== undefined && !isCertificateKey(certKey))
    throw errors.read(join(dir, PKI_FILES.certificateKey.name), 'not a certificate key (64 hex characters)');
  return { ca, ...(token ? { token } : {}), ...(certKey ? { certificateKey: certKey } : {}) };
}

/** Write the mirror's HTTPS certificate (0644) and key (0600) next to the CA. */
export async function writeMirrorCertificate(dir: string, cert: { certPem: string; keyPem: string }): Promise<WrittenFile[]> {
  const out: WrittenFile[] = [];
  for (const [which, content] of [['mirrorCert', cert.certPem], ['mirrorKey', cert.keyPem]] as const) {
    const { name, mode } = PKI_FILES[which];
    const path = join(dir, name);
    const existing = await readIfExists(path);
    await writeFileMode(path, content, mode);
    out.push({ path, mode: `0${mode.toString(8)}`, changed: existing !== content });
  }
  return out;
}
