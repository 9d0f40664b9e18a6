// labDown: undoes a lab from its state.json alone — also one whose labUp was killed half-way.
// Processes are signalled only by recorded PID after checking they are ours (systemd-nspawn with our
// machine name and namespace path) or live in one of our recorded namespaces. Idempotent.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeCgroup } from './cgroup.ts';
import { LabError, errorMessage } from './errors.ts';
import { run } from './exec.ts';
import { mountsUnder, removeTree, unmountUnder } from './fsutil.ts';
import { isOurNspawn } from './hostexec.ts';
import { containerLeader, netnsInode, processesInNetns, signal, waitGone } from './proc.ts';
import { STATE_FILE, loadState, realOrResolved, statePath } from './state.ts';
import type { LabProgress, LabState } from './types.ts';

export interface LabDownOptions {
  onProgress?: LabProgress;
  /** How long a container gets to power off after SIGTERM before SIGKILL. Default 20 s. */
  stopTimeoutMs?: number;
}

/** Entries labUp creates in stateDir; nothing else there is touched. */
const STATE_ENTRIES = ['hosts', 'ssh'];

async function stopHost(
  state: LabState,
  host: string,
  stopTimeoutMs: number,
  progress: LabProgress,
  removed: string[],
): Promise<void> {
  const h = state.hosts.find((x) => x.name === host);
  const netns = h?.netns;
  const recorded = state.resources.processes.filter((p) => p.host === host);
  const ours = recorded.filter((p) => isOurNspawn(p.pid, p.machine, p.netns));
  if (ours.length > 0) {
    progress({ host, phase: 'stop', detail: `SIGTERM systemd-nspawn ${ours.map((p) => p.pid).join(' ')} (power off)` });
    for (const p of ours) signal(p.pid, 'SIGTERM');
    if (!(await waitGone(ours.map((p) => p.pid), stopTimeoutMs))) {
      const still = ours.filter((p) => isOurNspawn(p.pid, p.machine, p.netns));
      progress({ host, phase: 'kill', detail: `SIGKILL systemd-nspawn ${still.map((p) => p.pid).join(' ')}` });
      for (const p of still) signal(p.pid, 'SIGKILL');
      await waitGone(still.map((p) => p.pid), 5000);
    }
    for (const p of ours) removed.push(`process ${p.pid} (systemd-nspawn ${p.machine})`);
  }
  if (!netns || netnsInode(netns) === undefined) return;
  // A container whose nspawn died (or was never recorded, after a crash) still has its init in our
  // namespace: SIGKILL on a PID-namespace init ends every process of that container.
  const leader = containerLeader(netns);
  if (leader !== undefined) {
    progress({ host, phase: 'kill', detail: `SIGKILL container init ${leader} in ${netns}` });
    signal(leader, 'SIGKILL');
    await waitGone([leader], 5000);
    removed.push(`process ${leader} (container init in ${netns})`);
  }
}

/** SIGTERM then SIGKILL every process left in one of our namespaces (e.g. ssh sessions in the bastion). */
async function emptyNetns(netns: string, progress: LabProgress, removed: string[]): Promise<void> {
  let pids = processesInNetns(netns);
  if (pids.length === 0) return;
  progress({ phase: 'kill', detail: `SIGTERM ${pids.join(' ')} in ${netns}` });
  for (const p of pids) signal(p, 'SIGTERM');
  if (!(await waitGone(pids, 3000))) {
    pids = processesInNetns(netns);
    progress({ phase: 'kill', detail: `SIGKILL ${pids.join(' ')} in ${netns}` });
    for (const p of pids) signal(p, 'SIGKILL');
    await waitGone(pids, 3000);
  }
  for (const p of pids) removed.push(`process ${p} (in ${netns})`);
}

/**
 * Takes a lab down: stops its containers, unmounts its overlays, deletes its namespaces (which
 * deletes their links) and removes what labUp wrote in stateDir. A second call finds no state.json
 * and returns { removed: [] }.
 */
export async function labDown(stateDir: string, opts: LabDownOptions = {}): Promise<{ removed: string[] }> {
  const progress: LabProgress = opts.onProgress ?? ((): void => {});
  const dir = realOrResolved(stateDir);
  const state = loadState(dir);
  if (!state) return { removed: [] };
  if (process.getuid?.() !== 0) throw new LabError('taking a lab down needs root');
  const removed: string[] = [];
  const problems: string[] = [];
  const stopTimeoutMs = opts.stopTimeoutMs ?? 20_000;

  // 1. Containers, in parallel.
  const hostNames = [...new Set([...state.hosts.map((h) => h.name), ...state.resources.processes.map((p) => p.host)])];
  const stops = await Promise.allSettled(hostNames.map((h) => stopHost(state, h, stopTimeoutMs, progress, removed)));
  for (const [i, r] of stops.entries())
    if (r.status === 'rejected') problems.push(`stopping ${hostNames[i]}: ${errorMessage(r.reason)}`);

  // 2. Anything else still running in our namespaces (bastion sessions, stray execs).
  for (const ns of state.resources.netns) {
    if (!ns.startsWith(`${state.prefix}-`)) continue;
    try {
      await emptyNetns(ns, progress, removed);
    } catch (e) {
      problems.push(`emptying ${ns}: ${errorMessage(e)}`);
    }
  }

  // 3. systemd-nspawn's lock file per root, left behind if it was SIGKILLed. Removed while our overlay
  // is still mounted, so the device:inode in its name cannot belong to anyone else yet.
  const mounted = mountsUnder(dir);
  for (const h of state.hosts) {
    const lock = h.nspawnLock;
    if (lock && mounted.includes(h.root) && /^\/run\/systemd\/nspawn\/locks\/inode-\d+:\d+$/.test(lock) && fs.existsSync(lock)) {
      if (!h.pid || !isOurNspawn(h.pid, h.machine, h.netns)) {
        fs.rmSync(lock, { force: true });
        removed.push(`file ${lock}`);
      }
    }
  }

  // Mounts: everything under stateDir (the overlays and anything mounted below them).
  try {
    const ms = await unmountUnder(dir);
    for (const m of ms) {
      progress({ phase: 'unmount', detail: m });
      removed.push(`mount ${m}`);
    }
  } catch (e) {
    problems.push(errorMessage(e));
  }
  // systemd-nspawn's own per-machine directory, left behind if it was SIGKILLed.
  for (const h of state.hosts) {
    const prop = `/run/systemd/nspawn/propagate/${h.machine}`;
    if (!h.machine.startsWith(`${state.prefix}-`) || !fs.existsSync(prop)) continue;
    try {
      await unmountUnder(prop);
      await removeTree(prop);
      removed.push(`dir ${prop}`);
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }

  // Each container's cgroup subtree (empty once its processes are gone).
  for (const cg of state.resources.cgroups ?? []) {
    if (!cg.includes(`/airlock/${state.prefix}-`)) continue;
    if (removeCgroup(cg)) removed.push(`cgroup ${cg}`);
    else if (fs.existsSync(cg)) problems.push(`cgroup ${cg} could not be removed (processes left in it?)`);
  }

  // 4. Network namespaces, hosts first and the switch last (deleting a namespace deletes its links).
  const order = [...state.resources.netns].reverse();
  for (const ns of order) {
    if (!ns.startsWith(`${state.prefix}-`)) {
      problems.push(`refusing to delete namespace ${ns}: it does not start with ${state.prefix}-`);
      continue;
    }
    if (!fs.existsSync(`/run/netns/${ns}`)) continue;
    progress({ phase: 'netns', detail: `delete ${ns}` });
    const r = await run('ip', ['netns', 'del', ns]);
    if (r.code === 0) removed.push(`netns ${ns}`);
    else problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
  }

  if (problems.length > 0) {
    throw new LabError(
      `lab ${state.prefix} is only partly down (state kept in ${statePath(dir)}; run down again):\n` +
        problems.join('\n'),
    );
  }

  // 5. Files labUp created in stateDir, then state.json, then the directory if that left it empty.
  if (mountsUnder(dir).length > 0) throw new LabError(`mounts remain under ${dir}; not removing files`);
  for (const e of STATE_ENTRIES) {
    const p = path.join(dir, e);
    if (await removeTree(p)) {
      progress({ phase: 'files', detail: p });
      removed.push(`dir ${p}`);
    }
  }
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`${STATE_FILE}.tmp-`)) fs.rmSync(path.join(dir, f), { force: true });
  fs.rmSync(statePath(dir), { force: true });
  removed.push(`file ${path.join(dir, STATE_FILE)}`);
  try {
    fs.rmdirSync(dir);
  } catch {
    /* not empty: someone else's files; leave them */
  }
  progress({ phase: 'down', detail: `${removed.length} resources removed` });
  return { removed };
}
