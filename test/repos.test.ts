// Repo kinds without external clients: golden outputs of every pure index generator, the archive
// readers, and the handlers over HTTP (strict paths, Range/ETag with curl, negotiation, redirects, 404/410).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { openStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';
import { HttpError } from '../src/serve/types.ts';
import {
  aptIndexes,
  chartMetadata,
  debPoolPath,
  escapePath,
  filelistsXml,
  goLatest,
  goVersionList,
  helmHandler,
  helmIndexYaml,
  importChart,
  importFile,
  importPython,
  negotiate,
  normalizeName,
  otherXml,
  packagesIndex,
  parseControl,
  parseRange,
  pathSegments,
  primaryXml,
  projectHtml,
  projectJson,
  pypiHandler,
  releaseFile,
  repoHandlers,
  repomdXml,
  rootHtml,
  rootJson,
  unescapePath,
  type AptPackage,
  type RpmInfo,
  type YumPackage,
} from '../src/serve/repos/index.ts';
import { inspectDist } from '../src/serve/repos/pypi.ts';
import { checkModulePath, isPseudoVersion } from '../src/serve/repos/goproxy.ts';
import { checkFileName } from '../src/serve/repos/files.ts';
import { readAr, readTar, zipEntries, zipRead } from '../src/serve/repos/archive.ts';
import { makeTar, makeZip, startTestServer } from './repo-server.ts';
import { available as has } from './tools.ts';

const status = (f: () => unknown): number | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof HttpError ? e.status : -1;
  }
};

describe('request paths', () => {
  test('segments are decoded after the prefix; a trailing slash gives a final ""', () => {
    assert.deepEqual(pathSegments('/apt/dists/stable/Release', '/apt/'), ['dists', 'stable', 'Release']);
    assert.deepEqual(pathSegments('/pypi/simple/my-pkg/?x=1', '/pypi/'), ['simple', 'my-pkg', '']);
    assert.deepEqual(pathSegments('/go/example.com/%21upper/@v/list', '/go/'), ['example.com', '!upper', '@v', 'list']);
  });
  test('dot segments, encoded separators, NUL, control characters and over-long paths are 4xx', () => {
    for (const p of ['/files/../etc/passwd', '/files/a/%2e%2e/b', '/files/%2E%2e', '/files/.', '/files/a%2fb', '/files/a%5cb', '/files/a%00b', '/files/a%0ab', '/files/a//b', '/files/%zz'])
      assert.equal(status(() => pathSegments(p, '/files/')), 400, p);
    assert.equal(status(() => pathSegments(`/files/${'a'.repeat(3000)}`, '/files/')), 414);
    assert.equal(status(() => pathSegments(`/files/${'a'.repeat(300)}`, '/files/')), 400);
    assert.equal(status(() => pathSegments('/other/x', '/files/')), 404);
  });
  test('byte ranges', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=95-200', 100), { start: 95, end: 99 });
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=5-1', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);
    assert.equal(parseRange(undefined, 100), undefined);
  });
});

describe('archives', () => {
  test('tar and zip round trips; ar magic checked', () => {
    const tar = readTar(makeTar([{ name: 'pkg/Chart.yaml', data: 'name: x\n' }, { name: 'pkg/big', data: Buffer.alloc(1000, 7) }]));
    assert.deepEqual(tar.map((e) => [e.name, e.type, e.data.length]), [['pkg/Chart.yaml', 'file', 8], ['pkg/big', 'file', 1000]]);
    const zip = makeZip([{ name: 'a/b.txt', data: 'hello' }]);
    const [e] = zipEntries(zip);
    assert.equal(zipRead(zip, e!).toString(), 'hello');
    assert.throws(() => readAr(Buffer.from('not an ar archive')), /ar archive/);
  });
});

describe('APT index generation (golden)', () => {
  const hello = parseControl('Package: hello\nVersion: 1:2.0-1\nArchitecture: amd64\nMaintainer: A <a@example.invalid>\nDepends: libc6 (>= 2.36)\nDescription: greets\n multi-line\n .\n end\n');
  const pkgs: AptPackage[] = [
    { component: 'main', control: hello, package: 'hello', version: '1:2.0-1', architecture: 'amd64', filename: 'pool/main/h/hello/hello_2.0-1_amd64.deb', size: 1234, md5: 'a'.repeat(32), sha1: 'b'.repeat(40), sha256: 'c'.repeat(64) },
    { component: 'main', control: parseControl('Package: docs\nVersion: 1.0\nArchitecture: all\nDescription: d\n'), package: 'docs', version: '1.0', architecture: 'all', filename: 'pool/main/d/docs/docs_1.0_all.deb', size: 10, md5: 'd'.repeat(32), sha1: 'e'.repeat(40), sha256: 'f'.repeat(64) },
  ];
  test('control parsing keeps order and continuation lines; pool paths drop the epoch', () => {
    assert.deepEqual(hello.map(([k]) => k), ['Package', 'Version', 'Architecture', 'Maintainer', 'Depends', 'Description']);
    assert.equal(hello[5]![1], 'greets\n multi-line\n .\n end');
    assert.equal(debPoolPath('main', hello), 'pool/main/h/hello/hello_2.0-1_amd64.deb');
    assert.equal(debPoolPath('contrib', parseControl('Package: libfoo1\nSource: libfoo (1.2-1)\nVersion: 1.2-1+b1\nArchitecture: arm64\n')), 'pool/contrib/libf/libfoo/libfoo1_1.2-1+b1_arm64.deb');
  });
  test('Packages', () => assert.equal(packagesIndex(pkgs), GOLDEN_PACKAGES));
  test('Release', () => {
    const files = [{ path: 'main/binary-amd64/Packages', data: Buffer.from('x\n') }, { path: 'main/binary-amd64/Packages.gz', data: Buffer.from('0123456789abc') }];
    assert.equal(releaseFile({ suite: 'stable', codename: 'bookworm', date: new Date(Date.UTC(2024, 10, 23, 13, 5, 0)), architectures: ['amd64', 'arm64'], components: ['main'], files }), GOLDEN_RELEASE);
  });
  test('arch "all" packages are in every binary-<arch> index', () => {
    const idx = aptIndexes({ suite: 's', codename: 's', architectures: ['arm64'], packages: pkgs });
    assert.deepEqual(idx.map((f) => f.path), ['main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz', 'main/binary-arm64/Packages', 'main/binary-arm64/Packages.gz']);
    assert.match(idx[2]!.data.toString(), /^Package: docs\n/);
    assert.doesNotMatch(idx[2]!.data.toString(), /Package: hello/);
  });
});

describe('YUM repodata generation (golden)', () => {
  const info: RpmInfo = {
    name: 'hello', epoch: 1, version: '2.0', release: '3.el9', arch: 'x86_64', summary: 'Say "hi" & <wave>', description: 'Line 1\nLine 2', packager: '',
    url: 'https://example.invalid/hello?a=1&b=2', buildTime: 1700000000, buildHost: 'build1', vendor: 'airlock', license: 'MIT', group: 'Unspecified',
    sourceRpm: 'hello-2.0-3.el9.src.rpm', installedSize: 4096, archiveSize: 4400, headerStart: 4504, headerEnd: 6000,
    provides: [{ name: 'hello', flags: 'EQ', epoch: '1', ver: '2.0', rel: '3.el9' }, { name: 'greeter' }],
    requires: [{ name: '/bin/sh', pre: true }, { name: 'libc.so.6()(64bit)' }, { name: 'glibc', flags: 'GE', epoch: '0', ver: '2.34' }],
    conflicts: [], obsoletes: [{ name: 'hi', flags: 'LT', epoch: '0', ver: '1.0' }], recommends: [], suggests: [], supplements: [], enhances: [],
    files: [{ path: '/etc/hello.conf' }, { path: '/usr/bin/hello' }, { path: '/usr/share/hello', type: 'dir' }, { path: '/usr/share/hello/README' }, { path: '/var/log/hello.log', type: 'ghost' }],
    changelogs: [{ author: 'B <b@example.invalid> - 2.0-3', date: 1700000000, text: '- newer' }, { author: 'A <a@example.invalid> - 1.0-1', date: 1600000000, text: '- older & first' }],
  };
  const pkgs: YumPackage[] = [{ info, location: 'Packages/h/hello-2.0-3.el9.x86_64.rpm', checksum: '9'.repeat(64), size: 5000, fileTime: 1700000100 }];
  test('primary.xml (only /etc, */bin/ files)', () => assert.equal(primaryXml(pkgs), GOLDEN_PRIMARY));
  test('filelists.xml (dirs and ghosts typed)', () => assert.equal(filelistsXml(pkgs), GOLDEN_FILELISTS));
  test('other.xml (changelogs oldest first)', () => assert.equal(otherXml(pkgs), GOLDEN_OTHER));
  test('repomd.xml', () =>
    assert.equal(repomdXml([{ type: 'primary', location: `repodata/${'1'.repeat(64)}-primary.xml.gz`, data: Buffer.from('abc'), checksum: '1'.repeat(64), openChecksum: '2'.repeat(64), openSize: 10 }], 1700000200), GOLDEN_REPOMD));
});

describe('PyPI simple pages (golden)', () => {
  const proj = {
    name: 'my-pkg',
    files: [
      { filename: 'my_pkg-1.10.tar.gz', version: '1.10', sha256: 'b'.repeat(64), size: 200, requiresPython: '>=3.8, <4', uploadTime: '2024-11-23T13:05:00Z' },
      { filename: 'my_pkg-1.9-py3-none-any.whl', version: '1.9', sha256: 'a'.repeat(64), size: 100, requiresPython: '>=3.8', metadataSha256: 'c'.repeat(64), uploadTime: '2024-11-22T13:05:00Z' },
    ],
  };
  test('PEP 503 HTML: sha256 fragment, escaped data-requires-python, PEP 714 + PEP 658 metadata attributes', () => assert.equal(projectHtml(proj), GOLDEN_HTML));
  test('PEP 691 JSON (api 1.1): core-metadata, never dist-info-metadata', () => {
    assert.equal(projectJson(proj), GOLDEN_JSON);
    assert.doesNotMatch(projectJson(proj), /dist-info-metadata/);
  });
  test('root index, both forms', () => {
    assert.equal(rootHtml(['zeta', 'my-pkg']), GOLDEN_ROOTHTML);
    assert.equal(rootJson(['zeta', 'my-pkg']), GOLDEN_ROOTJSON);
  });
  test('PEP 503 normalisation', () => {
    for (const n of ['My_Pkg', 'my.pkg', 'MY--PKG', 'my-_.pkg', 'my-pkg']) assert.equal(normalizeName(n), 'my-pkg');
  });
  test('PEP 691 content negotiation', () => {
    assert.equal(negotiate(undefined), 'html');
    assert.equal(negotiate('application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01'), 'json');
    assert.equal(negotiate('application/vnd.pypi.simple.latest+json'), 'json');
    assert.equal(negotiate('application/vnd.pypi.simple.v1+html'), 'v1html');
    assert.equal(negotiate('text/html'), 'html');
    assert.equal(negotiate('*/*'), 'html');
    assert.equal(negotiate('text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.4'), 'html');
    assert.equal(negotiate('application/vnd.pypi.simple.v2+json'), undefined);
    assert.equal(negotiate('application/json'), undefined);
  });
  test('wheel METADATA and sdist PKG-INFO are read', () => {
    const whl = makeZip([{ name: 'My_Pkg-1.0.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: My_Pkg\nVersion: 1.0\nRequires-Python: >=3.8\n\nbody\n' }]);
    const d = inspectDist('My_Pkg-1.0-py3-none-any.whl', whl);
    assert.deepEqual([d.name, d.version, d.requiresPython], ['My_Pkg', '1.0', '>=3.8']);
    assert.match(d.metadata!.toString(), /^Metadata-Version/);
    const sdist = gzipSync(makeTar([{ name: 'my_pkg-2.0/PKG-INFO', data: 'Metadata-Version: 2.1\nName: my-pkg\nVersion: 2.0\nRequires-Python: >=3.9\n' }]));
    const s = inspectDist('my_pkg-2.0.tar.gz', sdist);
    assert.deepEqual([s.name, s.version, s.requiresPython, s.metadata], ['my-pkg', '2.0', '>=3.9', undefined]);
    assert.throws(() => inspectDist('other-1.0-py3-none-any.whl', whl), /METADATA names/);
  });
});

/** The fields of Helm's repo.IndexFile / repo.ChartVersion (+ chart.Metadata), which Helm loads strictly. */
const HELM_TOP = ['apiVersion', 'entries', 'generated', 'publicKeys', 'annotations', 'serverInfo'];
const HELM_VERSION = ['urls', 'created', 'removed', 'digest', 'checksum', 'engine', 'tillerVersion', 'url', 'name', 'home', 'sources', 'version', 'description', 'keywords', 'maintainers', 'icon', 'apiVersion', 'condition', 'tags', 'appVersion', 'deprecated', 'annotations', 'kubeVersion', 'dependencies', 'type'];

describe('Helm index.yaml', () => {
  const entries = [
    { metadata: { apiVersion: 'v2', name: 'nginx', version: '0.10.0', appVersion: '1.16', description: 'web: server', keywords: ['web', 'yes'] }, digest: 'a'.repeat(64), created: '2024-11-23T13:05:00Z', url: 'charts/nginx-0.10.0.tgz' },
    { metadata: { apiVersion: 'v2', name: 'nginx', version: '0.9.0', appVersion: 'on' }, digest: 'b'.repeat(64), created: '2024-11-22T13:05:00Z', url: 'charts/nginx-0.9.0.tgz' },
    { metadata: { name: 'alpine', version: '1.0.0-rc.1', maintainers: [{ name: 'x', email: 'x@example.invalid' }] }, digest: 'c'.repeat(64), created: '2024-11-21T13:05:00Z', url: 'charts/alpine-1.0.0-rc.1.tgz' },
  ];
  test('golden (keys sorted as Helm writes them, YAML 1.1-safe quoting, newest version first)', () => assert.equal(helmIndexYaml(entries, '2024-11-23T13:06:00Z'), GOLDEN_HELM));
  test('structurally what Helm loads: apiVersion v1, entries name → [ChartVersion] with only known fields, urls list', () => {
    const idx = parseYaml(helmIndexYaml(entries, '2024-11-23T13:06:00Z'), { version: '1.1' }) as Record<string, unknown>;
    for (const k of Object.keys(idx)) assert.ok(HELM_TOP.includes(k), k);
    assert.equal(idx.apiVersion, 'v1');
    assert.equal(typeof idx.generated, 'string');
    const e = idx.entries as Record<string, Record<string, unknown>[]>;
    for (const [name, versions] of Object.entries(e)) {
      for (const v of versions) {
        for (const k of Object.keys(v)) assert.ok(HELM_VERSION.includes(k), `${name}: ${k}`);
        assert.equal(v.name, name);
        assert.ok(Array.isArray(v.urls) && v.urls.length === 1);
        assert.match(String(v.digest), /^[0-9a-f]{64}$/);
        assert.equal(typeof v.created, 'string');
        assert.equal(typeof v.appVersion === 'undefined' || typeof v.appVersion === 'string', true);
      }
    }
    assert.deepEqual(e.nginx!.map((v) => v.version), ['0.10.0', '0.9.0']);
  });
  test('Chart.yaml is read from the packaged chart; unknown fields dropped, bad charts refused', () => {
    const tgz = gzipSync(makeTar([{ name: 'demo/Chart.yaml', data: 'apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: 1.10\nnotAHelmField: x\n' }, { name: 'demo/values.yaml', data: '{}\n' }]));
    assert.deepEqual(chartMetadata(tgz), { name: 'demo', version: '1.2.3', apiVersion: 'v2', appVersion: '1.1' });
    assert.throws(() => chartMetadata(gzipSync(makeTar([{ name: 'demo/Chart.yaml', data: 'name: demo\nversion: latest\n' }]))), /SemVer/);
    assert.throws(() => chartMetadata(Buffer.from('nope')), /not a chart archive/);
  });
});

describe('Go module proxy helpers', () => {
  test('case encoding', () => {
    assert.equal(escapePath('github.com/Azure/azure-sdk'), 'github.com/!azure/azure-sdk');
    assert.equal(unescapePath('github.com/!azure/azure-sdk'), 'github.com/Azure/azure-sdk');
    assert.equal(unescapePath('github.com/Azure'), undefined);
    assert.equal(unescapePath('github.com/!1'), undefined);
    assert.equal(unescapePath('github.com/x!'), undefined);
  });
  test('@v/list (no pseudo-versions, semver order) and @latest (release before pre-release)', () => {
    const st = { module: 'example.com/Upper/mod', versions: { 'v1.10.0': { Time: 't1' }, 'v1.9.0': { Time: 't2' }, 'v2.0.0-rc.1': { Time: 't3' }, 'v1.11.0-0.20240101000000-abcdefabcdef': { Time: 't4' } }, gone: [] };
    assert.equal(goVersionList(st), 'v1.9.0\nv1.10.0\nv2.0.0-rc.1\n');
    assert.deepEqual(goLatest(st), { Version: 'v1.10.0', Time: 't1' });
    assert.deepEqual(goLatest({ module: 'm.x', versions: { 'v0.1.0-rc.1': { Time: 'a' }, 'v0.1.0-rc.2': { Time: 'b' } }, gone: [] }), { Version: 'v0.1.0-rc.2', Time: 'b' });
    assert.ok(isPseudoVersion('v0.0.0-20240101000000-abcdefabcdef'));
    assert.ok(!isPseudoVersion('v1.0.0-rc.1'));
  });
  test('module paths', () => {
    assert.equal(checkModulePath('example.com/Upper/mod'), undefined);
    assert.match(checkModulePath('nodot/x')!, /dot/);
    assert.match(checkModulePath('example.com/../x')!, /\.\./);
    assert.match(checkModulePath('Example.com/x')!, /lower-case/);
  });
});


function curl(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--noproxy', '*', '--max-time', '20', ...args], { encoding: 'latin1', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe('handlers over HTTP', () => {
  let tmp: string;
  let store: Store;
  let server: { url: string; close(): Promise<void> };
  const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-repos-'));
    store = await openStore(path.join(tmp, 'store'));
    fs.writeFileSync(path.join(tmp, 'tool.bin'), body);
    await importFile(store, path.join(tmp, 'tool.bin'), { name: 'tools/v1/tool.bin' });
    fs.writeFileSync(path.join(tmp, 'secret'), 'outside the store\n');
    const chart = path.join(tmp, 'demo-1.2.3.tgz');
    fs.writeFileSync(chart, gzipSync(makeTar([{ name: 'demo/Chart.yaml', data: 'apiVersion: v2\nname: demo\nversion: 1.2.3\n' }])));
    await importChart(store, chart, { now: new Date(Date.UTC(2024, 10, 23)) });
    const whl = path.join(tmp, 'my_pkg-1.0-py3-none-any.whl');
    fs.writeFileSync(whl, makeZip([{ name: 'my_pkg-1.0.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: My_Pkg\nVersion: 1.0\nRequires-Python: >=3.8\n' }]));
    await importPython(store, whl);
    server = await startTestServer(store, repoHandlers());
  });
  after(async () => {
    await server?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('file names are checked on import', async () => {
    for (const n of ['../x', '/abs', 'a//b', 'a/./b', 'sp ace', ''])
      await assert.rejects(importFile(store, path.join(tmp, 'tool.bin'), { name: n }), /file name/, n);
    assert.equal(checkFileName('tools/v1/tool.bin'), undefined);
  });

  const curlSkip = has('curl') ? false : 'needs curl';
  test('curl: whole file, HEAD, Range 206, suffix range, 416, If-None-Match 304', { skip: curlSkip }, async () => {
    const u = `${server.url}/files/tools/v1/tool.bin`;
    const whole = await curl(['-D', '-', '-o', path.join(tmp, 'whole'), u]);
    assert.match(whole.out, /^HTTP\/1\.1 200/);
    assert.deepEqual(fs.readFileSync(path.join(tmp, 'whole')), body);
    const etag = /^etag: (.*)\r$/im.exec(whole.out)![1]!;
    assert.match(etag, /^"sha256:[0-9a-f]{64}"$/);
    const head = await curl(['-I', u]);
    assert.match(head.out, /^HTTP\/1\.1 200/);
    assert.match(head.out, /content-length: 1000/i);
    assert.match(head.out, /accept-ranges: bytes/i);
    const part = await curl(['-D', path.join(tmp, 'h1'), '-o', path.join(tmp, 'p1'), '-r', '10-19', u]);
    assert.equal(part.code, 0);
    assert.match(fs.readFileSync(path.join(tmp, 'h1'), 'utf8'), /^HTTP\/1\.1 206[\s\S]*content-range: bytes 10-19\/1000/im);
    assert.deepEqual(fs.readFileSync(path.join(tmp, 'p1')), body.subarray(10, 20));
    await curl(['-o', path.join(tmp, 'p2'), '-r', '-5', u]);
    assert.deepEqual(fs.readFileSync(path.join(tmp, 'p2')), body.subarray(995));
    const bad = await curl(['-D', '-', '-o', '/dev/null', '-r', '1000-2000', u]);
    assert.match(bad.out, /^HTTP\/1\.1 416[\s\S]*content-range: bytes \*\/1000/im);
    const cond = await curl(['-D', '-', '-o', '/dev/null', '-H', `If-None-Match: ${etag}`, u]);
    assert.match(cond.out, /^HTTP\/1\.1 304/);
    // a resumed download (curl -C -) ends with the same bytes
    fs.writeFileSync(path.join(tmp, 'resume'), body.subarray(0, 400));
    const resumed = await curl(['-C', '-', '-o', path.join(tmp, 'resume'), u]);
    assert.equal(resumed.code, 0, resumed.out);
    assert.deepEqual(fs.readFileSync(path.join(tmp, 'resume')), body);
  });

  test('curl --path-as-is: traversal, encoded dots/slashes, NUL are 4xx and never reach outside the store', { skip: curlSkip }, async () => {
    for (const p of ['/files/../secret', '/files/%2e%2e/secret', '/files/tools/%2E%2E/%2e%2e/secret', '/files/tools%2fv1%2ftool.bin', '/files/tools/v1/tool.bin%00', '/apt/../../etc/passwd', '/pypi/packages/..%2f..%2fsecret', '/go/%2e%2e/@v/list', '/helm/charts/..%5c..%5csecret.tgz', `/yum/${'a'.repeat(3000)}`]) {
      const r = await curl(['--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', `${server.url}${p}`]);
      assert.match(r.out, /^4\d\d$/, `${p} → ${r.out}`);
    }
  });

  test('methods other than GET/HEAD are 405; unknown paths 404', async () => {
    const r = await fetch(`${server.url}/files/tools/v1/tool.bin`, { method: 'DELETE' });
    assert.equal(r.status, 405);
    assert.equal((await fetch(`${server.url}/files/nope`)).status, 404);
    assert.equal((await fetch(`${server.url}/apt/dists/none/InRelease`)).status, 404);
  });

  test('PyPI: negotiation by Accept (Vary), 406, redirects to the normalised name and to the trailing slash', async () => {
    const j = await fetch(`${server.url}/pypi/simple/my-pkg/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } });
    assert.equal(j.headers.get('content-type'), 'application/vnd.pypi.simple.v1+json');
    assert.equal(j.headers.get('vary'), 'Accept');
    const doc = (await j.json()) as { name: string; files: { url: string; hashes: { sha256: string }; 'core-metadata': { sha256: string } }[] };
    assert.equal(doc.name, 'my-pkg');
    const file = doc.files[0]!;
    const fileRes = await fetch(new URL(file.url, `${server.url}/pypi/simple/my-pkg/`));
    assert.equal(fileRes.status, 200);
    const meta = await fetch(new URL(`${file.url}.metadata`, `${server.url}/pypi/simple/my-pkg/`));
    assert.equal(meta.status, 200);
    const h = await fetch(`${server.url}/pypi/simple/my-pkg/`, { headers: { Accept: 'text/html' } });
    assert.match(h.headers.get('content-type')!, /^text\/html/);
    assert.match(await h.text(), /data-requires-python="&gt;=3\.8"/);
    const v1h = await fetch(`${server.url}/pypi/simple/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+html' } });
    assert.equal(v1h.headers.get('content-type'), 'application/vnd.pypi.simple.v1+html');
    assert.match(await v1h.text(), /<a href="my-pkg\/">my-pkg<\/a>/);
    assert.equal((await fetch(`${server.url}/pypi/simple/my-pkg/`, { headers: { Accept: 'application/xml' } })).status, 406);
    for (const [from, to] of [['/pypi/simple/My.Pkg/', '/pypi/simple/my-pkg/'], ['/pypi/simple/my-pkg', '/pypi/simple/my-pkg/'], ['/pypi/simple', '/pypi/simple/']]) {
      const r = await fetch(`${server.url}${from}`, { redirect: 'manual' });
      assert.equal(r.status, 301, from);
      assert.equal(r.headers.get('location'), to);
    }
    assert.equal((await fetch(`${server.url}/pypi/simple/unknown/`)).status, 404);
  });

  test('Helm: index.yaml served and the chart URL in it resolves against the repo URL', async () => {
    const idx = parseYaml(await (await fetch(`${server.url}/helm/index.yaml`)).text()) as { entries: Record<string, { urls: string[]; digest: string }[]> };
    const e = idx.entries.demo![0]!;
    const tgz = await fetch(new URL(e.urls[0]!, `${server.url}/helm/`));
    assert.equal(tgz.status, 200);
    assert.equal(tgz.headers.get('etag'), `"sha256:${e.digest}"`);
    assert.equal((await fetch(`${server.url}/helm/charts/nope-1.0.0.tgz`)).status, 404);
  });

  test('an empty Helm repo and an empty PyPI index still answer', async () => {
    const empty = await openStore(path.join(tmp, 'empty'));
    const s = await startTestServer(empty, [helmHandler(), pypiHandler()]);
    try {
      assert.match(await (await fetch(`${s.url}/helm/index.yaml`)).text(), /^apiVersion: v1\nentries: \{\}\n/);
      assert.deepEqual((await (await fetch(`${s.url}/pypi/simple/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json()), { meta: { 'api-version': '1.1' }, projects: [] });
    } finally {
      await s.close();
    }
  });
});

const GOLDEN_PACKAGES = `Package: docs
Version: 1.0
Architecture: all
Description: d
Filename: pool/main/d/docs/docs_1.0_all.deb
Size: 10
MD5sum: dddddddddddddddddddddddddddddddd
SHA1: eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
SHA256: ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff

Package: hello
Version: 1:2.0-1
Architecture: amd64
Maintainer: A <a@example.invalid>
Depends: libc6 (>= 2.36)
Description: greets
 multi-line
 .
 end
Filename: pool/main/h/hello/hello_2.0-1_amd64.deb
Size: 1234
MD5sum: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
SHA1: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
SHA256: cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
`;

const GOLDEN_RELEASE = `Origin: airlock
Label: airlock
Suite: stable
Codename: bookworm
Date: Sat, 23 Nov 2024 13:05:00 UTC
Architectures: amd64 arm64
Components: main
Description: airlock site mirror
Acquire-By-Hash: yes
MD5Sum:
 401b30e3b8b5d629635a5c613cdb7919  2 main/binary-amd64/Packages
 2d31d97199fb287d6fcb4f82ebd1b3f2 13 main/binary-amd64/Packages.gz
SHA256:
 73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac  2 main/binary-amd64/Packages
 8f740516939545e1bc545c869f535170a85004e1f3b92dc84c84bdb89b7d52ef 13 main/binary-amd64/Packages.gz
`;

const GOLDEN_PRIMARY = `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>hello</name>
  <arch>x86_64</arch>
  <version epoch="1" ver="2.0" rel="3.el9"/>
  <checksum type="sha256" pkgid="YES">9999999999999999999999999999999999999999999999999999999999999999</checksum>
  <summary>Say "hi" &amp; &lt;wave&gt;</summary>
  <description>Line 1
Line 2</description>
  <packager></packager>
  <url>https://example.invalid/hello?a=1&amp;b=2</url>
  <time file="1700000100" build="1700000000"/>
  <size package="5000" installed="4096" archive="4400"/>
  <location href="Packages/h/hello-2.0-3.el9.x86_64.rpm"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:vendor>airlock</rpm:vendor>
    <rpm:group>Unspecified</rpm:group>
    <rpm:buildhost>build1</rpm:buildhost>
    <rpm:sourcerpm>hello-2.0-3.el9.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="6000"/>
    <rpm:provides>
      <rpm:entry name="hello" flags="EQ" epoch="1" ver="2.0" rel="3.el9"/>
      <rpm:entry name="greeter"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="libc.so.6()(64bit)"/>
      <rpm:entry name="glibc" flags="GE" epoch="0" ver="2.34"/>
    </rpm:requires>
    <rpm:obsoletes>
      <rpm:entry name="hi" flags="LT" epoch="0" ver="1.0"/>
    </rpm:obsoletes>
    <file>/etc/hello.conf</file>
    <file>/usr/bin/hello</file>
  </format>
</package>
</metadata>
`;

const GOLDEN_FILELISTS = `<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="1">
<package pkgid="9999999999999999999999999999999999999999999999999999999999999999" name="hello" arch="x86_64">
  <version epoch="1" ver="2.0" rel="3.el9"/>
  <file>/etc/hello.conf</file>
  <file>/usr/bin/hello</file>
  <file type="dir">/usr/share/hello</file>
  <file>/usr/share/hello/README</file>
  <file type="ghost">/var/log/hello.log</file>
</package>
</filelists>
`;

const GOLDEN_OTHER = `<?xml version="1.0" encoding="UTF-8"?>
<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="1">
<package pkgid="9999999999999999999999999999999999999999999999999999999999999999" name="hello" arch="x86_64">
  <version epoch="1" ver="2.0" rel="3.el9"/>
  <changelog author="A &lt;a@example.invalid&gt; - 1.0-1" date="1600000000">- older &amp; first</changelog>
  <changelog author="B &lt;b@example.invalid&gt; - 2.0-3" date="1700000000">- newer</changelog>
</package>
</otherdata>
`;

const GOLDEN_REPOMD = `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000200</revision>
  <data type="primary">
    <checksum type="sha256">1111111111111111111111111111111111111111111111111111111111111111</checksum>
    <open-checksum type="sha256">2222222222222222222222222222222222222222222222222222222222222222</open-checksum>
    <location href="repodata/1111111111111111111111111111111111111111111111111111111111111111-primary.xml.gz"/>
    <timestamp>1700000200</timestamp>
    <size>3</size>
    <open-size>10</open-size>
  </data>
</repomd>
`;

const GOLDEN_HTML = `<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.1">
    <title>Links for my-pkg</title>
  </head>
  <body>
    <h1>Links for my-pkg</h1>
    <a href="../../packages/my-pkg/my_pkg-1.9-py3-none-any.whl#sha256=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" data-requires-python="&gt;=3.8" data-core-metadata="sha256=cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" data-dist-info-metadata="sha256=cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc">my_pkg-1.9-py3-none-any.whl</a><br>
    <a href="../../packages/my-pkg/my_pkg-1.10.tar.gz#sha256=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" data-requires-python="&gt;=3.8, &lt;4">my_pkg-1.10.tar.gz</a><br>
  </body>
</html>
`;

const GOLDEN_JSON = `{
 "meta": {
  "api-version": "1.1"
 },
 "name": "my-pkg",
 "versions": [
  "1.9",
  "1.10"
 ],
 "files": [
  {
   "filename": "my_pkg-1.9-py3-none-any.whl",
   "url": "../../packages/my-pkg/my_pkg-1.9-py3-none-any.whl",
   "hashes": {
    "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
   },
   "requires-python": ">=3.8",
   "core-metadata": {
    "sha256": "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
   },
   "size": 100,
   "upload-time": "2024-11-22T13:05:00Z"
  },
  {
   "filename": "my_pkg-1.10.tar.gz",
   "url": "../../packages/my-pkg/my_pkg-1.10.tar.gz",
   "hashes": {
    "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
   },
   "requires-python": ">=3.8, <4",
   "size": 200,
   "upload-time": "2024-11-23T13:05:00Z"
  }
 ]
}
`;

const GOLDEN_ROOTHTML = `<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.1">
    <title>Simple index</title>
  </head>
  <body>
    <a href="my-pkg/">my-pkg</a><br>
    <a href="zeta/">zeta</a><br>
  </body>
</html>
`;

const GOLDEN_ROOTJSON = `{
 "meta": {
  "api-version": "1.1"
 },
 "projects": [
  {
   "name": "my-pkg"
  },
  {
   "name": "zeta"
  }
 ]
}
`;

const GOLDEN_HELM = `apiVersion: v1
entries:
  alpine:
    - apiVersion: v1
      created: "2024-11-21T13:05:00Z"
      digest: cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
      maintainers:
        - email: x@example.invalid
          name: x
      name: alpine
      urls:
        - charts/alpine-1.0.0-rc.1.tgz
      version: 1.0.0-rc.1
  nginx:
    - apiVersion: v2
      appVersion: "1.16"
      created: "2024-11-23T13:05:00Z"
      description: "web: server"
      digest: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
      keywords:
        - web
        - "yes"
      name: nginx
      urls:
        - charts/nginx-0.10.0.tgz
      version: 0.10.0
    - apiVersion: v2
      appVersion: "on"
      created: "2024-11-22T13:05:00Z"
      digest: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
      name: nginx
      urls:
        - charts/nginx-0.9.0.tgz
      version: 0.9.0
generated: "2024-11-23T13:06:00Z"
`;
