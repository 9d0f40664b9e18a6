// Garbage collection of the store (src/store/gc.ts): content built with the real importers and registry
// metadata (OCI images, an index, a referrer, a pushed-only blob, an upload in progress; APT, YUM, PyPI,
// Helm, Go, files), garbage added with store.put, then gc: exactly the garbage goes, and the server still
// answers 200 with the right bytes for every manifest, linked blob and published path.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { collectGarbage, GcError, openStore, OciMeta, Uploads, type Store } from '../src/store/index.ts';
import {
  importChart,
  importDeb,
  importFile,
  importGoModule,
  importPython,
  importRpm,
  removeGoModuleVersion,
  repoHandlers,
  siteSigner,
  type SiteSigner,
} from '../src/serve/repos/index.ts';
import { lookupPath } from '../src/serve/repos/http.ts';
import { buildImage, LAYER_GZIP, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, sha, type BuiltImage } from './oci-image.ts';
import { makeTar, makeZip, startTestServer } from './repo-server.ts';
import { available as has } from './tools.ts';

const canDeb = has('dpkg-deb') && has('gpg');
const canRpm = has('rpmbuild') && has('gpg');
const HOUR = 3600 * 1000;
const REPO_PREFIX: Record<string, string> = { apt: '/apt/', yum: '/yum/', helm: '/helm/', go: '/go/', files: '/files/', pypi: '/pypi/' };

function buildDeb(dir: string, name: string, version: string): string {
  const root = path.join(dir, `${name}-${version}`);
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  fs.mkdirSync(path.join(root, 'usr/share', name), { recursive: true });
  fs.writeFileSync(path.join(root, 'usr/share', name, 'hello.txt'), `hello from ${name} ${version}\n`);
  fs.writeFileSync(path.join(root, 'DEBIAN/control'), `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: airlock tests <tests@example.invalid>\nDescription: airlock gc test package\n`);
  const out = path.join(dir, `${name}_${version}_all.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, out], { stdio: 'ignore' });
  return out;
}

function buildRpm(dir: string, name: string, version: string): string {
  const spec = path.join(dir, `${name}.spec`);
  fs.writeFileSync(
    spec,
    `Name: ${name}\nVersion: ${version}\nRelease: 1\nSummary: airlock gc test\nLicense: MIT\nBuildArch: noarch\nAutoReq: no\n%description\ngc test\n%install\nmkdir -p %{buildroot}/usr/share/${name}\necho hi > %{buildroot}/usr/share/${name}/hi.txt\n%files\n/usr/share/${name}/hi.txt\n`,
  );
  execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${path.join(dir, 'rpmtop')}`, '--define', '_build_id_links none', spec], { stdio: 'ignore' });
  return path.join(dir, 'rpmtop/RPMS/noarch', `${name}-${version}-1.noarch.rpm`);
}

/** Every blob digest in the store, sorted. */
function blobs(store: Store): string[] {
  return fs
    .readdirSync(path.join(store.root, 'blobs', 'sha256'))
    .map((h) => `sha256:${h}`)
    .sort();
}

/** An image manifest over the given (already stored) config and layers. */
async function image(store: Store, config: Buffer, layers: Buffer[], extra: Record<string, unknown> = {}): Promise<Buffer> {
  await store.put(config);
  for (const l of layers) await store.put(l);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: (extra.configMediaType as string | undefined) ?? OCI_CONFIG, digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: LAYER_GZIP, digest: sha(l), size: l.length })),
      ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'configMediaType')),
    }),
  );
}

async function putImage(store: Store, img: BuiltImage): Promise<void> {
  for (const b of [img.layerGz, img.config, img.manifest]) await store.put(b);
}

const indexOf = (children: Buffer[]) =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children.map((m) => ({ mediaType: OCI_MANIFEST, digest: sha(m), size: m.length, platform: { os: 'linux', architecture: 'amd64' } })) }));

async function* chunks(...parts: string[]): AsyncIterable<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  const r = await fetch(url, { headers, redirect: 'manual' });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

/**
 * Fetch every OCI manifest record, tag and linked blob, and every published path of every repo kind
 * (from the meta records themselves), from a fresh server: each must be 200 with the recorded bytes
 * (tombstones 410). Returns how many URLs were checked.
 */
async function assertAllServed(store: Store): Promise<number> {
  const server = await startTestServer(store, repoHandlers());
  let n = 0;
  const check = async (url: string, digest: string, headers: Record<string, string> = {}) => {
    const r = await get(`${server.url}${url}`, headers);
    assert.equal(r.status, 200, `GET ${url}`);
    assert.equal(sha(r.body), digest, `GET ${url}: body digest`);
    n++;
  };
  try {
    const meta = new OciMeta(store);
    for (const repo of await meta.listRepos()) {
      for (const key of await store.listMeta('oci', `${repo}/_manifests/`)) await check(`/v2/${repo}/manifests/sha256:${key.split('/').pop()}`, `sha256:${key.split('/').pop()}`);
      for (const key of await store.listMeta('oci', `${repo}/_blobs/`)) await check(`/v2/${repo}/blobs/sha256:${key.split('/').pop()}`, `sha256:${key.split('/').pop()}`);
      for (const tag of await meta.listTags(repo)) await check(`/v2/${repo}/manifests/${tag}`, (await meta.getTag(repo, tag))!);
    }
    for (const [ns, prefix] of Object.entries(REPO_PREFIX)) {
      for (const key of await store.listMeta(ns, 'paths/')) {
        const rec = JSON.parse((await store.readMeta(ns, key))!.toString('utf8')) as { path: string; digest?: string; gone?: boolean };
        const enc = rec.path.split('/').map(encodeURIComponent).join('/');
        if (rec.gone) {
          assert.equal((await get(`${server.url}${prefix}${enc}`)).status, 410, `GET ${prefix}${rec.path} (gone)`);
          n++;
          continue;
        }
        const simple = /^simple\/(?:(.+)\/)?index\.(html|json)$/.exec(rec.path);
        if (ns === 'pypi' && simple) {
          const accept = simple[2] === 'json' ? 'application/vnd.pypi.simple.v1+json' : 'text/html';
          await check(`/pypi/simple/${simple[1] ? `${simple[1]}/` : ''}`, rec.digest!, { Accept: accept });
        } else {
          await check(`${prefix}${enc}`, rec.digest!);
        }
      }
    }
  } finally {
    await server.close();
  }
  return n;
}

describe('store gc', () => {
  let tmp: string;
  let store: Store;
  let meta: OciMeta;
  let uploads: Uploads;
  let uploadId: string;
  let signer: SiteSigner | undefined;
  const k = {} as {
    imgA: BuiltImage;
    pushedOnly: string;
    childStoreOnly: BuiltImage;
    oldPypiRoot: string;
    goRemovedZip: string;
    manC: Buffer;
    layerC: Buffer;
    layerShared: Buffer;
    configC: Buffer;
    manC2: Buffer;
    uploaded: string;
  };

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-gc-'));
    store = await openStore(path.join(tmp, 'store'));
    meta = new OciMeta(store);
    uploads = new Uploads(store);

    // ---- OCI ----
    k.imgA = buildImage('alpha');
    await putImage(store, k.imgA);
    await meta.putManifest('lib/a', k.imgA.manifest, { tag: 'v1' });
    // lib/b shares lib/a's layer
    const manB = await image(store, Buffer.from('{"architecture":"amd64","os":"linux","b":1}'), [k.imgA.layerGz, gzipSync('layer only in b')]);
    await meta.putManifest('lib/b', manB, { tag: 'v1' });
    // lib/c: two images sharing a layer; C's own layer is unique (the deletion test removes C)
    k.layerShared = gzipSync('layer of c and c2');
    k.layerC = gzipSync('layer only in c');
    k.configC = Buffer.from('{"architecture":"amd64","os":"linux","c":1}');
    k.manC = await image(store, k.configC, [k.imgA.layerGz, k.layerShared, k.layerC]);
    await meta.putManifest('lib/c', k.manC, { tag: 'v1' });
    k.manC2 = await image(store, Buffer.from('{"architecture":"amd64","os":"linux","c":2}'), [k.layerShared]);
    await meta.putManifest('lib/c', k.manC2, { tag: 'v2' });
    // an index over two platform manifests pushed by digest
    const p1 = buildImage('platform one');
    const p2 = buildImage('platform two');
    for (const p of [p1, p2]) {
      await putImage(store, p);
      await meta.putManifest('lib/multi', p.manifest);
    }
    await meta.putManifest('lib/multi', indexOf([p1.manifest, p2.manifest]), { tag: 'v1' });
    // an index put (partialIndex) before its child was stored; the child came later as plain blobs, so it
    // has no record and no links anywhere: its config and layer are referenced only through its bytes
    k.childStoreOnly = buildImage('store-only child');
    await meta.putManifest('lib/kids', indexOf([k.childStoreOnly.manifest]), { tag: 'v1', partialIndex: true });
    await putImage(store, k.childStoreOnly);
    assert.equal(await meta.getManifest('lib/kids', k.childStoreOnly.digest), undefined);
    // a referrer (an SBOM) of lib/a:v1
    const empty = Buffer.from('{}');
    const sbom = await image(store, empty, [Buffer.from('{"spdxVersion":"SPDX-2.3"}')], {
      configMediaType: 'application/vnd.oci.empty.v1+json',
      artifactType: 'application/spdx+json',
      subject: { mediaType: OCI_MANIFEST, digest: k.imgA.digest, size: k.imgA.manifest.length },
    });
    await meta.putManifest('lib/a', sbom);
    // a pushed blob no manifest names yet
    k.pushedOnly = (await store.put('pushed, manifest still to come')).digest;
    await meta.linkBlob('lib/a', k.pushedOnly);
    // an upload in progress
    const sess = await uploads.create('lib/a');
    uploadId = sess.id;
    await uploads.append(uploadId, 'lib/a', chunks('first chunk of an upload'));

    // ---- APT / YUM (signed with the site key) ----
    if (canDeb || canRpm) signer = await siteSigner(store.root);
    if (canDeb) {
      await importDeb(store, [buildDeb(tmp, 'gc-hello', '1.0'), buildDeb(tmp, 'gc-tool', '2.0')], { suite: 'stable', component: 'main', signer });
      await importDeb(store, buildDeb(tmp, 'gc-more', '0.1'), { suite: 'stable', component: 'main', signer }); // republish: old indexes stay by-hash
    }
    if (canRpm) await importRpm(store, [buildRpm(tmp, 'gc-hello', '1.0')], { repo: 'test', signer });

    // ---- PyPI ----
    const whl = path.join(tmp, 'alpha_pkg-1.0-py3-none-any.whl');
    fs.writeFileSync(whl, makeZip([{ name: 'alpha_pkg-1.0.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: alpha_pkg\nVersion: 1.0\nRequires-Python: >=3.8\n' }]));
    await importPython(store, whl);
    k.oldPypiRoot = (await lookupPath(store, 'pypi', 'simple/index.json'))!.digest!;
    const sdist = path.join(tmp, 'beta-2.0.tar.gz');
    fs.writeFileSync(sdist, gzipSync(makeTar([{ name: 'beta-2.0/PKG-INFO', data: 'Metadata-Version: 2.1\nName: beta\nVersion: 2.0\n' }])));
    await importPython(store, sdist); // the root index now lists two projects: the one-project index is unreferenced

    // ---- Helm ----
    const chart = path.join(tmp, 'demo-1.2.3.tgz');
    fs.writeFileSync(chart, gzipSync(makeTar([{ name: 'demo/Chart.yaml', data: 'apiVersion: v2\nname: demo\nversion: 1.2.3\n' }, { name: 'demo/values.yaml', data: '{}\n' }])));
    await importChart(store, chart);

    // ---- Go ----
    const mod = 'example.com/gc/mod';
    const zipOf = (v: string) => makeZip([{ name: `${mod}@${v}/go.mod`, data: `module ${mod}\n` }, { name: `${mod}@${v}/m.go`, data: `package mod\n\nconst V = "${v}"\n` }]);
    await importGoModule(store, { module: mod, version: 'v1.0.0', zip: zipOf('v1.0.0'), info: { Time: '2024-01-01T00:00:00Z' } });
    await importGoModule(store, { module: mod, version: 'v1.1.0', zip: zipOf('v1.1.0'), info: { Time: '2024-02-01T00:00:00Z' } });
    await removeGoModuleVersion(store, mod, 'v1.1.0'); // its zip is answered 410 now, and unreferenced
    k.goRemovedZip = sha(zipOf('v1.1.0'));

    // ---- files ----
    fs.writeFileSync(path.join(tmp, 'tool.bin'), Buffer.alloc(5000, 3));
    await importFile(store, path.join(tmp, 'tool.bin'), { name: 'tools/v1/tool.bin' });
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('superseded indexes and removed versions are collected; everything published is still served', async () => {
    const before = blobs(store);
    const r = await collectGarbage(store, { graceMs: 0 });
    assert.deepEqual(blobs(store), before.filter((d) => !r.removed.includes(d)));
    assert.ok(r.removed.includes(k.oldPypiRoot), 'the superseded PyPI root index is removed');
    assert.ok(r.removed.includes(k.goRemovedZip), 'the removed Go version zip is removed');
    assert.equal(r.kept, before.length - r.removed.length);
    assert.deepEqual(r.unlinked, []);
    for (const d of [k.pushedOnly, k.childStoreOnly.manifest, k.childStoreOnly.config, k.childStoreOnly.layerGz].map((x) => (typeof x === 'string' ? x : sha(x)))) {
      assert.ok(await store.has(d), `${d} is kept`);
    }
    const n = await assertAllServed(store);
    assert.ok(n > 40, `checked ${n} URLs`);
  });

  test('exactly the garbage is removed; dryRun lists it and removes nothing', async () => {
    const before = blobs(store);
    const garbage = [await store.put('garbage one'), await store.put(Buffer.alloc(70_000, 9)), await store.put(gzipSync('an orphaned layer'))];
    const expected = garbage.map((g) => g.digest).sort();
    const bytes = garbage.reduce((s, g) => s + g.size, 0);

    const dry = await collectGarbage(store, { graceMs: 0, dryRun: true });
    assert.deepEqual(dry.removed, expected);
    assert.equal(dry.removedBytes, bytes);
    assert.deepEqual(blobs(store), [...before, ...expected].sort(), 'dryRun removed nothing');

    const r = await collectGarbage(store, { graceMs: 0 });
    assert.deepEqual(r.removed, expected);
    assert.equal(r.removedBytes, bytes);
    assert.deepEqual(blobs(store), before);
    assert.equal(r.kept, before.length);
    assert.equal(r.keptBytes, before.reduce((s, d) => s + fs.statSync(store.blobPath(d)).size, 0));
    await assertAllServed(store);
    assert.deepEqual((await collectGarbage(store, { graceMs: 0 })).removed, [], 'a second run finds nothing');
  });

  test('the grace period protects a fresh unreferenced blob', async () => {
    const fresh = await store.put('just stored, its manifest is on the way');
    const r = await collectGarbage(store); // default grace: 1 hour
    assert.deepEqual(r.removed, []);
    assert.ok(await store.has(fresh.digest));
    const soon = await collectGarbage(store, { graceMs: HOUR, now: new Date(Date.now() + HOUR / 2) });
    assert.deepEqual(soon.removed, []);
    const later = await collectGarbage(store, { graceMs: HOUR, now: new Date(Date.now() + 2 * HOUR) });
    assert.deepEqual(later.removed, [fresh.digest]);
    assert.equal(await store.has(fresh.digest), false);
  });

  test('an upload in progress is untouched and still completes', async () => {
    const s = await uploads.get(uploadId, 'lib/a');
    assert.equal(s?.size, Buffer.byteLength('first chunk of an upload'));
    const whole = Buffer.from('first chunk of an upload, and the rest');
    const done = await uploads.commit(uploadId, 'lib/a', sha(whole), { body: chunks(', and the rest') });
    assert.equal(done.digest, sha(whole));
    await meta.linkBlob('lib/a', done.digest);
    k.uploaded = done.digest;
    assert.deepEqual((await collectGarbage(store, { graceMs: 0 })).removed, []);
    assert.ok(await store.has(done.digest));
  });

  test('deleting an image: its links keep the blobs until pruned; then its unique blobs go, shared ones stay', async () => {
    const cBlobs = [k.configC, k.layerC].map(sha);
    const shared = [k.imgA.layerGz, k.layerShared].map(sha);
    assert.equal(await meta.deleteTag('lib/c', 'v1'), true);
    assert.equal(await meta.deleteManifest('lib/c', sha(k.manC)), true);

    // Links are references: by default only the manifest itself goes (manifests are held by their record).
    assert.deepEqual((await collectGarbage(store, { graceMs: 0 })).removed, [sha(k.manC)]);
    for (const d of [k.configC, k.layerC].map(sha)) assert.ok(await store.has(d), `linked ${d} kept`);
    // Links younger than the grace period are not pruned.
    assert.deepEqual((await collectGarbage(store, { graceMs: HOUR, pruneLinks: true })).unlinked, []);

    // Pruned: lib/c's links that no remaining manifest of lib/c names (C's config and layers, the
    // shared one included), and lib/a's links of blobs pushed without a manifest.
    const dry = await collectGarbage(store, { graceMs: 0, pruneLinks: true, dryRun: true });
    const orphanLinks = [
      ...[k.configC, k.layerC, k.imgA.layerGz].map((b) => `lib/c@${sha(b)}`),
      ...[k.pushedOnly, k.uploaded].map((d) => `lib/a@${d}`),
    ].sort();
    assert.deepEqual(dry.unlinked, orphanLinks);
    assert.deepEqual(dry.removed, [...cBlobs, k.pushedOnly, k.uploaded].sort());
    assert.ok(await meta.hasBlob('lib/c', sha(k.layerC)), 'dryRun unlinked nothing');

    const r = await collectGarbage(store, { graceMs: 0, pruneLinks: true });
    assert.deepEqual(r.removed, dry.removed);
    assert.deepEqual(r.unlinked, dry.unlinked);
    for (const d of [...cBlobs, sha(k.manC)]) assert.equal(await store.has(d), false, `${d} removed`);
    for (const d of shared) assert.ok(await store.has(d), `shared ${d} kept`);
    assert.equal(await meta.hasBlob('lib/c', sha(k.layerC)), false);
    assert.ok(await meta.hasBlob('lib/c', sha(k.layerShared)), 'lib/c:v2 still links its layer');
    await assertAllServed(store);
  });

  test('a document gc cannot parse or does not know makes it throw, and nothing is removed', async () => {
    const recA = (await store.readMeta('oci', `lib/a/_manifests/${k.imgA.digest.slice(7)}`))!;
    const cases: { what: string; set: () => Promise<void>; undo: () => Promise<unknown> }[] = [
      { what: 'a published path that is not JSON', set: () => store.writeMeta('pypi', `paths/${'a'.repeat(64)}`, '{"path": "packages/x'), undo: () => store.deleteMeta('pypi', `paths/${'a'.repeat(64)}`) },
      { what: 'a path record with a bad digest', set: () => store.writeMeta('files', `paths/${'b'.repeat(64)}`, '{"path":"x","digest":"sha256:xyz"}'), undo: () => store.deleteMeta('files', `paths/${'b'.repeat(64)}`) },
      { what: 'an APT suite without packages', set: () => store.writeMeta('apt', 'suites/broken.json', '{"suite":"broken"}'), undo: () => store.deleteMeta('apt', 'suites/broken.json') },
      { what: 'a tag that is not a digest', set: () => store.writeMeta('oci', 'lib/a/_tags/broken', 'latest'), undo: () => store.deleteMeta('oci', 'lib/a/_tags/broken') },
      { what: 'a manifest record that is not JSON', set: () => store.writeMeta('oci', `lib/a/_manifests/${k.imgA.digest.slice(7)}`, 'oops'), undo: () => store.writeMeta('oci', `lib/a/_manifests/${k.imgA.digest.slice(7)}`, recA) },
      { what: 'an unknown document in a known namespace', set: () => store.writeMeta('helm', 'extra/state.json', '{}'), undo: () => store.deleteMeta('helm', 'extra/state.json') },
      { what: 'an unknown OCI key', set: () => store.writeMeta('oci', 'lib/a/_uploads/x', '{}'), undo: () => store.deleteMeta('oci', 'lib/a/_uploads/x') },
      { what: 'an unknown namespace', set: () => store.writeMeta('mystery', 'doc.json', '{"digest":"sha256:00"}'), undo: () => fs.promises.rm(path.join(store.root, 'meta', 'mystery'), { recursive: true }) },
    ];
    const garbage = (await store.put('garbage while the meta is broken')).digest;
    const before = blobs(store);
    for (const c of cases) {
      await c.set();
      await assert.rejects(collectGarbage(store, { graceMs: 0 }), (e: unknown) => e instanceof GcError && /nothing was removed/.test(e.message), c.what);
      assert.deepEqual(blobs(store), before, `${c.what}: nothing removed`);
      await c.undo();
    }

    // A recorded manifest whose bytes are damaged: what it referenced is unknown.
    const p = store.blobPath(k.imgA.digest);
    const good = fs.readFileSync(p);
    fs.writeFileSync(p, Buffer.concat([good.subarray(0, 10), Buffer.from('X'), good.subarray(11)]));
    await assert.rejects(collectGarbage(store, { graceMs: 0 }), /damaged/);
    assert.deepEqual(blobs(store), before);
    fs.writeFileSync(p, good);

    assert.deepEqual((await collectGarbage(store, { graceMs: 0 })).removed, [garbage], 'with the meta repaired, gc runs');
  });

  test('a bundle directory is not collected', async () => {
    const dir = path.join(tmp, 'bundle');
    const b = await openStore(dir);
    await b.put('a blob the bundle index names');
    fs.writeFileSync(path.join(dir, 'airlock-bundle.json'), '{}');
    await assert.rejects(collectGarbage(b, { graceMs: 0 }), /bundle directory/);
    assert.equal(blobs(b).length, 1);
  });

  test('store verify is clean afterwards', async () => {
    const v = await store.verify();
    assert.deepEqual(v.corrupt, []);
    assert.equal(v.ok, blobs(store).length);
    await assertAllServed(store);
  });

  test('APT and YUM content was part of the run', { skip: canDeb && canRpm ? false : 'needs dpkg-deb, rpmbuild and gpg' }, async () => {
    assert.ok((await store.listMeta('apt', 'paths/')).length > 10);
    assert.ok((await store.listMeta('yum', 'paths/')).length > 5);
  });
});
