// `airlock bundle plan|create|verify|load|diff`: the command line over src/bundle (a thin layer).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  bundlePlan,
  createBundle,
  defaultFetchers,
  diffIndexes,
  errors,
  formatBundlePlan,
  INDEX_FILE,
  KeyFileError,
  loadBundle,
  loadOrCreateSigningKey,
  openStore,
  parseIndex,
  parseSize,
  readSite,
  resolveBundle,
  verifyBundle,
  writeIncremental,
  BundleOpenError,
  type BundleCheck,
  type BundleProblem,
  type Progress,
} from './index.ts';
import type { Painter } from './term.ts';

export interface CliIo {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  paint: Painter;
  paintErr: Painter;
}

const human = (n: number): string => {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
};

/** Phases as lines on stderr; on a terminal also a bar with bytes, rate and ETA (CI logs stay clean). */
function byteProgress(io: CliIo, label: string, enabled: boolean): { progress: Progress; stop(): void } {
  const phase = (text: string) => io.err.write(`${io.paintErr('dim', '·')} ${text}\n`);
  if (!enabled) return { progress: {}, stop: () => undefined };
  if (!io.err.isTTY) return { progress: { phase }, stop: () => undefined };
  let started = false;
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% {done}/{all} {rate}/s ETA {eta_formatted}`, stream: io.err, hideCursor: true, barsize: 24, fps: 5 },
    cliProgress.Presets.shades_classic,
  );
  let total = 0;
  let done = 0;
  let t0 = Date.now();
  const fmt = () => ({ done: human(done), all: human(total), rate: human(done / Math.max(0.001, (Date.now() - t0) / 1000)) });
  const start = () => {
    if (!started) bar.start(Math.max(total, 1), 0, fmt());
    started = true;
  };
  return {
    progress: {
      phase: (text) => {
        if (started) bar.stop();
        started = false;
        total = 0;
        done = 0;
        t0 = Date.now();
        phase(text);
      },
      total: (n) => {
        total = n;
        start();
        bar.setTotal(Math.max(n, done, 1));
      },
      bytes: (n) => {
        start();
        done += n;
        bar.setTotal(Math.max(total, done, 1));
        bar.update(done, fmt());
      },
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

async function siteAndKey(sitePath: string) {
  const loaded = await readSite(sitePath);
  return { loaded, defaultKey: join(dirname(resolve(sitePath)), '.airlock', 'bundle-signing.key') };
}

function printProblems(io: CliIo, check: BundleCheck): void {
  const bad = (p: BundleProblem) => p.code !== 'incomplete' && p.code !== 'unpinned' && p.code !== 'missing-artifact';
  for (const p of check.problems) io.out.write(`${io.paint(bad(p) ? 'red' : 'yellow', bad(p) ? '✖' : '!')} ${io.paint('dim', p.code.padEnd(16))} ${p.message}\n`);
}

const missingLine = (io: CliIo, m: { kind: string; name: string; version?: string; reason: string }) =>
  `${io.paint('red', 'missing')} ${m.kind} ${m.name}${m.version && !m.name.endsWith(m.version) ? ` ${m.version}` : ''}: ${m.reason}\n`;

const trustOf = (opt: string | undefined, siteSigner: string | undefined): string | undefined => {
  const t = opt ?? siteSigner;
  if (t !== undefined && !/^[a-f0-9]{64}$/.test(t)) throw errors.usage(`--trust: expected a key fingerprint (64 lowercase hex), got "${t}"`);
  return t;
};

async function wrapped<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof BundleOpenError || e instanceof KeyFileError) throw errors.usage(e.message);
    throw e;
  }
}

export function registerBundle(program: Command, io: CliIo): void {
  const { out } = io;
  const bundle = program.command('bundle').description('Carry everything the offline side needs over the air gap: plan, create, verify, load, diff');

  bundle
    .command('plan')
    .description('What the site needs (images, OS packages, Python, charts, Go modules, files); --resolve looks each up at its source without downloading')
    .argument('<site>', 'path to site.yaml')
    .option('--resolve', 'ask every source (dependency closure, sizes, what is missing); downloads nothing')
    .option('--json', 'machine-readable output')
    .action(async (sitePath: string, opts: { resolve?: boolean; json?: boolean }) => {
      const { loaded } = await siteAndKey(sitePath);
      const plan = bundlePlan(loaded.site);
      if (!opts.resolve) {
        out.write(opts.json ? `${JSON.stringify(plan, null, 2)}\n` : formatBundlePlan(plan));
        return;
      }
      const tmp = await mkdtemp(join(tmpdir(), 'airlock-plan-'));
      try {
        const r = await resolveBundle(loaded.site, { workDir: tmp, fetchers: defaultFetchers() });
        if (opts.json) out.write(`${JSON.stringify({ plan, artifacts: r.artifacts, missing: r.missing, bytes: r.storedBytes, logicalBytes: r.logicalBytes }, null, 2)}\n`);
        else {
          out.write(formatBundlePlan(plan));
          out.write(`\nresolved: ${r.artifacts.length} artifact(s) with dependencies, ${r.blobs} blob(s), ${human(r.storedBytes)} (${human(r.logicalBytes)} before dedup)\n`);
          for (const m of r.missing) out.write(missingLine(io, m));
        }
        process.exitCode = r.missing.length ? 1 : 0;
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    });

  bundle
    .command('create')
    .description('Fetch every artifact into a deduplicated, signed bundle (an OCI layout + blobs + index); re-running skips what is there')
    .argument('<site>', 'path to site.yaml')
    .requiredOption('-o, --out <dir>', 'bundle directory')
    .option('--key <file>', 'ed25519 signing key (PKCS#8 PEM), made on first use (default: .airlock/bundle-signing.key beside site.yaml)')
    .option('--split <size>', 'also write parts of at most SIZE (like 4G, 700M) for removable media')
    .option('--parts <dir>', 'where parts go (default: <out>.parts)')
    .option('--allow-missing', 'write the bundle even when some artifacts are missing upstream (listed in the index)')
    .option('--concurrency <n>', 'parallel downloads', '4')
    .option('--json', 'machine-readable output')
    .action(async (sitePath: string, opts: { out: string; key?: string; split?: string; parts?: string; allowMissing?: boolean; concurrency: string; json?: boolean }) => {
      const { loaded, defaultKey } = await siteAndKey(sitePath);
      const split = opts.split === undefined ? undefined : parseSize(opts.split);
      if (opts.split !== undefined && split === undefined) throw errors.usage(`--split: "${opts.split}" is not a size (like 4G, 700M, 1048576)`);
      const concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw errors.usage('--concurrency: a whole number from 1 to 64');
      const key = await wrapped(() => loadOrCreateSigningKey(opts.key ?? defaultKey));
      if (key.created && !opts.json) io.err.write(`new signing key ${opts.key ?? defaultKey}\n`);
      const bar = byteProgress(io, 'fetch', !opts.json);
      let r;
      try {
        r = await createBundle(loaded.site, { out: opts.out, key, fetchers: defaultFetchers(), concurrency, allowMissing: Boolean(opts.allowMissing), ...(split ? { split } : {}), ...(opts.parts ? { partsDir: opts.parts } : {}), progress: bar.progress });
      } finally {
        bar.stop();
      }
      if (opts.json) {
        const { plan: _plan, ...rest } = r;
        out.write(`${JSON.stringify(rest, null, 2)}\n`);
      } else {
        for (const m of r.missing) out.write(missingLine(io, m));
        if (!r.written) out.write(`${io.paint('red', '✖')} nothing downloaded: ${r.missing.length} artifact(s) missing upstream (fix the sources, or --allow-missing)\n`);
        else {
          const dedup = r.storedBytes > 0 ? (r.logicalBytes / r.storedBytes).toFixed(2) : '1.00';
          out.write(`${io.paint('green', '✔')} ${resolve(opts.out)}: ${r.artifacts.length} artifact(s), ${r.blobs} blob(s), ${human(r.storedBytes)} (dedup ${dedup}×); downloaded ${human(r.downloadedBytes)}, already had ${human(r.skippedBytes)}\n`);
          for (const p of r.parts) out.write(`  part ${p}\n`);
          out.write(`signed by ${r.fingerprint}\n${io.paint('dim', `pin it on the offline side: bundle.signer: ${r.fingerprint}`)}\n`);
        }
      }
      process.exitCode = r.missing.length || !r.written ? 1 : 0;
    });

  bundle
    .command('verify')
    .description('Check the signature, every hash and part, and completeness against the site')
    .argument('<paths...>', 'a bundle directory, or its parts (directories), in any order')
    .option('--site <site>', 'site.yaml: its bundle.signer is trusted and its plan must be covered')
    .option('--trust <fingerprint>', 'the trusted signing key fingerprint')
    .option('--json', 'machine-readable output')
    .action(async (paths: string[], opts: { site?: string; trust?: string; json?: boolean }) => {
      const loaded = opts.site ? await readSite(opts.site) : undefined;
      const trusted = trustOf(opts.trust, loaded?.site.bundle.signer);
      const bar = byteProgress(io, 'verify', !opts.json);
      let r;
      try {
        r = await wrapped(() => verifyBundle(paths, { ...(trusted ? { trusted } : {}), ...(loaded ? { plan: bundlePlan(loaded.site) } : {}), progress: bar.progress }));
      } finally {
        bar.stop();
      }
      if (opts.json) out.write(`${JSON.stringify({ ok: r.problems.length === 0, signer: r.signer, pinned: r.pinned, blobsOk: r.blobsOk, bytes: r.bytes, problems: r.problems }, null, 2)}\n`);
      else {
        printProblems(io, r);
        out.write(`${r.problems.length ? io.paint('red', '✖') : io.paint('green', '✔')} ${r.blobsOk} blob(s) ok (${human(r.bytes)}), ${r.problems.length} problem(s); signer ${r.signer ?? 'unknown'}${r.pinned ? '' : ' (not pinned)'}\n`);
      }
      process.exitCode = r.problems.length ? 1 : 0;
    });

  bundle
    .command('load')
    .description('On the admin host: verify, import into the store, publish into the served repos (idempotent, resumable; parts in any order)')
    .argument('<paths...>', 'a bundle directory, or its parts')
    .requiredOption('--store <dir>', "the mirror's store directory")
    .option('--site <site>', 'site.yaml: its bundle.signer is trusted and its plan is checked')
    .option('--trust <fingerprint>', 'the trusted signing key fingerprint')
    .option('--suite <suite>', 'APT suite for .debs', 'bookworm')
    .option('--json', 'machine-readable output')
    .action(async (paths: string[], opts: { store: string; site?: string; trust?: string; suite: string; json?: boolean }) => {
      const loaded = opts.site ? await readSite(opts.site) : undefined;
      const trusted = trustOf(opts.trust, loaded?.site.bundle.signer);
      const store = await openStore(opts.store);
      const bar = byteProgress(io, 'load', !opts.json);
      let r;
      try {
        r = await wrapped(() => loadBundle(paths, store, { ...(trusted ? { trusted } : {}), ...(loaded ? { plan: bundlePlan(loaded.site) } : {}), suite: opts.suite, progress: bar.progress }));
      } finally {
        bar.stop();
      }
      if (opts.json) {
        const { index: _index, ...rest } = r;
        out.write(`${JSON.stringify(rest, null, 2)}\n`);
      } else {
        printProblems(io, r);
        const what = r.alreadyLoaded ? 'already loaded: nothing changed' : r.published ? 'published' : 'nothing published';
        out.write(`${r.published ? io.paint('green', '✔') : io.paint('red', '✖')} ${what}; ${r.imported} blob(s) imported (${human(r.importedBytes)}), ${r.present} already in the store\n`);
      }
      process.exitCode = r.published && r.problems.length === 0 ? 0 : 1;
    });

  bundle
    .command('diff')
    .description('What changed between two bundles; with -o, an incremental bundle holding only the new blobs')
    .argument('<old>', 'old bundle directory (or just its airlock-bundle.json)')
    .argument('<new>', 'new bundle directory')
    .option('-o, --out <dir>', 'write an incremental bundle here')
    .option('--key <file>', 'signing key for the incremental bundle')
    .option('--json', 'machine-readable output')
    .action(async (oldPath: string, newPath: string, opts: { out?: string; key?: string; json?: boolean }) => {
      const readIdx = async (p: string) => {
        const file = p.endsWith('.json') ? p : join(p, INDEX_FILE);
        const bytes = await readFile(file).catch(() => {
          throw errors.usage(`${file}: no bundle index there`);
        });
        try {
          return { bytes, index: parseIndex(bytes) };
        } catch (e) {
          throw errors.usage(`${file}: ${e instanceof Error ? e.message : String(e)}`);
        }
      };
      const o = await readIdx(oldPath);
      const n = await readIdx(newPath);
      const d = diffIndexes(o.index, n.index);
      if (opts.out) {
        if (!opts.key) throw errors.usage('--out needs --key (the signing key the new bundle was made with)');
        const key = await wrapped(() => loadOrCreateSigningKey(opts.key!));
        await writeIncremental(newPath, n.index, o.bytes, d, opts.out, key);
      }
      if (opts.json) out.write(`${JSON.stringify(d, null, 2)}\n`);
      else {
        for (const a of d.added) out.write(`${io.paint('green', '+')} ${a}\n`);
        for (const a of d.removed) out.write(`${io.paint('red', '-')} ${a}\n`);
        for (const a of d.changed) out.write(`${io.paint('yellow', '~')} ${a}\n`);
        out.write(`${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed, ${d.unchanged} unchanged; ${d.newBlobs.length} new blob(s), ${human(d.newBytes)} new, ${human(d.sharedBytes)} shared${opts.out ? `\nincremental bundle: ${resolve(opts.out)}` : ''}\n`);
      }
    });
}
