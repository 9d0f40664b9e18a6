// bench/bundle.ts — `airlock bundle` create / verify / load next to what an operator would do by hand with
// the same bytes in the same run, peak RSS at two bundle sizes, and the dedup ratio of images sharing layers.
//
// Content (per size S MiB): 4 OCI images docker.io/bench/img{0..3}:v1-<S>m, each = one shared layer of S MiB
// + one own layer of S/2 MiB (uncompressed tars of random bytes: incompressible, exact sizes), pushed to
// Debian's docker-registry (distribution) over its API; and one plain file of 2·S MiB served by node:http.
// Every server is a child process on 127.0.0.1 (free ports, temp config) killed by PID at the end; every
// airlock measurement runs in its own child process (its maxRSS is the peak RSS of that operation alone).
//
// Peers (same bytes, same run, interleaved with airlock's runs):
//   create  A: "download + sha256sum + cp": curl every blob (one curl, sequential, or xargs -P4: the faster),
//              `sha256sum -c` against the known digests, `cp -r` to another directory
//           B: "sha256sum + cp" of the same bytes already on disk (the issue's peer: no download)
//   verify     `sha256sum -c` over the bundle's blob files
//   load       `cp -r` of the bundle's blobs + `sha256sum -c` of the copies
//
// Run: npx tsx bench/bundle.ts [--sizes 32,128] [--reps 3] [--keep] [--cpu-prof DIR]
// (root only if docker-registry or curl must be installed). Every size gets --reps runs (medians; peak RSS is
// the largest of the runs). Targets: create and verify ≥ 0.8× the peer; peak RSS not growing with the bundle.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Site } from '../src/schema.ts';
import { ensureTools } from './tools.ts';
import { Children, http, pushBlob, waitHttp } from './harness.ts';
import { distributionConfig, freePort } from '../test/distribution.ts';
import { createBundle, defaultFetchers, generateSigningKey, loadBundle, verifyBundle } from '../src/bundle/index.ts';
import { openStore } from '../src/store/index.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
const MiB = 1 << 20;
const IMAGES = 4;

// ---- the measured side: one operation per child process ----------------------------------------------

interface SiteSpec {
  registry: string;
  images: string[];
  fileUrl: string;
  fileSha256: string;
}
type ChildJob =
  | { op: 'noop' }
  | { op: 'create'; site: SiteSpec; out: string }
  | { op: 'verify'; out: string; trusted: string }
  | { op: 'load'; out: string; trusted: string; store: string };
interface ChildReport {
  op: ChildJob['op'];
  ms: number;
  maxRssKiB: number;
  bytes: number;
  fingerprint?: string;
  logicalBytes?: number;
  storedBytes?: number;
  imageLogicalBytes?: number;
  imageStoredBytes?: number;
}

function benchSite(s: SiteSpec): Site {
  return Site.parse({
    apiVersion: 'airlock/v1',
    kind: 'Site',
    metadata: { name: 'bench' },
    networks: [{ name: 'inside', cidr: '192.168.50.0/24' }],
    hosts: [{ name: 'n1', roles: ['worker'], os: 'debian12', interfaces: [{ name: 'eth0', network: 'inside', address: '192.168.50.11/24', management: true }] }],
    bundle: { images: s.images, sources: { registries: { 'docker.io': s.registry } }, files: [{ url: s.fileUrl, sha256: s.fileSha256, name: 'big.bin' }] },
  });
}

async function childMain(job: ChildJob): Promise<void> {
  const report: ChildReport = { op: job.op, ms: 0, maxRssKiB: 0, bytes: 0 };
  if (job.op === 'create') {
    const site = benchSite(job.site);
    const key = generateSigningKey();
    const all = defaultFetchers();
    const t0 = performance.now();
    const r = await createBundle(site, { out: job.out, key, fetchers: { image: all.image, file: all.file }, concurrency: 4 });
    report.ms = performance.now() - t0;
    if (!r.written || r.missing.length > 0) throw new Error(`create: not written; missing: ${JSON.stringify(r.missing)}`);
    const images = r.artifacts.filter((a) => a.kind === 'image');
    const distinct = new Map(images.flatMap((a) => a.blobs.map((b) => [b.digest, b.size] as const)));
    Object.assign(report, {
      bytes: r.storedBytes,
      fingerprint: r.fingerprint,
      logicalBytes: r.logicalBytes,
      storedBytes: r.storedBytes,
      imageLogicalBytes: images.reduce((n, a) => n + a.blobs.reduce((m, b) => m + b.size, 0), 0),
      imageStoredBytes: [...distinct.values()].reduce((n, s) => n + s, 0),
    });
  } else if (job.op === 'verify') {
    const t0 = performance.now();
    const c = await verifyBundle([job.out], { trusted: job.trusted });
    report.ms = performance.now() - t0;
    if (c.problems.length > 0) throw new Error(`verify: ${JSON.stringify(c.problems)}`);
    report.bytes = c.bytes;
  } else if (job.op === 'load') {
    const store = await openStore(job.store);
    const t0 = performance.now();
    const r = await loadBundle([job.out], store, { trusted: job.trusted });
    report.ms = performance.now() - t0;
    if (r.problems.length > 0 || !r.published) throw new Error(`load: ${JSON.stringify(r.problems)}`);
    report.bytes = r.importedBytes;
  }
  report.maxRssKiB = process.resourceUsage().maxRSS;
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

const childAt = process.argv.indexOf('--child');
if (childAt > 0) {
  try {
    await childMain(JSON.parse(process.argv[childAt + 1] ?? '') as ChildJob);
    process.exit(0); // keep-alive sockets must not hold the child open
  } catch (e) {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  }
}

// ---- the orchestrating side ----------------------------------------------------------------------

const argValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const SIZES = [
  ...new Set(
    (argValue('--sizes') ?? '32,128')
      .split(',')
      .map((s) => Math.max(2, Math.min(1024, Math.floor(Number(s) / 2) * 2)))
      .filter((n) => Number.isFinite(n)),
  ),
].sort((a, b) => a - b);
if (SIZES.length === 0) throw new Error('--sizes: give sizes in MiB, like 32,128');
const REPS = Math.max(1, Math.min(9, Number(argValue('--reps') ?? 3) || 3));
const CPU_PROF = argValue('--cpu-prof');
const KEEP = process.argv.includes('--keep');
const LARGEST = SIZES[SIZES.length - 1]!;

// ---- tools ----
ensureTools('bench/bundle.ts', [
  ['docker-registry', 'docker-registry'],
  ['curl', 'curl'],
  ['sha256sum', 'coreutils'],
  ['xargs', 'findutils'],
]);

// ---- processes ----
const work = mkdtempSync(join(tmpdir(), 'airlock-bench-bundle-'));
const children = new Children(work);
let cleaning: Promise<void> | undefined;
/** Stop the children and remove the temp dir, once (the signal handler and the main path share it). */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await children.stopAll();
    if (KEEP) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** Run one airlock operation in a child process: its own timing and its peak RSS. */
function runChild(job: ChildJob): Promise<ChildReport> {
  const args = ['--import', 'tsx', ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []), import.meta.filename, '--child', JSON.stringify(job)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.track(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.forget(child);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) return reject(new Error(`${job.op} child: exit ${code ?? signal}\n${err}${out}`));
      resolve(JSON.parse(last) as ChildReport);
    });
  });
}

/** A command's wall time in ms; throws when it fails. */
function timed(cmd: string, args: string[], cwd: string): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 16 * MiB, timeout: 300_000 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 6).join(' ')}… in ${cwd}: exit ${r.status ?? r.signal}\n${r.stderr}${r.stdout.slice(0, 2000)}`);
  return ms;
}

// ---- content ----
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const noise = Buffer.alloc(4 * MiB);

/** Random bytes (a tar holding one file of random bytes when `tar`) of exactly `size` bytes; its digest. */
function randomFile(path: string, size: number, tar: boolean): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'w');
  const put = (b: Buffer) => {
    h.update(b);
    writeSync(fd, b);
  };
  let left = size;
  if (tar) {
    const data = size - 512 - 1024; // header + data (a multiple of 512) + two zero blocks
    const hd = Buffer.alloc(512);
    hd.write('random.bin', 0, 100, 'utf8');
    hd.write('0000644\0', 100, 'ascii');
    hd.write('0000000\0', 108, 'ascii');
    hd.write('0000000\0', 116, 'ascii');
    hd.write(`${data.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
    hd.write('14000000000\0', 136, 'ascii');
    hd.write('        ', 148, 'ascii');
    hd.write('0', 156, 'ascii');
    hd.write('ustar\0', 257, 'ascii');
    hd.write('00', 263, 'ascii');
    let sum = 0;
    for (const b of hd) sum += b;
    hd.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    put(hd);
    left = data;
  }
  while (left > 0) {
    const n = Math.min(left, noise.length);
    randomFillSync(noise, 0, n);
    put(noise.subarray(0, n));
    left -= n;
  }
  if (tar) put(Buffer.alloc(1024));
  closeSync(fd);
  return `sha256:${h.digest('hex')}`;
}

interface Blob {
  digest: string;
  size: number;
  url: string;
}
interface Content {
  S: number;
  site: SiteSpec;
  /** Every distinct blob, with a URL a plain HTTP client can GET it from. */
  blobs: Blob[];
  /** Logical and stored (distinct) bytes of the images alone, as built here. */
  imageLogical: number;
  imageStored: number;
  checkFile: string;
}

async function makeContent(S: number, reg: string, files: string): Promise<Content> {
  const src = join(work, `src-${S}`);
  mkdirSync(src);
  const tag = `v1-${S}m`;
  const blobs: Blob[] = [];
  const sharedPath = join(src, 'shared');
  const shared = { digest: randomFile(sharedPath, S * MiB, true), size: S * MiB };
  blobs.push({ ...shared, url: `${reg}/v2/bench/img0/blobs/${shared.digest}` });
  const images: string[] = [];
  let imageLogical = 0;
  let imageStored = shared.size;
  for (let i = 0; i < IMAGES; i++) {
    const repo = `bench/img${i}`;
    const ownPath = join(src, `own${i}`);
    const own = { digest: randomFile(ownPath, (S / 2) * MiB, true), size: (S / 2) * MiB };
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [shared.digest, own.digest] } }));
    const configPath = join(src, `config${i}`);
    writeFileSync(configPath, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: sha(config), size: config.length },
        layers: [
          { mediaType: LAYER_TAR, digest: shared.digest, size: shared.size },
          { mediaType: LAYER_TAR, digest: own.digest, size: own.size },
        ],
      }),
    );
    await pushBlob(reg, repo, { file: sharedPath }, shared.digest, i > 0 ? 'bench/img0' : undefined);
    await pushBlob(reg, repo, { file: ownPath }, own.digest);
    await pushBlob(reg, repo, { file: configPath }, sha(config));
    const r = await http('PUT', `${reg}/v2/${repo}/manifests/${tag}`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
    if (r.status !== 201) throw new Error(`manifest PUT ${repo}:${tag}: ${r.status} ${r.body.toString()}`);
    blobs.push({ ...own, url: `${reg}/v2/${repo}/blobs/${own.digest}` });
    blobs.push({ digest: sha(config), size: config.length, url: `${reg}/v2/${repo}/blobs/${sha(config)}` });
    blobs.push({ digest: sha(manifest), size: manifest.length, url: `${reg}/v2/${repo}/manifests/${sha(manifest)}` });
    imageLogical += shared.size + own.size + config.length + manifest.length;
    imageStored += own.size + config.length + manifest.length;
    images.push(`docker.io/${repo}:${tag}`);
  }
  rmSync(src, { recursive: true, force: true }); // the registry has its own copies
  const fileName = `big-${S}.bin`;
  const file = { digest: randomFile(join(files, fileName), 2 * S * MiB, false), size: 2 * S * MiB };
  const fileUrl = `${fileServer}/${fileName}`;
  blobs.push({ ...file, url: fileUrl });
  const checkFile = join(work, `check-${S}.sha256`);
  writeFileSync(checkFile, blobs.map((b) => `${b.digest.slice(7)}  ${b.digest.slice(7)}\n`).join(''));
  return { S, site: { registry: reg, images, fileUrl, fileSha256: file.digest.slice(7) }, blobs, imageLogical, imageStored, checkFile };
}

// ---- measurements ----
interface SizeRun {
  S: number;
  bytes: number;
  logical: number;
  imageLogical: number;
  imageStored: number;
  expectImageLogical: number;
  expectImageStored: number;
  create: number[];
  verify: number[];
  load: number[];
  dlSeq: number[];
  dlPar: number[];
  peerHash: number[];
  peerCp: number[];
  peerSync: number[];
  peerVerify: number[];
  peerLoad: number[];
  rss: { create: number; verify: number; load: number };
}

const ACCEPT = `Accept: ${OCI_MANIFEST}`;

async function measure(c: Content, reps: number): Promise<SizeRun> {
  const bytes = c.blobs.reduce((n, b) => n + b.size, 0);
  const run: SizeRun = {
    S: c.S,
    bytes,
    logical: 0,
    imageLogical: 0,
    imageStored: 0,
    expectImageLogical: c.imageLogical,
    expectImageStored: c.imageStored,
    create: [],
    verify: [],
    load: [],
    dlSeq: [],
    dlPar: [],
    peerHash: [],
    peerCp: [],
    peerSync: [],
    peerVerify: [],
    peerLoad: [],
    rss: { create: 0, verify: 0, load: 0 },
  };
  const listFile = join(work, `urls-${c.S}.txt`);
  writeFileSync(listFile, c.blobs.map((b) => `${b.digest.slice(7)} ${b.url}\n`).join(''));
  const seqArgs = ['-sf', '-H', ACCEPT, ...c.blobs.flatMap((b) => ['-o', b.digest.slice(7), b.url])];
  for (let rep = 0; rep < reps; rep++) {
    const dir = join(work, 'runs', `${c.S}-${rep}`);
    mkdirSync(dir, { recursive: true });
    const out = join(dir, 'bundle');
    // airlock create
    const cr = await runChild({ op: 'create', site: c.site, out });
    if (cr.bytes !== bytes) throw new Error(`create stored ${cr.bytes} bytes, the peer has ${bytes}`);
    run.create.push(cr.ms);
    run.rss.create = Math.max(run.rss.create, cr.maxRssKiB);
    run.logical = cr.logicalBytes ?? 0;
    run.imageLogical = cr.imageLogicalBytes ?? 0;
    run.imageStored = cr.imageStoredBytes ?? 0;
    const trusted = cr.fingerprint ?? '';
    process.stdout.write('.');

    // peer A: download (sequential or 4-way: the faster) + sha256sum -c + cp -r
    const seq = join(dir, 'dl-seq');
    const par = join(dir, 'dl-par');
    mkdirSync(seq);
    mkdirSync(par);
    run.dlSeq.push(timed('curl', seqArgs, seq));
    run.dlPar.push(timed('xargs', ['-a', listFile, '-P', '4', '-n', '2', 'curl', '-sf', '-H', ACCEPT, '-o'], par));
    const dl = run.dlPar.at(-1)! < run.dlSeq.at(-1)! ? par : seq;
    rmSync(dl === par ? seq : par, { recursive: true, force: true });
    run.peerHash.push(timed('sha256sum', ['-c', '--quiet', '--strict', c.checkFile], dl));
    run.peerCp.push(timed('cp', ['-r', dl, join(dir, 'copy')], dir));
    // Not part of the peer's time: flush what the peer wrote (airlock fdatasyncs every blob it writes),
    // so its dirty pages do not slow the next measurement; reported as what the peer's fsyncs would cost.
    run.peerSync.push(timed('sh', ['-c', 'sync -d ../dl-*/* ./*'], join(dir, 'copy')));
    process.stdout.write('.');

    // verify, then its peer
    const vr = await runChild({ op: 'verify', out, trusted });
    if (vr.bytes !== bytes) throw new Error(`verify checked ${vr.bytes} bytes of ${bytes}`);
    run.verify.push(vr.ms);
    run.rss.verify = Math.max(run.rss.verify, vr.maxRssKiB);
    run.peerVerify.push(timed('sha256sum', ['-c', '--quiet', '--strict', c.checkFile], join(out, 'blobs', 'sha256')));
    process.stdout.write('.');

    // load, then its peer
    const lr = await runChild({ op: 'load', out, trusted, store: join(dir, 'mirror') });
    if (lr.bytes !== bytes) throw new Error(`load imported ${lr.bytes} bytes of ${bytes}`);
    run.load.push(lr.ms);
    run.rss.load = Math.max(run.rss.load, lr.maxRssKiB);
    const peerStore = join(dir, 'peer-store');
    run.peerLoad.push(timed('cp', ['-r', join(out, 'blobs', 'sha256'), peerStore], dir) + timed('sha256sum', ['-c', '--quiet', '--strict', c.checkFile], peerStore));
    spawnSync('sh', ['-c', 'sync -d ./*'], { cwd: peerStore });
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write('.');
  }
  return run;
}

// ---- main ----
let fileServer = '';
try {
  const regPort = await freePort();
  const filePort = await freePort();
  const reg = `http://127.0.0.1:${regPort}`;
  fileServer = `http://127.0.0.1:${filePort}`;
  const regDir = join(work, 'registry');
  mkdirSync(regDir);
  writeFileSync(join(regDir, 'config.yml'), distributionConfig({ root: join(regDir, 'data'), port: regPort }));
  const registry = children.start('registry', 'docker-registry', ['serve', join(regDir, 'config.yml')]);
  const files = join(work, 'files');
  mkdirSync(files);
  const fileSrv = children.start('files', process.execPath, [
    '--input-type=module',
    '-e',
    `import { createServer } from 'node:http';
     import { createReadStream, statSync } from 'node:fs';
     const dir = ${JSON.stringify(files)};
     createServer((req, res) => {
       const name = (req.url ?? '').slice(1);
       let st;
       try { st = /^big-\\d+\\.bin$/.test(name) ? statSync(dir + '/' + name) : undefined; } catch {}
       if (!st) { res.writeHead(404); res.end(); return; }
       res.writeHead(200, { 'Content-Length': st.size, 'Content-Type': 'application/octet-stream' });
       if (req.method === 'HEAD') { res.end(); return; }
       createReadStream(dir + '/' + name, { highWaterMark: 1 << 20 }).pipe(res);
     }).listen(${filePort}, '127.0.0.1');`,
  ]);
  await waitHttp(`${reg}/v2/`, 'docker-registry', { proc: registry, logs: `${work}/*.log` });
  await waitHttp(`${fileServer}/`, 'file server', { proc: fileSrv, logs: `${work}/*.log` });

  process.stdout.write(`content: ${SIZES.map((S) => `S=${S} MiB`).join(', ')} `);
  const contents: Content[] = [];
  for (const S of SIZES) {
    contents.push(await makeContent(S, reg, files));
    process.stdout.write('.');
  }
  // The content just written must not be flushed to disk in the middle of the first measurements: fdatasync
  // these files now (only the bench's own files; not a machine-wide sync).
  spawnSync('sh', ['-c', 'find . -type f -print0 | xargs -0 -r sync -d'], { cwd: work });
  const base = await runChild({ op: 'noop' });
  // The hash rates behind the ratios: the peers hash with coreutils, airlock with Node's crypto (OpenSSL).
  const bigFile = join(files, `big-${LARGEST}.bin`);
  const bigBytes = statSync(bigFile).size;
  const coreutilsHashMs = timed('sha256sum', [bigFile], files);
  const t0 = performance.now();
  const h = createHash('sha256');
  for await (const c of createReadStream(bigFile, { highWaterMark: MiB })) h.update(c as Buffer);
  h.digest();
  const nodeHashMs = performance.now() - t0;
  process.stdout.write('\nmeasuring ');
  const runs: SizeRun[] = [];
  for (const c of contents) runs.push(await measure(c, REPS));
  process.stdout.write('\n');

  // ---- report ----
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const mbs = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
  const sum = (...xs: number[][]) => xs[0]!.map((_, i) => xs.reduce((n, x) => n + x[i]!, 0));
  type Line = { what: string; size: string; airlock: number; peer: number; peerName: string; target?: number };
  const lines: Line[] = [];
  for (const r of runs) {
    const size = `S=${r.S} (${(r.bytes / MiB).toFixed(0)} MiB)`;
    const dl = r.dlSeq.map((s, i) => Math.min(s, r.dlPar[i]!));
    lines.push({ what: 'create', size, airlock: mbs(r.bytes, median(r.create)), peer: mbs(r.bytes, median(sum(dl, r.peerHash, r.peerCp))), peerName: 'A: download + sha256sum + cp', target: 0.8 });
    lines.push({ what: 'create', size, airlock: mbs(r.bytes, median(r.create)), peer: mbs(r.bytes, median(sum(r.peerHash, r.peerCp))), peerName: 'B: sha256sum + cp (on disk)', target: 0.8 });
    lines.push({ what: 'verify', size, airlock: mbs(r.bytes, median(r.verify)), peer: mbs(r.bytes, median(r.peerVerify)), peerName: 'sha256sum -c', target: 0.8 });
    lines.push({ what: 'load', size, airlock: mbs(r.bytes, median(r.load)), peer: mbs(r.bytes, median(r.peerLoad)), peerName: 'cp -r + sha256sum -c', target: 0.8 });
  }
  const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');
  const header = ['operation', 'bundle', 'airlock MB/s', 'peer MB/s', 'ratio', 'peer', 'target', ''];
  const table = lines.map((l) => {
    const ratio = l.airlock / l.peer;
    return [l.what, l.size, l.airlock.toFixed(0), l.peer.toFixed(0), `${ratio.toFixed(2)}×`, l.peerName, l.target ? `≥${l.target}×` : '', l.target ? verdict(ratio >= l.target) : ''];
  });
  const print = (head: string[], rows: string[][], left = new Set([0, 1, 5])) => {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
    const line = (cells: string[]) => cells.map((c, i) => (left.has(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
    console.log(line(head));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) console.log(line(r));
  };
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(`\nbundle bench: ${process.platform}, ${cpus().length} cores (${cpu}), node ${process.version}; medians of ${REPS} runs per size`);
  console.log(`content per S: ${IMAGES} images = shared S MiB layer + own S/2 MiB layer (uncompressed tar of random bytes), + one 2·S MiB file`);
  console.log('ALL MEASUREMENTS ARE WARM-CACHE (the page cache is not dropped); bytes = distinct blobs stored; 1 MB = 10^6 bytes');
  console.log('airlock: createBundle (concurrency 4) / verifyBundle / loadBundle, each in its own child process; ratio = airlock ÷ peer, >1× = airlock faster');
  console.log(`hash rate on one warm ${(bigBytes / MiB).toFixed(0)} MiB file: sha256sum ${(bigBytes / 1e6 / (coreutilsHashMs / 1000)).toFixed(0)} MB/s, node:crypto ${(bigBytes / 1e6 / (nodeHashMs / 1000)).toFixed(0)} MB/s`);
  console.log('peers: A = what a careful operator does (curl every blob, `sha256sum -c`, `cp -r`); B = the issue\'s peer: `sha256sum` + `cp` of the same bytes already on disk\n');
  print(header, table);

  console.log('\npeer details (median s):');
  for (const r of runs) {
    const f = (xs: number[]) => (median(xs) / 1000).toFixed(2);
    console.log(
      `  S=${r.S}: curl sequential ${f(r.dlSeq)}, curl xargs -P4 ${f(r.dlPar)}, sha256sum -c ${f(r.peerHash)}, cp -r ${f(r.peerCp)}; ` +
        `airlock create ${f(r.create)}, verify ${f(r.verify)}, load ${f(r.load)}. ` +
        `Not in peer times: fdatasync of the peer's downloads + copies took ${f(r.peerSync)} (airlock fdatasyncs every blob it writes)`,
    );
  }

  // peak RSS
  console.log(`\npeak RSS (maxRSS of the child process; an empty child importing the same modules: ${(base.maxRssKiB / 1024).toFixed(0)} MiB)`);
  const small = runs[0]!;
  const large = runs[runs.length - 1]!;
  const rssRows = (['create', 'verify', 'load'] as const).map((op) => {
    const cells = runs.map((r) => `${(r.rss[op] / 1024).toFixed(0)} MiB`);
    const growth = large.rss[op] / small.rss[op];
    if (runs.length < 2) return [op, ...cells, '—', 'needs two sizes', 'n/a'];
    return [op, ...cells, `${growth.toFixed(2)}×`, `×${(large.bytes / small.bytes).toFixed(1)} bytes → ≤1.15× RSS`, verdict(large.rss[op] <= small.rss[op] * 1.15)];
  });
  print(['operation', ...runs.map((r) => `S=${r.S} (${(r.bytes / MiB).toFixed(0)} MiB)`), 'RSS growth', 'target', ''], rssRows, new Set([0, runs.length + 2]));

  // dedup
  console.log('\ndedup (from CreateResult / the index\'s artifacts):');
  const dedupRows = runs.flatMap((r) => {
    const imgRatio = r.imageLogical / r.imageStored;
    const expect = r.expectImageLogical / r.expectImageStored;
    return [
      [`S=${r.S} images`, `${(r.imageLogical / MiB).toFixed(1)} MiB`, `${(r.imageStored / MiB).toFixed(1)} MiB`, `${imgRatio.toFixed(3)}×`, `${expect.toFixed(3)}× = (4·(S+S/2)+small) / (S+4·S/2+small)`, verdict(r.imageLogical === r.expectImageLogical && r.imageStored === r.expectImageStored)],
      [`S=${r.S} whole bundle`, `${(r.logical / MiB).toFixed(1)} MiB`, `${(r.bytes / MiB).toFixed(1)} MiB`, `${(r.logical / r.bytes).toFixed(3)}×`, 'logicalBytes / storedBytes (file counted once)', ''],
    ];
  });
  print(['', 'logical', 'stored', 'ratio', 'expected', ''], dedupRows, new Set([0, 4]));
} finally {
  await cleanup();
}
