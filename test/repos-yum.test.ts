// YUM/DNF with the real tools: RPMs built here with rpmbuild, imported (repodata generated natively),
// compared field by field with what createrepo_c makes of the same RPMs, and fetched by dnf with
// repo_gpgcheck on (repomd.xml signed with the site key). A foreign key must make dnf fail.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { openStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';
import { importRpm, parseRpm, siteSigner, yumHandler, type SiteSigner } from '../src/serve/repos/index.ts';
import { startTestServer } from './repo-server.ts';
import { available as has, run as runTool } from './tools.ts';

const skipBuild = !has('rpmbuild') || !has('gpg') ? 'needs rpmbuild (Debian package "rpm") and gpg' : false;

const run = (cmd: string, args: string[], opts: { cwd?: string } = {}) => runTool(cmd, args, { ...opts, timeoutMs: 120_000, set: { LC_ALL: 'C.UTF-8' } });

const SPEC = (name: string, version: string, arch: string, extra: string) => `Name: ${name}
Version: ${version}
Release: 1
Epoch: ${name === 'airlock-tool' ? 2 : 0}
Summary: airlock test package <&> "quoted"
License: MIT
URL: https://example.invalid/${name}
BuildArch: ${arch}
${extra}
%description
A package built by the airlock test suite.
Second line & more.
%install
mkdir -p %{buildroot}/usr/share/${name} %{buildroot}/usr/bin %{buildroot}/etc/${name}
echo hello > %{buildroot}/usr/share/${name}/hello.txt
printf '#!/bin/sh\\necho hi\\n' > %{buildroot}/usr/bin/${name}
echo conf=1 > %{buildroot}/etc/${name}/${name}.conf
%files
%dir /usr/share/${name}
/usr/share/${name}/hello.txt
/usr/bin/${name}
%config(noreplace) /etc/${name}/${name}.conf
%ghost /var/log/${name}.log
%changelog
* Sat Nov 23 2024 Tester <t@example.invalid> - ${version}-1
- second entry
* Fri Nov 22 2024 Tester <t@example.invalid> - 0.1-1
- first entry
`;

function buildRpm(dir: string, name: string, version: string, arch: string, extra = ''): string {
  const spec = path.join(dir, `${name}.spec`);
  fs.writeFileSync(spec, SPEC(name, version, arch, extra));
  execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${path.join(dir, 'top')}`, '--define', '_build_id_links none', '--target', arch, spec], { stdio: 'ignore' });
  const out = path.join(dir, 'top/RPMS', arch, `${name}-${version}-1.${arch}.rpm`);
  assert.ok(fs.existsSync(out), out);
  return out;
}

/** <package> elements of a createrepo XML file, keyed by name, with the volatile bits removed. */
function packagesOf(xml: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of xml.matchAll(/<package\b[\s\S]*?<\/package>/g)) {
    const name = /<name>([^<]*)<\/name>/.exec(m[0])?.[1] ?? /name="([^"]*)"/.exec(m[0])![1]!;
    const norm = m[0]
      .replace(/<time file="\d+"/, '<time file="X"')
      .replace(/<location href="[^"]*"/, '<location href="X"')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .join('\n');
    out.set(name!, norm);
  }
  return out;
}

describe('YUM repository: native repodata vs createrepo_c, and dnf', { skip: skipBuild }, () => {
  let tmp: string;
  let store: Store;
  let signer: SiteSigner;
  let server: { url: string; close(): Promise<void> };
  const rpms: string[] = [];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-yum-'));
    store = await openStore(path.join(tmp, 'store'));
    signer = await siteSigner(store.root);
    // airlock-hello and airlock-tool install into an empty root (no automatic requires); airlock-complex
    // carries every dependency kind (pre, self-provided, file requires, weak deps) for the createrepo_c comparison.
    rpms.push(buildRpm(tmp, 'airlock-hello', '1.0', 'noarch', 'AutoReq: no\nProvides: airlock-greeting = 1.0'));
    rpms.push(buildRpm(tmp, 'airlock-tool', '0.9', 'x86_64', 'AutoReq: no\nRequires: airlock-hello >= 1.0'));
    rpms.push(
      buildRpm(
        tmp,
        'airlock-complex',
        '3.0',
        'noarch',
        'Requires: /bin/sh\nRequires: /usr/bin/airlock-complex\nRequires(post): coreutils\nProvides: airlock-greeting = 3.0\nConflicts: airlock-old < 0.5\nObsoletes: airlock-ancient <= 1:0.1-2\nRecommends: airlock-extra\nSuggests: airlock-docs\nSupplements: airlock-tool\nEnhances: airlock-hello\n%post\ntrue',
      ),
    );
    await importRpm(store, rpms, { repo: 'test', signer });
    server = await startTestServer(store, [yumHandler()]);
  });

  after(async () => {
    await server?.close();
    await signer?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function get(p: string): Promise<Buffer> {
    const res = await fetch(`${server.url}/yum/${p}`);
    assert.equal(res.status, 200, p);
    return Buffer.from(await res.arrayBuffer());
  }

  test('parseRpm reads the header as rpm -q does', () => {
    const info = parseRpm(fs.readFileSync(rpms[1]!));
    const q = (fmt: string) => execFileSync('rpm', ['-qp', '--nosignature', '--nodigest', '--qf', fmt, rpms[1]!], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(info.name, 'airlock-tool');
    assert.equal(`${info.epoch}:${info.version}-${info.release}.${info.arch}`, q('%{EPOCH}:%{VERSION}-%{RELEASE}.%{ARCH}'));
    assert.equal(info.installedSize, Number(q('%{SIZE}')));
    assert.equal(info.sourceRpm, q('%{SOURCERPM}'));
    assert.deepEqual(info.files.map((f) => f.path).sort(), q('[%{FILENAMES}\\n]').trim().split('\n').sort());
  });

  test('primary, filelists and other match createrepo_c for the same RPMs', { skip: has('createrepo_c') ? false : 'needs createrepo_c (Debian package "createrepo-c")' }, async () => {
    const cr = path.join(tmp, 'cr');
    fs.mkdirSync(cr);
    for (const r of rpms) fs.copyFileSync(r, path.join(cr, path.basename(r)));
    execFileSync('createrepo_c', ['--quiet', '--no-database', cr]);
    const repomd = (await get('test/repodata/repomd.xml')).toString();
    for (const type of ['primary', 'filelists', 'other']) {
      const ours = gunzipSync(await get(new RegExp(`href="(repodata/[0-9a-f]{64}-${type}\\.xml\\.gz)"`).exec(repomd)![1]!.replace(/^/, 'test/'))).toString();
      const theirsFile = fs.readdirSync(path.join(cr, 'repodata')).find((f) => f.endsWith(`-${type}.xml.gz`))!;
      const theirs = gunzipSync(fs.readFileSync(path.join(cr, 'repodata', theirsFile))).toString();
      const a = packagesOf(ours);
      const b = packagesOf(theirs);
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), type);
      for (const [name, xml] of b) assert.equal(a.get(name), xml, `${type} of ${name}`);
    }
  });

  test('repomd.xml lists checksums/sizes that match the files, and its signature verifies', async () => {
    const repomd = await get('test/repodata/repomd.xml');
    for (const m of repomd.toString().matchAll(/<data type="(\w+)">[\s\S]*?<checksum type="sha256">([0-9a-f]+)<\/checksum>[\s\S]*?<open-checksum type="sha256">([0-9a-f]+)<\/open-checksum>[\s\S]*?href="([^"]+)"[\s\S]*?<size>(\d+)<\/size>[\s\S]*?<open-size>(\d+)<\/open-size>/g)) {
      const data = await get(`test/${m[4]}`);
      assert.equal(createHash('sha256').update(data).digest('hex'), m[2]);
      assert.equal(data.length, Number(m[5]));
      const open = gunzipSync(data);
      assert.equal(createHash('sha256').update(open).digest('hex'), m[3]);
      assert.equal(open.length, Number(m[6]));
    }
    const sig = await get('test/repodata/repomd.xml.asc');
    assert.match(sig.toString(), /BEGIN PGP SIGNATURE/);
    const key = await get('RPM-GPG-KEY-airlock');
    const kdir = fs.mkdtempSync(path.join(tmp, 'gpgv-'));
    fs.writeFileSync(path.join(kdir, 'repomd.xml'), repomd);
    fs.writeFileSync(path.join(kdir, 'repomd.xml.asc'), sig);
    fs.writeFileSync(path.join(kdir, 'key.asc'), key);
    execFileSync('gpg', ['--batch', '--homedir', kdir, '--dearmor', '-o', path.join(kdir, 'key.gpg'), path.join(kdir, 'key.asc')]);
    const v = await run('gpgv', ['--keyring', path.join(kdir, 'key.gpg'), path.join(kdir, 'repomd.xml.asc'), path.join(kdir, 'repomd.xml')]);
    assert.equal(v.code, 0, v.out);
  });

  const dnfSkip = has('dnf') ? false : 'needs dnf (Debian package "dnf")';

  function dnfArgs(name: string, keyUrl: string): { dir: string; args: string[] } {
    const dir = path.join(tmp, name);
    for (const d of ['root', 'repos.d', 'dl', 'cache']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.writeFileSync(path.join(dir, 'dnf.conf'), `[main]\ncachedir=${path.join(dir, 'cache')}\nreposdir=${path.join(dir, 'repos.d')}\nkeepcache=0\nplugins=0\ninstall_weak_deps=0\n`);
    return {
      dir,
      args: [
        `--config=${path.join(dir, 'dnf.conf')}`,
        `--installroot=${path.join(dir, 'root')}`,
        `--setopt=reposdir=${path.join(dir, 'repos.d')}`,
        '--releasever=9',
        '--forcearch=x86_64',
        '--noplugins',
        '-y',
        `--repofrompath=airlock,${server.url}/yum/test`,
        '--setopt=airlock.gpgcheck=0',
        '--setopt=airlock.repo_gpgcheck=1',
        `--setopt=airlock.gpgkey=${keyUrl}`,
        '--setopt=airlock.skip_if_unavailable=0',
      ],
    };
  }

  test('dnf install --downloadonly resolves and fetches from the signed repo', { skip: dnfSkip }, async () => {
    const { dir, args } = dnfArgs('dnf-ok', `${server.url}/yum/RPM-GPG-KEY-airlock`);
    const r = await run('dnf', [...args, 'install', '--downloadonly', `--downloaddir=${path.join(dir, 'dl')}`, 'airlock-tool']);
    assert.equal(r.code, 0, r.out);
    const got = fs.readdirSync(path.join(dir, 'dl')).sort();
    assert.deepEqual(got, ['airlock-hello-1.0-1.noarch.rpm', 'airlock-tool-0.9-1.x86_64.rpm']);
    assert.match(r.out, /Importing GPG key/);
    const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    assert.equal(sha(path.join(dir, 'dl', got[0]!)), sha(rpms[0]!));
  });

  test('dnf refuses the repo when repomd.xml is signed by a key it was not given', { skip: dnfSkip }, async () => {
    const otherRoot = path.join(tmp, 'other-store');
    fs.mkdirSync(otherRoot);
    const other = await siteSigner(otherRoot);
    try {
      fs.writeFileSync(path.join(tmp, 'other.asc'), other.publicKeyArmored);
      const { dir, args } = dnfArgs('dnf-wrongkey', `file://${path.join(tmp, 'other.asc')}`);
      const r = await run('dnf', [...args, 'install', '--downloadonly', `--downloaddir=${path.join(dir, 'dl')}`, 'airlock-tool']);
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /GPG|signature|verif/i, r.out);
      assert.deepEqual(fs.readdirSync(path.join(dir, 'dl')), []);
    } finally {
      await other.close();
    }
  });
});
