// Bundles end to end, as an operator carries a site over the air gap:
//   connected side: real sources on this machine — Debian packages through apt (this machine's Debian
//   mirror), images from Debian's docker-registry on 127.0.0.1 (seeded here with images sharing a layer),
//   wheels/charts/Go modules from an airlock server on 127.0.0.1, a large file from a slow HTTP server —
//   `bundle create` (killed midway, then resumed without re-downloading), split into parts;
//   offline side: a lab whose admin serves the mirror over HTTPS with the site CA; `bundle load` of the
//   parts in shuffled order (killed midway, then resumed), and the node, with no route out, installs
//   the package and pulls the image from the admin.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { openStore } from '../../src/store/index.ts';
import { importChart, importGoModule, importPython, repoHandlers } from '../../src/serve/repos/index.ts';
import { buildImage, makeTar, sha, writeLayout } from '../oci-image.ts';
import { makeZip, startTestServer } from '../repo-server.ts';
import { startDistribution, type Distribution } from '../distribution.ts';
import { json, killWhen as killWhenPolled } from './cli.ts';

const killWhen = (args: string[], when: () => boolean) => killWhenPolled(args, when, { pollMs: 20 });

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'airlock.js');
const prefix = `b${randomBytes(3).toString('hex').slice(0, 4)}`;
const stateDir = `/var/lib/airlock/labs/${prefix}`;
const isRoot = process.getuid?.() === 0;
const tmp = fs.mkdtempSync(join(tmpdir(), 'airlock-e2e-bundle-'));
const site = join(tmp, 'site.yaml');
const out = join(tmp, 'bundle');
const parts = join(tmp, 'parts');
const BIG = 48 * 1024 * 1024;

/** Run the CLI without blocking this process (the upstream servers live here). */
function airlock(args: string[], timeoutMs = 300_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
const labExec = (host: string, cmd: string) => airlock(['lab', 'exec', site, host, '--prefix', prefix, '--', 'sh', '-c', cmd]);

const blobsIn = (dir: string): Map<string, number> => {
  const d = join(dir, 'blobs', 'sha256');
  const m = new Map<string, number>();
  for (const f of fs.existsSync(d) ? fs.readdirSync(d) : []) m.set(`sha256:${f}`, fs.statSync(join(d, f)).size);
  return m;
};
const tempWrites = (storeDir: string): number => {
  const d = join(storeDir, 'tmp');
  return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.startsWith('put-')).reduce((n, f) => n + (fs.statSync(join(d, f), { throwIfNoEntry: false })?.size ?? 0), 0) : 0;
};

interface CreateJson { written: boolean; missing: unknown[]; downloadedBytes: number; skippedBytes: number; storedBytes: number; logicalBytes: number; blobs: number; fingerprint: string; parts: string[] }
interface LoadJson { published: boolean; alreadyLoaded: boolean; imported: number; present: number; problems: { code: string; message: string }[] }

describe('bundle: from real sources, over the gap in parts, into a lab admin, used by a node', { skip: isRoot ? false : 'needs root (lab)' }, () => {
  let registry: Distribution | undefined;
  let upstream: { url: string; close(): Promise<void> } | undefined;
  let slow: Server | undefined;
  const big = randomBytes(BIG);
  const app = buildImage('app from the connected side');
  const tool = buildImage('tool from the connected side');
  let fingerprint = '';

  before(async () => {
    await airlock(['lab', 'down', site, '--prefix', prefix]).catch(() => undefined);
    // 1. Images in a real distribution registry (skopeo pushes OCI layouts built here).
    registry = await startDistribution(tmp);
    for (const [img, name] of [
      [app, 'demo/app:v1'],
      [tool, 'demo/tool:v1'],
    ] as const) {
      const layout = join(tmp, `layout-${name.replace(/\W/g, '-')}`);
      await writeLayout(layout, img, 'v1');
      const r = await new Promise<number | null>((res) => spawn('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry!.host}/${name}`], { stdio: 'ignore' }).on('close', res));
      assert.equal(r, 0, `skopeo push ${name}`);
    }
    // 2. Wheels, charts and Go modules from an airlock server standing in for PyPI, a chart repo and a GOPROXY.
    const upStore = await openStore(join(tmp, 'upstream-store'));
    const whl = join(tmp, 'demo_pkg-1.0-py3-none-any.whl');
    fs.writeFileSync(whl, makeZip([{ name: 'demo_pkg-1.0.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\nRequires-Python: >=3.8\n' }, { name: 'demo_pkg/__init__.py', data: 'x = 1\n' }]));
    await importPython(upStore, whl);
    const chart = join(tmp, 'demo-1.2.3.tgz');
    fs.writeFileSync(chart, gzipSync(makeTar([{ name: 'demo/Chart.yaml', data: 'apiVersion: v2\nname: demo\nversion: 1.2.3\n' }])));
    await importChart(upStore, chart);
    await importGoModule(upStore, { module: 'example.com/Demo/mod', version: 'v1.0.0', zip: makeZip([{ name: 'example.com/Demo/mod@v1.0.0/go.mod', data: 'module example.com/Demo/mod\n' }]) });
    upstream = await startTestServer(upStore, repoHandlers());
    // 3. A large file from a slow server (so a create can be killed mid-download).
    slow = createServer((req, res) => {
      if (req.url !== '/big.bin') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': String(big.length) });
      if (req.method === 'HEAD') return void res.end();
      let at = 0;
      const step = () => {
        if (at >= big.length || res.destroyed) return void res.end();
        const n = Math.min(2 * 1024 * 1024, big.length - at);
        const ok = res.write(big.subarray(at, at + n));
        at += n;
        if (ok) setTimeout(step, 25);
        else res.once('drain', () => setTimeout(step, 25));
      };
      step();
    });
    await new Promise<void>((r) => slow!.listen(0, '127.0.0.1', () => r()));
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;

    fs.writeFileSync(
      site,
      stringify({
        apiVersion: 'airlock/v1',
        kind: 'Site',
        metadata: { name: 'bundled' },
        networks: [
          { name: 'outside', cidr: '203.0.113.0/24', gateway: '203.0.113.1' },
          { name: 'inside', cidr: '192.168.60.0/24' },
        ],
        hosts: [
          { name: 'admin', roles: ['admin'], os: 'debian12', interfaces: [{ name: 'eth0', network: 'outside', address: '203.0.113.10/24' }, { name: 'eth1', network: 'inside', address: '192.168.60.10/24', management: true }] },
          { name: 'n1', roles: ['worker'], os: 'debian12', interfaces: [{ name: 'eth1', network: 'inside', address: '192.168.60.11/24', management: true }] },
        ],
        // The lab puts its stand-in internet on the gateway's outside link; the node's way to artifacts is the mirror.
        services: { gateway: { host: 'admin', outside: 'eth0', inside: 'eth1' }, mirrors: { host: 'admin', port: 5000, tls: true } },
        bundle: {
          sources: { registries: { 'docker.io': registry.url }, pypi: `${upstream.url}/pypi/simple/`, helm: [{ name: 'up', url: `${upstream.url}/helm/` }], goproxy: `${upstream.url}/go` },
          images: ['docker.io/demo/app:v1', 'docker.io/demo/tool:v1'],
          packages: { debian12: ['hello'] },
          python: ['demo-pkg==1.0'],
          charts: [{ repo: 'up', name: 'demo', version: '1.2.3' }],
          goModules: ['example.com/Demo/mod@v1.0.0'],
          files: [{ url: `${slowUrl}/big.bin`, sha256: createHash('sha256').update(big).digest('hex') }],
        },
      }),
    );
  });

  after(async () => {
    await airlock(['lab', 'down', site, '--prefix', prefix]);
    await registry?.stop();
    await upstream?.close();
    if (slow) {
      slow.closeAllConnections();
      await new Promise<void>((r) => slow!.close(() => r()));
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    assert.ok(!fs.existsSync(join(stateDir, 'state.json')), 'lab gone');
  });

  it('plan --resolve finds every artifact (apt closure included) before downloading anything', async () => {
    const r = await airlock(['bundle', 'plan', site, '--resolve', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const p = json<{ artifacts: { kind: string; name: string }[]; missing: unknown[] }>(r);
    assert.deepEqual(p.missing, []);
    const debs = p.artifacts.filter((a) => a.kind === 'deb').map((a) => a.name);
    assert.ok(debs.includes('hello') && debs.includes('libc6'), `closure: ${debs.join(' ')}`);
    assert.ok(!fs.existsSync(out), 'nothing written where the bundle will go');
  });

  it('create killed mid-download, then resumed: nothing complete is downloaded again', async () => {
    const killed = await killWhen(['bundle', 'create', site, '-o', out, '--json'], () => tempWrites(out) > 8 * 1024 * 1024);
    assert.ok(killed, 'create was killed while downloading the large file');
    const had = blobsIn(out);
    assert.ok(had.size > 0, 'some blobs were complete before the kill');
    const r = await airlock(['bundle', 'create', site, '-o', out, '--split', '20M', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const c = json<CreateJson>(r);
    assert.equal(c.written, true);
    fingerprint = c.fingerprint;
    const index = JSON.parse(fs.readFileSync(join(out, 'airlock-bundle.json'), 'utf8')) as { blobs: { digest: string; size: number }[] };
    const hadBytes = index.blobs.filter((b) => had.get(b.digest) === b.size).reduce((n, b) => n + b.size, 0);
    assert.equal(c.downloadedBytes, c.storedBytes - hadBytes, 'downloaded exactly what was not complete before');
    assert.ok(c.downloadedBytes >= BIG, 'the large file was fetched again (it was incomplete)');
    assert.ok(c.parts.length >= 3, `parts: ${c.parts.length}`);
    const again = json<CreateJson>(await airlock(['bundle', 'create', site, '-o', out, '--split', '20M', '--json']));
    assert.equal(again.downloadedBytes, 0, 'a third run downloads nothing');
    assert.ok(fs.statSync(join(out, 'airlock-bundle.json')).size > 0);
    fs.renameSync(`${out}.parts`, parts);
  });

  it('verify: the parts, shuffled, against the pinned key', async () => {
    const dirs = fs.readdirSync(parts).map((p) => join(parts, p)).reverse();
    const v = await airlock(['bundle', 'verify', ...dirs, '--trust', fingerprint, '--json']);
    assert.equal(v.code, 0, v.stdout);
    const wrong = await airlock(['bundle', 'verify', ...dirs, '--trust', 'f'.repeat(64), '--json']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /not by the trusted key/);
  });

  it('lab up: the admin serves the mirror over HTTPS with the site CA; apply wires the node', async () => {
    const up = await airlock(['lab', 'up', site, '--prefix', prefix, '--json']);
    assert.equal(up.code, 0, up.stderr);
    const a = await airlock(['apply', site, '--lab', '--prefix', prefix, '--json']);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    // The connected side's Debian mirror is out of the node's reach (the lab has no way out of this machine).
    const route = await labExec('n1', 'curl -s -m 3 http://deb.debian.org/ >/dev/null && echo REACHED || echo UNREACHABLE');
    assert.equal(route.stdout.trim(), 'UNREACHABLE');
    const health = await labExec('n1', 'curl -sf https://192.168.60.10:5000/healthz && echo TLS-OK');
    assert.match(health.stdout, /TLS-OK/, `the node trusts the site CA: ${health.stderr}`);
  });

  it('load killed midway, then resumed from the parts in any order; then the node installs and pulls from the admin', async () => {
    const storeDir = join(stateDir, 'store');
    const dirs = fs.readdirSync(parts).map((p) => join(parts, p));
    const shuffled = [dirs[1]!, ...dirs.slice(2), dirs[0]!];
    const before = blobsIn(storeDir).size;
    const killed = await killWhen(['bundle', 'load', ...shuffled, '--store', storeDir, '--trust', fingerprint, '--json'], () => blobsIn(storeDir).size > before + 1);
    const r = await airlock(['bundle', 'load', ...shuffled, '--store', storeDir, '--trust', fingerprint, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const l = json<LoadJson>(r);
    assert.equal(l.published, true);
    if (killed) assert.ok(l.present > 0, 'blobs loaded before the kill are not imported again');
    else process.stderr.write('# note: the first load finished before it could be killed\n');
    const st = await openStore(storeDir);
    assert.deepEqual((await st.verify()).corrupt, []);
    const again = json<LoadJson>(await airlock(['bundle', 'load', ...dirs, '--store', storeDir, '--trust', fingerprint, '--json']));
    assert.equal(again.alreadyLoaded, true);
    assert.equal(again.imported, 0);

    const apt = await labExec('n1', 'apt-get update -qq 2>&1 && apt-get install -y -qq hello >/dev/null 2>&1; hello');
    assert.match(apt.stdout, /Hello, world!/, apt.stdout + apt.stderr);
    const pull = await labExec('n1', 'ctr images pull --hosts-dir /etc/containerd/certs.d --snapshotter native docker.io/demo/app:v1 >/dev/null && ctr images ls');
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, new RegExp(`docker\\.io/demo/app:v1\\s+\\S+\\s+${app.digest}`));
    const file = await labExec('n1', 'curl -sf https://192.168.60.10:5000/files/big.bin | sha256sum');
    assert.match(file.stdout, new RegExp(sha(big).slice(7)));
    const repos = await labExec('n1', 'curl -sf https://192.168.60.10:5000/pypi/simple/demo-pkg/ && curl -sf https://192.168.60.10:5000/helm/index.yaml && curl -sf https://192.168.60.10:5000/go/example.com/!demo/mod/@v/list');
    assert.equal(repos.code, 0, repos.stderr);
    assert.match(repos.stdout, /demo_pkg-1\.0-py3-none-any\.whl/);
    assert.match(repos.stdout, /demo-1\.2\.3\.tgz/);
    assert.match(repos.stdout, /v1\.0\.0/);
  });
});
