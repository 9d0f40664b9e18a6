// The bundle's image fetcher against the real distribution registry (Debian's docker-registry), seeded
// with skopeo, and the plain-file fetcher against a node:http server. 127.0.0.1 only: no network.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fetchFiles } from '../src/bundle/fetch/files.ts';
import { fetchImages, makeImageFetcher, parseChallenge, parseImageRef } from '../src/bundle/fetch/registry.ts';
import type { FetchContext, PlannedArtifact } from '../src/bundle/types.ts';
import { digestOf, openStore, type Store } from '../src/store/index.ts';
import { buildImage, LAYER_GZIP, makeTar, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, sha, type BuiltImage } from './oci-image.ts';
import { available, run as runTool } from './tools.ts';
import { freePort, startDistribution, type Distribution } from './distribution.ts';

const needTools = !available('docker-registry') ? 'docker-registry not installed' : !available('skopeo') ? 'skopeo not installed' : false;

// ---- helpers -------------------------------------------------------------------------------------

const run = (cmd: string, args: string[]) => runTool(cmd, args, { set: { LC_ALL: 'C' } });
/** skopeo's stdout as bytes (inspect --raw prints the manifest exactly). */
function skopeoRaw(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile('skopeo', args, { timeout: 60_000, encoding: 'buffer' }, (err, stdout, stderr) => (err ? reject(new Error(`skopeo ${args.join(' ')}: ${stderr.toString()}`)) : resolve(stdout)));
  });
}
async function skopeo(...args: string[]): Promise<void> {
  const r = await run('skopeo', args);
  assert.equal(r.code, 0, `skopeo ${args.join(' ')}:\n${r.out}`);
}

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** Every blob in a store (digests). */
async function storedBlobs(store: Store): Promise<Set<string>> {
  const names = await readdir(join(store.root, 'blobs', 'sha256')).catch(() => [] as string[]);
  return new Set(names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`));
}

// ---- images made here ----------------------------------------------------------------------------

const layerGz = (text: string): Buffer => gzipSync(makeTar([{ name: 'etc/', dir: true }, { name: `etc/${text.replace(/\W/g, '_')}.txt`, data: `${text}\n`.repeat(2000) }]));

interface Img {
  manifest: Buffer;
  digest: string;
  config: Buffer;
  layers: Buffer[];
}
/** An OCI image of the given gzipped layers, for one architecture. */
function image(layers: Buffer[], arch = 'amd64'): Img {
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l)) } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: LAYER_GZIP, digest: sha(l), size: l.length })),
    }),
  );
  return { manifest, digest: sha(manifest), config, layers };
}
const fromBuilt = (b: BuiltImage): Img => ({ manifest: b.manifest, digest: b.digest, config: b.config, layers: [b.layerGz] });
const blobsOf = (img: Img): Buffer[] => [img.manifest, img.config, ...img.layers];

/** An OCI layout: blobs by digest, and index.json naming `refs` (tag → top-level manifest). */
async function layout(dir: string, blobs: Buffer[], refs: { tag: string; mediaType: string; body: Buffer }[]): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const b of blobs) await writeFile(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const manifests = refs.map((r) => ({ mediaType: r.mediaType, digest: sha(r.body), size: r.body.length, annotations: { 'org.opencontainers.image.ref.name': r.tag } }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
}

const shared = layerGz('shared base layer');
const nodeImg = image([shared, layerGz('calico node')]);
const cniImg = image([shared, layerGz('calico cni')]);
const amd = image([layerGz('pause amd64')], 'amd64');
const arm = image([layerGz('pause arm64')], 'arm64');
const pauseIndex = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: OCI_MANIFEST, digest: amd.digest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
    ],
  }),
);
const plain = fromBuilt(buildImage('plain image'));

const item = (name: string, targets?: string[]): PlannedArtifact => ({ kind: 'image', name, reason: 'test', ...(targets ? { targets } : {}) });
const NODE = 'docker.io/calico/node:v3.28.2';
const CNI = 'docker.io/calico/cni:v3.28.2';
const PAUSE = 'registry.k8s.io/pause:3.9';

// ---- a proxy in front of the registry: counts requests, optionally asks for a bearer token or Basic auth

type AuthMode = 'none' | 'bearer' | 'basic';
interface Proxy {
  url: string;
  /** "GET /v2/…" → times asked (not counting 401 answers) */
  hits: Map<string, number>;
  tokenRequests: URLSearchParams[];
  server: Server;
}
const TOKEN = 'tok-3a9f';

async function startProxy(upstreamPort: number, mode: AuthMode): Promise<Proxy> {
  const hits = new Map<string, number>();
  const tokenRequests: URLSearchParams[] = [];
  let base = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', base);
    if (mode === 'bearer' && u.pathname === '/token') {
      tokenRequests.push(u.searchParams);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: TOKEN, expires_in: 300 }));
      return;
    }
    if (u.pathname !== '/v2/' && mode !== 'none') {
      const ok = mode === 'bearer' ? req.headers.authorization === `Bearer ${TOKEN}` : false;
      if (!ok) {
        const repo = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(u.pathname)?.[1] ?? '';
        const challenge = mode === 'bearer' ? `Bearer realm="${base}/token",service="test-registry",scope="repository:${repo}:pull"` : 'Basic realm="test"';
        res.writeHead(401, { 'WWW-Authenticate': challenge, 'Content-Type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    }
    const key = `${req.method} ${u.pathname}`;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    const { authorization: _drop, ...headers } = req.headers;
    const up = httpRequest({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: { ...headers, host: `127.0.0.1:${upstreamPort}` } }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  const port = await listen(server);
  base = `http://127.0.0.1:${port}`;
  return { url: base, hits, tokenRequests, server };
}

/** GETs of a blob, whatever repository asked. */
const blobGets = (p: Proxy, digest: string): number => [...p.hits].filter(([k]) => k.startsWith('GET ') && k.endsWith(`/blobs/${digest}`)).reduce((n, [, v]) => n + v, 0);

// ---- pure parts ----------------------------------------------------------------------------------

test('parseImageRef: registries, docker.io library/, tags, digests', () => {
  const d = `sha256:${'a'.repeat(64)}`;
  assert.deepEqual(parseImageRef('docker.io/calico/node:v3.28.2'), { registry: 'docker.io', repository: 'calico/node', tag: 'v3.28.2' });
  assert.deepEqual(parseImageRef('registry.k8s.io/pause:3.9'), { registry: 'registry.k8s.io', repository: 'pause', tag: '3.9' });
  assert.deepEqual(parseImageRef('docker.io/busybox:1.36'), { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' });
  assert.deepEqual(parseImageRef('nginx'), { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' });
  assert.deepEqual(parseImageRef(`quay.io/a/b/c@${d}`), { registry: 'quay.io', repository: 'a/b/c', digest: d });
  assert.deepEqual(parseImageRef(`localhost:5000/x:1@${d}`), { registry: 'localhost:5000', repository: 'x', tag: '1', digest: d });
  assert.deepEqual(parseImageRef('localhost:5000/x'), { registry: 'localhost:5000', repository: 'x', tag: 'latest' });
  assert.throws(() => parseImageRef('docker.io/Bad/Name:1'), /bad repository/);
  assert.throws(() => parseImageRef('docker.io/a@sha256:zz'), /digest/);
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull' },
  });
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
});

// ---- against the real registry ---------------------------------------------------------------------

describe('image fetcher against docker-registry', { skip: needTools }, () => {
  let dir = '';
  let registry: Distribution | undefined;
  let regPort = 0;
  let open: Proxy;
  const raw = new Map<string, Buffer>(); // item name → `skopeo inspect --raw`
  const ctx = (store: Store, proxy: Proxy, more: Partial<FetchContext> = {}): FetchContext => ({
    store,
    sources: { registries: { 'docker.io': proxy.url, 'registry.k8s.io': proxy.url }, yum: [], pypi: 'https://pypi.org/simple/', helm: [], goproxy: 'https://proxy.golang.org' },
    workDir: dir,
    concurrency: 4,
    dryRun: false,
    ...more,
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-fetch-img-'));
    registry = await startDistribution(dir);
    regPort = registry.port;
    const host = `127.0.0.1:${regPort}`;
    const src = join(dir, 'src');
    await layout(src, [...blobsOf(nodeImg), ...blobsOf(cniImg), ...blobsOf(amd), ...blobsOf(arm), pauseIndex, ...blobsOf(plain)], [
      { tag: 'node', mediaType: OCI_MANIFEST, body: nodeImg.manifest },
      { tag: 'cni', mediaType: OCI_MANIFEST, body: cniImg.manifest },
      { tag: 'pause', mediaType: OCI_INDEX, body: pauseIndex },
      { tag: 'plain', mediaType: OCI_MANIFEST, body: plain.manifest },
    ]);
    await Promise.all([
      skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:node`, `docker://${host}/calico/node:v3.28.2`),
      // Docker schema 2 on the wire for this one (skopeo converts the manifest; the blobs stay)
      skopeo('copy', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${src}:cni`, `docker://${host}/calico/cni:v3.28.2`),
      skopeo('copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:pause`, `docker://${host}/pause:3.9`),
      skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:plain`, `docker://${host}/plain:1`),
    ]);
    for (const [name, path] of [
      [NODE, 'calico/node:v3.28.2'],
      [CNI, 'calico/cni:v3.28.2'],
      [PAUSE, 'pause:3.9'],
    ] as const) {
      raw.set(name, await skopeoRaw(['inspect', '--raw', '--tls-verify=false', `docker://${host}/${path}`]));
    }
    open = await startProxy(regPort, 'none');
  });

  after(async () => {
    if (open) await close(open.server);
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('fetches images into the store: digests as skopeo sees them, shared layer once, amd64 only; a second run downloads nothing', async () => {
    const store = await openStore(join(dir, 'store-main'));
    let progressBytes = 0;
    const res = await fetchImages(ctx(store, open, { progress: { bytes: (n) => (progressBytes += n) } }), [
      item(NODE, ['calico/node:v3.28.2']),
      item(CNI),
      item(PAUSE, ['k8s/pause:3.9', 'k8s/pause:latest']),
      { kind: 'file', name: 'not-mine', url: 'http://127.0.0.1:1/x', sha256: 'a'.repeat(64), reason: 'ignored' },
    ]);
    assert.deepEqual(res.missing, []);
    assert.deepEqual(res.artifacts.map((a) => a.name), [NODE, CNI, PAUSE]);
    for (const a of res.artifacts) {
      assert.equal(a.meta.digest, digestOf(raw.get(a.name)!), `${a.name}: top-level digest is that of skopeo inspect --raw`);
      for (const b of a.blobs) {
        const st = await store.stat(b.digest);
        assert.ok(st, `${a.name}: ${b.role} ${b.digest} is stored`);
        assert.equal(st.size, b.size);
      }
    }
    const [node, cni, pause] = res.artifacts as [(typeof res.artifacts)[0], (typeof res.artifacts)[0], (typeof res.artifacts)[0]];
    // OCI image pushed with its digests preserved; Docker v2s2 re-encoded by skopeo
    assert.equal(node.meta.digest, nodeImg.digest);
    assert.equal(node.meta.mediaType, OCI_MANIFEST);
    assert.equal(node.meta.targets, 'calico/node:v3.28.2');
    assert.equal(node.meta.ref, NODE);
    assert.equal(node.version, 'v3.28.2');
    assert.deepEqual(node.blobs.map((b) => b.role), ['manifest', 'config', 'layer', 'layer']);
    assert.equal(cni.meta.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(cni.meta.targets, '');
    assert.ok(cni.blobs.some((b) => b.digest === sha(shared)), 'the v2s2 image keeps the shared layer blob');
    // the index: its blob, the amd64 manifest and its blobs; nothing of arm64
    assert.equal(pause.meta.digest, sha(pauseIndex));
    assert.equal(pause.meta.mediaType, OCI_INDEX);
    assert.equal(pause.meta.targets, 'k8s/pause:3.9,k8s/pause:latest');
    assert.deepEqual(pause.blobs.map((b) => [b.role, b.digest]), [
      ['index', sha(pauseIndex)],
      ['manifest', amd.digest],
      ['config', sha(amd.config)],
      ['layer', sha(amd.layers[0]!)],
    ]);
    for (const b of blobsOf(arm)) assert.equal(await store.has(sha(b)), false, 'no arm64 blob is stored');
    assert.equal(blobGets(open, sha(arm.layers[0]!)), 0);
    // the shared layer: asked once, stored once, counted once
    assert.equal(blobGets(open, sha(shared)), 1);
    const unique = new Map<string, number>();
    for (const a of res.artifacts) for (const b of a.blobs) unique.set(b.digest, b.size);
    const uniqueBytes = [...unique.values()].reduce((n, s) => n + s, 0);
    assert.equal(res.downloadedBytes, uniqueBytes);
    assert.equal(res.skippedBytes, 0);
    const streamed = new Map(res.artifacts.flatMap((a) => a.blobs.filter((b) => b.role === 'config' || b.role === 'layer').map((b) => [b.digest, b.size] as const)));
    assert.equal(progressBytes, [...streamed.values()].reduce((n, s) => n + s, 0), 'progress saw each config and layer once');
    assert.deepEqual(await storedBlobs(store), new Set(unique.keys()));

    // again: everything is there
    const before = open.hits.size;
    const again = await fetchImages(ctx(store, open), [item(NODE), item(CNI), item(PAUSE)]);
    assert.deepEqual(again.missing, []);
    assert.equal(again.downloadedBytes, 0);
    assert.equal(again.skippedBytes, uniqueBytes);
    assert.deepEqual(again.artifacts, res.artifacts.map((a) => (a.name === NODE ? { ...a, meta: { ...a.meta, targets: '' } } : a.name === PAUSE ? { ...a, meta: { ...a.meta, targets: '' } } : a)));
    assert.equal(open.hits.size, before, 'no new URL asked (only the tags’ manifests again)');
  });

  test('by digest; a wrong pinned digest, a missing tag and a missing repository are Missing with reasons', async () => {
    const store = await openStore(join(dir, 'store-missing'));
    const pinned = `docker.io/calico/node@${nodeImg.digest}`;
    const wrong = `docker.io/calico/node@${cniImg.digest}`;
    const res = await fetchImages(ctx(store, open), [item(pinned), item('registry.k8s.io/pause:3.10'), item('registry.k8s.io/nothere:1'), item(wrong)]);
    assert.deepEqual(res.artifacts.map((a) => [a.name, a.version, a.meta.digest]), [[pinned, nodeImg.digest, nodeImg.digest]]);
    assert.deepEqual(
      res.missing.map((m) => [m.name, m.version, m.reason]),
      [
        ['registry.k8s.io/pause:3.10', '3.10', 'registry.k8s.io: manifest unknown for pause:3.10'],
        ['registry.k8s.io/nothere:1', '1', 'registry.k8s.io: manifest unknown for nothere:1'],
        [wrong, cniImg.digest, `docker.io: manifest unknown for calico/node@${cniImg.digest}`],
      ],
    );
  });

  test('an index without the wanted platform is Missing; another platform can be chosen', async () => {
    const store = await openStore(join(dir, 'store-platform'));
    const s390 = await makeImageFetcher({ platforms: ['linux/s390x'] })(ctx(store, open), [item(PAUSE)]);
    assert.equal(s390.artifacts.length, 0);
    assert.match(s390.missing[0]?.reason ?? '', /no linux\/s390x image in pause:3\.9 \(it has linux\/arm64\/v8, linux\/amd64\)/);
    const armOnly = await makeImageFetcher({ platforms: ['linux/arm64'] })(ctx(store, open), [item(PAUSE)]);
    assert.deepEqual(armOnly.artifacts[0]?.blobs.map((b) => b.digest), [sha(pauseIndex), arm.digest, sha(arm.config), sha(arm.layers[0]!)]);
  });

  test('dryRun reads manifests only and lists blob sizes; stores nothing', async () => {
    const store = await openStore(join(dir, 'store-dry'));
    const hitsBefore = new Map(open.hits);
    const res = await fetchImages(ctx(store, open, { dryRun: true }), [item(NODE), item(PAUSE), item('registry.k8s.io/pause:0.0')]);
    assert.equal(res.downloadedBytes, 0);
    assert.deepEqual(res.artifacts.map((a) => a.name), [NODE, PAUSE]);
    assert.equal(res.missing.length, 1);
    const node = res.artifacts[0]!;
    assert.deepEqual(node.blobs, [
      { digest: nodeImg.digest, size: nodeImg.manifest.length, role: 'manifest' },
      { digest: sha(nodeImg.config), size: nodeImg.config.length, role: 'config' },
      { digest: sha(shared), size: shared.length, role: 'layer' },
      { digest: sha(nodeImg.layers[1]!), size: nodeImg.layers[1]!.length, role: 'layer' },
    ]);
    assert.deepEqual(await storedBlobs(store), new Set());
    const newBlobGets = [...open.hits].filter(([k, v]) => k.includes('/blobs/') && v !== (hitsBefore.get(k) ?? 0));
    assert.deepEqual(newBlobGets, []);
  });

  test('bearer token: 401 → anonymous token for the challenge scope → retry, for manifests and blobs', async () => {
    const bearer = await startProxy(regPort, 'bearer');
    try {
      const store = await openStore(join(dir, 'store-bearer'));
      const res = await fetchImages(ctx(store, bearer), [item(NODE), item(PAUSE)]);
      assert.deepEqual(res.missing, []);
      assert.equal(res.artifacts.length, 2);
      for (const a of res.artifacts) for (const b of a.blobs) assert.ok(await store.has(b.digest));
      const scopes = bearer.tokenRequests.map((q) => `${q.get('service')} ${q.get('scope')}`).sort();
      assert.deepEqual(scopes, ['test-registry repository:calico/node:pull', 'test-registry repository:pause:pull'], 'one token per repository');
      assert.ok(blobGets(bearer, sha(shared)) === 1);
    } finally {
      await close(bearer.server);
    }
  });

  test('Basic auth without credentials is Missing with a clear reason', async () => {
    const basic = await startProxy(regPort, 'basic');
    try {
      const store = await openStore(join(dir, 'store-basic'));
      const res = await fetchImages(ctx(store, basic), [item(NODE)]);
      assert.equal(res.artifacts.length, 0);
      assert.deepEqual(res.missing, [{ kind: 'image', name: NODE, version: 'v3.28.2', reason: 'docker.io: requires credentials (HTTP Basic auth) and none are configured' }]);
    } finally {
      await close(basic.server);
    }
  });

  test('an unreachable registry is Missing after retries, not an exception', async () => {
    const store = await openStore(join(dir, 'store-down'));
    const port = await freePort();
    const c = ctx(store, open);
    c.sources.registries = { 'docker.io': `http://127.0.0.1:${port}` };
    const res = await fetchImages(c, [item(NODE)]);
    assert.equal(res.artifacts.length, 0);
    assert.match(res.missing[0]?.reason ?? '', /^docker\.io: GET http:\/\/127\.0\.0\.1:\d+\/v2\/calico\/node\/manifests\/v3\.28\.2: fetch failed/);
  });
});

// ---- plain files -----------------------------------------------------------------------------------

describe('file fetcher', () => {
  const content = Buffer.from('#!/bin/sh\necho hello from a plain file\n'.repeat(100));
  const hex = digestOf(content).slice(7);
  let server: Server;
  let base = '';
  let dir = '';
  const gets: string[] = [];
  const fctx = (store: Store, dryRun = false): FetchContext => ({
    store,
    sources: { registries: {}, yum: [], pypi: 'https://pypi.org/simple/', helm: [], goproxy: 'https://proxy.golang.org' },
    workDir: dir,
    concurrency: 2,
    dryRun,
  });
  const file = (name: string, path: string, sha256: string): PlannedArtifact => ({ kind: 'file', name, url: `${base}${path}`, sha256, reason: 'bundle.files' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-fetch-files-'));
    server = createServer((req, res) => {
      if (req.method === 'GET') gets.push(req.url ?? '');
      if (req.url === '/tools/hello.sh' || req.url === '/nohead/hello.sh') {
        if (req.method === 'HEAD' && req.url.startsWith('/nohead/')) return void res.writeHead(405).end();
        res.writeHead(200, { 'Content-Length': String(content.length), 'Content-Type': 'application/octet-stream' });
        return void res.end(req.method === 'HEAD' ? undefined : content);
      }
      res.writeHead(404).end('not found');
    });
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  after(async () => {
    await close(server);
    await rm(dir, { recursive: true, force: true });
  });

  test('right sha256 → stored; wrong → Missing, nothing stored; 404 → Missing; second run skips', async () => {
    const store = await openStore(join(dir, 'store'));
    const wrong = 'b'.repeat(64);
    const res = await fetchFiles(fctx(store), [
      file('tools/hello.sh', '/tools/hello.sh', hex),
      file('tools/bad.sh', '/tools/hello.sh', wrong),
      file('tools/gone.sh', '/tools/gone.sh', 'c'.repeat(64)),
      item('docker.io/ignored/image:1'),
    ]);
    assert.deepEqual(res.artifacts, [
      { kind: 'file', name: 'tools/hello.sh', version: hex.slice(0, 12), blobs: [{ digest: `sha256:${hex}`, size: content.length, role: 'file' }], meta: { name: 'tools/hello.sh', url: `${base}/tools/hello.sh` } },
    ]);
    assert.deepEqual(res.missing.map((m) => [m.name, m.reason]), [
      ['tools/bad.sh', `sha256 mismatch: got ${hex} expected ${wrong}`],
      ['tools/gone.sh', `GET ${base}/tools/gone.sh: HTTP 404`],
    ]);
    assert.equal(res.downloadedBytes, content.length);
    assert.deepEqual(await storedBlobs(store), new Set([`sha256:${hex}`]), 'only the good file is stored');
    assert.deepEqual((await readdir(join(store.root, 'tmp')).catch(() => [] as string[])).filter((n) => n !== 'uploads'), [], 'no temp file left');

    const n = gets.length;
    const again = await fetchFiles(fctx(store), [file('tools/hello.sh', '/tools/hello.sh', hex)]);
    assert.equal(again.downloadedBytes, 0);
    assert.equal(again.skippedBytes, content.length);
    assert.equal(gets.length, n, 'nothing asked of the server');
  });

  test('dryRun: size from HEAD, unknown (0) when HEAD is refused, Missing on 404; nothing stored', async () => {
    const store = await openStore(join(dir, 'store-dry'));
    const n = gets.length;
    const res = await fetchFiles(fctx(store, true), [
      file('a.sh', '/tools/hello.sh', hex),
      file('b.sh', '/nohead/hello.sh', hex),
      file('c.sh', '/tools/gone.sh', hex),
    ]);
    assert.deepEqual(res.artifacts.map((a) => [a.name, a.blobs[0]?.size]), [['a.sh', content.length], ['b.sh', 0]]);
    assert.deepEqual(res.missing.map((m) => m.name), ['c.sh']);
    assert.equal(gets.length, n, 'no GET in a dry run');
    assert.deepEqual(await storedBlobs(store), new Set());
  });
});

// ---- registry answers docker-registry does not give: a fake one on node:http -----------------------

describe('image fetcher against a fake registry', () => {
  let server: Server;
  let base = '';
  let dir = '';
  const good = image([layerGz('fake')]);
  const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'old/img', tag: '1', fsLayers: [], history: [] }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-fetch-fake-'));
    server = createServer((req, res) => {
      const u = req.url ?? '';
      if (u === '/v2/old/img/manifests/1') return void res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end(schema1);
      if (u === '/v2/old/bare/manifests/1') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(schema1);
      if (u === '/v2/lying/img/manifests/1') return void res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Docker-Content-Digest': sha('something else') }).end(good.manifest);
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
    });
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  after(async () => {
    await close(server);
    await rm(dir, { recursive: true, force: true });
  });
  const fctx = (store: Store, signal?: AbortSignal): FetchContext => ({
    store,
    sources: { registries: { 'fake.example': base }, yum: [], pypi: 'https://pypi.org/simple/', helm: [], goproxy: 'https://proxy.golang.org' },
    workDir: dir,
    concurrency: 2,
    dryRun: false,
    ...(signal ? { signal } : {}),
  });

  test('schema 1 and a Docker-Content-Digest that does not match are Missing; nothing stored', async () => {
    const store = await openStore(join(dir, 'store'));
    const res = await fetchImages(fctx(store), [item('fake.example/old/img:1'), item('fake.example/old/bare:1'), item('fake.example/lying/img:1')]);
    assert.equal(res.artifacts.length, 0);
    assert.deepEqual(res.missing.map((m) => m.reason), [
      'fake.example: old/img:1 has a schema 1 manifest: schema 1 not supported',
      'fake.example: old/bare:1 has a schema 1 manifest: schema 1 not supported',
      `fake.example: manifest for lying/img:1 has digest ${good.digest} but the registry says ${sha('something else')}`,
    ]);
    assert.deepEqual(await storedBlobs(store), new Set());
  });

  test('a cancelled run rejects (it is not reported as missing)', async () => {
    const store = await openStore(join(dir, 'store-abort'));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(fetchImages(fctx(store, ac.signal), [item('fake.example/old/img:1')]), (e: Error) => e.name === 'AbortError');
  });
});
