// Running commands inside a booted host (nsenter into every namespace of its init) and inside the
// bastion namespace (ip netns exec), plus the SSH reachability probe used by labUp and labStatus.
import { LabError } from './errors.ts';
import { CLEAN_PATH, run, sleep } from './exec.ts';
import { cmdline, containerLeader, netnsInode, pidAlive, procNetnsInode, readProc } from './proc.ts';
import { ipv4ToNumber } from './spec.ts';
import type { ExecOptions, ExecResult, LabHostState, LabState } from './types.ts';

/** A command ready to spawn (for interactive use, e.g. `lab shell` with stdio: 'inherit'). */
export interface LabCommand {
  command: string;
  args: string[];
  /** Environment to spawn it with (undefined: inherit). */
  env: Record<string, string> | undefined;
}

function findHost(state: LabState, host: string): LabHostState {
  const h = state.hosts.find((x) => x.name === host);
  if (!h) throw new LabError(`no host "${host}" in lab ${state.prefix} (hosts: ${state.hosts.map((x) => x.name).join(', ')})`);
  return h;
}

/** Is `pid` the init of a container living in network namespace `netns`? */
export function isLeaderOf(pid: number, netns: string): boolean {
  const ino = netnsInode(netns);
  const info = readProc(pid);
  return (
    ino !== undefined &&
    info !== undefined &&
    pidAlive(pid) &&
    procNetnsInode(pid) === ino &&
    info.nspid.length >= 2 &&
    info.nspid[info.nspid.length - 1] === 1
  );
}

/** The container init PID of a host: the recorded one if still valid, else found by its netns. */
export function hostLeader(h: LabHostState): number | undefined {
  if (h.leaderPid !== undefined && isLeaderOf(h.leaderPid, h.netns)) return h.leaderPid;
  return containerLeader(h.netns);
}

/** Is `pid` the systemd-nspawn process that runs `h`? (Checked before ever signalling it.) */
export function isOurNspawn(pid: number, machine: string, netns: string): boolean {
  if (!pidAlive(pid)) return false;
  const argv = cmdline(pid);
  const exe = argv[0] ?? '';
  if (!(exe === 'systemd-nspawn' || exe.endsWith('/systemd-nspawn'))) return false;
  const mIdx = argv.indexOf('-M');
  return argv[mIdx + 1] === machine && argv.includes(`--network-namespace-path=/run/netns/${netns}`);
}

const HOST_ENV = { PATH: CLEAN_PATH, HOME: '/root', LANG: 'C.UTF-8', TERM: 'dumb' };

/**
 * The command that runs `argv` inside the booted host: nsenter into all namespaces (mount, UTS, IPC,
 * network, PID, cgroup; the user namespace is the machine's own) of the container's init, so the
 * command sees the host's file system, processes, systemd and network exactly as a shell on it would.
 */
export function hostCommand(state: LabState, host: string, argv: string[], opts: { term?: string } = {}): LabCommand {
  const h = findHost(state, host);
  const leader = hostLeader(h);
  if (leader === undefined) throw new LabError(`host ${host} of lab ${state.prefix} is not running`);
  if (argv.length === 0) throw new LabError('hostExec: empty command');
  return {
    command: 'nsenter',
    args: ['-t', String(leader), '-a', '--', ...argv],
    env: { ...HOST_ENV, TERM: opts.term ?? HOST_ENV.TERM },
  };
}

/** Runs a command inside the booted container of `host` and collects its output. */
export async function hostExec(state: LabState, host: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const c = hostCommand(state, host, argv);
  return run(c.command, c.args, { env: c.env, input: opts.input, timeoutMs: opts.timeoutMs });
}

/** The command that runs `argv` in the bastion namespace (with the machine's own programs). */
export function bastionCommand(state: LabState, argv: string[]): LabCommand {
  if (argv.length === 0) throw new LabError('bastionExec: empty command');
  if (netnsInode(state.bastion.netns) === undefined)
    throw new LabError(`the bastion namespace ${state.bastion.netns} does not exist (is the lab up?)`);
  return { command: 'ip', args: ['netns', 'exec', state.bastion.netns, ...argv], env: undefined };
}

/** Runs `ip netns exec ${prefix}-bastion argv...` and collects its output. */
export async function bastionExec(state: LabState, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const c = bastionCommand(state, argv);
  return run(c.command, c.args, { input: opts.input, timeoutMs: opts.timeoutMs });
}

const BANNER_PROBE = 'exec 3<>"/dev/tcp/$0/22" && head -c 4 <&3';

/** One attempt: does something on ADDRESS:22 send an SSH banner, as seen from network namespace `netns`? */
export async function probeSshFrom(netns: string, address: string, timeoutMs = 3000): Promise<boolean> {
  if (ipv4ToNumber(address) === undefined) throw new LabError(`not an IPv4 address: ${address}`);
  const r = await run('ip', ['netns', 'exec', netns, 'bash', '-c', BANNER_PROBE, address], {
    timeoutMs,
    env: { PATH: CLEAN_PATH },
  });
  return r.code === 0 && r.stdout.startsWith('SSH-');
}

/** One attempt from the bastion. */
export function probeSsh(state: LabState, address: string, timeoutMs = 3000): Promise<boolean> {
  return probeSshFrom(state.bastion.netns, address, timeoutMs);
}

/**
 * Waits until sshd answers on ADDRESS:22 from inside the bastion namespace. Returns the seconds
 * waited; throws a LabError after timeoutMs.
 */
export async function waitForSsh(state: LabState, address: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  const end = t0 + timeoutMs;
  for (;;) {
    const left = end - Date.now();
    if (await probeSsh(state, address, Math.max(500, Math.min(3000, left)))) return (Date.now() - t0) / 1000;
    if (Date.now() >= end)
      throw new LabError(`sshd on ${address} did not answer from ${state.bastion.netns} within ${timeoutMs} ms`);
    await sleep(250);
  }
}
