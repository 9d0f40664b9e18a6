// The mirror's HTTPS certificate, issued by the site CA: openssl verifies chain, SANs and purpose; skopeo (Go's
// TLS stack, as containerd uses) pulls over HTTPS trusting only the site CA; a wrong name is refused.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { generateCA, issueServerCertificate } from '../src/cluster/pki.ts';
import { openStore } from '../src/store/index.ts';
import { importOciLayout } from '../src/store/import.ts';
import { serve, type RunningServer } from '../src/serve/index.ts';
import { buildImage, writeLayout } from './oci-image.ts';
import { available } from './tools.ts';

const work = mkdtempSync(join(tmpdir(), 'airlock-tls-'));
after(() => rmSync(work, { recursive: true, force: true }));
const now = new Date(Date.now() - 60_000);

describe('mirror certificate from the site CA', { skip: available('openssl') ? false : 'needs openssl' }, () => {
  for (const algorithm of ['rsa-2048', 'ecdsa-p256'] as const) {
    it(`openssl verifies it (CA ${algorithm}): chain, serverAuth, names and addresses`, () => {
      const ca = generateCA({ commonName: 'airlock site CA', notBefore: now, days: 30, algorithm });
      const leaf = issueServerCertificate(ca, { dnsNames: ['registry.airlock.lab'], ipAddresses: ['192.168.10.10'], notBefore: now, days: 30 });
      const dir = join(work, algorithm);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'ca.crt'), ca.certPem);
      writeFileSync(join(dir, 'leaf.crt'), leaf.certPem);
      const verify = (...extra: string[]) => spawnSync('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), '-purpose', 'sslserver', ...extra, join(dir, 'leaf.crt')], { encoding: 'utf8' });
      assert.equal(verify('-verify_ip', '192.168.10.10').status, 0);
      assert.equal(verify('-verify_hostname', 'registry.airlock.lab').status, 0);
      assert.notEqual(verify('-verify_hostname', 'evil.example').status, 0, 'a name not in the SANs is refused');
      assert.notEqual(verify('-verify_ip', '192.168.10.11').status, 0, 'an address not in the SANs is refused');
      const other = generateCA({ commonName: 'another CA', notBefore: now, days: 30, algorithm });
      writeFileSync(join(dir, 'other.crt'), other.certPem);
      assert.notEqual(spawnSync('openssl', ['verify', '-CAfile', join(dir, 'other.crt'), join(dir, 'leaf.crt')]).status, 0, 'another CA does not vouch for it');
    });
  }
});

describe('skopeo pulls over HTTPS trusting only the site CA', { skip: available('skopeo') ? false : 'needs skopeo' }, () => {
  let server: RunningServer;
  const certs = join(work, 'certs.d');
  before(async () => {
    const ca = generateCA({ commonName: 'airlock site CA', notBefore: now, days: 30 });
    const leaf = issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], notBefore: now, days: 30 });
    mkdirSync(certs, { recursive: true });
    writeFileSync(join(certs, 'ca.crt'), ca.certPem); // skopeo --cert-dir: *.crt are CAs
    const store = await openStore(join(work, 'store'));
    await writeLayout(join(work, 'layout'), buildImage('over TLS'), 'v1');
    await importOciLayout(store, join(work, 'layout'), { repo: 'demo/tls', tag: 'v1' });
    server = await serve({ store, host: '127.0.0.1', port: 0, tls: { cert: leaf.certPem, key: leaf.keyPem }, log: pino({ level: 'silent' }) });
  });
  after(async () => server?.close());

  const skopeo = (...args: string[]) =>
    new Promise<{ code: number; out: string }>((resolve) =>
      execFile('skopeo', args, { timeout: 30_000 }, (e, so, se) => resolve({ code: e ? 1 : 0, out: `${so}${se}` })),
    );

  it('inspects the image by IP with the site CA, and fails without it', async () => {
    const hostPort = server.url.replace('https://', '');
    const ok = await skopeo('inspect', '--cert-dir', certs, `docker://${hostPort}/demo/tls:v1`);
    assert.equal(ok.code, 0, ok.out);
    const bad = await skopeo('inspect', `docker://${hostPort}/demo/tls:v1`);
    assert.notEqual(bad.code, 0, 'the system trust store does not know the site CA');
    assert.match(bad.out, /certificate|x509/i);
  });
});
