// airlock pki: the cluster CA, its discovery hash and the bootstrap token, checked with the real openssl.
// kubeadm itself is not installed here, so "kubeadm accepts this CA" is approximated by what kubeadm does
// with it: hash its SubjectPublicKeyInfo (compared with openssl's pipeline) and sign leaf certificates
// with it (done with `openssl x509 -req -CA`, then `openssl verify`).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  bootstrapToken,
  caCertHash,
  caProblems,
  certificateKey,
  generateCA,
  isBootstrapToken,
  joinCommand,
  loadPki,
  parseTTL,
  pkiMaterial,
  writePki,
  type CertificateAuthority,
  type RandomSource,
} from '../src/cluster/pki.ts';
import { isAirlockError } from '../src/index.ts';

const work = mkdtempSync(join(tmpdir(), 'airlock-pki-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

const openssl = (args: string[], input?: string) => execFileSync('openssl', args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
const sh = (script: string) => execFileSync('sh', ['-c', script], { encoding: 'utf8' });

/** A reproducible random source: SHA-256 in counter mode over a seed. */
function seeded(seed: string): RandomSource {
  let counter = 0;
  return (size) => {
    const out = Buffer.alloc(size);
    for (let off = 0; off < size; off += 32) createHash('sha256').update(`${seed}:${counter++}`).digest().copy(out, off);
    return out;
  };
}

const NOT_BEFORE = new Date('2026-01-01T00:00:00Z');
const NOW = new Date('2026-06-01T00:00:00Z');
let counter = 0;
function save(ca: CertificateAuthority): { crt: string; key: string } {
  const n = counter++;
  const crt = join(work, `ca${n}.crt`);
  const key = join(work, `ca${n}.key`);
  writeFileSync(crt, ca.certPem);
  writeFileSync(key, ca.keyPem, { mode: 0o600 });
  return { crt, key };
}

const rsa = generateCA({ commonName: 'kubernetes', notBefore: NOT_BEFORE, days: 3650, random: seeded('rsa') });
const ec = generateCA({ commonName: 'kubernetes', notBefore: NOT_BEFORE, days: 3650, algorithm: 'ecdsa-p256', random: seeded('ec') });

describe('generateCA (checked with openssl)', () => {
  for (const [alg, ca] of [['RSA 2048', rsa], ['ECDSA P-256', ec]] as const) {
    describe(alg, () => {
      const { crt, key } = save(ca);

      it('caCertHash = openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum', () => {
        const expected = sh(`openssl x509 -pubkey -noout -in '${crt}' | openssl pkey -pubin -outform der | sha256sum`).split(/\s/)[0];
        assert.match(expected!, /^[0-9a-f]{64}$/);
        assert.equal(caCertHash(ca.certPem), `sha256:${expected}`);
      });

      it('is a proper CA: CA:TRUE and keyCertSign/cRLSign/digitalSignature, both critical; key identifiers', () => {
        const text = openssl(['x509', '-text', '-noout', '-in', crt]);
        assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
        assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
        assert.match(text, /X509v3 Subject Key Identifier/);
        assert.match(text, /Subject: CN ?= ?kubernetes/);
        assert.match(text, /Issuer: CN ?= ?kubernetes/);
        assert.match(text, /Not Before: Jan  1 00:00:00 2026 GMT/);
        assert.match(text, /Not After : Dec 30 00:00:00 2035 GMT/);
        assert.match(text, alg === 'RSA 2048' ? /Public-Key: \(2048 bit\)[\s\S]*sha256WithRSAEncryption/ : /Public-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256[\s\S]*ecdsa-with-SHA256/);
      });

      it('verifies as a self-signed root, and signs a leaf that verifies against it (what kubeadm does with it)', () => {
        assert.match(openssl(['verify', '-CAfile', crt, crt]), /: OK/);
        const leafKey = join(work, `leaf-${alg.replace(/\W/g, '')}.key`);
        const leafCsr = `${leafKey}.csr`;
        const leafCrt = `${leafKey}.crt`;
        const ext = `${leafKey}.ext`;
        writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:kubernetes,IP:10.96.0.1\n');
        openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', leafKey, '-subj', '/CN=kube-apiserver', '-out', leafCsr]);
        openssl(['x509', '-req', '-in', leafCsr, '-CA', crt, '-CAkey', key, '-CAcreateserial', '-days', '365', '-extfile', ext, '-out', leafCrt]);
        assert.match(openssl(['verify', '-CAfile', crt, leafCrt]), /: OK/);
        // The leaf's authority key identifier is the CA's subject key identifier.
        const caSki = openssl(['x509', '-noout', '-ext', 'subjectKeyIdentifier', '-in', crt]).split('\n')[1]!.trim();
        assert.match(caSki, /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
        assert.ok(openssl(['x509', '-noout', '-ext', 'authorityKeyIdentifier', '-in', leafCrt]).includes(caSki), 'leaf AKI = CA SKI');
      });

      it('node:crypto agrees: ca flag, key pair, self-signature', () => {
        const x = new X509Certificate(ca.certPem);
        assert.equal(x.ca, true);
        assert.deepEqual(caProblems(ca, NOW), []);
      });

      it('writes the key as kubeadm does (PKCS#1 for RSA, SEC1 for EC)', () => {
        assert.match(ca.keyPem, alg === 'RSA 2048' ? /^-----BEGIN RSA PRIVATE KEY-----/ : /^-----BEGIN EC PRIVATE KEY-----/);
      });
    });
  }

  it('is reproducible from the same key, serial source and clock (RSA signatures are deterministic)', () => {
    const again = generateCA({ commonName: 'kubernetes', notBefore: NOT_BEFORE, days: 3650, random: seeded('rsa'), keyPem: rsa.keyPem });
    assert.equal(again.certPem, rsa.certPem);
    assert.equal(again.keyPem, rsa.keyPem);
    const otherSerial = generateCA({ commonName: 'kubernetes', notBefore: NOT_BEFORE, days: 3650, random: seeded('other'), keyPem: rsa.keyPem });
    assert.notEqual(otherSerial.certPem, rsa.certPem);
    assert.equal(caCertHash(otherSerial.certPem), caCertHash(rsa.certPem), 'the hash depends on the key only');
  });

  it('uses GeneralizedTime from 2050 on (RFC 5280)', () => {
    const far = generateCA({ notBefore: new Date('2049-06-01T00:00:00Z'), days: 3650, random: seeded('far'), keyPem: rsa.keyPem });
    const { crt } = save(far);
    assert.match(openssl(['x509', '-noout', '-enddate', '-in', crt]), /notAfter=May 30 00:00:00 2059 GMT/);
    assert.match(openssl(['verify', '-attime', String(Date.UTC(2050, 0, 1) / 1000), '-CAfile', crt, crt]), /: OK/);
  });

  it('rejects bad validity and unsupported keys', () => {
    assert.throws(() => generateCA({ notBefore: NOT_BEFORE, days: 0 }), RangeError);
    const ed = join(work, 'ed.key');
    openssl(['genpkey', '-algorithm', 'ed25519', '-out', ed]);
    assert.throws(() => generateCA({ notBefore: NOT_BEFORE, days: 1, keyPem: readFileSync(ed, 'utf8') }), /RSA or ECDSA P-256/);
  });
});

describe('bootstrap token, certificate key, TTL, join command', () => {
  it('tokens have kubeadm\'s format [a-z0-9]{6}.[a-z0-9]{16}', () => {
    for (let i = 0; i < 200; i++) assert.match(bootstrapToken(), /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    assert.ok(isBootstrapToken('abcdef.0123456789abcdef'));
    for (const bad of ['ABCDEF.0123456789abcdef', 'abcdef0123456789abcdef', 'abcde.0123456789abcdefg', 'abcdef.0123456789abcde_']) assert.ok(!isBootstrapToken(bad), bad);
  });

  it('tokens are deterministic for a given random source, and skip biased bytes (≥ 252)', () => {
    assert.equal(bootstrapToken(seeded('t')), bootstrapToken(seeded('t')));
    assert.notEqual(bootstrapToken(seeded('t')), bootstrapToken(seeded('u')));
    let calls = 0;
    const biasedFirst: RandomSource = (n) => (calls++ === 0 ? Buffer.alloc(n, 255) : Buffer.from(Array.from({ length: n }, (_, i) => i)));
    assert.equal(bootstrapToken(biasedFirst), '012345.6789abcdefghijkl');
    assert.equal(calls, 2);
  });

  it('certificate keys are 32 bytes of hex', () => {
    assert.match(certificateKey(), /^[0-9a-f]{64}$/);
    assert.equal(certificateKey(seeded('k')), certificateKey(seeded('k')));
  });

  it('parses TTLs as Go durations (what kubeadm reads), in seconds', () => {
    const cases: [string, number | undefined][] = [
      ['24h', 86400],
      ['2h30m', 9000],
      ['1.5h', 5400],
      ['90s', 90],
      ['1h0m0s', 3600],
      ['500ms', 0.5],
      ['0', 0],
      ['0h', 0],
      ['1d', undefined],
      ['', undefined],
      ['h', undefined],
      ['24', undefined],
      ['-1h', undefined],
      ['24h ', 86400],
      ['24 h', undefined],
    ];
    for (const [text, seconds] of cases) assert.equal(parseTTL(text), seconds, JSON.stringify(text));
  });

  it('join command: endpoint (port 6443 added), token, CA hash; control planes add --control-plane --certificate-key', () => {
    const m = { token: 'pa4b6j.xsmaoye25jvhql3t', caCertHash: 'sha256:d4f955570781216fdd6aa2cc53f82787e367cf8bb6e1cb16d08c879783998e5c', certificateKey: 'ab'.repeat(32) };
    // Seed 001's printed join command, rebuilt.
    assert.equal(joinCommand('192.168.56.10:6443', m), 'kubeadm join 192.168.56.10:6443 --token pa4b6j.xsmaoye25jvhql3t --discovery-token-ca-cert-hash sha256:d4f955570781216fdd6aa2cc53f82787e367cf8bb6e1cb16d08c879783998e5c');
    assert.equal(joinCommand('k8s-api.lab', m), `kubeadm join k8s-api.lab:6443 --token ${m.token} --discovery-token-ca-cert-hash ${m.caCertHash}`);
    assert.match(joinCommand('10.0.0.1:6443', m, { controlPlane: true }), / --control-plane --certificate-key (ab){32}$/);
  });
});

describe('writePki / loadPki', () => {
  const material = pkiMaterial(rsa, bootstrapToken(seeded('w')), certificateKey(seeded('w')));

  it('writes ca.crt 0644 and ca.key/token/certificate-key/join-command 0600 (whatever the umask), without returning contents', async () => {
    const dir = join(work, 'pki-a');
    const old = process.umask(0o077);
    let written;
    try {
      written = await writePki(dir, material, { joinCommand: joinCommand('192.168.10.11:6443', material) });
    } finally {
      process.umask(old);
    }
    const mode = (f: string) => (statSync(join(dir, f)).mode & 0o777).toString(8);
    assert.equal(mode('ca.crt'), '644');
    for (const f of ['ca.key', 'token', 'certificate-key', 'join-command']) assert.equal(mode(f), '600', f);
    assert.equal((statSync(dir).mode & 0o777).toString(8), '700');
    assert.deepEqual(written.map((w) => [w.path.slice(dir.length + 1), w.mode]), [
      ['ca.crt', '0644'],
      ['ca.key', '0600'],
      ['token', '0600'],
      ['certificate-key', '0600'],
      ['join-command', '0600'],
    ]);
    const report = JSON.stringify(written);
    assert.ok(!report.includes('PRIVATE KEY') && !report.includes(material.token), 'never carries key or token');
    assert.equal(readFileSync(join(dir, 'token'), 'utf8'), `${material.token}\n`);
  });

  it('re-writing the same material changes nothing; a different CA is refused unless overwrite', async () => {
    const dir = join(work, 'pki-b');
    await writePki(dir, material);
    assert.deepEqual((await writePki(dir, material)).map((w) => w.changed), [false, false, false, false]);
    const other = pkiMaterial(ec, material.token);
    await assert.rejects(writePki(dir, other), (e: unknown) => isAirlockError(e) && /a different CA is already there/.test(e.message));
    assert.equal(readFileSync(join(dir, 'ca.key'), 'utf8'), rsa.keyPem, 'the old key is untouched');
    await writePki(dir, other, { overwrite: true });
    assert.equal(readFileSync(join(dir, 'ca.key'), 'utf8'), ec.keyPem);
  });

  it('loads what it wrote', async () => {
    const dir = join(work, 'pki-c');
    await writePki(dir, material);
    const loaded = await loadPki(dir, NOW);
    assert.deepEqual(loaded, { ca: rsa, token: material.token, certificateKey: material.certificateKey });
    assert.deepEqual(pkiMaterial(loaded.ca, loaded.token!, loaded.certificateKey), material);
  });

  it('accepts an existing CA made elsewhere (openssl), without a token', async () => {
    const dir = join(work, 'pki-d');
    sh(`mkdir -p '${dir}' && cd '${dir}' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -subj /CN=corp-root -days 30 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null`);
    const loaded = await loadPki(dir, new Date());
    assert.equal(loaded.token, undefined);
    const expected = sh(`openssl x509 -pubkey -noout -in '${dir}/ca.crt' | openssl pkey -pubin -outform der | sha256sum`).split(/\s/)[0];
    assert.equal(caCertHash(loaded.ca.certPem), `sha256:${expected}`);
  });

  it('refuses a missing key, a non-CA certificate, a key of another CA, an expired CA', async () => {
    const missing = join(work, 'pki-e');
    sh(`mkdir -p '${missing}'`);
    writeFileSync(join(missing, 'ca.crt'), rsa.certPem);
    await assert.rejects(loadPki(missing, NOW), (e: unknown) => isAirlockError(e) && e.exitCode === 2 && /ca\.key: no such file/.test(e.message));

    const leaf = join(work, 'pki-f');
    sh(`mkdir -p '${leaf}' && cd '${leaf}' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -subj /CN=leaf -days 30 -addext basicConstraints=critical,CA:FALSE 2>/dev/null`);
    await assert.rejects(loadPki(leaf, new Date()), /not a CA certificate/);

    assert.deepEqual(caProblems({ certPem: rsa.certPem, keyPem: ec.keyPem }, NOW), ['ca.key does not belong to ca.crt']);
    assert.match(caProblems(rsa, new Date('2040-01-01T00:00:00Z')).join(), /expired on 2035-12-30/);
    assert.match(caProblems(rsa, new Date('2025-01-01T00:00:00Z')).join(), /not valid before/);
  });
});
