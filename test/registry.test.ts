// The OCI registry against real clients (skopeo) and raw HTTP, on 127.0.0.1 only. Images are made here
// by hand (a layer tar written by the test, a config, a manifest): no network.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { pino, type Logger } from 'pino';
import { openStore, type Store } from '../src/store/index.ts';
import { importDockerArchive, importOciLayout } from '../src/store/import.ts';
import { HttpError, hashPassword, serve, verifyPassword, type RepoHandler, type RunningServer } from '../src/serve/index.ts';

const silent = pino({ level: 'silent' });
const readFileSyncUtf8 = (p: string) => readFileSync(p, 'utf8');
const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
// In CI every tool must be there: a missing one is a failure, not a skip.
const needSkopeo = have('skopeo') || process.env.CI ? false : 'skopeo not installed (apt-get install skopeo)';

import { sha, buildImage, makeTar, OCI_INDEX, OCI_MANIFEST, writeLayout, type BuiltImage } from './oci-image.ts';
import { run as runTool } from './tools.ts';

// ---- helpers -----------------------------------------------------------------------------------

interface Env {
  dir: string;
  store: Store;
  server: RunningServer;
  url: string;
  hostPort: string;
}

async function start(opts: { users?: { name: string; passwordHash: string }[]; handlers?: RepoHandler[]; log?: Logger } = {}): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-reg-'));
  const store = await openStore(join(dir, 'store'));
  const server = await serve({ store, host: '127.0.0.1', port: 0, log: opts.log ?? silent, ...(opts.users ? { users: opts.users } : {}), ...(opts.handlers ? { handlers: opts.handlers } : {}) });
  return { dir, store, server, url: server.url, hostPort: server.url.replace('http://', '') };
}
async function stop(env: Env): Promise<void> {
  await env.server.close();
  await rm(env.dir, { recursive: true, force: true });
}

const run = (cmd: string, args: string[]) => runTool(cmd, args, { set: { LC_ALL: 'C' } });
async function skopeo(...args: string[]): Promise<string> {
  const r = await run('skopeo', args);
  assert.equal(r.code, 0, `skopeo ${args.join(' ')}:\n${r.out}`);
  return r.out;
}

/** A raw HTTP request: the path is sent exactly as given (no URL normalisation). */
function raw(env: Env, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const [host, port] = env.hostPort.split(':');
    const req = httpRequest({ host, port: Number(port), method, path, headers: { ...headers, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
/** Bytes on a socket, for request targets node:http would refuse to send. */
function rawSocket(env: Env, requestLine: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const [host, port] = env.hostPort.split(':');
    const s = connect(Number(port), host, () => s.write(`${requestLine}\r\nHost: ${env.hostPort}\r\nConnection: close\r\n\r\n`));
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
  });
}
const errorCode = (body: Buffer): string | undefined => (JSON.parse(body.toString()) as { errors: { code: string }[] }).errors[0]?.code;

async function pushBlob(env: Env, repo: string, data: Buffer, auth?: string): Promise<void> {
  const r = await raw(env, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha(data)}`, data, auth ? { Authorization: auth } : {});
  assert.equal(r.status, 201, r.body.toString());
}
async function pushImage(env: Env, repo: string, img: BuiltImage, tag: string): Promise<void> {
  await pushBlob(env, repo, img.layerGz);
  await pushBlob(env, repo, img.config);
  const r = await raw(env, 'PUT', `/v2/${repo}/manifests/${tag}`, img.manifest, { 'Content-Type': OCI_MANIFEST });
  assert.equal(r.status, 201, r.body.toString());
}

// ---- tests -------------------------------------------------------------------------------------

describe('registry with skopeo', { skip: needSkopeo }, () => {
  let env: Env;
  before(async () => {
    env = await start();
  });
  after(() => stop(env));

  test('push an OCI layout, inspect, copy back out: same digests', async () => {
    const img = buildImage('hello skopeo');
    const src = join(env.dir, 'src');
    await writeLayout(src, img, 'v1');
    await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${env.hostPort}/test/img:v1`);
    const inspect = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${env.hostPort}/test/img:v1`)) as { Digest: string; Layers: string[]; RepoTags: string[] };
    assert.equal(inspect.Digest, img.digest);
    assert.deepEqual(inspect.Layers, [sha(img.layerGz)]);
    assert.deepEqual(inspect.RepoTags, ['v1']);
    const out = join(env.dir, 'out');
    await skopeo('copy', '--src-tls-verify=false', `docker://${env.hostPort}/test/img:v1`, `oci:${out}:v1`);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]?.digest, img.digest);
    assert.deepEqual(await readFile(join(out, 'blobs', 'sha256', sha(img.layerGz).slice(7))), img.layerGz);
    // a second push of the same image is a no-op for the blobs
    await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${env.hostPort}/test/img:v2`);
    assert.deepEqual((await skopeo('list-tags', '--tls-verify=false', `docker://${env.hostPort}/test/img`)).includes('"v2"'), true);
    assert.deepEqual(await env.store.verify(), { ok: 3, corrupt: [], removedTemp: 0 });
  });

  test('push with skopeo compression (docker schema2 conversion) and pull by digest', async () => {
    const img = buildImage('converted');
    const src = join(env.dir, 'src2');
    await writeLayout(src, img, 'v1');
    await skopeo('copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${src}:v1`, `docker://${env.hostPort}/test/docker-fmt:v1`);
    const rawManifest = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${env.hostPort}/test/docker-fmt:v1`);
    assert.match(rawManifest, /application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
    const d = sha(rawManifest);
    const r = await raw(env, 'GET', `/v2/test/docker-fmt/manifests/${d}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(r.headers['docker-content-digest'], d);
    await skopeo('copy', '--src-tls-verify=false', `docker://${env.hostPort}/test/docker-fmt@${d}`, `oci:${join(env.dir, 'out2')}:x`);
  });

  test('importOciLayout and importDockerArchive (skopeo-made and hand-made, plain and gzipped) are pullable', async () => {
    const img = buildImage('imported');
    const src = join(env.dir, 'src3');
    await writeLayout(src, img, 'v1');
    const r1 = await importOciLayout(env.store, src, { repo: 'imp/layout', tag: 'v1' });
    assert.equal(r1.digest, img.digest);
    assert.equal(r1.blobsCreated, 3);
    const again = await importOciLayout(env.store, src, { repo: 'imp/layout', tag: 'v1' });
    assert.equal(again.blobsCreated, 0);
    const inspect1 = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${env.hostPort}/imp/layout:v1`)) as { Digest: string };
    assert.equal(inspect1.Digest, img.digest);

    // docker-archive written by skopeo
    const archive = join(env.dir, 'img.tar');
    await skopeo('copy', `oci:${src}:v1`, `docker-archive:${archive}:imp/src:v1`);
    const r2 = await importDockerArchive(env.store, archive, { repo: 'imp/archive', tag: 'latest' });
    const out = join(env.dir, 'out3');
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${env.hostPort}/imp/archive:latest`, `oci:${out}:x`);
    const idx = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(idx.manifests[0]?.digest, r2.digest);

    // a hand-made legacy archive: layer folders, the second layer a symlink to the first; then gzipped
    const layer2 = makeTar([{ name: 'tmp/', dir: true }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(img.layer), sha(layer2), sha(img.layer)] } }));
    const legacy = makeTar([
      { name: 'manifest.json', data: JSON.stringify([{ Config: `${sha(config).slice(7)}.json`, RepoTags: ['hand/made:v9'], Layers: ['aaa/layer.tar', 'bbb/layer.tar', 'ccc/layer.tar'] }]) },
      { name: `${sha(config).slice(7)}.json`, data: config },
      { name: 'aaa/', dir: true },
      { name: 'aaa/layer.tar', data: img.layer },
      { name: 'bbb/', dir: true },
      { name: 'bbb/layer.tar', data: layer2 },
      { name: 'ccc/', dir: true },
      { name: 'ccc/layer.tar', symlink: '../aaa/layer.tar' },
    ]);
    await writeFile(join(env.dir, 'legacy.tar'), legacy);
    await writeFile(join(env.dir, 'legacy.tar.gz'), gzipSync(legacy));
    const r3 = await importDockerArchive(env.store, join(env.dir, 'legacy.tar'), { repo: 'imp/legacy', tag: 'v9' });
    const r4 = await importDockerArchive(env.store, join(env.dir, 'legacy.tar.gz'), { repo: 'imp/legacy-gz', tag: 'v9' });
    assert.equal(r3.digest, r4.digest);
    const m = JSON.parse((await raw(env, 'GET', '/v2/imp/legacy/manifests/v9')).body.toString()) as { layers: { digest: string; mediaType: string }[] };
    assert.deepEqual(
      m.layers.map((l) => l.digest),
      [sha(img.layer), sha(layer2), sha(img.layer)],
    );
    await skopeo('copy', '--src-tls-verify=false', `docker://${env.hostPort}/imp/legacy-gz:v9`, `oci:${join(env.dir, 'out4')}:x`);
    // a corrupt archive (diff_id mismatch) is refused
    const badConfig = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha('nope')] } }));
    await writeFile(join(env.dir, 'bad.tar'), makeTar([
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: [], Layers: ['l/layer.tar'] }]) },
      { name: 'c.json', data: badConfig },
      { name: 'l/layer.tar', data: img.layer },
    ]));
    await assert.rejects(importDockerArchive(env.store, join(env.dir, 'bad.tar'), { repo: 'imp/bad', tag: 'x' }), /diff_id/);
    await assert.rejects(importOciLayout(env.store, src, { repo: 'Bad/Name', tag: 'x' }), /invalid repository name/);
  });
});

describe('registry over raw HTTP', () => {
  let env: Env;
  before(async () => {
    env = await start();
  });
  after(() => stop(env));

  test('ping and health', async () => {
    const r = await raw(env, 'GET', '/v2/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
    const h = await raw(env, 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(JSON.parse(h.body.toString()), { status: 'ok' });
  });

  test('chunked upload: in-order chunks, 416 out of order, status, close with digest; GET with ranges', async () => {
    const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    const post = await raw(env, 'POST', '/v2/chunks/blob/blobs/uploads/', '');
    assert.equal(post.status, 202);
    const loc = String(post.headers.location);
    assert.match(loc, /^\/v2\/chunks\/blob\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.equal(post.headers['range'], '0-0');
    const p1 = await raw(env, 'PATCH', loc, data.subarray(0, 1000), { 'Content-Range': '0-999', 'Content-Type': 'application/octet-stream' });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers['range'], '0-999');
    const skip = await raw(env, 'PATCH', loc, data.subarray(2000, 3000), { 'Content-Range': '2000-2999' });
    assert.equal(skip.status, 416);
    assert.equal(skip.headers['range'], '0-999');
    assert.equal(skip.headers.location, loc);
    const again = await raw(env, 'PATCH', loc, data.subarray(0, 1000), { 'Content-Range': '0-999' });
    assert.equal(again.status, 416);
    const badRange = await raw(env, 'PATCH', loc, data.subarray(1000, 1010), { 'Content-Range': 'garbage' });
    assert.equal(badRange.status, 416);
    const status = await raw(env, 'GET', loc);
    assert.equal(status.status, 204);
    assert.equal(status.headers['range'], '0-999');
    const p2 = await raw(env, 'PATCH', loc, data.subarray(1000, 2000), { 'Content-Range': '1000-1999' });
    assert.equal(p2.status, 202);
    assert.equal(p2.headers['range'], '0-1999');
    const put = await raw(env, 'PUT', `${loc}?digest=${sha(data)}`, data.subarray(2000), { 'Content-Range': '2000-2999' });
    assert.equal(put.status, 201, put.body.toString());
    assert.equal(put.headers.location, `/v2/chunks/blob/blobs/${sha(data)}`);
    assert.equal(put.headers['docker-content-digest'], sha(data));
    assert.equal((await raw(env, 'GET', loc)).status, 404, 'the session is gone');

    const get = await raw(env, 'GET', `/v2/chunks/blob/blobs/${sha(data)}`);
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, data);
    assert.equal(get.headers['docker-content-digest'], sha(data));
    const head = await raw(env, 'HEAD', `/v2/chunks/blob/blobs/${sha(data)}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '3000');
    const part = await raw(env, 'GET', `/v2/chunks/blob/blobs/${sha(data)}`, undefined, { Range: 'bytes=10-19' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], 'bytes 10-19/3000');
    assert.deepEqual(part.body, data.subarray(10, 20));
    const tail = await raw(env, 'GET', `/v2/chunks/blob/blobs/${sha(data)}`, undefined, { Range: 'bytes=-5' });
    assert.deepEqual(tail.body, data.subarray(2995));
    const open = await raw(env, 'GET', `/v2/chunks/blob/blobs/${sha(data)}`, undefined, { Range: 'bytes=2990-' });
    assert.deepEqual(open.body, data.subarray(2990));
    const beyond = await raw(env, 'GET', `/v2/chunks/blob/blobs/${sha(data)}`, undefined, { Range: 'bytes=5000-6000' });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], 'bytes */3000');
    // a blob larger than the in-memory threshold is streamed, ranges too
    const big = Buffer.alloc(5 * 1024 * 1024 + 3, 9);
    big[4 * 1024 * 1024] = 1;
    await pushBlob(env, 'chunks/blob', big);
    const bigGet = await raw(env, 'GET', `/v2/chunks/blob/blobs/${sha(big)}`);
    assert.equal(bigGet.body.length, big.length);
    assert.equal(sha(bigGet.body), sha(big));
    const bigPart = await raw(env, 'GET', `/v2/chunks/blob/blobs/${sha(big)}`, undefined, { Range: 'bytes=4194303-4194305' });
    assert.deepEqual([...bigPart.body], [9, 1, 9]);
    // PATCH without Content-Range (streamed), then an empty closing PUT
    const s2 = String((await raw(env, 'POST', '/v2/chunks/blob/blobs/uploads/', '')).headers.location);
    assert.equal((await raw(env, 'PATCH', s2, data)).status, 202);
    assert.equal((await raw(env, 'PUT', `${s2}?digest=${sha(data)}`, '')).status, 201);
    // cancel
    const s3 = String((await raw(env, 'POST', '/v2/chunks/blob/blobs/uploads/', '')).headers.location);
    assert.equal((await raw(env, 'DELETE', s3)).status, 204);
    assert.equal((await raw(env, 'GET', s3)).status, 404);
    assert.equal(errorCode((await raw(env, 'PATCH', s3, 'x')).body), 'BLOB_UPLOAD_UNKNOWN');
    // a session belongs to its repository
    const s4 = String((await raw(env, 'POST', '/v2/chunks/blob/blobs/uploads/', '')).headers.location);
    assert.equal((await raw(env, 'GET', s4.replace('chunks/blob', 'other/repo'))).status, 404);
  });

  test('digest mismatch: 400 DIGEST_INVALID and the blob is absent', async () => {
    const data = Buffer.from('the real content');
    const wrong = sha('other content');
    const mono = await raw(env, 'POST', `/v2/dm/repo/blobs/uploads/?digest=${wrong}`, data);
    assert.equal(mono.status, 400);
    assert.equal(errorCode(mono.body), 'DIGEST_INVALID');
    const loc = String((await raw(env, 'POST', '/v2/dm/repo/blobs/uploads/', '')).headers.location);
    await raw(env, 'PATCH', loc, data, { 'Content-Range': `0-${data.length - 1}` });
    const put = await raw(env, 'PUT', `${loc}?digest=${wrong}`, '');
    assert.equal(put.status, 400);
    assert.equal(errorCode(put.body), 'DIGEST_INVALID');
    for (const d of [wrong, sha(data)]) {
      assert.equal((await raw(env, 'HEAD', `/v2/dm/repo/blobs/${d}`)).status, 404);
      assert.equal(await env.store.has(d), false);
    }
    const noDigest = await raw(env, 'PUT', String((await raw(env, 'POST', '/v2/dm/repo/blobs/uploads/', '')).headers.location), '');
    assert.equal(noDigest.status, 400);
    assert.equal(errorCode(noDigest.body), 'DIGEST_INVALID');
    const sha512 = await raw(env, 'POST', `/v2/dm/repo/blobs/uploads/?digest=sha512:${'a'.repeat(128)}`, data);
    assert.equal(sha512.status, 400);
    assert.deepEqual(await readdir(join(env.store.root, 'tmp')).then((n) => n.filter((x) => x !== 'uploads')), []);
  });

  test('cross-repository mount', async () => {
    const data = Buffer.from('mount me');
    await pushBlob(env, 'mount/src', data);
    const m = await raw(env, 'POST', `/v2/mount/dst/blobs/uploads/?mount=${sha(data)}&from=mount/src`, '');
    assert.equal(m.status, 201);
    assert.equal(m.headers.location, `/v2/mount/dst/blobs/${sha(data)}`);
    assert.equal((await raw(env, 'GET', `/v2/mount/dst/blobs/${sha(data)}`)).body.toString(), 'mount me');
    // not in `from`: falls back to a new upload session
    const miss = await raw(env, 'POST', `/v2/mount/dst2/blobs/uploads/?mount=${sha('absent')}&from=mount/src`, '');
    assert.equal(miss.status, 202);
    assert.match(String(miss.headers.location), /^\/v2\/mount\/dst2\/blobs\/uploads\//);
    const wrongFrom = await raw(env, 'POST', `/v2/mount/dst3/blobs/uploads/?mount=${sha(data)}&from=mount/nothere`, '');
    assert.equal(wrongFrom.status, 202);
    // blobs are per repository: not readable where never pushed/mounted
    assert.equal((await raw(env, 'GET', `/v2/mount/dst3/blobs/${sha(data)}`)).status, 404);
    // blob delete: 202, then 404 in that repository only
    assert.equal((await raw(env, 'DELETE', `/v2/mount/dst/blobs/${sha(data)}`)).status, 202);
    assert.equal((await raw(env, 'GET', `/v2/mount/dst/blobs/${sha(data)}`)).status, 404);
    assert.equal((await raw(env, 'DELETE', `/v2/mount/dst/blobs/${sha(data)}`)).status, 404);
    assert.equal((await raw(env, 'GET', `/v2/mount/src/blobs/${sha(data)}`)).status, 200);
  });

  test('manifests: put by tag and digest, get/head, content type, unknown blobs, delete', async () => {
    const img = buildImage('manifests');
    const noBlobs = await raw(env, 'PUT', '/v2/man/repo/manifests/v1', img.manifest, { 'Content-Type': OCI_MANIFEST });
    assert.equal(noBlobs.status, 400);
    const errs = (JSON.parse(noBlobs.body.toString()) as { errors: { code: string; detail: { digest: string } }[] }).errors;
    assert.deepEqual(errs.map((e) => [e.code, e.detail.digest]).sort(), [['MANIFEST_BLOB_UNKNOWN', sha(img.config)], ['MANIFEST_BLOB_UNKNOWN', sha(img.layerGz)]].sort());
    await pushImage(env, 'man/repo', img, 'v1');
    const get = await raw(env, 'GET', '/v2/man/repo/manifests/v1');
    assert.equal(get.status, 200);
    assert.equal(get.headers['content-type'], OCI_MANIFEST);
    assert.equal(get.headers['docker-content-digest'], img.digest);
    assert.deepEqual(get.body, img.manifest);
    const head = await raw(env, 'HEAD', `/v2/man/repo/manifests/${img.digest}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(img.manifest.length));
    const byDigest = await raw(env, 'PUT', `/v2/man/repo/manifests/${img.digest}`, img.manifest, { 'Content-Type': OCI_MANIFEST });
    assert.equal(byDigest.status, 201);
    assert.equal(byDigest.headers.location, `/v2/man/repo/manifests/${img.digest}`);
    const wrongDigest = await raw(env, 'PUT', `/v2/man/repo/manifests/${sha('x')}`, img.manifest, { 'Content-Type': OCI_MANIFEST });
    assert.equal(errorCode(wrongDigest.body), 'DIGEST_INVALID');
    assert.equal(errorCode((await raw(env, 'PUT', '/v2/man/repo/manifests/v2', '{not json', { 'Content-Type': OCI_MANIFEST })).body), 'MANIFEST_INVALID');
    assert.equal(errorCode((await raw(env, 'PUT', '/v2/man/repo/manifests/v2', img.manifest, { 'Content-Type': OCI_INDEX })).body), 'MANIFEST_INVALID');
    // an index over the manifest
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: img.digest, size: img.manifest.length, platform: { architecture: 'amd64', os: 'linux' } }] }));
    assert.equal((await raw(env, 'PUT', '/v2/man/repo/manifests/multi', index, { 'Content-Type': OCI_INDEX })).status, 201);
    assert.equal((await raw(env, 'GET', '/v2/man/repo/manifests/multi')).headers['content-type'], OCI_INDEX);
    const badIndex = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha('nothing'), size: 3 }] }));
    assert.equal(errorCode((await raw(env, 'PUT', '/v2/man/repo/manifests/bad', badIndex, { 'Content-Type': OCI_INDEX })).body), 'MANIFEST_BLOB_UNKNOWN');
    // unknown things
    assert.equal(errorCode((await raw(env, 'GET', '/v2/man/repo/manifests/nope')).body), 'MANIFEST_UNKNOWN');
    assert.equal(errorCode((await raw(env, 'GET', '/v2/man/none/manifests/v1')).body), 'NAME_UNKNOWN');
    assert.equal(errorCode((await raw(env, 'GET', `/v2/man/repo/blobs/${sha('nope')}`)).body), 'BLOB_UNKNOWN');
    // delete a tag, then the manifest (its other tags go too)
    await raw(env, 'PUT', '/v2/man/repo/manifests/v3', img.manifest, { 'Content-Type': OCI_MANIFEST });
    assert.equal((await raw(env, 'DELETE', '/v2/man/repo/manifests/v1')).status, 202);
    assert.equal((await raw(env, 'GET', '/v2/man/repo/manifests/v1')).status, 404);
    assert.equal((await raw(env, 'GET', '/v2/man/repo/manifests/v3')).status, 200);
    assert.equal((await raw(env, 'DELETE', `/v2/man/repo/manifests/${img.digest}`)).status, 202);
    assert.equal((await raw(env, 'GET', `/v2/man/repo/manifests/${img.digest}`)).status, 404);
    assert.equal((await raw(env, 'GET', '/v2/man/repo/manifests/v3')).status, 404);
    assert.equal((await raw(env, 'DELETE', `/v2/man/repo/manifests/${img.digest}`)).status, 404);
    assert.equal((await raw(env, 'POST', '/v2/man/repo/manifests/v3', '')).status, 405);
  });

  test('tags list: lexical order, n/last pagination with Link', async () => {
    const img = buildImage('tags');
    await pushImage(env, 'tags/repo', img, 'b');
    for (const t of ['a', 'C', 'd', 'e1', 'E2']) {
      assert.equal((await raw(env, 'PUT', `/v2/tags/repo/manifests/${t}`, img.manifest, { 'Content-Type': OCI_MANIFEST })).status, 201);
    }
    const all = JSON.parse((await raw(env, 'GET', '/v2/tags/repo/tags/list')).body.toString()) as { name: string; tags: string[] };
    assert.deepEqual(all, { name: 'tags/repo', tags: ['a', 'b', 'C', 'd', 'e1', 'E2'] });
    const seen: string[] = [];
    let next: string | undefined = '/v2/tags/repo/tags/list?n=4';
    for (let i = 0; next && i < 10; i++) {
      const r = await raw(env, 'GET', next);
      assert.equal(r.status, 200);
      seen.push(...(JSON.parse(r.body.toString()) as { tags: string[] }).tags);
      const link = r.headers.link as string | undefined;
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
    }
    assert.deepEqual(seen, all.tags);
    const afterC = JSON.parse((await raw(env, 'GET', '/v2/tags/repo/tags/list?last=C')).body.toString()) as { tags: string[] };
    assert.deepEqual(afterC.tags, ['d', 'e1', 'E2']);
    const zero = await raw(env, 'GET', '/v2/tags/repo/tags/list?n=0');
    assert.deepEqual((JSON.parse(zero.body.toString()) as { tags: string[] }).tags, []);
    assert.equal(zero.headers.link, undefined);
    const exact = await raw(env, 'GET', '/v2/tags/repo/tags/list?n=6');
    assert.equal(exact.headers.link, undefined);
    assert.equal((await raw(env, 'GET', '/v2/tags/repo/tags/list?n=-1')).status, 400);
    assert.equal(errorCode((await raw(env, 'GET', '/v2/tags/none/tags/list')).body), 'NAME_UNKNOWN');
    const cat = JSON.parse((await raw(env, 'GET', '/v2/_catalog')).body.toString()) as { repositories: string[] };
    assert.ok(cat.repositories.includes('tags/repo'));
  });

  test('referrers: subject tracking, OCI-Subject, artifactType filter', async () => {
    const img = buildImage('subject');
    await pushImage(env, 'ref/repo', img, 'v1');
    const empty = Buffer.from('{}');
    await pushBlob(env, 'ref/repo', empty);
    const subject = { mediaType: OCI_MANIFEST, digest: img.digest, size: img.manifest.length };
    const artifact = (type: string, note: string) =>
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: type, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 }, layers: [], subject, annotations: { note } }));
    const sbom = artifact('application/spdx+json', 'sbom');
    const sig = artifact('application/vnd.example.signature', 'sig');
    // a referrer without artifactType: the config media type stands in
    const plain = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.example.config', digest: sha(empty), size: 2 }, layers: [], subject }));
    for (const m of [sbom, sig, plain]) {
      const r = await raw(env, 'PUT', `/v2/ref/repo/manifests/${sha(m)}`, m, { 'Content-Type': OCI_MANIFEST });
      assert.equal(r.status, 201, r.body.toString());
      assert.equal(r.headers['oci-subject'], img.digest);
    }
    const all = await raw(env, 'GET', `/v2/ref/repo/referrers/${img.digest}`);
    assert.equal(all.status, 200);
    assert.equal(all.headers['content-type'], OCI_INDEX);
    const idx = JSON.parse(all.body.toString()) as { schemaVersion: number; mediaType: string; manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[] };
    assert.equal(idx.schemaVersion, 2);
    assert.deepEqual(idx.manifests.map((m) => m.digest).sort(), [sha(sbom), sha(sig), sha(plain)].sort());
    assert.equal(idx.manifests.find((m) => m.digest === sha(plain))?.artifactType, 'application/vnd.example.config');
    assert.equal(idx.manifests.find((m) => m.digest === sha(sbom))?.annotations?.note, 'sbom');
    const filtered = await raw(env, 'GET', `/v2/ref/repo/referrers/${img.digest}?artifactType=${encodeURIComponent('application/spdx+json')}`);
    assert.equal(filtered.headers['oci-filters-applied'], 'artifactType');
    assert.deepEqual((JSON.parse(filtered.body.toString()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest), [sha(sbom)]);
    const none = await raw(env, 'GET', `/v2/ref/repo/referrers/${sha('no subject')}`);
    assert.equal(none.status, 200);
    assert.deepEqual((JSON.parse(none.body.toString()) as { manifests: unknown[] }).manifests, []);
    assert.equal((await raw(env, 'GET', '/v2/ref/repo/referrers/sha256:xyz')).status, 400);
    // deleting a referrer removes it from the list
    assert.equal((await raw(env, 'DELETE', `/v2/ref/repo/manifests/${sha(sig)}`)).status, 202);
    const after = JSON.parse((await raw(env, 'GET', `/v2/ref/repo/referrers/${img.digest}`)).body.toString()) as { manifests: { digest: string }[] };
    assert.deepEqual(after.manifests.map((m) => m.digest).sort(), [sha(sbom), sha(plain)].sort());
  });

  test('path traversal and malformed names/references: always 4xx, never a file outside the store', async () => {
    const secret = join(env.dir, 'secret.txt');
    await writeFile(secret, 'TOP-SECRET');
    const d = sha('x');
    const paths = [
      '/v2/../../../../etc/passwd',
      '/v2/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/v2/%2E%2E/secret.txt',
      '/v2/test/img/blobs/..%2f..%2f..%2f..%2fsecret.txt',
      '/v2/test/img/blobs/sha256:..%2F..%2F..%2Fsecret.txt',
      '/v2/test/img/blobs/sha256%3a..%2f..%2fsecret.txt',
      `/v2/test/img/blobs/${d}%00`,
      `/v2/test/img/blobs/${d.toUpperCase()}`,
      '/v2/test/img/manifests/..%2f..%2f..%2fsecret.txt',
      '/v2/test/img/manifests/%00',
      '/v2/test/img/manifests/.hidden',
      `/v2/test/img/manifests/${'t'.repeat(129)}`,
      '/v2/test%00/manifests/latest',
      '/v2/TEST/img/manifests/latest',
      '/v2/test/-img/manifests/latest',
      `/v2/${'a'.repeat(256)}/manifests/latest`,
      `/v2/${Array.from({ length: 200 }, () => 'ab').join('/')}/tags/list`,
      '/v2//etc/passwd/manifests/latest',
      '/v2/test/img/blobs/uploads/..%2f..%2f..%2fsecret.txt',
      '/v2/test/img/blobs/uploads/../../../../secret.txt',
      '/v2/test/img/tags/list/..',
      '/v2/test/img/referrers/..%2fsecret.txt',
      '/v2/test%2fimg/tags/list',
      '/v2/test\\..\\..\\secret.txt/tags/list',
      '/v2/test/img/manifests/%ZZ',
      '/v2/./test/img/tags/list',
      '/apt/../v2/',
      '/apt/%2e%2e/%2e%2e/secret.txt',
      `/${'x'.repeat(5000)}`,
    ];
    for (const p of paths) {
      for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH']) {
        const r = await raw(env, method, p, method === 'PUT' || method === 'PATCH' ? 'TOP-SECRET?' : undefined, { 'Content-Type': OCI_MANIFEST });
        assert.ok(r.status >= 400 && r.status < 500, `${method} ${p} → ${r.status}`);
        assert.ok(!r.body.toString().includes('TOP-SECRET'), `${method} ${p} leaked`);
        assert.ok(!r.body.toString().includes('root:'), `${method} ${p} leaked /etc/passwd`);
      }
    }
    for (const line of ['GET http://127.0.0.1/etc/passwd HTTP/1.1', 'GET /v2/test\\img/tags/list HTTP/1.1', 'GET //etc/passwd HTTP/1.1', 'GET * HTTP/1.1']) {
      const out = await rawSocket(env, line);
      assert.match(out, /^HTTP\/1\.1 4\d\d /, line);
    }
    assert.equal(await readFile(secret, 'utf8'), 'TOP-SECRET');
    const under = await readdir(env.dir);
    assert.deepEqual(under.sort(), ['secret.txt', 'store'], 'nothing was written outside the store');
  });
});

describe('auth, handlers, errors, logs', () => {
  test('hashPassword/verifyPassword', async () => {
    const h = await hashPassword('s3cret', { N: 1024 });
    assert.match(h, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(await verifyPassword('s3cret', h), true);
    assert.equal(await verifyPassword('s3cret!', h), false);
    assert.equal(await verifyPassword('s3cret', 'garbage'), false);
    assert.notEqual(await hashPassword('s3cret', { N: 1024 }), h, 'salted');
    await assert.rejects(hashPassword('x', { N: 1000 }), RangeError);
  });

  test('writes need credentials when users are configured; reads stay anonymous', async () => {
    const users = [{ name: 'ci', passwordHash: await hashPassword('pushpw', { N: 1024 }) }];
    const env = await start({ users });
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    try {
      const data = Buffer.from('authz');
      const anon = await raw(env, 'POST', `/v2/auth/repo/blobs/uploads/?digest=${sha(data)}`, data);
      assert.equal(anon.status, 401);
      assert.equal(errorCode(anon.body), 'UNAUTHORIZED');
      assert.match(String(anon.headers['www-authenticate']), /^Basic realm="airlock"/);
      assert.equal((await raw(env, 'POST', `/v2/auth/repo/blobs/uploads/?digest=${sha(data)}`, data, { Authorization: basic('ci', 'wrong') })).status, 401);
      assert.equal((await raw(env, 'POST', `/v2/auth/repo/blobs/uploads/?digest=${sha(data)}`, data, { Authorization: basic('nobody', 'pushpw') })).status, 401);
      assert.equal(await env.store.has(sha(data)), false);
      await pushBlob(env, 'auth/repo', data, basic('ci', 'pushpw'));
      assert.equal((await raw(env, 'DELETE', `/v2/auth/repo/blobs/${sha(data)}`)).status, 401);
      // reads: anonymous
      const get = await raw(env, 'GET', `/v2/auth/repo/blobs/${sha(data)}`);
      assert.equal(get.status, 200);
      assert.equal(get.body.toString(), 'authz');
      // the ping challenges anonymous clients (so they know where to send credentials) and accepts good ones
      assert.equal((await raw(env, 'GET', '/v2/')).status, 401);
      assert.equal((await raw(env, 'GET', '/v2/', undefined, { Authorization: basic('ci', 'pushpw') })).status, 200);

      if (!needSkopeo) {
        const img = buildImage('auth');
        const src = join(env.dir, 'src');
        await writeLayout(src, img, 'v1');
        const denied = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${env.hostPort}/auth/img:v1`]);
        assert.notEqual(denied.code, 0);
        assert.match(denied.out, /unauthorized|401|authentication required/i);
        await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', 'ci:pushpw', `oci:${src}:v1`, `docker://${env.hostPort}/auth/img:v1`);
        await skopeo('copy', '--src-tls-verify=false', `docker://${env.hostPort}/auth/img:v1`, `oci:${join(env.dir, 'out')}:v1`);
        const inspect = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${env.hostPort}/auth/img:v1`)) as { Digest: string };
        assert.equal(inspect.Digest, img.digest);
      }
    } finally {
      await stop(env);
    }
  });

  test('repo handlers by prefix; 4xx messages reach clients, 5xx details do not; one log line per request', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const log = pino({ level: 'info' }, sink);
    const handler: RepoHandler = {
      prefix: '/files/',
      async handle(req, res, ctx) {
        if (ctx.url.pathname === '/files/boom') throw new Error('db password is hunter2 at /var/lib/secret');
        if (ctx.url.pathname === '/files/teapot') throw new HttpError(418, 'short and stout');
        if (ctx.url.pathname === '/files/skip') return false;
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`hi ${ctx.baseUrl} ${ctx.user ?? 'anon'} ${req.method}`);
        return true;
      },
    };
    const env = await start({ handlers: [handler], log });
    try {
      const ok = await raw(env, 'GET', '/files/x');
      assert.equal(ok.status, 200);
      assert.equal(ok.body.toString(), `hi ${env.url} anon GET`);
      const boom = await raw(env, 'GET', '/files/boom');
      assert.equal(boom.status, 500);
      assert.doesNotMatch(boom.body.toString(), /hunter2|secret/);
      const tea = await raw(env, 'GET', '/files/teapot');
      assert.equal(tea.status, 418);
      assert.match(tea.body.toString(), /short and stout/);
      assert.equal((await raw(env, 'GET', '/files/skip')).status, 404);
      assert.equal((await raw(env, 'GET', '/nothing')).status, 404);
      await new Promise((r) => setTimeout(r, 50));
      const reqLines = lines.filter((l) => l.msg === 'request');
      assert.equal(reqLines.length, 5);
      assert.deepEqual(
        reqLines.map((l) => [l.method, l.path, l.status, typeof l.ms]),
        [
          ['GET', '/files/x', 200, 'number'],
          ['GET', '/files/boom', 500, 'number'],
          ['GET', '/files/teapot', 418, 'number'],
          ['GET', '/files/skip', 404, 'number'],
          ['GET', '/nothing', 404, 'number'],
        ],
      );
      assert.ok(lines.some((l) => l.msg === 'request failed' && JSON.stringify(l).includes('hunter2')), 'the 5xx cause is logged');
    } finally {
      await stop(env);
    }
  });

  test('graceful close: in-flight requests finish, new connections are refused', async () => {
    const env = await start();
    try {
      const data = Buffer.alloc(256 * 1024, 3);
      const loc = String((await raw(env, 'POST', '/v2/grace/repo/blobs/uploads/', '')).headers.location);
      const [host, port] = env.hostPort.split(':');
      // a PATCH whose body is still arriving when close() is called
      const inflight = new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host, port: Number(port), method: 'PATCH', path: loc, headers: { 'Content-Length': String(data.length) }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.write(data.subarray(0, 1000));
        setTimeout(() => req.end(data.subarray(1000)), 200);
      });
      await new Promise((r) => setTimeout(r, 50));
      const closing = env.server.close();
      assert.equal(await inflight, 202);
      await closing;
      await assert.rejects(raw(env, 'GET', '/healthz'));
    } finally {
      await rm(env.dir, { recursive: true, force: true });
    }
  });
});

describe('TLS', { skip: have('openssl') ? false : 'openssl not installed' }, () => {
  test('serves HTTPS from PEM files; skopeo talks to it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-tls-'));
    try {
      const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' });
      assert.equal(gen.status, 0, gen.stderr);
      const store = await openStore(join(dir, 'store'));
      const server = await serve({ store, host: '127.0.0.1', port: 0, log: silent, tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } });
      try {
        assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
        const { request } = await import('node:https');
        const body = await new Promise<string>((resolve, reject) => {
          const req = request(`${server.url}/healthz`, { ca: readFileSyncUtf8(join(dir, 'cert.pem')) }, (res) => {
            let out = '';
            res.on('data', (d: Buffer) => (out += d.toString()));
            res.on('end', () => resolve(out));
          });
          req.on('error', reject);
          req.end();
        });
        assert.deepEqual(JSON.parse(body), { status: 'ok' });
        if (!needSkopeo) {
          const img = buildImage('tls');
          await writeLayout(join(dir, 'src'), img, 'v1');
          const hostPort = server.url.replace('https://', '');
          const certs = join(dir, 'certs'); // containers/image trusts *.crt files of a cert dir
          await mkdir(certs);
          await writeFile(join(certs, 'ca.crt'), readFileSyncUtf8(join(dir, 'cert.pem')));
          await skopeo('copy', '--preserve-digests', '--dest-cert-dir', certs, `oci:${join(dir, 'src')}:v1`, `docker://${hostPort}/tls/img:v1`);
          const inspect = JSON.parse(await skopeo('inspect', '--cert-dir', certs, `docker://${hostPort}/tls/img:v1`)) as { Digest: string };
          assert.equal(inspect.Digest, img.digest);
        }
      } finally {
        await server.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('crash safety of uploads', () => {
  test('a registry SIGKILLed mid-upload: the store verifies clean and the upload resumes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-crash-'));
    const root = join(dir, 'store');
    const src = (p: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', 'src', p)).href);
    const code = `
      import { openStore } from ${src('store/index.ts')};
      import { serve } from ${src('serve/index.ts')};
      import { pino } from 'pino';
      const s = await serve({ store: await openStore(${JSON.stringify(root)}), host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }) });
      console.log(s.url);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /http:\/\/[\d.]+:\d+/.exec(out);
          if (m) resolve(m[0]);
        });
        child.on('exit', () => reject(new Error('server exited')));
        setTimeout(() => reject(new Error('server did not start')), 30_000).unref();
      });
      const env = { hostPort: url.replace('http://', '') } as Env;
      const data = Buffer.from(Array.from({ length: 4 * 1024 * 1024 }, (_, i) => (i * 7) % 256));
      const loc = String((await raw(env, 'POST', '/v2/crash/repo/blobs/uploads/', '')).headers.location);
      assert.equal((await raw(env, 'PATCH', loc, data.subarray(0, 1 << 20), { 'Content-Range': `0-${(1 << 20) - 1}` })).status, 202);
      // second chunk: send half, then kill the server while the body is in flight
      const [host, port] = env.hostPort.split(':');
      const req = httpRequest({ host, port: Number(port), method: 'PATCH', path: loc, headers: { 'Content-Range': `${1 << 20}-${(3 << 20) - 1}`, 'Content-Length': String(2 << 20) }, agent: false });
      req.on('error', () => undefined);
      req.write(data.subarray(1 << 20, (1 << 20) + (1 << 19)));
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      req.destroy();

      const store = await openStore(root);
      const v = await store.verify();
      assert.deepEqual(v.corrupt, []);
      assert.equal(v.ok, 0);
      const restarted = await serve({ store, host: '127.0.0.1', port: 0, log: silent });
      try {
        const env2 = { hostPort: restarted.url.replace('http://', '') } as Env;
        const st = await raw(env2, 'GET', loc);
        assert.equal(st.status, 204, 'the session survived the crash');
        const offset = Number(/^0-(\d+)$/.exec(String(st.headers['range']))?.[1]) + 1;
        assert.ok(offset >= 1 << 20 && offset <= (1 << 20) + (1 << 19), `resume offset ${offset}`);
        const rest = await raw(env2, 'PATCH', loc, data.subarray(offset), { 'Content-Range': `${offset}-${data.length - 1}` });
        assert.equal(rest.status, 202);
        const put = await raw(env2, 'PUT', `${loc}?digest=${sha(data)}`, '');
        assert.equal(put.status, 201, put.body.toString());
        const got = await raw(env2, 'GET', `/v2/crash/repo/blobs/${sha(data)}`);
        assert.equal(sha(got.body), sha(data));
        assert.deepEqual(await store.verify(), { ok: 1, corrupt: [], removedTemp: 0 });
      } finally {
        await restarted.close();
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
