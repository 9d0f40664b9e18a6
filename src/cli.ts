// The command line: a thin layer over the library. Exit codes: 0 ok, 1 findings/failures, 2 bad input.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import {
  applyOrder,
  applySite,
  dateSerial,
  importChart,
  importDeb,
  importDockerArchive,
  importFile,
  importGoModule,
  importOciLayout,
  importPython,
  importRpm,
  openStore,
  collectGarbage,
  GcError,
  repoHandlers,
  serve,
  caCertHash,
  ensureSitePki,
  check,
  loadPki,
  type KubeadmMaterial,
  formatIpamPlan,
  ipamPlan,
  runbookMarkdown,
  runbookScript,
  siteImages,
  errors,
  findRehearsal,
  formatVerifyTerminal,
  hostCommand,
  isAirlockError,
  isLabError,
  labPrefix,
  LabLayoutError,
  labStateDir,
  labPkiDir,
  labStatus,
  readSite,
  rehearsalDown,
  rehearsalTransports,
  rehearsalUp,
  render,
  runProbes,
  sshTransport,
  TransportError,
  topology,
  verifyHtml,
  verifyProbes,
  writeRendered,
  type AirlockError,
  type HostApplyResult,
  type LabProgressEvent,
  type LoadedSite,
  type Rehearsal,
  type Site,
  type StepOutcome,
  type Transport,
  type VerifyReport,
} from './index.ts';
import { formatFinding, formatProblemLine, formatSummary, painter } from './term.ts';
import { registerBundle } from './cli-bundle.ts';

const out = process.stdout;
const err = process.stderr;
const paint = painter(out, process.env);
const paintErr = painter(err, process.env);

const todaySerial = () => dateSerial(new Date(), 1);

const program = new Command('airlock')
  .description('Build, check, render, apply and verify an air-gapped Kubernetes site from one site.yaml')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ writeErr: (s) => err.write(s), writeOut: (s) => out.write(s) });

program
  .command('check')
  .description('Validate site.yaml and run the static checks (exit 0 clean, 1 errors found, 2 invalid input)')
  .argument('<site>', 'path to site.yaml')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { json?: boolean }) => {
    const loaded = await readSite(sitePath);
    const result = check(loaded);
    if (opts.json) out.write(`${JSON.stringify({ ok: result.errors === 0, ...result }, null, 2)}\n`);
    else {
      for (const f of result.findings) out.write(`${formatFinding(f, paint)}\n`);
      out.write(`${formatSummary(result, paint)}\n`);
    }
    process.exitCode = result.errors > 0 ? 1 : 0;
  });

program
  .command('render')
  .description("Render every host's files and ordered plan into a directory (refuses if check finds errors)")
  .argument('<site>', 'path to site.yaml')
  .requiredOption('-o, --out <dir>', 'output directory (created; replaced if airlock wrote it before)')
  .addOption(new Option('--serial <n>', 'SOA serial for the internal zone (default: today as YYYYMMDD01)').argParser((v) => {
    if (!/^\d{1,10}$/.test(v) || Number(v) > 4294967295) throw new CommanderError(2, 'airlock.usage', `--serial must be a number up to 4294967295, got "${v}"`);
    return Number(v);
  }))
  .option('--force', 'render even when check reports errors')
  .option('--pki <dir>', 'with the material from `airlock pki`: also render kubeadm init/join files')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { out: string; serial?: number; force?: boolean; pki?: string; json?: boolean }) => {
    const loaded = await readSite(sitePath);
    const result = check(loaded);
    if (result.errors > 0 && !opts.force) {
      if (opts.json) out.write(`${JSON.stringify({ ok: false, written: [], ...result }, null, 2)}\n`);
      else {
        for (const f of result.findings.filter((x) => x.severity === 'error')) err.write(`${formatFinding(f, paintErr)}\n`);
        err.write(`${formatSummary(result, paintErr)} — nothing rendered (use --force to render anyway)\n`);
      }
      process.exitCode = 1;
      return;
    }
    const rendered = render(loaded, { serial: opts.serial ?? todaySerial(), kubeadm: await materialFrom(opts.pki), mirrorKeys: await mirrorKeysFrom(loaded.site, opts.pki) });
    const written = await writeRendered(rendered, opts.out);
    if (opts.json) out.write(`${JSON.stringify({ ok: true, out: opts.out, written, findings: result.findings }, null, 2)}\n`);
    else {
      for (const h of rendered.hosts) out.write(`${paint('bold', h.host.padEnd(12))} ${String(h.files.length).padStart(3)} files  ${String(h.plan.steps.length).padStart(3)} steps  → ${opts.out}/${h.host}/\n`);
      out.write(`${paint('green', '✔')} rendered ${rendered.hosts.length} hosts into ${opts.out}\n`);
    }
  });

// ---------------------------------------------------------------- shared helpers for the stateful verbs

/** Load and check a site; findings of severity error stop any verb that would touch hosts. */
async function loadChecked(sitePath: string): Promise<LoadedSite> {
  const loaded = await readSite(sitePath);
  const result = check(loaded);
  if (result.errors > 0) {
    for (const f of result.findings.filter((x) => x.severity === 'error')) err.write(`${formatFinding(f, paintErr)}\n`);
    throw errors.findings(sitePath, result.errors);
  }
  return loaded;
}

function prefixFor(sitePath: string, given?: string): string {
  if (given) {
    if (!/^[a-z0-9]{2,6}$/.test(given)) throw errors.usage(`--prefix must be 2-6 characters of a-z0-9, got "${given}"`);
    return given;
  }
  return labPrefix(realpathSync(sitePath));
}

const t0 = Date.now();
const stamp = () => paintErr('dim', `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`);
function progress(e: LabProgressEvent) {
  err.write(`${stamp()} ${e.host ? `${paintErr('bold', e.host)} ` : ''}${e.phase}${e.detail ? ` ${paintErr('dim', e.detail)}` : ''}\n`);
}

function needRehearsal(site: Site, sitePath: string, prefix?: string): Rehearsal {
  const p = prefixFor(sitePath, prefix);
  const r = findRehearsal(site, p);
  if (!r) throw errors.usage(`no lab is up for ${sitePath} (prefix ${p}); run: airlock lab up ${sitePath}`);
  return r;
}

interface SshOpts {
  identity?: string;
  knownHosts?: string;
  user?: string;
}

/** ssh transports to the real hosts of a site: key (or agent) auth, host keys pinned from known_hosts. */
function sshTransports(site: Site, opts: SshOpts) {
  const topo = topology(site);
  const knownHosts = opts.knownHosts ?? resolve(homedir(), '.ssh', 'known_hosts');
  const pins = existsSync(knownHosts) ? readFileSync(knownHosts, 'utf8') : '';
  const privateKey = opts.identity ? readFileSync(opts.identity, 'utf8') : undefined;
  const open: Transport[] = [];
  const fn = async (name: string) => {
    const h = topo.hosts.get(name)?.host;
    if (!h) throw new Error(`no host ${name}`);
    const address = h.ssh?.address ?? topo.managementAddress(h);
    if (!address) throw new Error(`host ${name} has no management address`);
    const user = opts.user ?? h.ssh?.user ?? 'root';
    const t = await sshTransport({
      host: address,
      port: h.ssh?.port ?? 22,
      user,
      privateKey,
      agent: privateKey ? undefined : process.env.SSH_AUTH_SOCK,
      hostKey: pins,
      sudo: user !== 'root',
      readyTimeoutMs: 20_000,
    });
    open.push(t);
    return t;
  };
  return Object.assign(fn, { closeAll: async () => void (await Promise.all(open.map((t) => t.close()))) });
}

function transportsFor(site: Site, sitePath: string, opts: SshOpts & { lab?: boolean; prefix?: string }) {
  if (opts.lab) {
    const r = needRehearsal(site, sitePath, opts.prefix);
    return { site: r.layout.site, rehearsal: r, transports: rehearsalTransports(r) };
  }
  return { site, rehearsal: undefined, transports: sshTransports(site, opts) };
}

const STATUS_MARK: Record<StepOutcome['status'], string> = {
  ok: '·',
  changed: '~',
  'would-change': '~',
  failed: '✖',
  pending: '?',
  'rolled-back': '↺',
  skipped: '-',
};

function printStep(host: string, o: StepOutcome, verbose: boolean, diffs = true) {
  if ((o.status === 'ok' || o.status === 'skipped') && !verbose) return;
  const colour = o.status === 'failed' ? 'red' : o.status === 'ok' ? 'dim' : 'yellow';
  err.write(`${stamp()} ${paintErr('bold', host)} ${paintErr(colour, `${STATUS_MARK[o.status]} ${o.title}`)}${o.detail ? paintErr('dim', ` — ${o.detail}`) : ''}\n`);
  if (diffs && o.diff && o.status !== 'ok') {
    const body = o.diff.split('\n').slice(2).filter((l) => !l.startsWith('===')).join('\n');
    for (const line of body.split('\n')) {
      if (!line) continue;
      const c = line.startsWith('+') ? 'green' : line.startsWith('-') ? 'red' : 'dim';
      err.write(`        ${paintErr(c, line)}\n`);
    }
  }
}

function summariseApply(results: HostApplyResult[], dryRun: boolean): string {
  const lines = results.map((r) => {
    const s = r.ok ? (r.changed ? paint('yellow', `${r.changed} ${dryRun ? 'to change' : 'changed'}`) : paint('green', '0 changes')) : paint('red', `FAILED: ${r.error}`);
    const rb = r.rolledBack.length ? paint('dim', ` (rolled back ${r.rolledBack.length} file(s))`) : '';
    const skipped = r.outcomes.filter((o) => o.status === 'skipped').length;
    const sk = skipped ? paint('dim', ` (${skipped} step(s) not applicable in the lab)`) : '';
    return `  ${r.host.padEnd(12)} ${s}${rb}${sk} ${paint('dim', `${r.seconds.toFixed(1)}s`)}`;
  });
  const total = results.reduce((a, r) => a + r.changed, 0);
  const failed = results.filter((r) => !r.ok).length;
  lines.push(failed ? paint('red', `✖ ${failed} host(s) failed`) : paint('green', `✔ ${total} ${dryRun ? 'change(s) pending' : 'change(s)'} on ${results.length} host(s)`));
  return `${lines.join('\n')}\n`;
}

async function doApply(site: Site, transports: (h: string) => Promise<Transport>, opts: { host?: string; dryRun?: boolean; verbose?: boolean; json?: boolean; preview?: boolean; lab?: boolean; pki?: string; labPki?: string }) {
  // In the lab, the site CA the lab mirror serves with is the nodes' trust anchor unless --pki says otherwise.
  const rendered = render(site, { serial: todaySerial(), kubeadm: await materialFrom(opts.pki), mirrorKeys: await mirrorKeysFrom(site, opts.pki ?? opts.labPki) });
  let plans = rendered.hosts.map((h) => h.plan);
  if (opts.host) {
    plans = plans.filter((p) => p.host === opts.host);
    if (plans.length === 0) throw errors.usage(`no host "${opts.host}" in the site (hosts: ${rendered.hosts.map((h) => h.host).join(', ')})`);
  }
  const first = applyOrder(site);
  const onStep = opts.json ? undefined : (h: string, o: StepOutcome) => printStep(h, o, Boolean(opts.verbose));
  if (!opts.dryRun && opts.preview !== false && !opts.json) {
    const quiet = (h: string, o: StepOutcome) => printStep(h, o, Boolean(opts.verbose), false);
    // Diff first: what would change on each host, before anything is touched.
    err.write(`${stamp()} ${paintErr('bold', 'plan')} reading current state of ${plans.length} host(s)\n`);
    const preview = await applySite(plans, transports, { dryRun: true, first, onStep, lab: opts.lab });
    const pending = preview.reduce((a, r) => a + r.changed, 0);
    err.write(`${stamp()} ${paintErr('bold', 'plan')} ${pending} step(s) to change; applying\n`);
    if (pending === 0 && preview.every((r) => r.ok)) return preview.map((r) => ({ ...r, dryRun: false }));
    return applySite(plans, transports, { first, onStep: quiet, lab: opts.lab });
  }
  return applySite(plans, transports, { dryRun: opts.dryRun, first, onStep, lab: opts.lab });
}

async function doVerify(site: Site, transports: (h: string) => Promise<Transport>, r: Rehearsal | undefined, opts: { json?: boolean; report?: string }): Promise<VerifyReport> {
  const probes = verifyProbes(site, r ? { upstream: { whoamiUrl: r.layout.upstream.whoamiUrl, name: r.layout.upstream.testName }, outsider: true } : {});
  const report = await runProbes(site, probes, transports, {
    lab: Boolean(r),
    notes: r?.layout.notes ?? [],
    onResult: opts.json ? undefined : (x) => err.write(`${stamp()} ${paintErr('bold', x.host)} ${x.status === 'pass' ? paintErr('green', '✔') : x.status === 'skipped' ? paintErr('dim', '-') : paintErr('red', '✖')} ${x.title}\n`),
  });
  if (opts.report) {
    writeFileSync(opts.report, verifyHtml(site, report, r ? { upstream: { network: r.layout.upstream.network, address: r.layout.upstream.address, label: 'upstream' } } : {}));
  }
  return report;
}

// ---------------------------------------------------------------- cluster planning

program
  .command('ipam')
  .description("Calico IPAM plan: blocks per node, capacity per node and cluster (like calicoctl ipam show --show-blocks)")
  .argument('<site>', 'path to site.yaml')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { json?: boolean }) => {
    const loaded = await readSite(sitePath);
    const plan = ipamPlan(loaded.site);
    if (!plan) throw errors.usage(`${sitePath} has no cluster: section`);
    out.write(opts.json ? `${JSON.stringify(plan, null, 2)}\n` : formatIpamPlan(plan));
    process.exitCode = plan.problems.length ? 1 : 0;
  });

program
  .command('images')
  .description('The exact images the cluster needs (Kubernetes + Calico), upstream and on the site mirror')
  .argument('<site>', 'path to site.yaml')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { json?: boolean }) => {
    const loaded = await readSite(sitePath);
    if (!loaded.site.cluster) throw errors.usage(`${sitePath} has no cluster: section`);
    const list = siteImages(loaded.site);
    if (!list) throw errors.usage(`Kubernetes ${loaded.site.cluster.kubernetesVersion} is not in airlock's image table (1.28–1.32)`);
    if (opts.json) out.write(`${JSON.stringify(list, null, 2)}\n`);
    else {
      for (const i of list.images) out.write(`${i.source}${i.mirror ? `  →  ${i.mirror}` : ''}\n`);
      for (const w of list.warnings) err.write(`${paintErr('yellow', 'note:')} ${w}\n`);
    }
  });

/** The site CA nodes must trust for an HTTPS mirror (from a pki directory). */
async function mirrorKeysFrom(site: Site, dir: string | undefined): Promise<{ caCert?: string }> {
  if (!dir || !site.services.mirrors?.tls) return {};
  return { caCert: (await loadPki(dir, new Date())).ca.certPem };
}

/** Bootstrap material from a pki directory (made by `airlock pki`). */
async function materialFrom(dir: string | undefined): Promise<KubeadmMaterial | undefined> {
  if (!dir) return undefined;
  const pki = await loadPki(dir, new Date());
  if (!pki.token) throw errors.usage(`${dir} has no bootstrap token; run airlock pki again`);
  return { token: pki.token, caCertHash: caCertHash(pki.ca.certPem), ...(pki.certificateKey ? { certificateKey: pki.certificateKey } : {}) };
}

program
  .command('pki')
  .description('Make (or reuse) the cluster CA, bootstrap token and join command before any node exists')
  .argument('<site>', 'path to site.yaml')
  .requiredOption('-o, --out <dir>', 'PKI directory (created 0700; an existing ca.crt + ca.key are reused)')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { out: string; json?: boolean }) => {
    const loaded = await loadChecked(sitePath);
    const c = loaded.site.cluster;
    if (!c && !loaded.site.services.mirrors?.tls) throw errors.usage(`${sitePath} has no cluster: section and no TLS mirror`);
    const pki = await ensureSitePki(loaded.site, opts.out, new Date());
    const masked = pki.joinCommand ? pki.joinCommand.replace(pki.token, `${pki.token.slice(0, 6)}.****************`) : '(no cluster)';
    if (opts.json) out.write(`${JSON.stringify({ dir: opts.out, caCertHash: pki.caCertHash, reusedCA: pki.reusedCA, files: pki.written }, null, 2)}\n`);
    else {
      for (const f of pki.written) out.write(`  ${f.mode} ${f.path}${f.changed ? '' : paint('dim', ' (unchanged)')}\n`);
      out.write(`${paint('green', '✔')} ${pki.reusedCA ? 'reused the CA in' : 'made a new CA in'} ${opts.out}; discovery hash ${pki.caCertHash}\n  join: ${masked}   (full command in ${resolve(opts.out, 'join-command')})\n`);
    }
  });

program
  .command('runbook')
  .description('The ordered bootstrap commands per host (kubeadm init, CNI, joins, checks) as Markdown or a script')
  .argument('<site>', 'path to site.yaml')
  .addOption(new Option('--format <f>', 'output format').choices(['md', 'sh']).default('md'))
  .action(async (sitePath: string, opts: { format: 'md' | 'sh' }) => {
    const loaded = await loadChecked(sitePath);
    if (!loaded.site.cluster) throw errors.usage(`${sitePath} has no cluster: section`);
    out.write(opts.format === 'sh' ? runbookScript(loaded.site, sitePath) : runbookMarkdown(loaded.site, sitePath));
  });

// ---------------------------------------------------------------- mirrors

function storeDirFor(site: Site | undefined, given?: string): string {
  const dir = given ?? site?.services.mirrors?.storeDir;
  if (!dir) throw errors.usage('no store: pass --store DIR (or set services.mirrors.storeDir in the site)');
  return dir;
}

const store = program.command('store').description('The content-addressed store behind every mirror (OCI, APT, YUM, PyPI, Helm, Go, files)');

store
  .command('add')
  .description('Import an artifact: oci-layout DIR | docker-archive TAR | deb FILE... | rpm FILE... | python FILE | chart TGZ | gomod ZIP | file FILE')
  .argument('<kind>', 'oci-layout, docker-archive, deb, rpm, python, chart, gomod or file')
  .argument('<paths...>', 'what to import')
  .requiredOption('--store <dir>', 'store directory')
  .option('--repo <name>', 'image repository (oci-layout, docker-archive) or YUM repo (rpm, default rocky9)')
  .option('--tag <tag>', 'image tag', 'latest')
  .option('--suite <suite>', 'APT suite (deb)', 'bookworm')
  .option('--component <c>', 'APT component (deb)', 'main')
  .option('--module <path>', 'Go module path (gomod)')
  .option('--version <v>', 'Go module version (gomod)')
  .option('--name <name>', 'file name under /files/ (file; default: the file\'s own name)')
  .action(async (kind: string, paths: string[], opts: { store: string; repo?: string; tag: string; suite: string; component: string; module?: string; version?: string; name?: string }) => {
    const st = await openStore(opts.store);
    const one = paths[0]!;
    const need = (v: string | undefined, flag: string) => {
      if (!v) throw errors.usage(`${kind} needs ${flag}`);
      return v;
    };
    let result: unknown;
    switch (kind) {
      case 'oci-layout':
        result = await importOciLayout(st, one, { repo: need(opts.repo, '--repo'), tag: opts.tag });
        break;
      case 'docker-archive':
        result = await importDockerArchive(st, one, { repo: need(opts.repo, '--repo'), tag: opts.tag });
        break;
      case 'deb':
        result = await importDeb(st, paths, { suite: opts.suite, component: opts.component });
        break;
      case 'rpm':
        result = await importRpm(st, paths, { repo: opts.repo ?? 'rocky9' });
        break;
      case 'python':
        result = await importPython(st, one);
        break;
      case 'chart':
        result = await importChart(st, one);
        break;
      case 'gomod':
        result = await importGoModule(st, { module: need(opts.module, '--module'), version: need(opts.version, '--version'), zip: one });
        break;
      case 'file':
        result = await importFile(st, one, { name: opts.name ?? one.split('/').pop()! });
        break;
      default:
        throw errors.usage(`unknown kind "${kind}" (oci-layout, docker-archive, deb, rpm, python, chart, gomod, file)`);
    }
    out.write(`${JSON.stringify(result, null, 2)}\n`);
  });

store
  .command('verify')
  .description('Re-hash every blob; report corrupt ones; remove temp files left by crashes')
  .requiredOption('--store <dir>', 'store directory')
  .option('--json', 'machine-readable output')
  .action(async (opts: { store: string; json?: boolean }) => {
    const st = await openStore(opts.store);
    const r = await st.verify();
    if (opts.json) out.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      for (const c of r.corrupt) out.write(`${paint('red', 'corrupt')} ${c}\n`);
      out.write(`${r.corrupt.length ? paint('red', '✖') : paint('green', '✔')} ${r.ok} blob(s) ok, ${r.corrupt.length} corrupt, ${r.removedTemp} temp file(s) removed\n`);
    }
    process.exitCode = r.corrupt.length ? 1 : 0;
  });

store
  .command('gc')
  .description('Remove blobs nothing references any more (after a grace period that protects imports in progress)')
  .requiredOption('--store <dir>', 'store directory')
  .option('--dry-run', 'list what would be removed, remove nothing')
  .option('--grace <minutes>', 'keep unreferenced blobs younger than this', '60')
  .option('--prune-links', "also drop registry blob links no manifest uses (pushed blobs never referenced)")
  .option('--json', 'machine-readable output')
  .action(async (opts: { store: string; dryRun?: boolean; grace: string; pruneLinks?: boolean; json?: boolean }) => {
    const grace = Number(opts.grace);
    if (!Number.isFinite(grace) || grace < 0) throw errors.usage(`--grace: minutes (0 or more), got "${opts.grace}"`);
    const st = await openStore(opts.store);
    let r;
    try {
      r = await collectGarbage(st, { dryRun: Boolean(opts.dryRun), graceMs: grace * 60_000, pruneLinks: Boolean(opts.pruneLinks) });
    } catch (e) {
      if (e instanceof GcError) throw errors.usage(e.message);
      throw e;
    }
    if (opts.json) out.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      for (const d of r.removed) out.write(`${opts.dryRun ? 'would remove' : 'removed'} ${d}\n`);
      out.write(`${paint('green', '✔')} ${r.removed.length} blob(s) ${opts.dryRun ? 'to remove' : 'removed'} (${(r.removedBytes / 1048576).toFixed(1)} MiB), ${r.kept} kept (${(r.keptBytes / 1048576).toFixed(1)} MiB)\n`);
    }
  });

program
  .command('serve')
  .description('Serve the mirrors (OCI registry, APT, YUM, PyPI, Helm, GOPROXY, files) from one store')
  .argument('[site]', 'site.yaml (port, store, users from services.mirrors)')
  .option('--store <dir>', 'store directory (default: services.mirrors.storeDir)')
  .option('--listen <addr>', 'address to listen on', '0.0.0.0')
  .option('--port <n>', 'port (default: services.mirrors.port or 5000)')
  .option('--tls-cert <file>', 'PEM certificate (HTTPS)')
  .option('--tls-key <file>', 'PEM key (HTTPS)')
  .option('--pki <dir>', 'with services.mirrors.tls: serve HTTPS with mirror.crt/mirror.key made by `airlock pki`')
  .action(async (sitePath: string | undefined, opts: { store?: string; listen: string; port?: string; tlsCert?: string; tlsKey?: string; pki?: string }) => {
    const site = sitePath ? (await loadChecked(sitePath)).site : undefined;
    const m = site?.services.mirrors;
    const st = await openStore(storeDirFor(site, opts.store));
    const port = opts.port !== undefined ? Number(opts.port) : (m?.port ?? 5000);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw errors.usage(`--port must be 0-65535, got "${opts.port}"`);
    if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw errors.usage('--tls-cert and --tls-key go together');
    if (m?.tls && !opts.tlsCert) {
      if (!opts.pki) throw errors.usage('services.mirrors.tls is on: pass --pki DIR (from `airlock pki`) or --tls-cert/--tls-key');
      opts.tlsCert = resolve(opts.pki, 'mirror.crt');
      opts.tlsKey = resolve(opts.pki, 'mirror.key');
    }
    const running = await serve({
      store: st,
      host: opts.listen,
      port,
      handlers: repoHandlers(),
      ...(opts.tlsCert && opts.tlsKey ? { tls: { cert: opts.tlsCert, key: opts.tlsKey } } : {}),
      ...(m?.auth?.users.length ? { users: m.auth.users } : {}),
    });
    err.write(`${paintErr('green', '✔')} serving ${st.root} at ${running.url} (Ctrl-C to stop)\n`);
    const stop = () => void running.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

// ---------------------------------------------------------------- lab

const lab = program.command('lab').description('Rehearse the site on this machine: one booted container per host, in network namespaces');

lab
  .command('up')
  .description('Boot every host of the site (plus a TEST-NET upstream host and a bastion) in the lab')
  .argument('<site>', 'path to site.yaml')
  .option('--prefix <p>', 'resource prefix (default: derived from the site path)')
  .option('--rebuild-image', 'rebuild the cached base image first')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { prefix?: string; rebuildImage?: boolean; json?: boolean }) => {
    const loaded = await loadChecked(sitePath);
    const prefix = prefixFor(sitePath, opts.prefix);
    const up = await labUpOrCleanup(loaded.site, prefix, opts.rebuildImage);
    if (opts.json) out.write(`${JSON.stringify({ prefix, stateDir: up.state.stateDir, notes: up.layout.notes, hosts: up.state.hosts.map((h) => h.name), image: up.image }, null, 2)}\n`);
    else printLabUp(up, sitePath);
  });

async function labUpOrCleanup(site: Site, prefix: string, rebuildImage?: boolean) {
  try {
    return await rehearsalUp(site, prefix, { rebuildImage, onProgress: progress });
  } catch (e) {
    // A failed up leaves nothing behind: tear down what was made (the state file knows).
    if (!(e instanceof LabLayoutError) && !(isLabError(e) && /already holds a lab|already exist/.test(e.message))) {
      err.write(`${stamp()} lab up failed; cleaning up\n`);
      await rehearsalDown(prefix, { onProgress: progress }).catch(() => undefined);
    }
    throw e;
  }
}

function printLabUp(up: Rehearsal & { image: { built: boolean; seconds: number } }, sitePath: string) {
  out.write(`${paint('green', '✔')} lab ${up.state.prefix} is up: ${up.state.hosts.map((h) => h.name).join(', ')} (bastion ${up.layout.bastion.address})\n`);
  for (const n of up.layout.notes) out.write(`  ${paint('dim', `lab mapping: ${n}`)}\n`);
  out.write(`  explore: airlock lab shell ${sitePath} <host>   ·   clean up: airlock lab down ${sitePath}\n`);
}

lab
  .command('down')
  .description('Remove every namespace, link, mount and process the lab made (also after a crash)')
  .argument('<site>', 'path to site.yaml')
  .option('--prefix <p>', 'resource prefix (default: derived from the site path)')
  .action(async (sitePath: string, opts: { prefix?: string }) => {
    const prefix = prefixFor(sitePath, opts.prefix);
    const r = await rehearsalDown(prefix, { onProgress: progress });
    out.write(`${paint('green', '✔')} lab ${prefix}: removed ${r.removed.length} resource(s)\n`);
  });

lab
  .command('status')
  .description('Show each lab host: namespace, container, sshd, memory')
  .argument('<site>', 'path to site.yaml')
  .option('--prefix <p>', 'resource prefix')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { prefix?: string; json?: boolean }) => {
    const prefix = prefixFor(sitePath, opts.prefix);
    const st = await labStatus(labStateDir(prefix));
    if (opts.json) out.write(`${JSON.stringify(st ?? { prefix, phase: 'absent' }, null, 2)}\n`);
    else if (!st) out.write(`no lab for ${sitePath} (prefix ${prefix})\n`);
    else {
      out.write(`lab ${st.prefix}: ${st.phase}\n`);
      for (const h of st.hosts)
        out.write(`  ${h.name.padEnd(10)} ${h.pidAlive ? paint('green', 'running') : paint('red', 'stopped')} ${h.systemState ?? ''} ssh:${h.ssh.reachable ? 'yes' : 'no'} ${h.addresses.join(' ')} ${Math.round(h.pssKiB / 1024)} MiB\n`);
    }
    process.exitCode = st && st.hosts.every((h) => h.pidAlive) ? 0 : 1;
  });

/** Run argv on a lab host with the terminal attached (shell and exec). */
async function onLabHost(sitePath: string, host: string, argv: string[], prefix?: string, term?: string) {
  const loaded = await readSite(sitePath);
  const r = needRehearsal(loaded.site, sitePath, prefix);
  const c = hostCommand(r.state, host, argv, { term });
  process.exitCode = spawnSync(c.command, c.args, { stdio: 'inherit', env: c.env }).status ?? 1;
}

lab
  .command('shell')
  .description('An interactive shell on a lab host')
  .argument('<site>', 'path to site.yaml')
  .argument('<host>', 'host name')
  .option('--prefix <p>', 'resource prefix')
  .action((sitePath: string, host: string, opts: { prefix?: string }) => onLabHost(sitePath, host, ['/bin/bash', '-l'], opts.prefix, process.env.TERM));

lab
  .command('exec')
  .description('Run a command on a lab host: airlock lab exec site.yaml cp1 -- ip route')
  .argument('<site>', 'path to site.yaml')
  .argument('<host>', 'host name')
  .argument('<command...>', 'the command')
  .option('--prefix <p>', 'resource prefix')
  .action((sitePath: string, host: string, command: string[], opts: { prefix?: string }) => onLabHost(sitePath, host, command, opts.prefix));

// ---------------------------------------------------------------- apply / verify / demo

program
  .command('apply')
  .description('Bring hosts to the rendered state: diff first, then only the steps that are not done (idempotent)')
  .argument('<site>', 'path to site.yaml')
  .option('--host <name>', 'only this host')
  .option('--dry-run', 'show what would change, change nothing')
  .option('--lab', "apply to the site's lab (airlock lab up) instead of the real hosts")
  .option('--prefix <p>', 'lab resource prefix')
  .option('-i, --identity <file>', 'SSH private key (default: ssh-agent via SSH_AUTH_SOCK)')
  .option('--known-hosts <file>', 'pinned host keys (default ~/.ssh/known_hosts)')
  .option('--user <name>', 'SSH user (non-root users go through sudo -n)')
  .option('--pki <dir>', 'with the material from `airlock pki`: also place kubeadm init/join files')
  .option('-v, --verbose', 'also list the steps that were already done')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { host?: string; dryRun?: boolean; lab?: boolean; prefix?: string; identity?: string; knownHosts?: string; user?: string; pki?: string; verbose?: boolean; json?: boolean }) => {
    const loaded = await loadChecked(sitePath);
    const { site, rehearsal, transports } = transportsFor(loaded.site, sitePath, opts);
    try {
      const results = await doApply(site, transports, { ...opts, lab: Boolean(rehearsal), ...(rehearsal && site.services.mirrors?.tls ? { labPki: labPkiDir(rehearsal.state) } : {}) });
      if (opts.json) out.write(`${JSON.stringify({ ok: results.every((r) => r.ok), changed: results.reduce((a, r) => a + r.changed, 0), hosts: results }, null, 2)}\n`);
      else out.write(summariseApply(results, Boolean(opts.dryRun)));
      process.exitCode = results.every((r) => r.ok) ? 0 : 1;
    } finally {
      await transports.closeAll();
    }
  });

program
  .command('verify')
  .description("Run the operator's checklist on every host: expected vs seen, terminal + HTML report")
  .argument('<site>', 'path to site.yaml')
  .option('--lab', "verify the site's lab instead of the real hosts")
  .option('--prefix <p>', 'lab resource prefix')
  .option('-i, --identity <file>', 'SSH private key (default: ssh-agent)')
  .option('--known-hosts <file>', 'pinned host keys (default ~/.ssh/known_hosts)')
  .option('--user <name>', 'SSH user')
  .option('--report <file>', 'write the HTML report here', 'airlock-report.html')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { lab?: boolean; prefix?: string; identity?: string; knownHosts?: string; user?: string; report: string; json?: boolean }) => {
    const loaded = await loadChecked(sitePath);
    const { site, rehearsal, transports } = transportsFor(loaded.site, sitePath, opts);
    try {
      const report = await doVerify(site, transports, rehearsal, opts);
      if (opts.json) out.write(`${JSON.stringify(report, null, 2)}\n`);
      else out.write(`${formatVerifyTerminal(report, paint)}report: ${resolve(opts.report)}\n`);
      process.exitCode = report.failed ? 1 : 0;
    } finally {
      await transports.closeAll();
    }
  });

program
  .command('demo')
  .description('The built-in seed site, end to end: image, lab up, apply, verify, HTML report; the lab stays up')
  .option('--site <file>', 'site to demo', 'examples/seed/site.yaml')
  .option('--report <file>', 'where to write the HTML report', 'airlock-report.html')
  .action(async (opts: { site: string; report: string }) => {
    const sitePath = opts.site;
    const loaded = await loadChecked(sitePath);
    out.write(`${paint('bold', '1/4 check')}   ${paint('green', '✔')} ${sitePath} has no error findings\n`);
    const prefix = prefixFor(sitePath);
    if (findRehearsal(loaded.site, prefix)) {
      err.write(`${stamp()} an earlier demo lab is up; taking it down for a clean run\n`);
      await rehearsalDown(prefix, { onProgress: progress });
    }
    const up = await labUpOrCleanup(loaded.site, prefix);
    out.write(`${paint('bold', '2/4 lab up')}  `);
    printLabUp(up, sitePath);
    const transports = rehearsalTransports(up);
    try {
      const results = await doApply(up.layout.site, transports, { preview: false, lab: true, ...(up.layout.site.services.mirrors?.tls ? { labPki: labPkiDir(up.state) } : {}) });
      out.write(`${paint('bold', '3/4 apply')}\n${summariseApply(results, false)}`);
      if (!results.every((r) => r.ok)) {
        process.exitCode = 1;
        return;
      }
      const report = await doVerify(up.layout.site, transports, up, { report: opts.report });
      out.write(`${paint('bold', '4/4 verify')}\n${formatVerifyTerminal(report, paint)}`);
      out.write(`\nHTML report: ${resolve(opts.report)}\nThe lab stays up: airlock lab shell ${sitePath} cp1   ·   airlock lab down ${sitePath}\n`);
      process.exitCode = report.failed ? 1 : 0;
    } finally {
      await transports.closeAll();
    }
  });

registerBundle(program, { out, err, paint, paintErr });

function reportError(e: AirlockError): void {
  err.write(`${paintErr('red', 'airlock:')} ${e.message} [${e.code}]\n`);
  for (const p of e.problems) err.write(`${formatProblemLine(p, paintErr)}\n`);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? 0 : 2;
  } else if (isAirlockError(e)) {
    reportError(e);
    process.exitCode = e.exitCode;
  } else if (isLabError(e) || e instanceof LabLayoutError || e instanceof TransportError) {
    err.write(`${paintErr('red', 'airlock:')} ${(e as Error).message}\n`);
    process.exitCode = e instanceof LabLayoutError ? 2 : 1;
  } else {
    err.write(`airlock: internal error (a bug — please report it with this trace)\n${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 70;
  }
}
