// bench/lab.ts — the seed site rehearsed end to end: image build (cold), lab up, apply, verify, re-apply,
// and memory. The peer is the bare boot of the same containers (lab machinery only); every phase is also
// printed as a ratio to it. Target: warm up + apply + verify under 30 s on a 2-core machine.
// Run as root: npx tsx bench/lab.ts [--warm]   (--warm: reuse the cached image instead of a cold build)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { applyOrder, applySite, labStatus, loadSite, rehearsalDown, rehearsalTransports, rehearsalUp, render, runProbes, verifyProbes } from '../src/index.ts';
import { ensureImage, labDown, labUp } from '../src/lab/index.ts';
import { labLayout } from '../src/labsite.ts';
import { LAB_IMAGE_PACKAGES } from '../src/rehearse.ts';

if (process.getuid?.() !== 0) {
  console.error('bench/lab.ts needs root');
  process.exit(2);
}
const warm = process.argv.includes('--warm');
const site = loadSite(readFileSync(join(import.meta.dirname, '..', 'examples', 'seed', 'site.yaml'), 'utf8')).site;
const rows: [string, number][] = [];
const time = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  const r = await fn();
  rows.push([label, (performance.now() - t) / 1000]);
  return r;
};

if (!warm) {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-image-'));
  try {
    await time('image build (cold)', () => ensureImage({ imageDir: dir, packages: LAB_IMAGE_PACKAGES }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
await ensureImage({ imageDir: '/var/cache/airlock/images', packages: LAB_IMAGE_PACKAGES });

// Peer: the same five containers booted by the lab machinery alone (no SSH wait, no site logic).
const peerPrefix = `b${randomBytes(2).toString('hex')}`;
const layout = labLayout(site, peerPrefix);
const peerDir = `/var/lib/airlock/labs/${peerPrefix}`;
await time('peer: bare boot of 5 containers', () =>
  labUp({ prefix: peerPrefix, stateDir: peerDir, networks: layout.networks, hosts: layout.hosts, bastion: layout.bastion, imagePackages: LAB_IMAGE_PACKAGES, imageDir: '/var/cache/airlock/images' }),
);
await labDown(peerDir);

const prefix = `b${randomBytes(2).toString('hex')}`;
let peakPssMiB = 0;
try {
  const up = await time('lab up (warm image)', () => rehearsalUp(site, prefix));
  const lsite = up.layout.site;
  const first = applyOrder(lsite);
  const plans = render(lsite, { serial: 2026010101 }).hosts.map((h) => h.plan);
  const transports = rehearsalTransports(up);
  const a1 = await time('apply (first)', () => applySite(plans, transports, { first }));
  const probes = verifyProbes(lsite, { upstream: { whoamiUrl: up.layout.upstream.whoamiUrl, name: up.layout.upstream.testName }, outsider: true });
  const v = await time('verify', () => runProbes(lsite, probes, transports));
  const a2 = await time('re-apply', () => applySite(plans, transports, { first }));
  await transports.closeAll();
  const st = await labStatus(up.state.stateDir);
  peakPssMiB = (st?.hosts ?? []).reduce((a, h) => a + h.pssKiB, 0) / 1024;
  console.log(`apply changed ${a1.reduce((a, r) => a + r.changed, 0)} steps; verify ${v.passed} passed / ${v.failed} failed; re-apply changed ${a2.reduce((a, r) => a + r.changed, 0)}`);
} finally {
  await rehearsalDown(prefix);
}

const peer = rows.find(([l]) => l.startsWith('peer'))![1];
for (const [label, s] of rows) console.log(`${label.padEnd(34)} ${s.toFixed(2).padStart(7)} s   ${(s / peer).toFixed(2).padStart(6)}× bare boot`);
const warmTotal = ['lab up (warm image)', 'apply (first)', 'verify'].reduce((a, l) => a + (rows.find(([x]) => x === l)?.[1] ?? 0), 0);
console.log(`${'warm up + apply + verify'.padEnd(34)} ${warmTotal.toFixed(2).padStart(7)} s   (target < 30 s)`);
console.log(`memory: lab containers ${peakPssMiB.toFixed(0)} MiB PSS after verify; airlock process max RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
