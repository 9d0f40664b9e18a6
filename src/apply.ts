// Apply a host's Plan through a Transport: read the current state, report the diff, run only the steps
// whose check fails, back up every replaced file, restart only services whose files changed, and on a
// failure roll back what this run changed on that host. A second apply reports 0 changes.
import { createTwoFilesPatch } from 'diff';
import type { AssertStep, CommandStep, FileStep, Plan, ServiceStep, Step } from './plan.ts';
import type { Site } from './schema.ts';
import { topology } from './topology.ts';
import { shellQuote, type Transport } from './transport/index.ts';

export const BACKUP_ROOT = '/var/lib/airlock/backups';

export type StepStatus = 'ok' | 'changed' | 'would-change' | 'failed' | 'pending' | 'rolled-back' | 'skipped';

export interface StepOutcome {
  id: string;
  kind: Step['kind'];
  title: string;
  status: StepStatus;
  /** What was seen or done, in a line. */
  detail?: string;
  /** Unified diff for file steps that change. */
  diff?: string;
  /** How long the step took (check + action). */
  seconds?: number;
}

export interface HostApplyResult {
  host: string;
  ok: boolean;
  dryRun: boolean;
  changed: number;
  outcomes: StepOutcome[];
  error?: string;
  /** Files restored after a failure. */
  rolledBack: string[];
  backupDir?: string;
  seconds: number;
}

export interface ApplyOptions {
  dryRun?: boolean;
  /** Identifies this run (backup directory name); default: a timestamp. */
  runId?: string;
  onStep?: (host: string, outcome: StepOutcome) => void;
  /** Injected clock for the zone serial floor (YYYYMMDD00); default Date.now. */
  now?: () => Date;
  /** Applying to the lab: steps marked labSkip are reported as skipped, not run. */
  lab?: boolean;
}

const SERIAL_RE = /^(\s*)(\d+)(\s*;\s*serial)\s*$/m;

export function withoutSerial(zone: string): string {
  return zone.replace(SERIAL_RE, '$1SERIAL$3');
}

/** The serial to write: the rendered one, but always past the live one and today's YYYYMMDD00. */
/** A zone serial in the usual YYYYMMDDnn form for a UTC date. */
export function dateSerial(d: Date, nn: number): number {
  return Number(`${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}${String(nn).padStart(2, '0')}`);
}

export function nextSerial(rendered: string, live: string | undefined, now: Date): string {
  const r = Number(SERIAL_RE.exec(rendered)?.[2] ?? 1);
  const l = live !== undefined ? Number(SERIAL_RE.exec(live)?.[2] ?? 0) : 0;
  const floor = dateSerial(now, 0);
  const serial = Math.max(r, l + 1, live === undefined ? 0 : floor) % 4294967296;
  return rendered.replace(SERIAL_RE, `$1${serial}$3`);
}

function normMode(m: string): string {
  return m.replace(/^0+/, '').padStart(3, '0');
}

interface FileState {
  exists: boolean;
  content?: string;
  mode?: string;
  owner?: string;
}

function fileDiffers(step: FileStep, live: FileState): string | undefined {
  if (!live.exists) return 'missing';
  const want = step.compare === 'ignore-soa-serial' ? withoutSerial(step.content) : step.content;
  const have = step.compare === 'ignore-soa-serial' ? withoutSerial(live.content ?? '') : live.content;
  if (want !== have) return 'content differs';
  if (normMode(live.mode ?? '') !== normMode(step.mode)) return `mode ${live.mode} → ${step.mode}`;
  const owner = step.owner ?? 'root:root';
  if (live.owner !== owner) return `owner ${live.owner} → ${owner}`;
  return undefined;
}

class StepFailed extends Error {}

export async function applyPlan(plan: Plan, t: Transport, opts: ApplyOptions = {}): Promise<HostApplyResult> {
  const started = Date.now();
  const dryRun = opts.dryRun ?? false;
  const now = opts.now?.() ?? new Date();
  const runId = opts.runId ?? now.toISOString().replace(/[:.]/g, '-');
  const backupDir = `${BACKUP_ROOT}/${runId}`;
  const outcomes: StepOutcome[] = [];
  const changedFiles = new Set<string>();
  /** Files this run replaced or created: path → previous content (undefined = did not exist). */
  const undo: { step: FileStep; previous: FileState }[] = [];
  let stepStarted = Date.now();
  const report = (o: StepOutcome) => {
    o.seconds = (Date.now() - stepStarted) / 1000;
    outcomes.push(o);
    opts.onStep?.(plan.host, o);
  };
  const sh = async (cmd: string, timeoutMs = 120_000) => t.run(cmd, { timeoutMs });
  const checkPasses = async (cmd: string) => (await sh(cmd, 30_000)).code === 0;

  const doFile = async (s: FileStep) => {
    const info = await t.readFile(s.path);
    const live: FileState = info ? { exists: true, content: info.content, mode: info.mode, owner: info.owner } : { exists: false };
    const why = fileDiffers(s, live);
    if (!why) return report({ id: s.id, kind: s.kind, title: s.title, status: 'ok', detail: s.path });
    const content = s.compare === 'ignore-soa-serial' ? nextSerial(s.content, live.content, now) : s.content;
    const diff = createTwoFilesPatch(live.exists ? s.path : '/dev/null', s.path, live.content ?? '', content, undefined, undefined, { context: 2 });
    if (dryRun) return report({ id: s.id, kind: s.kind, title: s.title, status: 'would-change', detail: `${s.path}: ${why}`, diff });
    if (live.exists) {
      const r = await sh(`mkdir -p ${shellQuote(`${backupDir}${s.path.replace(/\/[^/]*$/, '')}`)} && cp -a ${shellQuote(s.path)} ${shellQuote(backupDir + s.path)}`);
      if (r.code !== 0) throw new StepFailed(`backing up ${s.path} failed: ${r.stderr.trim()}`);
    }
    undo.push({ step: s, previous: live });
    await t.writeFile(s.path, content, { mode: s.mode, owner: s.owner ?? 'root:root' });
    changedFiles.add(s.id);
    report({ id: s.id, kind: s.kind, title: s.title, status: 'changed', detail: `${s.path}: ${why}${live.exists ? ` (backup in ${backupDir})` : ''}`, diff });
  };

  const doCommand = async (s: CommandStep) => {
    const forced = (s.after ?? []).filter((id) => changedFiles.has(id));
    const passes = await checkPasses(s.check);
    if (passes && forced.length === 0) return report({ id: s.id, kind: s.kind, title: s.title, status: 'ok' });
    const why = passes ? `${forced.join(', ')} changed` : 'check failed';
    if (dryRun) return report({ id: s.id, kind: s.kind, title: s.title, status: 'would-change', detail: `${why}; would run: ${s.run}` });
    const r = await sh(s.run);
    if (r.code !== 0) throw new StepFailed(`"${s.title}" failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(0, 500)}`);
    if (!(await checkPasses(s.check))) throw new StepFailed(`"${s.title}" ran but its check still fails: ${s.check}`);
    report({ id: s.id, kind: s.kind, title: s.title, status: 'changed', detail: why });
  };

  const doAssert = async (s: AssertStep) => {
    if (dryRun) {
      const ok = await checkPasses(s.check);
      return report({ id: s.id, kind: s.kind, title: s.title, status: ok ? 'ok' : 'pending', detail: ok ? undefined : 'checked again during apply' });
    }
    const deadline = Date.now() + s.timeout * 1000;
    for (;;) {
      if (await checkPasses(s.check)) return report({ id: s.id, kind: s.kind, title: s.title, status: 'ok' });
      if (Date.now() >= deadline) throw new StepFailed(`"${s.title}" does not hold after ${s.timeout}s: ${s.check}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  const doService = async (s: ServiceStep) => {
    const u = shellQuote(s.unit);
    const state = await sh(`systemctl is-enabled ${u} 2>/dev/null; systemctl is-active ${u} 2>/dev/null; true`);
    const [enabled, active] = state.stdout.trim().split('\n');
    const restart = s.restartOn.filter((id) => changedFiles.has(id));
    const actions: string[] = [];
    if (enabled !== 'enabled' && enabled !== 'static' && enabled !== 'alias') actions.push(`systemctl enable ${u}`);
    if (restart.length) actions.push(`systemctl restart ${u}`);
    else if (active !== 'active') actions.push(`systemctl start ${u}`);
    if (actions.length === 0) return report({ id: s.id, kind: s.kind, title: s.title, status: 'ok' });
    const why = restart.length ? `restart: ${restart.join(', ')} changed` : `was ${enabled}/${active}`;
    if (dryRun) return report({ id: s.id, kind: s.kind, title: s.title, status: 'would-change', detail: `${why}; would run: ${actions.join(' && ')}` });
    const r = await sh(`systemctl daemon-reload && ${actions.join(' && ')}`);
    if (r.code !== 0) {
      const log = await sh(`journalctl -u ${u} -n 15 --no-pager 2>/dev/null || true`);
      throw new StepFailed(`${s.unit}: ${actions.join(' && ')} failed: ${(r.stderr || r.stdout).trim()}\n${log.stdout.trim()}`);
    }
    report({ id: s.id, kind: s.kind, title: s.title, status: 'changed', detail: why });
  };

  let error: string | undefined;
  const rolledBack: string[] = [];
  try {
    for (const s of plan.steps) {
      stepStarted = Date.now();
      if (opts.lab && s.labSkip) report({ id: s.id, kind: s.kind, title: s.title, status: 'skipped', detail: `not in the lab: ${s.labSkip}` });
      else if (s.kind === 'file') await doFile(s);
      else if (s.kind === 'command') await doCommand(s);
      else if (s.kind === 'assert') await doAssert(s);
      else await doService(s);
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    const failedStep = plan.steps[outcomes.length];
    if (failedStep) report({ id: failedStep.id, kind: failedStep.kind, title: failedStep.title, status: 'failed', detail: error });
    if (!dryRun) rolledBack.push(...(await rollback(plan, t, undo)));
  }
  const changed = outcomes.filter((o) => o.status === 'changed' || o.status === 'would-change').length;
  return { host: plan.host, ok: error === undefined, dryRun, changed, outcomes, error, rolledBack, backupDir: undo.length ? backupDir : undefined, seconds: (Date.now() - started) / 1000 };
}

/** Put back the files this run replaced (newest first), then re-run what depends on them. Best effort. */
async function rollback(plan: Plan, t: Transport, undo: { step: FileStep; previous: FileState }[]): Promise<string[]> {
  const restored: string[] = [];
  const ids = new Set<string>();
  for (const { step, previous } of [...undo].reverse()) {
    try {
      if (previous.exists) await t.writeFile(step.path, previous.content ?? '', { mode: previous.mode ?? step.mode, owner: previous.owner });
      else await t.run(`rm -f ${shellQuote(step.path)}`);
      restored.push(step.path);
      ids.add(step.id);
    } catch {
      // keep going: restore as much as possible
    }
  }
  for (const s of plan.steps) {
    if (s.kind === 'command' && s.after?.some((id) => ids.has(id))) await t.run(s.run, { timeoutMs: 60_000 }).catch(() => undefined);
    if (s.kind === 'service' && s.restartOn.some((id) => ids.has(id))) await t.run(`systemctl restart ${shellQuote(s.unit)}`, { timeoutMs: 60_000 }).catch(() => undefined);
  }
  return restored;
}

/** Hosts every other host depends on, in the order to apply them: the gateway, then the DNS and NTP servers. */
export function applyOrder(site: Site): string[] {
  const topo = topology(site);
  return [...new Set([topo.gateway?.host.name, site.services.dns?.server, site.services.ntp?.server].filter((x): x is string => Boolean(x)))];
}

/** Apply every host's plan: the gateway first (nodes depend on it), then the other servers, then the rest in parallel. */
export async function applySite(
  plans: Plan[],
  transportFor: (host: string) => Promise<Transport>,
  opts: ApplyOptions & { first?: string[] } = {},
): Promise<HostApplyResult[]> {
  const runId = opts.runId ?? (opts.now?.() ?? new Date()).toISOString().replace(/[:.]/g, '-');
  const first = opts.first ?? [];
  const one = async (plan: Plan): Promise<HostApplyResult> => {
    let t: Transport;
    try {
      t = await transportFor(plan.host);
    } catch (e) {
      const error = `cannot reach ${plan.host}: ${e instanceof Error ? e.message : String(e)}`;
      return { host: plan.host, ok: false, dryRun: opts.dryRun ?? false, changed: 0, outcomes: [], error, rolledBack: [], seconds: 0 };
    }
    return applyPlan(plan, t, { ...opts, runId });
  };
  const results: HostApplyResult[] = [];
  for (const name of first) {
    const plan = plans.find((p) => p.host === name);
    if (!plan) continue;
    const r = await one(plan);
    results.push(r);
    // Nodes route, resolve and sync through the gateway: no point going on if it failed.
    if (!r.ok && !opts.dryRun) return results;
  }
  results.push(...(await Promise.all(plans.filter((p) => !first.includes(p.host)).map(one))));
  return results;
}
