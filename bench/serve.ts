// bench/serve.ts — blob and manifest serving, and pushes: airlock vs distribution (Debian's docker-registry)
// vs nginx (static files, sendfile), with bare Node http + fs.createReadStream(1 MiB buffer) as the floor.
// Same content for all: a 1 MiB and a 100 MiB random blob, and one small OCI image for manifest GETs.
// Every server runs as a child process on 127.0.0.1 (high ports, temp configs) and is killed by PID at the
// end; nothing is started as a system service. Load comes from wrk.
//
// Run as root: npx tsx bench/serve.ts [--seconds N]   (N seconds per measurement, default 4)
// Targets: blob GET ≥ 1.5× distribution and ≥ 0.8× nginx; manifest p99 ≤ distribution's.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureTools, have } from './tools.ts';
import { Children, http, pushBlob, waitHttp } from './harness.ts';
import { distributionConfig, freePort } from '../test/distribution.ts';

if (process.getuid?.() !== 0) {
  console.error('bench/serve.ts needs root (it may apt-get install wrk, docker-registry and nginx)');
  process.exit(2);
}
const secArg = process.argv.indexOf('--seconds');
const SECONDS = secArg > 0 ? Math.max(1, Math.min(30, Number(process.argv[secArg + 1]) || 4)) : 4;

// ---- tools --------------------------------------------------------------------------------------
ensureTools('bench/serve.ts', [
  ['wrk', 'wrk'],
  ['docker-registry', 'docker-registry'],
  ['nginx', 'nginx'],
]);
const NGINX = have('nginx') ? 'nginx' : '/usr/sbin/nginx';

// ---- fixtures -----------------------------------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'airlock-bench-serve-'));
chmodSync(work, 0o755); // nginx workers run as nobody
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function randomFile(path: string, size: number): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let left = size; left > 0; ) {
    const chunk = randomBytes(Math.min(left, 4 << 20));
    h.update(chunk);
    writeSync(fd, chunk);
    left -= chunk.length;
  }
  closeSync(fd);
  return `sha256:${h.digest('hex')}`;
}
mkdirSync(join(work, 'files'), { mode: 0o755 });
const SIZES = { '1 MiB': 1 << 20, '100 MiB': 100 << 20 } as const;
type SizeName = keyof typeof SIZES;
const blobs = {} as Record<SizeName, { digest: string; path: string }>;
for (const [name, size] of Object.entries(SIZES) as [SizeName, number][]) {
  const tmp = join(work, 'files', `tmp-${size}`);
  const digest = randomFile(tmp, size);
  const path = join(work, 'files', digest.slice(7));
  spawnSync('mv', [tmp, path]);
  blobs[name] = { digest, path };
}
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [blobs['1 MiB'].digest] } }));
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: blobs['1 MiB'].digest, size: SIZES['1 MiB'] }],
  }),
);
writeFileSync(join(work, 'files', 'manifest.json'), manifest);

// ---- processes ----------------------------------------------------------------------------------
const children = new Children(work);

async function pushImage(base: string): Promise<void> {
  for (const name of Object.keys(SIZES) as SizeName[]) await pushBlob(base, 'bench/img', { file: blobs[name].path }, blobs[name].digest);
  await pushBlob(base, 'bench/img', { body: config }, sha(config));
  const r = await http('PUT', `${base}/v2/bench/img/manifests/latest`, { body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (r.status !== 201) throw new Error(`manifest PUT ${base}: ${r.status} ${r.body}`);
}

const srcUrl = (p: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', 'src', p)).href);
const nodeChild = (name: string, code: string) =>
  children.start(name, process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code]);

const ports = { airlock: await freePort(), nocache: await freePort(), bare: await freePort(), distribution: await freePort(), nginx: await freePort() };
const base = {
  airlock: `http://127.0.0.1:${ports.airlock}`,
  nocache: `http://127.0.0.1:${ports.nocache}`,
  bare: `http://127.0.0.1:${ports.bare}`,
  distribution: `http://127.0.0.1:${ports.distribution}`,
  nginx: `http://127.0.0.1:${ports.nginx}`,
};

type Row = { test: string; unit: string; bare?: number; airlock?: number; nocache?: number; distribution?: number; nginx?: number; higherIsBetter: boolean; target?: string };
const rows: Row[] = [];

try {
  // airlock: the real server, logging one line per request to a file (async pino destination); and the
  // same with its RAM cache of small blobs off (every GET goes to the file), on the same store
  const airlockCode = (port: number, name: string, registry: string) =>
    `import { openStore } from ${srcUrl('store/index.ts')};
     import { serve } from ${srcUrl('serve/index.ts')};
     import { pino } from 'pino';
     const log = pino({ level: 'info' }, pino.destination({ dest: ${JSON.stringify(join(work, `${name}-requests.log`))}, sync: false, minLength: 8192 }));
     const s = await serve({ store: await openStore(${JSON.stringify(join(work, 'airlock-store'))}), host: '127.0.0.1', port: ${port}, log, registry: ${registry} });
     process.on('SIGTERM', async () => { await s.close(); log.flush(); process.exit(0); });`;
  nodeChild('airlock', airlockCode(ports.airlock, 'airlock', '{}'));
  nodeChild('nocache', airlockCode(ports.nocache, 'nocache', '{ blobCacheBytes: 0 }'));
  // bare Node: the floor from the notes (http + createReadStream, 1 MiB buffer)
  nodeChild(
    'bare',
    `import { createServer } from 'node:http';
     import { createReadStream, statSync } from 'node:fs';
     const dir = ${JSON.stringify(join(work, 'files'))};
     createServer((req, res) => {
       const name = (req.url ?? '').slice(6);
       if (!/^[a-f0-9]{64}$/.test(name)) { res.writeHead(404); res.end(); return; }
       const p = dir + '/' + name;
       res.writeHead(200, { 'Content-Length': statSync(p).size, 'Content-Type': 'application/octet-stream' });
       createReadStream(p, { highWaterMark: 1 << 20 }).pipe(res);
     }).listen(${ports.bare}, '127.0.0.1');`,
  );
  // distribution, filesystem storage, request logging off (its best case)
  const regDir = join(work, 'distribution');
  mkdirSync(regDir);
  writeFileSync(join(regDir, 'config.yml'), distributionConfig({ root: join(regDir, 'data'), port: ports.distribution, deletes: true }));
  children.start('distribution', 'docker-registry', ['serve', join(regDir, 'config.yml')]);
  // nginx: static files with sendfile, 2 workers (as in the notes), no access log
  const ngx = join(work, 'nginx');
  mkdirSync(join(ngx, 'logs'), { recursive: true });
  writeFileSync(
    join(ngx, 'nginx.conf'),
    `worker_processes 2;\npid ${join(ngx, 'nginx.pid')};\nerror_log ${join(ngx, 'logs', 'error.log')};\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n  client_body_temp_path ${join(ngx, 'tmp')};\n  proxy_temp_path ${join(ngx, 'tmp')};\n  fastcgi_temp_path ${join(ngx, 'tmp')};\n  uwsgi_temp_path ${join(ngx, 'tmp')};\n  scgi_temp_path ${join(ngx, 'tmp')};\n  server {\n    listen 127.0.0.1:${ports.nginx};\n    location /blobs/ { alias ${join(work, 'files')}/; default_type application/octet-stream; }\n    location = /manifest { alias ${join(work, 'files', 'manifest.json')}; default_type application/vnd.oci.image.manifest.v1+json; }\n  }\n}\n`,
  );
  children.start('nginx', NGINX, ['-p', ngx, '-c', join(ngx, 'nginx.conf'), '-g', 'daemon off;']);

  await waitHttp(`${base.airlock}/healthz`, 'airlock', { timeoutMs: 10_000, logs: work });
  await waitHttp(`${base.nocache}/healthz`, 'airlock (no cache)', { timeoutMs: 10_000, logs: work });
  await waitHttp(`${base.bare}/blob/x`, 'bare node', { timeoutMs: 10_000, logs: work });
  await waitHttp(`${base.distribution}/v2/`, 'distribution', { timeoutMs: 10_000, logs: work });
  await waitHttp(`${base.nginx}/manifest`, 'nginx', { timeoutMs: 10_000, logs: work });
  await pushImage(base.airlock);
  await pushImage(base.distribution);

  const blobUrl = (server: 'airlock' | 'nocache' | 'distribution' | 'nginx' | 'bare', size: SizeName) => {
    const { digest } = blobs[size];
    if (server === 'nginx') return `${base.nginx}/blobs/${digest.slice(7)}`;
    if (server === 'bare') return `${base.bare}/blob/${digest.slice(7)}`;
    return `${base[server]}/v2/bench/img/blobs/${digest}`;
  };

  // ---- wrk ----
  interface Wrk {
    rps: number;
    bytesPerSec: number;
    p50ms: number;
    p99ms: number;
    errors: number;
  }
  const unit = (v: string, u: string): number => {
    const n = Number(v);
    const m: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
    return n * (m[u] ?? NaN);
  };
  function wrk(url: string, conns: number, seconds = SECONDS, headers: string[] = []): Wrk {
    const threads = Math.min(conns, 2);
    const args = ['-t', String(threads), '-c', String(conns), '-d', `${seconds}s`, '--timeout', '10s', '--latency', ...headers.flatMap((h) => ['-H', h]), url];
    const r = spawnSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
    const out = r.stdout ?? '';
    const num = (re: RegExp) => re.exec(out);
    const rps = Number(num(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN);
    const tr = num(/Transfer\/sec:\s+([\d.]+)(\w+)/);
    const p50 = num(/\n\s+50%\s+([\d.]+)(\w+)/);
    const p99 = num(/\n\s+99%\s+([\d.]+)(\w+)/);
    const non2xx = Number(num(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0);
    const sockErr = num(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
    const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
    if (!Number.isFinite(rps)) throw new Error(`wrk failed: ${r.stderr}\n${out}`);
    return { rps, bytesPerSec: tr ? unit(tr[1] ?? '', tr[2] ?? '') : NaN, p50ms: p50 ? unit(p50[1] ?? '', p50[2] ?? '') : NaN, p99ms: p99 ? unit(p99[1] ?? '', p99[2] ?? '') : NaN, errors };
  }

  // Warm every server and the page cache once.
  for (const s of ['bare', 'airlock', 'nocache', 'distribution', 'nginx'] as const) wrk(blobUrl(s, '1 MiB'), 4, 1);

  const servers = ['bare', 'airlock', 'nocache', 'distribution', 'nginx'] as const;
  for (const size of Object.keys(SIZES) as SizeName[]) {
    for (const conns of [1, 32]) {
      const row: Row = { test: `blob GET ${size}, ${conns} conn${conns > 1 ? 's' : ''}`, unit: size === '1 MiB' ? 'req/s' : 'GB/s', higherIsBetter: true, target: '≥1.5× dist, ≥0.8× nginx' };
      for (const s of servers) {
        const r = wrk(blobUrl(s, size), conns);
        if (r.errors > 0) console.warn(`${s} ${row.test}: ${r.errors} errors`);
        row[s] = size === '1 MiB' ? r.rps : r.bytesPerSec / 1e9;
        process.stdout.write('.');
      }
      rows.push(row);
    }
  }
  const accept = ['Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json'];
  for (const conns of [1, 32]) {
    const res: Partial<Record<'airlock' | 'distribution' | 'nginx', Wrk>> = {};
    res.airlock = wrk(`${base.airlock}/v2/bench/img/manifests/latest`, conns, SECONDS, accept);
    res.distribution = wrk(`${base.distribution}/v2/bench/img/manifests/latest`, conns, SECONDS, accept);
    res.nginx = wrk(`${base.nginx}/manifest`, conns, SECONDS, accept);
    for (const [k, r] of Object.entries(res)) if (r.errors > 0) console.warn(`${k} manifest GET: ${r.errors} errors`);
    const c = `${conns} conn${conns > 1 ? 's' : ''}`;
    rows.push({ test: `manifest GET by tag p50, ${c}`, unit: 'ms', airlock: res.airlock.p50ms, distribution: res.distribution.p50ms, nginx: res.nginx.p50ms, higherIsBetter: false });
    rows.push({ test: `manifest GET by tag p99, ${c}`, unit: 'ms', airlock: res.airlock.p99ms, distribution: res.distribution.p99ms, nginx: res.nginx.p99ms, higherIsBetter: false, target: '≤ dist' });
    rows.push({ test: `manifest GET by tag, ${c}`, unit: 'req/s', airlock: res.airlock.rps, distribution: res.distribution.rps, nginx: res.nginx.rps, higherIsBetter: true });
    process.stdout.write('.');
  }

  // ---- pushes: 3 × 100 MiB of fresh content each, one client, POST + PUT monolithic ----
  {
    const data = readFileSync(blobs['100 MiB'].path);
    const row: Row = { test: 'blob push 100 MiB ×3, 1 client', unit: 'MB/s', higherIsBetter: true };
    for (const s of ['airlock', 'distribution'] as const) {
      const t0 = performance.now();
      let bytes = 0;
      for (let i = 0; i < 3; i++) {
        randomBytes(32).copy(data, 0); // new content each time: no dedup short-cuts
        await pushBlob(base[s], `bench/push-${s}`, { body: data }, sha(data));
        bytes += data.length;
      }
      row[s] = bytes / 1e6 / ((performance.now() - t0) / 1000);
      process.stdout.write('.');
    }
    rows.push(row);
  }
  process.stdout.write('\n');

  // ---- table ----
  const fmt = (v: number | undefined, u: string) => (v === undefined || !Number.isFinite(v) ? '—' : u === 'ms' ? v.toFixed(3) : u === 'GB/s' ? v.toFixed(2) : v.toFixed(0));
  const ratio = (a?: number, b?: number, higher = true) => (a === undefined || b === undefined || !b || !a ? '—' : `${(higher ? a / b : b / a).toFixed(2)}×`);
  const header = ['measurement', 'unit', 'bare node', 'airlock', 'airlock no-cache', 'distribution', 'nginx', 'airlock vs dist', 'airlock vs nginx', 'target', 'met'];
  const table = rows.map((r) => {
    let met = '';
    if (r.target?.startsWith('≥1.5')) met = r.airlock! >= 1.5 * r.distribution! && r.airlock! >= 0.8 * r.nginx! ? 'yes' : 'NO';
    if (r.target === '≤ dist') met = r.airlock! <= r.distribution! ? 'yes' : 'NO';
    return [r.test, r.unit, fmt(r.bare, r.unit), fmt(r.airlock, r.unit), fmt(r.nocache, r.unit), fmt(r.distribution, r.unit), fmt(r.nginx, r.unit), ratio(r.airlock, r.distribution, r.higherIsBetter), ratio(r.airlock, r.nginx, r.higherIsBetter), r.target ?? '', met];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(`\nserving bench: ${SECONDS} s per measurement, wrk (threads = min(conns, 2)), ${process.platform} ${spawnSync('nproc').stdout.toString().trim()} cores, node ${process.version}`);
  console.log('ratios: >1× means airlock is better (faster, or lower latency)\n');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of table) console.log(line(r));
} finally {
  await children.stopAll();
  if (!process.argv.includes('--keep')) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
