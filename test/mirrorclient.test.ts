// Client wiring for the site mirror: the rendered files for each OS (golden), TLS variants, and the
// rendered pip.conf / apt .sources / dnf .repo / Go profile used as they are by the real clients against
// a mirror on 127.0.0.1 (a site whose hosts live on the loopback network).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadSite } from '../src/load.ts';
import type { FileStep, Step } from '../src/plan.ts';
import { mirrorClientSteps } from '../src/render/mirrorclient.ts';
import type { Site } from '../src/schema.ts';
import { topology } from '../src/topology.ts';
import { openStore } from '../src/store/index.ts';
import { importDeb, importGoModule, importPython, importRpm, repoHandlers, siteSigner } from '../src/serve/repos/index.ts';
import { makeZip, startTestServer } from './repo-server.ts';
import { available as has, run as runTool } from './tools.ts';

const seed = loadSite(fs.readFileSync(new URL('../examples/seed/site.yaml', import.meta.url), 'utf8')).site;
const file = (steps: Step[], id: string) => {
  const s = steps.find((x) => x.id === id);
  assert.ok(s && s.kind === 'file', `file step ${id}`);
  return s as FileStep;
};
const stepsFor = (site: Site, name: string, keys = {}) => mirrorClientSteps(topology(site), site.hosts.find((h) => h.name === name)!, keys);
const withMirrors = (site: Site, patch: Partial<NonNullable<Site['services']['mirrors']>>): Site => ({ ...site, services: { ...site.services, mirrors: { ...site.services.mirrors!, ...patch } } });

describe('mirror client wiring (rendered)', () => {
  test('only nodes are wired; the admin host is the mirror', () => {
    assert.deepEqual(stepsFor(seed, 'admin'), []);
    const noMirror: Site = { ...seed, services: { ...seed.services, mirrors: undefined } };
    assert.deepEqual(stepsFor(noMirror, 'w1'), []);
  });

  test('debian12 node (seed w2): containerd hosts.toml per registry, deb822 source with Signed-By, pip, Go, Helm', () => {
    const steps = stepsFor(seed, 'w2');
    assert.deepEqual(steps.map((s) => s.id), [
      'containerd-mirror-docker.io', 'containerd-mirror-registry.k8s.io', 'containerd-mirror-quay.io', 'containerd-mirror-ghcr.io',
      'apt-keyring', 'apt-sources', 'apt-only-mirror', 'apt-update', 'pip-conf', 'go-env', 'helm-repos', 'helm-env',
    ]);
    assert.equal(file(steps, 'containerd-mirror-docker.io').path, '/etc/containerd/certs.d/docker.io/hosts.toml');
    assert.equal(file(steps, 'containerd-mirror-docker.io').content.replace(/^# .*\n/gm, ''), `server = "https://registry-1.docker.io"

[host."http://192.168.10.10:5000"]
  capabilities = ["pull", "resolve"]
`);
    // registry.k8s.io images live under k8s/ on the mirror (cluster/images.ts): the path is overridden.
    assert.equal(file(steps, 'containerd-mirror-registry.k8s.io').content.replace(/^# .*\n/gm, ''), `server = "https://registry.k8s.io"

[host."http://192.168.10.10:5000/v2/k8s"]
  capabilities = ["pull", "resolve"]
  override_path = true
`);
    assert.equal(file(steps, 'apt-sources').path, '/etc/apt/sources.list.d/airlock.sources');
    assert.equal(file(steps, 'apt-sources').content.replace(/^# .*\n/gm, ''), `Types: deb
URIs: http://192.168.10.10:5000/apt
Suites: bookworm
Components: main
Signed-By: /etc/apt/keyrings/airlock-site.asc
`);
    const key = steps.find((s) => s.id === 'apt-keyring')!;
    assert.equal(key.kind, 'command');
    assert.match(key.kind === 'command' ? key.run : '', /curl -fsS -o \/etc\/apt\/keyrings\/airlock-site\.asc\.tmp http:\/\/192\.168\.10\.10:5000\/apt\/airlock-archive-keyring\.asc/);
    assert.equal(file(steps, 'pip-conf').content.replace(/^# .*\n/gm, ''), `[global]
index-url = http://192.168.10.10:5000/pypi/simple/
trusted-host = 192.168.10.10:5000
`);
    assert.match(file(steps, 'go-env').content, /^export GOPROXY=http:\/\/192\.168\.10\.10:5000\/go$/m);
    assert.match(file(steps, 'go-env').content, /^export GOSUMDB=off$/m);
    assert.match(file(steps, 'go-env').content, /^export GOFLAGS=-mod=mod$/m);
    assert.match(file(steps, 'helm-repos').content, /url: http:\/\/192\.168\.10\.10:5000\/helm\n/);
    for (const s of steps) if (s.kind === 'file') assert.match(s.content, /^# Managed by airlock/);
  });

  test('rocky9 node (seed w1): dnf .repo with repo_gpgcheck and the site key in /etc/pki/rpm-gpg', () => {
    const steps = stepsFor(seed, 'w1', { signingKey: '-----BEGIN PGP PUBLIC KEY BLOCK-----\nx\n-----END PGP PUBLIC KEY BLOCK-----' });
    assert.ok(!steps.some((s) => s.id.startsWith('apt')));
    assert.equal(file(steps, 'dnf-key').path, '/etc/pki/rpm-gpg/RPM-GPG-KEY-airlock');
    assert.match(file(steps, 'dnf-key').content, /END PGP PUBLIC KEY BLOCK-----\n$/);
    assert.equal(file(steps, 'dnf-repo').path, '/etc/yum.repos.d/airlock.repo');
    assert.equal(file(steps, 'dnf-repo').content.replace(/^# .*\n/gm, ''), `[airlock]
name=airlock site mirror (rocky9)
baseurl=http://192.168.10.10:5000/yum/rocky9
enabled=1
gpgcheck=0
repo_gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-airlock
metadata_expire=1h
`);
  });

  test('tls: the site CA goes in the OS trust store first, hosts.toml/helm name it, pip uses the OS bundle', () => {
    const site = withMirrors(seed, { tls: true, registries: ['docker.io'] });
    const ca = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUKx6Gm1Pq3a8r2ZB0Xk0dqYbXfzQwCgYIKoZIzj0EAwIw\n-----END CERTIFICATE-----\n';
    const deb = stepsFor(site, 'w2', { caCert: ca });
    assert.deepEqual(deb.slice(0, 2).map((s) => s.id), ['mirror-ca', 'mirror-ca-trusted']);
    assert.equal(file(deb, 'mirror-ca').path, '/usr/local/share/ca-certificates/airlock-site-ca.crt');
    const trusted = deb[1]!;
    assert.ok(trusted.kind === 'command' && trusted.run === 'update-ca-certificates' && trusted.check.includes('/etc/ssl/certs/ca-certificates.crt') && trusted.check.includes('MIIBszCCAVmgAwIBAgIU'));
    assert.match(file(deb, 'containerd-mirror-docker.io').content, /\[host\."https:\/\/192\.168\.10\.10:5000"\]\n {2}capabilities = \["pull", "resolve"\]\n {2}ca = "\/usr\/local\/share\/ca-certificates\/airlock-site-ca\.crt"\n/);
    assert.match(file(deb, 'pip-conf').content, /^cert = \/etc\/ssl\/certs\/ca-certificates\.crt$/m);
    assert.doesNotMatch(file(deb, 'pip-conf').content, /trusted-host/);
    assert.match(file(deb, 'helm-repos').content, /caFile: "\/usr\/local\/share\/ca-certificates\/airlock-site-ca\.crt"/);
    const rocky = stepsFor(site, 'w1', { caCert: ca });
    assert.equal(file(rocky, 'mirror-ca').path, '/etc/pki/ca-trust/source/anchors/airlock-site-ca.crt');
    assert.ok(rocky[1]!.kind === 'command' && rocky[1]!.run === 'update-ca-trust extract');
    assert.match(file(rocky, 'dnf-repo').content, /^baseurl=https:\/\/192\.168\.10\.10:5000\/yum\/rocky9$/m);
    // Without the CA, apply stops at an assertion instead of trusting the mirror blindly.
    const bare = stepsFor(site, 'w1');
    assert.equal(bare[0]!.kind, 'assert');
    assert.match(bare.find((s) => s.id === 'dnf-key')!.kind === 'command' ? (bare.find((s) => s.id === 'dnf-key') as { run: string }).run : '', /--cacert \/etc\/pki\/ca-trust\/source\/anchors\/airlock-site-ca\.crt/);
  });

  test('pure: same input, same steps', () => {
    assert.deepEqual(stepsFor(seed, 'w2'), stepsFor(seed, 'w2'));
  });
});


const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string) => runTool(cmd, args, { env: { LC_ALL: 'C.UTF-8', ...env }, ...(cwd ? { cwd } : {}), timeoutMs: 120_000 });

/** A site whose mirror and nodes are on the loopback network, so rendered files point at a test server. */
function loopbackSite(port: number): Site {
  return loadSite(`apiVersion: airlock/v1
kind: Site
metadata: { name: loop }
networks:
  - { name: lo, cidr: 127.0.0.0/8 }
hosts:
  - { name: admin, roles: [admin], os: debian12, interfaces: [{ name: lo, network: lo, address: 127.0.0.1/8 }] }
  - { name: deb, roles: [worker], os: debian12, interfaces: [{ name: lo, network: lo, address: 127.0.0.2/8 }] }
  - { name: rocky, roles: [worker], os: rocky9, interfaces: [{ name: lo, network: lo, address: 127.0.0.3/8 }] }
services:
  mirrors: { host: admin, port: ${port} }
`).site;
}

describe('rendered client files used by the real clients (mirror on 127.0.0.1)', () => {
  let tmp: string;
  let server: { url: string; close(): Promise<void> };
  let deb: Step[];
  let rocky: Step[];
  let signingKey: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-mc-'));
    const store = await openStore(path.join(tmp, 'store'));
    const signer = await siteSigner(store.root);
    signingKey = signer.publicKeyArmored;
    try {
      if (has('dpkg-deb')) {
        const root = path.join(tmp, 'debroot');
        fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
        fs.writeFileSync(path.join(root, 'DEBIAN/control'), 'Package: airlock-mc\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: t\n');
        execFileSync('dpkg-deb', ['--root-owner-group', '--build', root, path.join(tmp, 'mc.deb')], { stdio: 'ignore' });
        await importDeb(store, path.join(tmp, 'mc.deb'), { suite: 'bookworm', component: 'main', signer });
      }
      if (has('rpmbuild')) {
        fs.writeFileSync(path.join(tmp, 'mc.spec'), 'Name: airlock-mc\nVersion: 1.0\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\nAutoReq: no\n%description\nt\n%files\n');
        execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${path.join(tmp, 'top')}`, path.join(tmp, 'mc.spec')], { stdio: 'ignore' });
        await importRpm(store, path.join(tmp, 'top/RPMS/noarch/airlock-mc-1.0-1.noarch.rpm'), { repo: 'rocky9', signer });
      }
    } finally {
      await signer.close();
    }
    const whl = path.join(tmp, 'airlock_mc-1.0-py3-none-any.whl');
    fs.writeFileSync(whl, makeZip([{ name: 'airlock_mc-1.0.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: airlock-mc\nVersion: 1.0\n' }, { name: 'airlock_mc-1.0.dist-info/WHEEL', data: 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n' }, { name: 'airlock_mc/__init__.py', data: '' }]));
    await importPython(store, whl);
    await importGoModule(store, { module: 'example.com/Mc', version: 'v1.0.0', zip: makeZip([{ name: 'example.com/Mc@v1.0.0/go.mod', data: 'module example.com/Mc\n' }, { name: 'example.com/Mc@v1.0.0/mc.go', data: 'package mc\n' }]) });
    server = await startTestServer(store, repoHandlers());
    const port = Number(new URL(server.url).port);
    const site = loopbackSite(port);
    const topo = topology(site);
    deb = mirrorClientSteps(topo, site.hosts[1]!, {});
    rocky = mirrorClientSteps(topo, site.hosts[2]!, { signingKey });
  });

  after(async () => {
    await server?.close();
    if (tmp) {
      execFileSync('chmod', ['-R', 'u+w', tmp]);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('the node reaches the mirror at its loopback address', () => {
    assert.match(file(deb, 'pip-conf').content, /index-url = http:\/\/127\.0\.0\.1:\d+\/pypi\/simple\//);
  });

  test('pip with the rendered /etc/pip.conf', { skip: has('python3') ? false : 'needs python3 + pip' }, async () => {
    const conf = path.join(tmp, 'pip.conf');
    fs.writeFileSync(conf, file(deb, 'pip-conf').content);
    const py = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const r = await run(py, ['-m', 'pip', 'download', '--no-deps', '--no-cache-dir', '--disable-pip-version-check', '--dest', path.join(tmp, 'pipdl'), 'airlock-mc'], { ...process.env, PIP_CONFIG_FILE: conf });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(fs.readdirSync(path.join(tmp, 'pipdl')), ['airlock_mc-1.0-py3-none-any.whl']);
  });

  test('go with the rendered /etc/profile.d/airlock-go.sh', { skip: has('go') ? false : 'needs go' }, async () => {
    const profile = path.join(tmp, 'airlock-go.sh');
    fs.writeFileSync(profile, file(deb, 'go-env').content);
    const home = path.join(tmp, 'gohome');
    fs.mkdirSync(home);
    const r = await run('/bin/sh', ['-c', `. ${profile} && go mod download -json example.com/Mc@v1.0.0`], { PATH: process.env.PATH, HOME: home, GOPATH: path.join(home, 'gopath'), GOCACHE: path.join(home, 'cache'), GOENV: 'off' }, home);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /"Version": "v1\.0\.0"/);
  });

  test('apt-get update with the rendered .sources and the key fetched as the rendered step does', { skip: has('apt-get') && has('dpkg-deb') && has('curl') ? false : 'needs apt-get, dpkg-deb, curl' }, async () => {
    const dir = path.join(tmp, 'apt');
    for (const d of ['sources.list.d', 'state/lists/partial', 'cache/archives/partial', 'trusted.gpg.d', 'keyrings']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sources.list'), '');
    fs.writeFileSync(path.join(dir, 'state/status'), '');
    const keyring = path.join(dir, 'keyrings/airlock-site.asc');
    // The rendered key step, run with the key path moved under the test dir.
    const step = deb.find((s) => s.id === 'apt-keyring')!;
    assert.equal(step.kind, 'command');
    const fetchKey = await run('/bin/sh', ['-c', (step as { run: string }).run.replaceAll('/etc/apt/keyrings/airlock-site.asc', keyring).replaceAll('/etc/apt/keyrings', path.dirname(keyring))]);
    assert.equal(fetchKey.code, 0, fetchKey.out);
    fs.writeFileSync(path.join(dir, 'sources.list.d/airlock.sources'), file(deb, 'apt-sources').content.replace('/etc/apt/keyrings/airlock-site.asc', keyring));
    const o = (k: string, v: string) => ['-o', `${k}=${v}`];
    const opts = [
      ...o('Dir::Etc::sourcelist', path.join(dir, 'sources.list')), ...o('Dir::Etc::sourceparts', path.join(dir, 'sources.list.d')),
      ...o('Dir::Etc::trusted', path.join(dir, 'trusted.gpg')), ...o('Dir::Etc::trustedparts', path.join(dir, 'trusted.gpg.d')),
      ...o('Dir::State', path.join(dir, 'state')), ...o('Dir::State::status', path.join(dir, 'state/status')), ...o('Dir::Cache', path.join(dir, 'cache')),
      ...o('Debug::NoLocking', '1'), ...o('APT::Sandbox::User', 'root'), ...o('Acquire::Languages', 'none'), ...o('APT::Architectures', 'amd64'),
    ];
    const up = await run('apt-get', [...opts, '--error-on=any', 'update']);
    assert.equal(up.code, 0, up.out);
    // The rendered check ("has apt read the mirror's index?") holds afterwards.
    const check = (deb.find((s) => s.id === 'apt-update') as { check: string }).check.replace('/var/lib/apt/lists/', `${path.join(dir, 'state/lists')}/`);
    assert.equal((await run('/bin/sh', ['-c', check])).code, 0, check);
    const dl = await run('apt-get', [...opts, 'download', 'airlock-mc'], process.env, path.join(dir, 'cache'));
    assert.equal(dl.code, 0, dl.out);
  });

  test('dnf with the rendered .repo and key file', { skip: has('dnf') && has('rpmbuild') ? false : 'needs dnf and rpmbuild' }, async () => {
    const dir = path.join(tmp, 'dnf');
    for (const d of ['repos.d', 'root', 'cache', 'dl']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    const keyFile = path.join(dir, 'RPM-GPG-KEY-airlock');
    fs.writeFileSync(keyFile, file(rocky, 'dnf-key').content);
    fs.writeFileSync(path.join(dir, 'repos.d/airlock.repo'), file(rocky, 'dnf-repo').content.replace('file:///etc/pki/rpm-gpg/RPM-GPG-KEY-airlock', `file://${keyFile}`));
    fs.writeFileSync(path.join(dir, 'dnf.conf'), `[main]\ncachedir=${path.join(dir, 'cache')}\nreposdir=${path.join(dir, 'repos.d')}\nplugins=0\n`);
    const r = await run('dnf', [`--config=${path.join(dir, 'dnf.conf')}`, `--installroot=${path.join(dir, 'root')}`, `--setopt=reposdir=${path.join(dir, 'repos.d')}`, '--releasever=9', '--noplugins', '-y', 'install', '--downloadonly', `--downloaddir=${path.join(dir, 'dl')}`, 'airlock-mc']);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'dl')), ['airlock-mc-1.0-1.noarch.rpm']);
  });
});
