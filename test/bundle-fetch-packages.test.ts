// The package fetchers of `airlock bundle create`: PyPI, Helm, GOPROXY and YUM against our own repos served
// on 127.0.0.1 as the "upstream" (fetched into a different, fresh store: same bytes, a re-run downloads
// nothing, unknown names → Missing, dryRun stores no package blob), and APT against this machine's Debian
// mirror through apt-get (the closure of `hello`). Plus the pure parsing/selection helpers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { BundleSources } from '../src/schema.ts';
import { openStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';
import type { RepoHandler } from '../src/serve/types.ts';
import { goProxyHandler, helmHandler, importChart, importGoModule, importPython, importRpm, pypiHandler, removeGoModuleVersion, yumHandler } from '../src/serve/repos/index.ts';
import type { FetchContext, FetchResult, PlannedArtifact } from '../src/bundle/types.ts';
import { aptConfigArgs, aptErrors, aptSourceFiles, debSpec, fetchDebs, parsePrintUris } from '../src/bundle/fetch/apt.ts';
import { compareEvr, fetchRpms, parsePrimaryXml, parseRepomd, parseRichDep, resolveClosure, rpmvercmp, type RepoPackage } from '../src/bundle/fetch/dnf.ts';
import { fetchGoModules, goModuleUrls } from '../src/bundle/fetch/goproxy.ts';
import { cachedDigest } from '../src/bundle/fetch/cache.ts';
import { chartUrl, fetchCharts, findChart, parseHelmIndex } from '../src/bundle/fetch/helm.ts';
import { binaryWheelScore, canonicalVersion, fetchPython, parseProjectHtml, parseProjectJson, parseWheelName, sdistVersion, selectFiles, type IndexFile } from '../src/bundle/fetch/pypi.ts';
import { makeTar, makeZip, startTestServer } from './repo-server.ts';
import { available } from './tools.ts';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function ctxOf(store: Store, workDir: string, sources: Record<string, unknown>, dryRun = false): FetchContext {
  return { store, sources: BundleSources.parse(sources), workDir, concurrency: 4, dryRun };
}

/** Every blob in a store (sha256 hex names). */
function blobsIn(store: Store): string[] {
  const d = path.join(store.root, 'blobs', 'sha256');
  return fs.existsSync(d) ? fs.readdirSync(d) : [];
}

const digestsOf = (r: FetchResult) => r.artifacts.flatMap((a) => a.blobs.map((b) => b.digest)).sort();

describe('pure helpers', () => {
  test('parsePrintUris: URL, archive name, size, SHA256; epoch "%3a" decoded in the version', () => {
    const out = [
      "'http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb' hello_2.10-3_amd64.deb 53080 SHA256:2e6e2f1a0007dc43bc91c273fd36e91e40a4f1c2765a03eca68b70a42103878a",
      "'http://deb.debian.org/debian-security/pool/updates/main/b/bind9/dnsutils_9.18.49-1%7edeb12u3_all.deb' dnsutils_1%3a9.18.49-1~deb12u3_all.deb 14224 SHA256:264639279438F4BCB7E946AA66306970CCE82E03D22D4A8935F783D2251C1C92",
      "'http://x/pool/m/md5only_1_amd64.deb' md5only_1_amd64.deb 10 MD5Sum:8e7e741807b1e1939df8f58323affdcb",
      'Reading package lists...',
    ].join('\n');
    const u = parsePrintUris(out);
    assert.equal(u.length, 3);
    assert.deepEqual(u[0], {
      url: 'http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb',
      filename: 'hello_2.10-3_amd64.deb',
      size: 53080,
      digest: 'sha256:2e6e2f1a0007dc43bc91c273fd36e91e40a4f1c2765a03eca68b70a42103878a',
      package: 'hello',
      version: '2.10-3',
      arch: 'amd64',
      poolFilename: 'hello_2.10-3_amd64.deb',
    });
    assert.equal(u[1]!.version, '1:9.18.49-1~deb12u3');
    assert.equal(u[1]!.poolFilename, 'dnsutils_9.18.49-1~deb12u3_all.deb');
    assert.equal(u[1]!.digest, 'sha256:264639279438f4bcb7e946aa66306970cce82e03d22d4a8935f783d2251c1c92');
    assert.equal(u[2]!.digest, undefined);
  });

  test('apt: error lines, sources files, specs', () => {
    assert.equal(aptErrors('W: something\nE: Unable to locate package kubelet\n'), 'E: Unable to locate package kubelet');
    const f = aptSourceFiles(['deb http://m/debian bookworm main', 'Types: deb\nURIs: http://m/debian\nSuites: bookworm\nComponents: main\n', '# c\ndeb http://m/sec bookworm-security main']);
    assert.equal(f.list, 'deb http://m/debian bookworm main\ndeb http://m/sec bookworm-security main\n');
    assert.match(f.sources, /^Types: deb\nURIs: http:\/\/m\/debian\n/);
    assert.deepEqual(debSpec({ kind: 'deb', name: 'hello=2.10-3', reason: 'x' }), { name: 'hello', spec: 'hello=2.10-3', version: '2.10-3' });
    assert.deepEqual(debSpec({ kind: 'deb', name: 'hello', reason: 'x' }), { name: 'hello', spec: 'hello' });
    const args = aptConfigArgs('/w', true);
    assert.ok(args.includes('Dir::State::status=/w/apt/status') && args.includes('Dir::Etc::SourceParts=/w/apt/etc/sources.list.d'));
    assert.ok(!aptConfigArgs('/w', false).some((a) => a.startsWith('Dir::Etc::')));
  });

  test('PEP 691 JSON and PEP 503 HTML project pages', () => {
    const json = JSON.stringify({
      meta: { 'api-version': '1.1' },
      name: 'my-pkg',
      files: [
        { filename: 'my_pkg-1.0-py3-none-any.whl', url: '../../packages/my-pkg/my_pkg-1.0-py3-none-any.whl', hashes: { sha256: 'A'.repeat(64) }, 'requires-python': '>=3.8', size: 12 },
        { filename: 'my_pkg-1.0.tar.gz', url: 'https://files.example/x/my_pkg-1.0.tar.gz#sha256=' + 'b'.repeat(64), hashes: {} },
      ],
    });
    const j = parseProjectJson(json, 'http://h/pypi/simple/my-pkg/');
    assert.deepEqual(j[0], { filename: 'my_pkg-1.0-py3-none-any.whl', url: 'http://h/pypi/packages/my-pkg/my_pkg-1.0-py3-none-any.whl', sha256: 'a'.repeat(64), size: 12, requiresPython: '>=3.8' });
    assert.deepEqual(j[1], { filename: 'my_pkg-1.0.tar.gz', url: 'https://files.example/x/my_pkg-1.0.tar.gz', sha256: 'b'.repeat(64) });
    const html = `<!DOCTYPE html><html><body>
      <a href="../../packages/my-pkg/my_pkg-1.0-py3-none-any.whl#sha256=${'c'.repeat(64)}" data-requires-python="&gt;=3.8">my_pkg-1.0-py3-none-any.whl</a><br>
      <a data-yanked="" href='/p/my_pkg-1.0.tar.gz'>my_pkg-1.0.tar.gz</a>
    </body></html>`;
    const h = parseProjectHtml(html, 'http://h/pypi/simple/my-pkg/');
    assert.deepEqual(h[0], { filename: 'my_pkg-1.0-py3-none-any.whl', url: 'http://h/pypi/packages/my-pkg/my_pkg-1.0-py3-none-any.whl', sha256: 'c'.repeat(64), requiresPython: '>=3.8' });
    assert.deepEqual(h[1], { filename: 'my_pkg-1.0.tar.gz', url: 'http://h/p/my_pkg-1.0.tar.gz' });
  });

  test('Python file choice: pure wheel, else CPython 3.11 manylinux x86_64, else sdist', () => {
    const f = (filename: string): IndexFile => ({ filename, url: `http://h/${filename}` });
    assert.deepEqual(parseWheelName('numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')?.platforms, ['manylinux_2_17_x86_64', 'manylinux2014_x86_64']);
    assert.equal(sdistVersion('python-dateutil-2.8.2.tar.gz', 'python-dateutil'), '2.8.2');
    assert.equal(sdistVersion('my_pkg-1.0.zip', 'my-pkg'), '1.0');
    assert.equal(canonicalVersion('1.0.0'), canonicalVersion('1.0'));
    assert.equal(canonicalVersion('2.0.0-RC1'), canonicalVersion('2rc1'));
    assert.notEqual(canonicalVersion('1.0.1'), canonicalVersion('1.0'));
    const numpy = [
      f('numpy-1.26.4.tar.gz'),
      f('numpy-1.26.4-cp311-cp311-win_amd64.whl'),
      f('numpy-1.26.4-cp311-cp311-musllinux_1_1_x86_64.whl'),
      f('numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'),
      f('numpy-1.26.4-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl'),
      f('numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'),
      f('numpy-1.26.4-cp39-abi3-manylinux_2_28_x86_64.whl'),
      f('numpy-1.26.4-cp311-cp311-manylinux_2_39_x86_64.whl'),
      f('numpy-1.25.0-py3-none-any.whl'),
    ];
    assert.deepEqual(selectFiles(numpy, 'numpy', '1.26.4'), [numpy[5]]);
    assert.deepEqual(selectFiles(numpy, 'NumPy', '1.25'), [numpy[8]]);
    assert.deepEqual(selectFiles(numpy.slice(0, 5), 'numpy', '1.26.4'), [numpy[0]]);
    assert.match(String(selectFiles(numpy.slice(1, 3), 'numpy', '1.26.4')), /no file of version 1.26.4 fits/);
    assert.match(String(selectFiles(numpy, 'numpy', '9.9')), /no files for version 9.9 \(the index has .*1.26.4/);
    assert.ok(binaryWheelScore(parseWheelName('x-1-cp311-cp311-manylinux_2_17_x86_64.whl')!)! > binaryWheelScore(parseWheelName('x-1-cp38-abi3-manylinux_2_28_x86_64.whl')!)!);
    assert.equal(binaryWheelScore(parseWheelName('x-1-cp312-abi3-manylinux_2_17_x86_64.whl')!), undefined);
    assert.deepEqual(selectFiles([f('six-1.16.0-py2.py3-none-any.whl'), f('six-1.16.0.tar.gz')], 'six', '1.16.0'), [f('six-1.16.0-py2.py3-none-any.whl')]);
  });

  test('Helm index: entries, versions with or without "v", relative and absolute URLs', () => {
    const idx = parseHelmIndex(`apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: 1.2.3\n    digest: ${'D'.repeat(64)}\n    urls: [charts/demo-1.2.3.tgz]\n  - name: demo\n    version: v2.0.0\n    urls: [https://cdn.example/demo-2.0.0.tgz]\n`);
    const e = findChart(idx, 'demo', '1.2.3');
    assert.deepEqual(e, { name: 'demo', version: '1.2.3', urls: ['charts/demo-1.2.3.tgz'], digest: 'd'.repeat(64) });
    assert.equal((findChart(idx, 'demo', '2.0.0') as { version: string }).version, 'v2.0.0');
    assert.match(String(findChart(idx, 'demo', '3.0.0')), /has no version 3.0.0 \(the repository has 1.2.3, v2.0.0\)/);
    assert.match(String(findChart(idx, 'other', '1.0.0')), /no chart "other"/);
    assert.equal(chartUrl('http://h/helm', 'charts/demo-1.2.3.tgz'), 'http://h/helm/charts/demo-1.2.3.tgz');
    assert.equal(chartUrl('http://h/helm/', 'https://cdn.example/demo.tgz'), 'https://cdn.example/demo.tgz');
  });

  test('GOPROXY URLs are case-encoded', () => {
    assert.deepEqual(goModuleUrls('https://proxy.golang.org/', 'github.com/Azure/go-autorest', 'v1.0.0-RC1'), {
      info: 'https://proxy.golang.org/github.com/!azure/go-autorest/@v/v1.0.0-!r!c1.info',
      mod: 'https://proxy.golang.org/github.com/!azure/go-autorest/@v/v1.0.0-!r!c1.mod',
      zip: 'https://proxy.golang.org/github.com/!azure/go-autorest/@v/v1.0.0-!r!c1.zip',
    });
  });

  test('rpm version order and rich dependencies', () => {
    const cases: [string, string, number][] = [
      ['1.0', '1.0', 0], ['1.0', '1.1', -1], ['1.10', '1.9', 1], ['1.0a', '1.0', 1], ['1.0~rc1', '1.0', -1],
      ['1.0^git1', '1.0', 1], ['1.0^git1', '1.0.1', -1], ['2.0.01', '2.0.1', 0], ['a', '1', -1], ['1.0.el9', '1.0.el9_2', -1],
    ];
    for (const [a, b, r] of cases) {
      assert.equal(rpmvercmp(a, b), r, `${a} vs ${b}`);
      assert.equal(rpmvercmp(b, a), -r || 0, `${b} vs ${a}`);
    }
    if (available('rpm')) {
      // Agrees with rpm's own rpm.vercmp on a few hundred generated pairs.
      const parts = ['1', '01', '2', '10', 'a', 'b', 'rc1', '~', '^', '.', '_', '+', 'el9', '~rc', '^git'];
      let seed = 7;
      const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
      const gen = () => Array.from({ length: 1 + rnd(5) }, () => parts[rnd(parts.length)]).join('').replace(/^[~^._+]+/, '') || '0';
      const pairs = Array.from({ length: 300 }, () => [gen(), gen()] as const);
      const lua = pairs.map(([a, b]) => `print(rpm.vercmp('${a}', '${b}') .. ' ')`).join(' ');
      const theirs = execFileSync('rpm', ['--eval', `%{lua: ${lua}}`], { encoding: 'utf8' }).trim().split(' ').map(Number);
      pairs.forEach(([a, b], i) => assert.equal(rpmvercmp(a, b), theirs[i], `${a} vs ${b}`));
    }
    assert.equal(compareEvr({ epoch: '1', ver: '0.1' }, { ver: '9' }), 1);
    assert.equal(compareEvr({ ver: '1.0', rel: '3' }, { ver: '1.0' }), 0);
    assert.deepEqual(parseRichDep('(foo >= 1.2-3 or (bar with baz))'), {
      op: 'or',
      parts: [{ dep: { name: 'foo', flags: 'GE', epoch: '0', ver: '1.2', rel: '3' } }, { op: 'with', parts: [{ dep: { name: 'bar' } }, { dep: { name: 'baz' } }] }],
    });
    assert.equal(parseRichDep('(a or b and c)'), undefined);
    assert.equal(parseRichDep('plain'), undefined);
  });

  test('repodata parsing and the closure of requires over provides', () => {
    const repomd = '<repomd><data type="other"><location href="repodata/o.xml.gz"/></data><data type="primary"><checksum type="sha256">AB</checksum><location href="repodata/p-primary.xml.zst"/></data></repomd>';
    assert.deepEqual(parseRepomd(repomd), { href: 'repodata/p-primary.xml.zst', checksumType: 'sha256', checksum: 'ab' });
    const xml = `<?xml version="1.0"?><metadata packages="1"><package type="rpm">
  <name>a&amp;b</name><arch>x86_64</arch><version epoch="1" ver="2.0" rel="3.el9"/>
  <checksum type="sha256" pkgid="YES">${'e'.repeat(64)}</checksum><size package="123" installed="1" archive="2"/>
  <location xml:base="http://mirror/x/" href="Packages/a/a-2.0-3.el9.x86_64.rpm"/>
  <format><rpm:provides><rpm:entry name="a&amp;b" flags="EQ" epoch="1" ver="2.0" rel="3.el9"/><rpm:entry name="libfoo.so.1()(64bit)"/></rpm:provides>
  <rpm:requires><rpm:entry name="rpmlib(CompressedFileNames)" flags="LE" epoch="0" ver="3.0.4" rel="1" pre="1"/><rpm:entry name="/bin/sh"/></rpm:requires>
  <file>/usr/bin/a</file></format></package></metadata>`;
    const [p] = parsePrimaryXml(xml);
    assert.equal(p!.name, 'a&b');
    assert.deepEqual([p!.epoch, p!.version, p!.release, p!.size, p!.xmlBase, p!.href], ['1', '2.0', '3.el9', 123, 'http://mirror/x/', 'Packages/a/a-2.0-3.el9.x86_64.rpm']);
    assert.deepEqual(p!.requires.map((r) => r.name), ['rpmlib(CompressedFileNames)', '/bin/sh']);
    assert.deepEqual(p!.files, ['/usr/bin/a']);

    const pkg = (name: string, version: string, requires: RepoPackage['requires'] = [], provides: RepoPackage['provides'] = [], arch = 'x86_64', files: string[] = []): RepoPackage => ({
      name, arch, epoch: '0', version, release: '1', href: `Packages/${name}-${version}.rpm`, checksumType: 'sha256', checksum: '0'.repeat(64), size: 1, provides, requires, files,
    });
    const all = [
      pkg('app', '1.0', [{ name: 'libx', flags: 'GE', epoch: '0', ver: '2' }, { name: '/bin/sh' }, { name: '/usr/lib/nowhere' }, { name: '(tool or other)' }, { name: 'ghost' }]),
      pkg('libx', '1.5'),
      pkg('libx', '2.1'),
      pkg('libx', '3.0', [], [], 'i686'),
      pkg('bash', '5.1', [], [], 'x86_64', ['/bin/sh']),
      pkg('tool', '1', [{ name: 'libx' }]),
      pkg('solo', '1', [], [{ name: 'virtual-thing' }], 'noarch'),
    ];
    const c = resolveClosure(all, [{ name: 'app' }, { name: 'virtual-thing' }, { name: 'libx', version: '1.5' }, { name: 'nosuch' }]);
    const keys = c.packages.map((q) => `${q.name}-${q.version}.${q.arch}`).sort();
    assert.deepEqual(keys, ['app-1.0.x86_64', 'bash-5.1.x86_64', 'libx-1.5.x86_64', 'libx-2.1.x86_64', 'solo-1.noarch', 'tool-1.x86_64']);
    assert.deepEqual(c.missing.map((m) => m.name).sort(), ['ghost', 'nosuch']);
    assert.match(c.missing.find((m) => m.name === 'ghost')!.reason, /unresolved dependency "ghost" of app/);
    assert.deepEqual([...c.warnings.values()], [['/usr/lib/nowhere']]);
    assert.deepEqual(c.requiredBy.get('libx-0:2.1-1.x86_64'), ['app']);
    assert.deepEqual(c.requiredBy.get('solo-0:1-1.noarch'), ['virtual-thing']);
  });
});

function wheelBytes(dist: string, version: string, tag = 'py3-none-any', requiresPython?: string): Buffer {
  const di = `${dist}-${version}.dist-info`;
  return makeZip([
    { name: `${dist}/__init__.py`, data: `VERSION = "${version}"\n` },
    { name: `${di}/METADATA`, data: `Metadata-Version: 2.1\nName: ${dist}\nVersion: ${version}\n${requiresPython ? `Requires-Python: ${requiresPython}\n` : ''}\n` },
    { name: `${di}/WHEEL`, data: `Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: ${tag}\n` },
  ]);
}

describe('fetching from our own repos on 127.0.0.1', () => {
  let tmp: string;
  let up: Store;
  let server: { url: string; close(): Promise<void> };
  /** What the upstream has, by file name: its sha256 digest. */
  const src = new Map<string, string>();
  const fresh = async (name: string) => openStore(path.join(tmp, name));

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-fetchpkg-'));
    up = await openStore(path.join(tmp, 'upstream'));
    const put = async (file: string, data: Buffer) => {
      fs.writeFileSync(path.join(tmp, file), data);
      src.set(file, sha256(data));
      return path.join(tmp, file);
    };
    // Python: a pure wheel + sdist, a binary-only project, an sdist-only project.
    await importPython(up, await put('my_pkg-1.0-py3-none-any.whl', wheelBytes('my_pkg', '1.0', 'py3-none-any', '>=3.8')));
    await importPython(up, await put('my_pkg-1.0.tar.gz', gzipSync(makeTar([{ name: 'my_pkg-1.0/PKG-INFO', data: 'Metadata-Version: 2.1\nName: my_pkg\nVersion: 1.0\n' }]))));
    await importPython(up, await put('binpkg-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', wheelBytes('binpkg', '2.0', 'cp311-cp311-manylinux_2_17_x86_64')));
    await importPython(up, await put('binpkg-2.0-cp311-cp311-win_amd64.whl', wheelBytes('binpkg', '2.0', 'cp311-cp311-win_amd64')));
    await importPython(up, await put('onlysdist-0.1.tar.gz', gzipSync(makeTar([{ name: 'onlysdist-0.1/PKG-INFO', data: 'Metadata-Version: 2.1\nName: onlysdist\nVersion: 0.1\n' }]))));
    // Helm.
    for (const v of ['1.2.3', '1.3.0']) {
      await importChart(up, await put(`demo-${v}.tgz`, gzipSync(makeTar([{ name: 'demo/Chart.yaml', data: `apiVersion: v2\nname: demo\nversion: ${v}\n` }, { name: 'demo/values.yaml', data: `v: "${v}"\n` }]))));
    }
    // Go: an upper-case module path, and a removed version.
    const mod = 'example.com/Upper/mod';
    const zip = makeZip([{ name: `${mod}@v1.0.0/go.mod`, data: `module ${mod}\n\ngo 1.19\n` }, { name: `${mod}@v1.0.0/mod.go`, data: 'package mod\n' }]);
    src.set('mod.zip', sha256(zip));
    src.set('mod.mod', sha256(`module ${mod}\n\ngo 1.19\n`));
    await importGoModule(up, { module: mod, version: 'v1.0.0', zip, info: { Time: '2024-01-02T03:04:05Z' } });
    const legacyZip = makeZip([{ name: 'example.com/legacy@v0.9.1/l.go', data: 'package legacy\n' }]);
    await importGoModule(up, { module: 'example.com/legacy', version: 'v0.9.1', zip: legacyZip });
    await removeGoModuleVersion(up, 'example.com/legacy', 'v0.9.1');

    // The same PyPI, but answering only HTML (PEP 503), as an index without PEP 691 would.
    const html = pypiHandler('/pypihtml/');
    const htmlOnly: RepoHandler = { prefix: html.prefix, handle: (req, res, ctx) => ((req.headers.accept = 'text/html'), html.handle(req, res, ctx)) };
    server = await startTestServer(up, [pypiHandler(), htmlOnly, helmHandler(), goProxyHandler(), yumHandler()]);
  });

  after(async () => {
    await server?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const pyItems: PlannedArtifact[] = [
    { kind: 'python', name: 'My_Pkg', version: '1.0', reason: 't' },
    { kind: 'python', name: 'binpkg', version: '2.0', reason: 't' },
    { kind: 'python', name: 'onlysdist', version: '0.1', reason: 't' },
    { kind: 'python', name: 'my-pkg', version: '9.9', reason: 't' },
    { kind: 'python', name: 'nosuch', version: '1.0', reason: 't' },
    { kind: 'chart', name: 'ignored', reason: 'another kind' },
  ];

  for (const flavour of ['pypi', 'pypihtml'] as const) {
    test(`Python over ${flavour === 'pypi' ? 'PEP 691 JSON' : 'PEP 503 HTML'}: chosen files, same bytes, re-run downloads nothing, Missing`, async () => {
      const store = await fresh(`py-${flavour}`);
      const ctx = ctxOf(store, path.join(tmp, 'work'), { pypi: `${server.url}/${flavour}/simple/` });
      const r = await fetchPython(ctx, pyItems);
      assert.deepEqual(
        r.artifacts.map((a) => [a.name, a.version, a.blobs[0]!.role, a.meta.filename, a.meta.requiresPython]),
        [
          ['My_Pkg', '1.0', 'wheel', 'my_pkg-1.0-py3-none-any.whl', '>=3.8'],
          ['binpkg', '2.0', 'wheel', 'binpkg-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', undefined],
          ['onlysdist', '0.1', 'sdist', 'onlysdist-0.1.tar.gz', undefined],
        ],
      );
      for (const a of r.artifacts) {
        assert.equal(a.blobs[0]!.digest, src.get(a.meta.filename!), a.meta.filename);
        assert.ok(await store.has(a.blobs[0]!.digest));
      }
      assert.deepEqual(r.missing.map((m) => m.name), ['my-pkg', 'nosuch']);
      assert.match(r.missing[0]!.reason, /no files for version 9.9 \(the index has 1.0\)/);
      assert.match(r.missing[1]!.reason, /has no project "nosuch"/);
      assert.equal(r.downloadedBytes, r.artifacts.reduce((n, a) => n + a.blobs[0]!.size, 0));
      const again = await fetchPython(ctx, pyItems);
      assert.equal(again.downloadedBytes, 0);
      assert.equal(again.skippedBytes, r.downloadedBytes);
      assert.deepEqual(digestsOf(again), digestsOf(r));
    });
  }

  test('Python dryRun: lists files with digests and sizes, stores nothing', async () => {
    const store = await fresh('py-dry');
    const r = await fetchPython(ctxOf(store, path.join(tmp, 'work'), { pypi: `${server.url}/pypi/simple/` }, true), pyItems);
    assert.equal(r.artifacts.length, 3);
    for (const a of r.artifacts) {
      assert.equal(a.blobs[0]!.digest, src.get(a.meta.filename!));
      assert.ok(a.blobs[0]!.size > 0);
    }
    assert.equal(r.downloadedBytes, 0);
    assert.deepEqual(blobsIn(store), []);
  });

  test('Helm: the chart by repo name and version, digest-checked; Missing for unknown repo/chart/version', async () => {
    const store = await fresh('helm');
    const ctx = ctxOf(store, path.join(tmp, 'work'), { helm: [{ name: 'up', url: `${server.url}/helm` }] });
    const items: PlannedArtifact[] = [
      { kind: 'chart', repo: 'up', name: 'demo', version: '1.2.3', reason: 't' },
      { kind: 'chart', repo: 'up', name: 'demo', version: '9.9.9', reason: 't' },
      { kind: 'chart', repo: 'up', name: 'ghost', version: '1.0.0', reason: 't' },
      { kind: 'chart', repo: 'nope', name: 'demo', version: '1.2.3', reason: 't' },
    ];
    const r = await fetchCharts(ctx, items);
    assert.deepEqual(r.artifacts.map((a) => [a.name, a.version, a.blobs[0]!.role, a.meta.filename]), [['demo', '1.2.3', 'chart', 'demo-1.2.3.tgz']]);
    assert.equal(r.artifacts[0]!.blobs[0]!.digest, src.get('demo-1.2.3.tgz'));
    assert.deepEqual(r.missing.map((m) => m.reason.replace(server.url, 'URL')), [
      'chart "demo" has no version 9.9.9 (the repository has 1.3.0, 1.2.3) at URL/helm',
      'no chart "ghost" in the repository at URL/helm',
      'no Helm repository named "nope" in bundle.sources.helm',
    ]);
    const again = await fetchCharts(ctx, items);
    assert.equal(again.downloadedBytes, 0);
    assert.ok(again.skippedBytes > 0);
    const dry = await fresh('helm-dry');
    const d = await fetchCharts(ctxOf(dry, path.join(tmp, 'work'), { helm: [{ name: 'up', url: `${server.url}/helm/` }] }, true), items.slice(0, 1));
    assert.equal(d.artifacts[0]!.blobs[0]!.digest, src.get('demo-1.2.3.tgz'));
    assert.deepEqual(blobsIn(dry), []);
  });

  test('Go modules: .info/.mod/.zip with case-encoding; 404 and 410 → Missing; re-run from the URL cache', async () => {
    const store = await fresh('go');
    const ctx = ctxOf(store, path.join(tmp, 'work'), { goproxy: `${server.url}/go` });
    const items: PlannedArtifact[] = [
      { kind: 'gomod', name: 'example.com/Upper/mod', version: 'v1.0.0', reason: 't' },
      { kind: 'gomod', name: 'example.com/legacy', version: 'v0.9.1', reason: 't' },
      { kind: 'gomod', name: 'example.com/nothing', version: 'v1.0.0', reason: 't' },
    ];
    const r = await fetchGoModules(ctx, items);
    assert.equal(r.artifacts.length, 1);
    const a = r.artifacts[0]!;
    assert.deepEqual(a.meta, { module: 'example.com/Upper/mod', version: 'v1.0.0' });
    assert.deepEqual(a.blobs.map((b) => b.role), ['info', 'mod', 'zip']);
    assert.equal(a.blobs[1]!.digest, src.get('mod.mod'));
    assert.equal(a.blobs[2]!.digest, src.get('mod.zip'));
    const info = JSON.parse(fs.readFileSync(store.blobPath(a.blobs[0]!.digest), 'utf8')) as { Version: string };
    assert.equal(info.Version, 'v1.0.0');
    assert.deepEqual(r.missing.map((m) => [m.name, /\(410 Gone\)$/.test(m.reason), /\(404\)$/.test(m.reason)]), [['example.com/legacy', true, false], ['example.com/nothing', false, true]]);
    assert.ok(await cachedDigest(ctx, goModuleUrls(`${server.url}/go`, 'example.com/Upper/mod', 'v1.0.0').zip));
    const again = await fetchGoModules(ctx, items);
    assert.equal(again.downloadedBytes, 0);
    assert.equal(again.skippedBytes, r.downloadedBytes);
    assert.deepEqual(digestsOf(again), digestsOf(r));
    const dry = await fresh('go-dry');
    const d = await fetchGoModules(ctxOf(dry, path.join(tmp, 'work'), { goproxy: `${server.url}/go/` }, true), items);
    assert.equal(d.artifacts.length, 1);
    assert.equal(d.artifacts[0]!.blobs[0]!.digest, a.blobs[0]!.digest);
    assert.equal(d.artifacts[0]!.blobs[2]!.size, a.blobs[2]!.size);
    assert.equal(d.missing.length, 2);
    assert.deepEqual(blobsIn(dry), []);
  });

  const rpmSkip = available('rpmbuild') && available('gpg') ? false : 'needs rpmbuild (Debian package "rpm") and gpg';
  test('RPMs: the closure from our YUM repo (A requires B), checksums verified, Missing for the unresolvable', { skip: rpmSkip }, async () => {
    const spec = (name: string, extra: string) => `Name: ${name}\nVersion: 1.0\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\nAutoReq: no\n${extra}\n%description\nt\n%install\nmkdir -p %{buildroot}/usr/share/${name}\necho ${name} > %{buildroot}/usr/share/${name}/f\n%files\n/usr/share/${name}/f\n`;
    const build = (name: string, extra = '') => {
      fs.writeFileSync(path.join(tmp, `${name}.spec`), spec(name, extra));
      execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${path.join(tmp, 'rpmtop')}`, '--define', '_build_id_links none', path.join(tmp, `${name}.spec`)], { stdio: 'ignore' });
      const out = path.join(tmp, 'rpmtop/RPMS/noarch', `${name}-1.0-1.noarch.rpm`);
      src.set(`${name}-1.0-1.noarch.rpm`, sha256(fs.readFileSync(out)));
      return out;
    };
    const rpms = [
      build('airlock-a', 'Requires: airlock-b >= 1.0\nRequires: /usr/bin/airlock-nowhere'),
      build('airlock-b', 'Provides: airlock-bee = 1.0'),
      build('airlock-c', 'Requires: airlock-ghost\nRequires: airlock-bee'),
    ];
    await importRpm(up, rpms, { repo: 'test' });
    const store = await fresh('rpm');
    const ctx = ctxOf(store, path.join(tmp, 'work'), { yum: [{ name: 'test', baseurl: `${server.url}/yum/test` }] });
    const r = await fetchRpms(ctx, [
      { kind: 'rpm', os: 'rocky9', name: 'airlock-a', reason: 't' },
      { kind: 'rpm', os: 'rocky9', name: 'airlock-c', reason: 't' },
      { kind: 'rpm', os: 'rocky9', name: 'no-such-rpm', reason: 't' },
    ]);
    const byName = new Map(r.artifacts.map((a) => [a.name, a]));
    assert.deepEqual([...byName.keys()].sort(), ['airlock-a', 'airlock-b', 'airlock-c']);
    for (const a of r.artifacts) {
      assert.equal(a.version, '1.0-1');
      assert.equal(a.blobs[0]!.role, 'rpm');
      assert.equal(a.blobs[0]!.digest, src.get(a.meta.filename!), a.meta.filename);
      assert.equal(sha256(fs.readFileSync(store.blobPath(a.blobs[0]!.digest))), a.blobs[0]!.digest);
      assert.equal(a.meta.os, 'rocky9');
    }
    assert.equal(byName.get('airlock-b')!.meta.requiredBy, 'airlock-a,airlock-c');
    assert.match(byName.get('airlock-a')!.meta.warnings ?? '', /\/usr\/bin\/airlock-nowhere/);
    assert.deepEqual(r.missing.map((m) => [m.name, m.reason]).sort(), [
      ['airlock-ghost', 'unresolved dependency "airlock-ghost" of airlock-c'],
      ['no-such-rpm', 'no package "no-such-rpm" in the repositories'],
    ]);
    const again = await fetchRpms(ctx, [{ kind: 'rpm', os: 'rocky9', name: 'airlock-a', reason: 't' }]);
    assert.equal(again.downloadedBytes, 0);
    assert.equal(again.artifacts.length, 2);
    const dry = await fresh('rpm-dry');
    const d = await fetchRpms(ctxOf(dry, path.join(tmp, 'work'), { yum: [{ name: 'test', baseurl: `${server.url}/yum/test/` }] }, true), [{ kind: 'rpm', os: 'rocky9', name: 'airlock-a', reason: 't' }]);
    assert.deepEqual(d.artifacts.map((a) => a.blobs[0]!.digest).sort(), [src.get('airlock-a-1.0-1.noarch.rpm'), src.get('airlock-b-1.0-1.noarch.rpm')].sort());
    assert.deepEqual(blobsIn(dry), []);
    const none = await fetchRpms(ctxOf(dry, path.join(tmp, 'work'), { yum: [{ name: 'gone', baseurl: `${server.url}/yum/nothing-here` }] }), [{ kind: 'rpm', os: 'rocky9', name: 'airlock-a', reason: 't' }]);
    assert.match(none.missing[0]!.reason, /YUM repository "gone" .* could not be read: no repodata\/repomd.xml \(404\)/);
  });
});

// The only test that leaves this machine: apt-get (and only apt-get) talks to the configured Debian mirror.
const aptSkip = available('apt-get') && available('dpkg-deb') ? false : 'needs apt-get and dpkg-deb (Debian)';
describe('APT: the closure of hello, resolved and downloaded by apt', { skip: aptSkip }, () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-fetchdeb-'));
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('hello + an unknown package: hello, libc6… fetched with apt\'s SHA256; the unknown one Missing; re-run and dryRun', async () => {
    const store = await openStore(path.join(tmp, 'store'));
    const work = path.join(tmp, 'work');
    const items: PlannedArtifact[] = [
      { kind: 'deb', os: 'debian12', name: 'hello', reason: 't' },
      { kind: 'deb', os: 'debian12', name: 'airlock-no-such-package', reason: 't' },
    ];
    const r = await fetchDebs(ctxOf(store, work, {}), items);
    assert.deepEqual(r.missing.map((m) => [m.name, m.reason]), [['airlock-no-such-package', 'E: Unable to locate package airlock-no-such-package']]);
    const names = r.artifacts.map((a) => a.name);
    assert.ok(names.includes('hello') && names.includes('libc6'), names.join(' '));
    const args = aptConfigArgs(work, false);
    for (const a of r.artifacts) {
      const blob = store.blobPath(a.blobs[0]!.digest);
      assert.equal(sha256(fs.readFileSync(blob)), a.blobs[0]!.digest);
      const fields = execFileSync('dpkg-deb', ['-f', blob, 'Package', 'Version'], { encoding: 'utf8' });
      assert.equal(fields, `Package: ${a.name}\nVersion: ${a.version}\n`);
      assert.equal(a.meta.os, 'debian12');
      assert.equal(a.meta.requiredBy, 'hello');
      assert.match(a.meta.filename!, new RegExp(`^${a.name.replace(/[+.]/g, '\\$&')}_.*_(amd64|all)\\.deb$`));
      // apt's own index says the same SHA256 for this exact version.
      const show = execFileSync('apt-cache', [...args, 'show', `${a.name}=${a.version}`], { encoding: 'utf8' });
      assert.equal(`sha256:${/^SHA256: ([0-9a-f]{64})$/m.exec(show)![1]}`, a.blobs[0]!.digest, a.name);
    }
    assert.equal(r.downloadedBytes, r.artifacts.reduce((n, a) => n + a.blobs[0]!.size, 0));
    assert.equal(fs.readdirSync(path.join(work, 'apt', 'debs')).length, 0);

    const again = await fetchDebs(ctxOf(store, work, {}), items.slice(0, 1));
    assert.equal(again.downloadedBytes, 0);
    assert.equal(again.skippedBytes, r.downloadedBytes);
    assert.deepEqual(digestsOf(again), digestsOf(r));

    const dry = await openStore(path.join(tmp, 'dry'));
    const d = await fetchDebs(ctxOf(dry, work, {}, true), [{ kind: 'deb', os: 'debian12', name: 'hello=2.10-3', reason: 't' }, { kind: 'deb', os: 'rocky9', name: 'x', reason: 't' }]);
    assert.deepEqual(d.artifacts.find((a) => a.name === 'hello')?.version, '2.10-3');
    assert.ok(d.artifacts.every((a) => a.blobs[0]!.digest.startsWith('sha256:') && a.blobs[0]!.size > 0));
    assert.match(d.missing[0]!.reason, /not rocky9/);
    assert.deepEqual(blobsIn(dry), []);
    helloDigest = r.artifacts.find((a) => a.name === 'hello')!.blobs[0]!.digest;
  });

  test('bundle.sources.aptBaseStatus: what the nodes already have (here: this machine\'s dpkg status) is left out', async () => {
    const store = await openStore(path.join(tmp, 'base'));
    const work = path.join(tmp, 'work-base');
    const full = await fetchDebs(ctxOf(store, path.join(tmp, 'work-full'), {}, true), [{ kind: 'deb', os: 'debian12', name: 'hello', reason: 't' }]);
    const based = await fetchDebs(ctxOf(store, work, { aptBaseStatus: '/var/lib/dpkg/status' }, true), [{ kind: 'deb', os: 'debian12', name: 'hello', reason: 't' }]);
    assert.deepEqual(based.missing, []);
    const names = based.artifacts.map((a) => a.name);
    assert.ok(names.includes('hello') || execFileSync('dpkg-query', ['-W', '-f', '${Status}', 'hello'], { encoding: 'utf8' }).includes('installed'));
    assert.ok(!names.includes('libc6'), `libc6 is installed here, so not in the closure: ${names.join(' ')}`);
    assert.ok(full.artifacts.some((a) => a.name === 'libc6'), 'but it is in the closure for an empty root');
    const missingBase = await fetchDebs(ctxOf(store, path.join(tmp, 'work-nobase'), { aptBaseStatus: path.join(tmp, 'no-such-status') }, true), [{ kind: 'deb', os: 'debian12', name: 'hello', reason: 't' }]);
    assert.match(missingBase.missing[0]?.reason ?? '', /aptBaseStatus .*ENOENT/);
  });

  let helloDigest = '';
  test('bundle.sources.apt (deb822) instead of the machine\'s sources: a private sources directory', async (t) => {
    // The machine's own mirror, written as an explicit source.
    const targets = execFileSync('apt-get', ['indextargets', '--format', '$(REPO_URI) $(RELEASE) $(COMPONENT)'], { encoding: 'utf8' });
    const line = targets.split('\n').find((l) => / bookworm main$/.test(l));
    if (!line) return t.skip('this machine has no "bookworm main" apt source');
    const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
    const entry = `Types: deb\nURIs: ${line.split(' ')[0]}\nSuites: bookworm\nComponents: main\n${fs.existsSync(keyring) ? `Signed-By: ${keyring}\n` : ''}`;
    const store = await openStore(path.join(tmp, 'custom'));
    const work = path.join(tmp, 'work-custom');
    const r = await fetchDebs(ctxOf(store, work, { apt: [entry] }, true), [{ kind: 'deb', os: 'debian12', name: 'hello', reason: 't' }]);
    assert.deepEqual(r.missing, []);
    assert.ok(fs.existsSync(path.join(work, 'apt/etc/sources.list.d/airlock.sources')));
    if (helloDigest) assert.equal(r.artifacts.find((a) => a.name === 'hello')?.blobs[0]!.digest, helloDigest);
    assert.deepEqual(blobsIn(store), []);
  });
});
