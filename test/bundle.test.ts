// Bundles end to end on one machine: plan from a site, create (signed, deduplicated, split into parts),
// verify, load into a mirror store (published into the registry, APT and files repos), tampering of
// every kind refused with the artifact named and nothing published, incremental bundles.
// The artifacts come from a small in-process source (a Fetcher over test-built content): the real
// fetchers have their own tests against real servers (bundle-fetch-*.test.ts) and the e2e test.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { collectGarbage, openStore, OciMeta, type Store } from '../src/store/index.ts';
import { Site } from '../src/schema.ts';
import {
  bundlePlan,
  createBundle,
  diffIndexes,
  generateSigningKey,
  INDEX_FILE,
  layoutParts,
  loadBundle,
  parseIndex,
  PART_FILE,
  SIG_FILE,
  verifyBundle,
  writeIncremental,
  type Artifact,
  type Fetcher,
  type PlannedArtifact,
  type SigningKey,
} from '../src/bundle/index.ts';
import { parseSize } from '../src/bundle/format.ts';
import { buildImage, sha } from './oci-image.ts';
import { root } from './sites.ts';
import { available } from './tools.ts';

const seedSite = () => Site.parse(parseYaml(fs.readFileSync(path.join(root, 'examples/seed/site.yaml'), 'utf8')));

describe('bundle plan (pure)', () => {
  test('the seed site: kubeadm + Calico images with their mirror targets, packages per OS from the hosts\' plans', () => {
    const plan = bundlePlan(seedSite());
    const img = plan.artifacts.filter((a) => a.kind === 'image');
    const pause = img.find((a) => a.name === 'registry.k8s.io/pause:3.9');
    assert.ok(pause, 'pause image planned');
    assert.deepEqual(pause.targets, ['k8s/pause:3.9', 'pause:3.9']);
    assert.ok(img.some((a) => a.name === 'registry.k8s.io/kube-apiserver:v1.30.4'));
    assert.ok(img.some((a) => a.name === 'docker.io/calico/node:v3.28.2' && a.targets?.includes('calico/node:v3.28.2')));
    const rpm = plan.artifacts.filter((a) => a.kind === 'rpm').map((a) => `${a.name}${a.version ? `=${a.version}` : ''}`);
    for (const p of ['chrony', 'bind', 'bind-utils', 'containerd.io', 'kubelet=1.30.4', 'kubeadm=1.30.4', 'kubectl=1.30.4']) assert.ok(rpm.includes(p), `rocky9 ${p} in ${rpm.join(' ')}`);
    const deb = plan.artifacts.filter((a) => a.kind === 'deb').map((a) => a.name);
    assert.deepEqual(deb.sort(), ['chrony', 'containerd', 'kubeadm', 'kubectl', 'kubelet'], 'w2 is the only debian12 host');
    const chrony = plan.artifacts.find((a) => a.kind === 'rpm' && a.name === 'chrony')!;
    assert.match(chrony.reason, /admin, cp1, w1/);
  });

  test('user additions under bundle:, deduplicated with what the site derives', () => {
    const raw = parseYaml(fs.readFileSync(path.join(root, 'examples/seed/site.yaml'), 'utf8')) as Record<string, unknown>;
    raw.bundle = {
      sources: { helm: [{ name: 'stable', url: 'http://127.0.0.1:1/charts/' }] },
      images: ['docker.io/calico/node:v3.28.2', 'docker.io/library/nginx:1.25'],
      packages: { debian12: ['hello=2.10-3', 'chrony'] },
      python: ['Requests==2.31.0'],
      charts: [{ repo: 'stable', name: 'nginx', version: '1.2.3' }],
      goModules: ['example.com/Upper/mod@v1.0.0'],
      files: [{ url: 'http://127.0.0.1:1/tools/x.tgz', sha256: 'a'.repeat(64) }],
    };
    const plan = bundlePlan(Site.parse(raw));
    const node = plan.artifacts.filter((a) => a.name === 'docker.io/calico/node:v3.28.2');
    assert.equal(node.length, 1, 'one entry for an image named twice');
    assert.match(node[0]!.reason, /Calico v3\.28\.2, bundle\.images/);
    assert.ok(plan.artifacts.some((a) => a.kind === 'deb' && a.name === 'hello' && a.version === '2.10-3'));
    assert.equal(plan.artifacts.filter((a) => a.kind === 'deb' && a.name === 'chrony').length, 1);
    assert.ok(plan.artifacts.some((a) => a.kind === 'python' && a.name === 'Requests' && a.version === '2.31.0'));
    assert.ok(plan.artifacts.some((a) => a.kind === 'gomod' && a.name === 'example.com/Upper/mod' && a.version === 'v1.0.0'));
    assert.ok(plan.artifacts.some((a) => a.kind === 'file' && a.name === 'x.tgz' && a.sha256 === 'a'.repeat(64)));
    assert.deepEqual(plan.warnings.filter((w) => /chart/.test(w)), []);
  });

  test('a chart naming an unknown repository is a warning', () => {
    const raw = parseYaml(fs.readFileSync(path.join(root, 'examples/seed/site.yaml'), 'utf8')) as Record<string, unknown>;
    raw.bundle = { charts: [{ repo: 'nowhere', name: 'nginx', version: '1.2.3' }] };
    assert.ok(bundlePlan(Site.parse(raw)).warnings.some((w) => /no repository "nowhere"/.test(w)));
  });
});

describe('parts layout (pure)', () => {
  const blobs = [
    { digest: `sha256:${'1'.repeat(64)}`, size: 10 },
    { digest: `sha256:${'2'.repeat(64)}`, size: 0 },
    { digest: `sha256:${'3'.repeat(64)}`, size: 25 },
  ];
  test('blobs laid end to end and cut; every byte in exactly one piece; no part over capacity', () => {
    const parts = layoutParts(blobs, 12);
    for (const p of parts) assert.ok(p.reduce((n, x) => n + x.length, 0) <= 12);
    for (const b of blobs) {
      const pieces = parts.flat().filter((p) => p.digest === b.digest).sort((x, y) => x.offset - y.offset);
      let at = 0;
      for (const p of pieces) {
        assert.equal(p.offset, at);
        at += p.length;
      }
      assert.equal(at, b.size);
    }
    assert.equal(parts.length, 3); // 35 bytes / 12
  });
  test('capacity must be positive; sizes parse', () => {
    assert.throws(() => layoutParts(blobs, 0), /no room/);
    assert.equal(parseSize('4G'), 4 * 1024 ** 3);
    assert.equal(parseSize('700MiB'), 700 * 1024 ** 2);
    assert.equal(parseSize('1.5k'), 1536);
    assert.equal(parseSize('12'), 12);
    assert.equal(parseSize('-1'), undefined);
    assert.equal(parseSize('4 parsecs'), undefined);
  });
});

// ---- an in-process source of real content ----

interface Source {
  image(name: string): { blobs: Buffer[]; manifest: Buffer } | undefined;
  deb(name: string): string | undefined;
  file(name: string): Buffer | undefined;
  fetchedBytes: number;
}

function sourceFetcher(src: Source): Fetcher {
  return async (ctx, items) => {
    const artifacts: Artifact[] = [];
    const missing = [];
    let downloadedBytes = 0;
    let skippedBytes = 0;
    const put = async (buf: Buffer) => {
      if (await ctx.store.has(sha(buf))) {
        skippedBytes += buf.length;
        return;
      }
      if (ctx.dryRun) return;
      await ctx.store.put(buf);
      downloadedBytes += buf.length;
      src.fetchedBytes += buf.length;
    };
    for (const it of items as PlannedArtifact[]) {
      if (it.kind === 'image') {
        const img = src.image(it.name);
        if (!img) {
          missing.push({ kind: it.kind, name: it.name, reason: 'manifest unknown' });
          continue;
        }
        for (const b of [...img.blobs, img.manifest]) await put(b);
        artifacts.push({
          kind: 'image',
          name: it.name,
          version: it.name.split(':').pop()!,
          blobs: [{ digest: sha(img.manifest), size: img.manifest.length, role: 'manifest' }, ...img.blobs.map((b, i) => ({ digest: sha(b), size: b.length, role: i === 0 ? 'config' : 'layer' }))],
          meta: { digest: sha(img.manifest), mediaType: 'application/vnd.oci.image.manifest.v1+json', ref: it.name, targets: (it.targets ?? []).join(',') },
        });
      } else if (it.kind === 'deb') {
        const p = src.deb(it.name);
        if (!p) {
          missing.push({ kind: it.kind, name: it.name, reason: 'E: Unable to locate package' });
          continue;
        }
        const buf = fs.readFileSync(p);
        await put(buf);
        artifacts.push({ kind: 'deb', name: it.name, version: '1.0', blobs: [{ digest: sha(buf), size: buf.length, role: 'deb' }], meta: { filename: path.basename(p), os: 'debian12' } });
      } else if (it.kind === 'file') {
        const buf = src.file(it.name);
        if (!buf) {
          missing.push({ kind: it.kind, name: it.name, reason: 'HTTP 404' });
          continue;
        }
        await put(buf);
        artifacts.push({ kind: 'file', name: it.name, version: sha(buf).slice(7, 19), blobs: [{ digest: sha(buf), size: buf.length, role: 'file' }], meta: { name: it.name } });
      }
    }
    return { artifacts, missing, downloadedBytes, skippedBytes };
  };
}

function buildDeb(dir: string, name: string, version: string): string {
  const r = path.join(dir, `${name}-root`);
  fs.mkdirSync(path.join(r, 'DEBIAN'), { recursive: true });
  fs.mkdirSync(path.join(r, 'usr/share', name), { recursive: true });
  fs.writeFileSync(path.join(r, 'usr/share', name, 'data.bin'), Buffer.alloc(40_000, name)); // a few pieces when split small
  fs.writeFileSync(path.join(r, 'DEBIAN/control'), `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: airlock tests <t@example.invalid>\nDescription: test\n test package\n`);
  const out = path.join(dir, `${name}_${version}_all.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', r, out], { stdio: 'ignore' });
  return out;
}

/** A small site: one debian12 node, no cluster; the bundle asks for two images (sharing nothing), a deb and a file. */
function smallSite(extra: Record<string, unknown> = {}): Site {
  return Site.parse({
    apiVersion: 'airlock/v1',
    kind: 'Site',
    metadata: { name: 'tiny' },
    networks: [{ name: 'inside', cidr: '192.168.50.0/24' }],
    hosts: [{ name: 'n1', roles: ['worker'], os: 'debian12', interfaces: [{ name: 'eth0', network: 'inside', address: '192.168.50.11/24', management: true }] }],
    bundle: { images: ['docker.io/demo/one:v1', 'docker.io/demo/two:v1'], packages: { debian12: ['airlock-demo'] }, files: [{ url: 'http://127.0.0.1:1/tool.bin', sha256: 'b'.repeat(64), name: 'tool.bin' }], ...extra },
  });
}

const dpkg = available('dpkg-deb') ? false : 'needs dpkg-deb';

describe('bundle create → verify → load', { skip: dpkg }, () => {
  let tmp: string;
  let src: Source;
  let key: SigningKey;
  let fetchers: Record<string, Fetcher>;
  const img1 = buildImage('one');
  const img2 = buildImage('two');
  const tool = Buffer.alloc(300_000, 7);

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bundle-'));
    const deb = buildDeb(tmp, 'airlock-demo', '1.0');
    src = {
      image: (n) => (n === 'docker.io/demo/one:v1' ? { blobs: [img1.config, img1.layerGz], manifest: img1.manifest } : n === 'docker.io/demo/two:v1' ? { blobs: [img2.config, img2.layerGz], manifest: img2.manifest } : undefined),
      deb: (n) => (n === 'airlock-demo' ? deb : undefined),
      file: (n) => (n === 'tool.bin' ? tool : undefined),
      fetchedBytes: 0,
    };
    key = generateSigningKey();
    const f = sourceFetcher(src);
    fetchers = { image: f, deb: f, file: f };
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const out = () => path.join(tmp, 'bundle');
  const site = () => smallSite({ files: [{ url: 'http://127.0.0.1:1/tool.bin', sha256: sha(tool).slice(7), name: 'tool.bin' }] });

  test('create: signed index, OCI layout, every blob once; re-running downloads nothing', async () => {
    const r = await createBundle(site(), { out: out(), key, fetchers, split: 64 * 1024 + 8 * 1024 + 40_000, now: new Date('2026-11-23T00:00:00Z') });
    assert.equal(r.written, true);
    assert.deepEqual(r.missing, []);
    assert.equal(r.artifacts.length, 4);
    const idx = parseIndex(fs.readFileSync(path.join(out(), INDEX_FILE)));
    assert.equal(idx.blobs.length, 8); // 2 × (config, layer, manifest) + deb + file
    for (const b of idx.blobs) assert.equal(fs.statSync(path.join(out(), 'blobs/sha256', b.digest.slice(7))).size, b.size);
    const layout = JSON.parse(fs.readFileSync(path.join(out(), 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    assert.deepEqual(layout.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']).sort(), ['docker.io/demo/one:v1', 'docker.io/demo/two:v1']);
    assert.ok(fs.existsSync(path.join(out(), 'oci-layout')));
    assert.ok(!fs.existsSync(path.join(out(), 'tmp')), 'no scratch left in the bundle');
    assert.ok(r.parts.length >= 3, `split into ${r.parts.length} parts`);
    const before = src.fetchedBytes;
    const again = await createBundle(site(), { out: out(), key, fetchers, split: 64 * 1024 + 8 * 1024 + 40_000, now: new Date('2026-11-23T00:00:00Z') });
    assert.equal(src.fetchedBytes, before, 're-run fetched nothing');
    assert.equal(again.downloadedBytes, 0);
    assert.deepEqual(fs.readFileSync(path.join(out(), INDEX_FILE)), fs.readFileSync(path.join(r.parts[0]!, INDEX_FILE)));
  });

  test('verify: whole bundle and parts in any order, pinned; unpinned is reported', async () => {
    const ok = await verifyBundle([out()], { trusted: key.fingerprint });
    assert.deepEqual(ok.problems, []);
    const parts = fs.readdirSync(`${out()}.parts`).map((p) => path.join(`${out()}.parts`, p)).reverse();
    const okParts = await verifyBundle(parts, { trusted: key.fingerprint });
    assert.deepEqual(okParts.problems, []);
    const unpinned = await verifyBundle([out()]);
    assert.deepEqual(unpinned.problems.map((p) => p.code), ['unpinned']);
    assert.match(unpinned.problems[0]!.message, new RegExp(key.fingerprint));
  });

  test('verify against the site plan: what the plan needs and the bundle lacks is named', async () => {
    const r = await verifyBundle([out()], { trusted: key.fingerprint, plan: bundlePlan(smallSite({ images: ['docker.io/demo/one:v1', 'docker.io/demo/three:v1'] })) });
    assert.ok(r.problems.some((p) => p.code === 'missing-artifact' && /demo\/three:v1/.test(p.message)), JSON.stringify(r.problems));
  });

  test('load from parts in any order, a subset first: nothing published until every blob is there; then published; again: nothing to do', async () => {
    const store = await openStore(path.join(tmp, 'mirror'));
    const parts = fs.readdirSync(`${out()}.parts`).map((p) => path.join(`${out()}.parts`, p));
    const first = await loadBundle([parts[parts.length - 1]!], store, { trusted: key.fingerprint });
    assert.equal(first.published, false);
    assert.ok(first.problems.some((p) => p.code === 'missing-part'));
    assert.ok(first.problems.some((p) => p.code === 'missing-blob' && p.artifacts!.length > 0));
    assert.deepEqual(await new OciMeta(store).listRepos(), [], 'no repository published');
    const kept = await collectGarbage(store, { graceMs: 0 });
    assert.deepEqual(kept.removed, [], 'store gc keeps the blobs of a load waiting for more parts');
    assert.ok(kept.kept > 0);
    const all = await loadBundle(parts, store, { trusted: key.fingerprint });
    assert.deepEqual(all.problems, []);
    assert.equal(all.published, true);
    const meta = new OciMeta(store);
    assert.equal(await meta.getTag('demo/one', 'v1'), img1.digest);
    assert.equal(await meta.getTag('demo/two', 'v1'), img2.digest);
    assert.ok((await store.listMeta('apt')).some((k) => /bookworm/.test(k)), 'APT suite published');
    const again = await loadBundle(parts, store, { trusted: key.fingerprint });
    assert.equal(again.alreadyLoaded, true);
    assert.equal(again.imported, 0);
    assert.equal((await store.verify()).corrupt.length, 0);
    assert.deepEqual((await collectGarbage(store, { graceMs: 0 })).removed, [], 'every loaded blob is referenced once published');
  });

  test('parts arriving one at a time, in any order, each loaded on its own: published with the last one', async () => {
    const store = await openStore(path.join(tmp, 'one-at-a-time'));
    const parts = fs.readdirSync(`${out()}.parts`).map((p) => path.join(`${out()}.parts`, p));
    assert.ok(parts.length >= 3);
    const order = [parts[1]!, parts[parts.length - 1]!, ...parts.filter((_p, i) => i !== 1 && i !== parts.length - 1)];
    for (const [i, part] of order.entries()) {
      const r = await loadBundle([part], store, { trusted: key.fingerprint });
      if (i < order.length - 1) {
        assert.equal(r.published, false, `not published after ${i + 1} part(s)`);
        assert.deepEqual(await new OciMeta(store).listRepos(), []);
      } else {
        assert.deepEqual(r.problems, [], `the last part completes the bundle: ${JSON.stringify(r.problems)}`);
        assert.equal(r.published, true);
      }
    }
    assert.equal(await new OciMeta(store).getTag('demo/one', 'v1'), img1.digest);
    assert.ok(!fs.existsSync(path.join(store.root, 'staging', fs.readdirSync(path.join(store.root, 'staging'))[0] ?? 'none')), 'kept pieces removed once published');
    assert.deepEqual((await store.verify()).corrupt, []);
  });

  // ---- tampering: refused, the artifact named, nothing published ----
  const copyBundle = (name: string) => {
    const dst = path.join(tmp, name);
    fs.cpSync(out(), dst, { recursive: true });
    return dst;
  };
  const published = async (store: Store) => (await new OciMeta(store).listRepos()).length > 0 || (await store.listMeta('apt')).length > 0;

  test('a flipped byte in any blob: verify and load name the artifact; nothing published', async () => {
    const idx = parseIndex(fs.readFileSync(path.join(out(), INDEX_FILE)));
    for (const [i, b] of idx.blobs.entries()) {
      const dst = copyBundle(`flip-${i}`);
      const file = path.join(dst, 'blobs/sha256', b.digest.slice(7));
      const buf = fs.readFileSync(file);
      const at = Math.floor(buf.length / 2);
      buf[at] = buf[at]! ^ 0x01;
      fs.writeFileSync(file, buf);
      const owners = idx.artifacts.filter((a) => a.blobs.some((x) => x.digest === b.digest)).map((a) => a.name);
      const v = await verifyBundle([dst], { trusted: key.fingerprint });
      const bad = v.problems.find((p) => p.code === 'corrupt-blob');
      assert.ok(bad, `blob ${i} flagged`);
      assert.equal(bad.digest, b.digest);
      for (const o of owners) assert.ok(bad.artifacts!.some((a) => a.includes(o)), `${o} named in ${bad.message}`);
      const store = await openStore(path.join(tmp, `flip-store-${i}`));
      const l = await loadBundle([dst], store, { trusted: key.fingerprint });
      assert.equal(l.published, false);
      assert.equal(await published(store), false, 'nothing published');
      assert.equal(await store.has(b.digest), false, 'the damaged blob is not in the store');
    }
  });

  test('a flipped byte in a part: named by part and artifact', async () => {
    const partsDir = path.join(tmp, 'parts-flip');
    fs.cpSync(`${out()}.parts`, partsDir, { recursive: true });
    const part = path.join(partsDir, fs.readdirSync(partsDir)[1]!);
    const pm = JSON.parse(fs.readFileSync(path.join(part, PART_FILE), 'utf8')) as { pieces: { file: string; digest: string; length: number }[] };
    const piece = pm.pieces.find((p) => p.length > 0)!;
    const f = path.join(part, 'data', piece.file);
    const buf = fs.readFileSync(f);
    buf[0] = buf[0]! ^ 0xff;
    fs.writeFileSync(f, buf);
    const v = await verifyBundle([partsDir], { trusted: key.fingerprint });
    const bad = v.problems.find((p) => p.code === 'corrupt-blob');
    assert.ok(bad && bad.where === part, JSON.stringify(v.problems));
    assert.equal(bad.digest, piece.digest);
  });

  test('a removed part: missing part and every affected artifact named; nothing published', async () => {
    const partsDir = path.join(tmp, 'parts-removed');
    fs.cpSync(`${out()}.parts`, partsDir, { recursive: true });
    const gone = fs.readdirSync(partsDir)[0]!;
    fs.rmSync(path.join(partsDir, gone), { recursive: true });
    const store = await openStore(path.join(tmp, 'removed-store'));
    const l = await loadBundle([partsDir], store, { trusted: key.fingerprint });
    assert.ok(l.problems.some((p) => p.code === 'missing-part' && /part\(s\) 1 of/.test(p.message)));
    assert.ok(l.problems.some((p) => p.code === 'missing-blob' && (p.artifacts ?? []).length > 0));
    assert.equal(await published(store), false);
  });

  test('a swapped index (another bundle\'s, validly signed) in one part is refused', async () => {
    const other = path.join(tmp, 'other');
    await createBundle(smallSite({ images: ['docker.io/demo/one:v1'], packages: { debian12: [] }, files: [] }), { out: other, key, fetchers });
    const partsDir = path.join(tmp, 'parts-swapped');
    fs.cpSync(`${out()}.parts`, partsDir, { recursive: true });
    const part = path.join(partsDir, fs.readdirSync(partsDir)[1]!);
    fs.copyFileSync(path.join(other, INDEX_FILE), path.join(part, INDEX_FILE));
    fs.copyFileSync(path.join(other, SIG_FILE), path.join(part, SIG_FILE));
    const store = await openStore(path.join(tmp, 'swapped-store'));
    const l = await loadBundle([partsDir], store, { trusted: key.fingerprint });
    assert.ok(l.problems.some((p) => p.code === 'part' && p.where === part && /differs/.test(p.message)), JSON.stringify(l.problems));
    assert.equal(l.published, false);
    assert.equal(await published(store), false);
  });

  test('an edited index, a wrong key, a missing signature: refused before any blob is read', async () => {
    const edited = copyBundle('edited');
    const idx = JSON.parse(fs.readFileSync(path.join(edited, INDEX_FILE), 'utf8')) as { artifacts: { name: string }[] };
    idx.artifacts[0]!.name = 'docker.io/evil/one:v1';
    fs.writeFileSync(path.join(edited, INDEX_FILE), JSON.stringify(idx, null, 1));
    const e = await verifyBundle([edited], { trusted: key.fingerprint });
    assert.deepEqual(e.problems.map((p) => p.code), ['signature']);
    assert.match(e.problems[0]!.message, /does not match/);

    const other = generateSigningKey();
    const wrong = path.join(tmp, 'wrong-key');
    await createBundle(site(), { out: wrong, key: other, fetchers });
    const store = await openStore(path.join(tmp, 'wrong-store'));
    const l = await loadBundle([wrong], store, { trusted: key.fingerprint });
    assert.equal(l.problems[0]!.code, 'signature');
    assert.match(l.problems[0]!.message, new RegExp(`signed by ${other.fingerprint}, not by the trusted key`));
    assert.equal(l.imported, 0);
    assert.equal(await published(store), false);

    const unsigned = copyBundle('unsigned');
    fs.rmSync(path.join(unsigned, SIG_FILE));
    assert.match((await verifyBundle([unsigned], { trusted: key.fingerprint })).problems[0]!.message, /no signature/);
    const unpinned = await loadBundle([out()], await openStore(path.join(tmp, 'unpinned-store')));
    assert.equal(unpinned.published, false, 'load needs a pinned signer');
  });

  test('missing upstream: nothing downloaded unless --allow-missing; then listed in the index and reported by verify', async () => {
    const s = smallSite({ images: ['docker.io/demo/one:v1', 'docker.io/demo/nope:v9'] });
    const dir = path.join(tmp, 'missing');
    const before = src.fetchedBytes;
    const r = await createBundle(s, { out: dir, key, fetchers });
    assert.equal(r.written, false);
    assert.equal(src.fetchedBytes, before, 'nothing fetched');
    assert.ok(r.missing.some((m) => m.name === 'docker.io/demo/nope:v9'));
    const r2 = await createBundle(s, { out: dir, key, fetchers, allowMissing: true });
    assert.equal(r2.written, true);
    const v = await verifyBundle([dir], { trusted: key.fingerprint });
    assert.ok(v.problems.some((p) => p.code === 'incomplete' && /demo\/nope:v9/.test(p.message)));
  });

  test('diff and an incremental bundle: only new blobs; loads on top of the old one, not without it', async () => {
    const img3 = buildImage('three');
    const orig = src.image;
    src.image = (n) => (n === 'docker.io/demo/two:v1' ? { blobs: [img3.config, img3.layerGz], manifest: img3.manifest } : orig(n));
    const newer = path.join(tmp, 'newer');
    await createBundle(site(), { out: newer, key, fetchers });
    src.image = orig;
    const oldBytes = fs.readFileSync(path.join(out(), INDEX_FILE));
    const neu = parseIndex(fs.readFileSync(path.join(newer, INDEX_FILE)));
    const d = diffIndexes(parseIndex(oldBytes), neu);
    assert.deepEqual(d.changed.length, 1);
    assert.match(d.changed[0]!, /demo\/two:v1/);
    assert.equal(d.newBlobs.length, 3);
    const inc = path.join(tmp, 'incremental');
    await writeIncremental(newer, neu, oldBytes, d, inc, key);
    assert.equal(fs.readdirSync(path.join(inc, 'blobs/sha256')).length, 3);
    const fresh = await openStore(path.join(tmp, 'inc-fresh'));
    const l0 = await loadBundle([inc], fresh, { trusted: key.fingerprint });
    assert.equal(l0.published, false);
    assert.ok(l0.problems.some((p) => p.code === 'missing-blob' && /load the base bundle/.test(p.message)));
    const store = await openStore(path.join(tmp, 'inc-store'));
    assert.equal((await loadBundle([out()], store, { trusted: key.fingerprint })).published, true);
    const l = await loadBundle([inc], store, { trusted: key.fingerprint });
    assert.deepEqual(l.problems, []);
    assert.equal(l.imported, 3);
    assert.equal(await new OciMeta(store).getTag('demo/two', 'v1'), img3.digest);
  });
});
