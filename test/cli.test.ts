// The CLI as a user runs it: exit codes 0/1/2, --json, --help on every verb, no stack traces for user error,
// and nothing written when input is bad.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { root } from './sites.ts';

const tmp = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const seed = join(root, 'examples', 'seed', 'site.yaml');

function airlock(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'airlock.js'), ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const noStack = (s: string) => assert.doesNotMatch(s, /^\s+at .*\(.*:\d+:\d+\)$/m, 'no stack trace');

describe('airlock CLI', () => {
  it('check on the seed example exits 0', () => {
    const r = airlock('check', seed);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /no findings/);
  });

  it("check on the seed's pod CIDR exits 1 naming both fields and their lines", () => {
    const text = readFileSync(seed, 'utf8').replace('podCIDR: 10.244.0.0/16', 'podCIDR: 10.96.0.0/12');
    const f = join(tmp, 'podcidr.yaml');
    writeFileSync(f, text);
    const lines = text.split('\n');
    const podLine = lines.findIndex((l) => l.includes('podCIDR:')) + 1;
    const svcLine = lines.findIndex((l) => l.includes('serviceCIDR:')) + 1;
    const r = airlock('check', f);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`podcidr\\.yaml:${svcLine}:\\d+ .*cluster\\.serviceCIDR`));
    assert.match(r.stdout, new RegExp(`cluster\\.podCIDR \\(.*podcidr\\.yaml:${podLine}:\\d+\\)`));
    const j = airlock('check', f, '--json');
    assert.equal(j.code, 1);
    const parsed = JSON.parse(j.stdout) as { ok: boolean; findings: { id: string; location: { line: number } }[] };
    assert.equal(parsed.ok, false);
    assert.ok(parsed.findings.some((x) => x.id === 'cidr-overlap' && x.location.line === svcLine));
  });

  for (const fixture of ['yaml-unclosed-flow', 'unknown-host-field', 'iface-unknown-network', 'empty-document', 'network-bad-cidr']) {
    it(`invalid input ${fixture} exits 2 with file:line and no stack trace`, () => {
      const f = join(root, 'test', 'fixtures', 'invalid', `${fixture}.yaml`);
      const r = airlock('check', f);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${fixture}\\.yaml:\\d+:\\d+`));
      noStack(r.stderr);
    });
  }

  it('a missing file exits 2', () => {
    const r = airlock('check', join(tmp, 'nope.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no such file/);
    noStack(r.stderr);
  });

  it('usage errors exit 2; --help exits 0 on every verb', () => {
    assert.equal(airlock('frobnicate').code, 2);
    assert.equal(airlock('check').code, 2);
    assert.equal(airlock('render', seed).code, 2, 'render without --out');
    for (const verb of ['check', 'render', 'apply', 'verify', 'demo', 'lab', 'lab up', 'lab down', 'lab status', 'lab shell', 'lab exec', 'store gc', 'bundle', 'bundle plan', 'bundle create', 'bundle verify', 'bundle load', 'bundle diff']) {
      const h = airlock(...verb.split(' '), '--help');
      assert.equal(h.code, 0);
      assert.match(h.stdout, /Usage: airlock/);
    }
  });

  it('render writes every host, and refuses (writing nothing) when check finds errors', () => {
    const out = join(tmp, 'out');
    const r = airlock('render', seed, '--out', out, '--serial', '2026010101', '--json');
    assert.equal(r.code, 0, r.stderr);
    for (const h of ['admin', 'cp1', 'w1', 'w2']) assert.ok(existsSync(join(out, h, 'plan.json')));
    assert.match(readFileSync(join(out, 'admin', 'files', 'var', 'named', 'db.airlock.lab'), 'utf8'), /2026010101 ; serial/);
    // Rendering again into the same directory replaces it.
    assert.equal(airlock('render', seed, '--out', out).code, 0);

    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, readFileSync(seed, 'utf8').replace('podCIDR: 10.244.0.0/16', 'podCIDR: 10.96.0.0/12'));
    const out2 = join(tmp, 'out2');
    const b = airlock('render', bad, '--out', out2);
    assert.equal(b.code, 1);
    assert.ok(!existsSync(out2), 'nothing written');
    const c = airlock('render', join(root, 'test', 'fixtures', 'invalid', 'host-bad-os.yaml'), '--out', out2);
    assert.equal(c.code, 2);
    assert.ok(!existsSync(out2), 'nothing written');
  });

  it('apply and verify refuse a site with error findings (exit 1) and a missing lab (exit 2)', () => {
    const bad = join(tmp, 'bad-apply.yaml');
    writeFileSync(bad, readFileSync(seed, 'utf8').replace('podCIDR: 10.244.0.0/16', 'podCIDR: 10.96.0.0/12'));
    const a = airlock('apply', bad, '--lab');
    assert.equal(a.code, 1);
    assert.match(a.stderr, /error finding/);
    const v = airlock('verify', seed, '--lab', '--prefix', 'zz9q');
    assert.equal(v.code, 2);
    assert.match(v.stderr, /no lab is up/);
    noStack(v.stderr);
  });

  it('pki makes a CA, token and join command (secrets 0600, never printed), reuses them, and render places kubeadm files', () => {
    const dir = join(tmp, 'pki');
    const a = airlock('pki', seed, '--out', dir, '--json');
    assert.equal(a.code, 0, a.stderr);
    const token = readFileSync(join(dir, 'token'), 'utf8').trim();
    assert.match(token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    for (const [f, mode] of [['ca.key', 0o600], ['token', 0o600], ['join-command', 0o600], ['ca.crt', 0o644]] as const)
      assert.equal(statSync(join(dir, f)).mode & 0o777, mode, f);
    const b = airlock('pki', seed, '--out', dir);
    assert.equal(b.code, 0);
    assert.ok(!b.stdout.includes(token) && !b.stderr.includes(token), 'token never printed');
    assert.match(b.stdout, /reused the CA/);
    assert.equal(readFileSync(join(dir, 'token'), 'utf8').trim(), token, 'token kept');
    const out = join(tmp, 'out-pki');
    assert.equal(airlock('render', seed, '--out', out, '--pki', dir).code, 0);
    const init = join(out, 'cp1', 'files', 'etc', 'kubernetes', 'airlock', 'kubeadm-init.yaml');
    assert.equal(statSync(init).mode & 0o777, 0o600);
    assert.ok(readFileSync(init, 'utf8').includes(token));
    assert.ok(existsSync(join(out, 'w1', 'files', 'etc', 'kubernetes', 'airlock', 'kubeadm-join.yaml')));
  });

  it('with services.mirrors.tls, pki also issues the mirror certificate and render makes nodes trust the site CA', () => {
    const tlsSite = join(tmp, 'tls-site.yaml');
    writeFileSync(tlsSite, readFileSync(seed, 'utf8').replace('    port: 5000', '    port: 5000\n    tls: true'));
    const dir = join(tmp, 'pki-tls');
    assert.equal(airlock('pki', tlsSite, '--out', dir).code, 0);
    assert.equal(statSync(join(dir, 'mirror.key')).mode & 0o777, 0o600);
    const v = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), '-purpose', 'sslserver', '-verify_hostname', 'registry.airlock.lab', join(dir, 'mirror.crt')], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    const out = join(tmp, 'out-tls');
    assert.equal(airlock('render', tlsSite, '--out', out, '--pki', dir).code, 0);
    const anchor = join(out, 'w2', 'files', 'usr', 'local', 'share', 'ca-certificates', 'airlock-site-ca.crt');
    assert.equal(readFileSync(anchor, 'utf8'), readFileSync(join(dir, 'ca.crt'), 'utf8'));
    assert.match(readFileSync(join(out, 'w2', 'files', 'etc', 'containerd', 'certs.d', 'docker.io', 'hosts.toml'), 'utf8'), /\[host\."https:\/\/192\.168\.10\.10:5000"\][\s\S]*ca = /);
  });

  it('render will not clobber a directory it did not write', () => {
    const d = join(tmp, 'precious');
    rmSync(d, { recursive: true, force: true });
    spawnSync('mkdir', ['-p', d]);
    writeFileSync(join(d, 'keep.txt'), 'mine');
    const r = airlock('render', seed, '--out', d);
    assert.equal(r.code, 2);
    assert.equal(readFileSync(join(d, 'keep.txt'), 'utf8'), 'mine');
  });
  it('bundle: plan lists what the site needs; bad input exits 2 with a plain message and writes nothing', () => {
    const p = airlock('bundle', 'plan', seed, '--json');
    assert.equal(p.code, 0, p.stderr);
    const plan = JSON.parse(p.stdout) as { artifacts: { kind: string; name: string }[] };
    assert.ok(plan.artifacts.some((a) => a.kind === 'image' && a.name === 'registry.k8s.io/pause:3.9'));
    const text = airlock('bundle', 'plan', seed);
    assert.match(text.stdout, /rpm\s+rocky9 kubelet 1\.30\.4\s+\(installed on cp1, w1\)/);
    const out = join(tmp, 'never');
    const split = airlock('bundle', 'create', seed, '-o', out, '--split', 'big');
    assert.equal(split.code, 2);
    assert.match(split.stderr, /--split: "big" is not a size/);
    assert.ok(!existsSync(out), 'nothing written');
    const none = airlock('bundle', 'verify', join(tmp, 'no-such-bundle'));
    assert.equal(none.code, 2);
    assert.match(none.stderr, /not a directory/);
    noStack(none.stderr);
    const trust = airlock('bundle', 'verify', tmp, '--trust', 'abc');
    assert.equal(trust.code, 2);
    assert.match(trust.stderr, /fingerprint/);
    const gc = airlock('store', 'gc', '--store', join(tmp, 'st'), '--grace', 'soon');
    assert.equal(gc.code, 2);
  });
});
