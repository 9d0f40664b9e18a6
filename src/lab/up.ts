// labUp: image -> switch namespace with one bridge per network -> bastion namespace -> per host an
// overlay root, files, a network namespace with veths to the bridges, and a booted systemd-nspawn
// container. Every resource is written to state.json before it is created.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupDirsFor, makeCgroups } from './cgroup.ts';
import { LabError, errorMessage } from './errors.ts';
import { CLEAN_PATH, runOk, sleep } from './exec.ts';
import { mkdirInRoot, parseMode, writeInRoot } from './fsutil.ts';
import { hostExec, hostLeader } from './hostexec.ts';
import { ensureImage } from './image.ts';
import { pidAlive } from './proc.ts';
import { names, validateSpec } from './spec.ts';
import { loadState, saveState } from './state.ts';
import { ensurePrograms } from './tools.ts';
import type { LabHost, LabHostState, LabProgress, LabSpec, LabState } from './types.ts';

export interface LabUpOptions {
  onProgress?: LabProgress;
  /** Per host: how long to wait for the container's systemd to finish booting. Default 180 s. */
  bootTimeoutMs?: number;
}

export const LAB_PROGRAMS = ['systemd-nspawn', 'ip', 'nsenter', 'ssh-keygen', 'ssh', 'bash', 'timeout'];

/** Network namespaces whose names start with `${prefix}-`. */
export function prefixedNetns(prefix: string): string[] {
  let all: string[] = [];
  try {
    all = fs.readdirSync('/run/netns');
  } catch {
    /* no namespaces yet */
  }
  return all.filter((n) => n.startsWith(`${prefix}-`));
}

function initialState(spec: LabSpec, stateDir: string): LabState {
  const { prefix } = spec;
  const netIndex = new Map(spec.networks.map((n, i) => [n.name, i]));
  const bridge = (network: string): string => names.bridge(prefix, netIndex.get(network)!);
  return {
    version: 1,
    prefix,
    stateDir,
    phase: 'starting',
    startedAt: new Date().toISOString(),
    switch: {
      netns: names.switchNetns(prefix),
      bridges: spec.networks.map((n) => ({ network: n.name, bridge: bridge(n.name) })),
    },
    hosts: spec.hosts.map((h, hi) => {
      const dir = path.join(stateDir, 'hosts', h.name);
      return {
        name: h.name,
        netns: names.hostNetns(prefix, h.name),
        machine: names.machine(prefix, h.name),
        root: path.join(dir, 'root'),
        upper: path.join(dir, 'upper'),
        work: path.join(dir, 'work'),
        log: path.join(dir, 'console.log'),
        interfaces: h.interfaces.map((i, ii) => ({
          name: i.name,
          network: i.network,
          peer: names.hostPeer(prefix, hi, ii),
          bridge: bridge(i.network),
        })),
      };
    }),
    bastion: {
      netns: names.bastionNetns(prefix),
      network: spec.bastion.network,
      address: spec.bastion.address,
      routes: spec.bastion.routes ?? [],
      interface: names.bastionIf(prefix),
      peer: names.bastionPeer(prefix),
    },
    sshKey: {
      privateKeyPath: path.join(stateDir, 'ssh', 'id_ed25519'),
      publicKeyPath: path.join(stateDir, 'ssh', 'id_ed25519.pub'),
      publicKey: '',
    },
    resources: { netns: [], links: [], mounts: [], processes: [] },
  };
}

/** Records-then-creates; all writes are synchronous, so parallel host setups never interleave a write. */
class Recorder {
  constructor(readonly state: LabState) {}
  save(): void {
    saveState(this.state);
  }
  netns(name: string): void {
    if (!this.state.resources.netns.includes(name)) this.state.resources.netns.push(name);
    this.save();
  }
  link(netns: string, name: string, kind: 'bridge' | 'veth'): void {
    this.state.resources.links.push({ netns, name, kind });
    this.save();
  }
  mount(p: string): void {
    if (!this.state.resources.mounts.includes(p)) this.state.resources.mounts.push(p);
    this.save();
  }
  process(host: string, pid: number, machine: string, netns: string): void {
    this.state.resources.processes.push({ host, pid, machine, netns });
    this.save();
  }
  cgroups(dirs: string[]): void {
    const list = (this.state.resources.cgroups ??= []);
    for (const d of dirs) if (!list.includes(d)) list.push(d);
    this.save();
  }
}

async function addNetns(rec: Recorder, name: string): Promise<void> {
  rec.netns(name);
  await runOk('ip', ['netns', 'add', name]);
  await runOk('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

/**
 * A veth pair created entirely inside namespaces: `peer` in the switch namespace (attached to
 * `bridge`), `inner` directly in `netns`. Nothing ever appears in the root namespace.
 */
async function addVeth(rec: Recorder, sw: string, peer: string, bridge: string, netns: string, inner: string): Promise<void> {
  rec.link(sw, peer, 'veth');
  await runOk('ip', ['-n', sw, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', inner, 'netns', netns]);
  await runOk('ip', ['-n', sw, 'link', 'set', peer, 'master', bridge, 'up']);
}

function hostsFile(name: string): string {
  return [
    '127.0.0.1\tlocalhost',
    `127.0.1.1\t${name}`,
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    '',
  ].join('\n');
}

/** Mounts the host's overlay and writes its files (ours, then the spec's) before it boots. */
async function prepareRoot(rec: Recorder, image: string, h: LabHostState, spec: LabHost, publicKey: string): Promise<void> {
  for (const d of [h.upper, h.work, h.root]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  rec.mount(h.root);
  await runOk('mount', [
    '-t',
    'overlay',
    h.machine, // the mount's source name: shows up in `mount | grep PREFIX`
    '-o',
    `lowerdir=${image},upperdir=${h.upper},workdir=${h.work}`,
    h.root,
  ]);
  const rootStat = fs.statSync(h.root);
  h.nspawnLock = `/run/systemd/nspawn/locks/inode-${rootStat.dev}:${rootStat.ino}`;
  rec.save();
  writeInRoot(h.root, '/etc/hostname', `${h.name}\n`, 0o644);
  writeInRoot(h.root, '/etc/hosts', hostsFile(h.name), 0o644);
  writeInRoot(h.root, '/etc/machine-id', `${randomBytes(16).toString('hex')}\n`, 0o444);
  let authorized = '';
  for (const f of spec.files) {
    if (f.path === '/root/.ssh/authorized_keys') {
      authorized = f.content === '' || f.content.endsWith('\n') ? f.content : `${f.content}\n`;
    } else writeInRoot(h.root, f.path, f.content, parseMode(f.mode));
  }
  mkdirInRoot(h.root, '/root/.ssh', 0o700);
  writeInRoot(h.root, '/root/.ssh/authorized_keys', `${authorized}${publicKey.trim()}\n`, 0o600);
}

function nspawnArgs(h: LabHostState): string[] {
  return [
    '-q',
    '-b',
    '--register=no',
    '--keep-unit',
    '--capability=CAP_NET_ADMIN,CAP_NET_RAW',
    '--drop-capability=CAP_SYS_TIME',
    '-D',
    h.root,
    '-M',
    h.machine,
    `--hostname=${h.name}`,
    `--network-namespace-path=/run/netns/${h.netns}`,
    '--resolv-conf=off',
    '--timezone=off',
    '--link-journal=no',
    '--console=read-only',
  ];
}

interface Booted {
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

/** Starts systemd-nspawn detached (own session, output to the host's console.log); records its PID. */
function startContainer(rec: Recorder, h: LabHostState): Booted {
  const fd = fs.openSync(h.log, 'a', 0o600);
  const booted: Booted = { exited: undefined };
  try {
    // Enter the container's own cgroups, then become systemd-nspawn (same PID, so the record stays true).
    const planned = cgroupDirsFor(h.machine);
    rec.cgroups(planned); // recorded before they exist, so a crash right here is still cleaned up
    const cgroups = makeCgroups(planned);
    const enter = 'for d in "$@"; do [ "$d" = -- ] && break; echo $$ > "$d/cgroup.procs" || exit 1; done; while [ "$1" != -- ]; do shift; done; shift; exec systemd-nspawn "$@"';
    const child = spawn('sh', ['-c', enter, 'sh', ...cgroups, '--', ...nspawnArgs(h)], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { PATH: CLEAN_PATH, SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network', TERM: 'dumb' },
    });
    if (child.pid === undefined) throw new LabError(`could not start systemd-nspawn for ${h.name}`);
    h.pid = child.pid;
    rec.process(h.name, child.pid, h.machine, h.netns);
    child.on('error', () => undefined);
    child.on('exit', (code, signal) => {
      booted.exited = { code, signal };
    });
    child.unref();
  } finally {
    fs.closeSync(fd);
  }
  return booted;
}

function logTail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function waitLeader(rec: Recorder, h: LabHostState, booted: Booted, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const leader = hostLeader(h);
    if (leader !== undefined) {
      h.leaderPid = leader;
      rec.save();
      return leader;
    }
    if (booted.exited || (h.pid !== undefined && !pidAlive(h.pid)))
      throw new LabError(`systemd-nspawn for ${h.name} exited during start:\n${logTail(h.log)}`);
    if (Date.now() > end) throw new LabError(`the container of ${h.name} did not start within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Waits for `systemctl is-system-running --wait` to say running or degraded. */
async function waitSystemd(state: LabState, h: LabHostState, booted: Booted, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const left = end - Date.now();
    if (left <= 0) throw new LabError(`systemd in ${h.name} did not finish booting within ${timeoutMs} ms (last: ${last})`);
    if (booted.exited) throw new LabError(`the container of ${h.name} exited while booting:\n${logTail(h.log)}`);
    const r = await hostExec(state, h.name, ['systemctl', 'is-system-running', '--wait'], { timeoutMs: left });
    const s = r.stdout.trim();
    if (s === 'running' || s === 'degraded') return s;
    last = (s || r.stderr.trim()).split('\n').pop() ?? '';
    await sleep(200);
  }
}

async function setupHost(
  rec: Recorder,
  image: string,
  h: LabHostState,
  spec: LabHost,
  bootTimeoutMs: number,
  progress: LabProgress,
): Promise<void> {
  const state = rec.state;
  progress({ host: h.name, phase: 'overlay', detail: h.root });
  await prepareRoot(rec, image, h, spec, state.sshKey.publicKey);
  progress({ host: h.name, phase: 'netns', detail: h.netns });
  await addNetns(rec, h.netns);
  for (const i of h.interfaces) {
    progress({ host: h.name, phase: 'link', detail: `${i.name} -> ${i.network} (${i.bridge})` });
    await addVeth(rec, state.switch.netns, i.peer, i.bridge, h.netns, i.name);
  }
  progress({ host: h.name, phase: 'boot', detail: `systemd-nspawn -M ${h.machine}` });
  const booted = startContainer(rec, h);
  const leader = await waitLeader(rec, h, booted, 30_000);
  progress({ host: h.name, phase: 'systemd', detail: `container init is PID ${leader}; waiting for boot to finish` });
  h.systemState = await waitSystemd(state, h, booted, bootTimeoutMs);
  rec.save();
  let detail = h.systemState;
  if (h.systemState === 'degraded') {
    const failed = await hostExec(state, h.name, ['systemctl', '--failed', '--no-legend', '--plain'], { timeoutMs: 10_000 });
    detail += `: ${failed.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]).join(' ')}`;
  }
  progress({ host: h.name, phase: 'ready', detail });
}

/**
 * Brings a lab up and returns its state. On failure the state is marked "failed" and everything
 * created so far stays recorded: call labDown(stateDir) to remove it.
 */
export async function labUp(spec: LabSpec, opts: LabUpOptions = {}): Promise<LabState> {
  const progress: LabProgress = opts.onProgress ?? ((): void => {});
  validateSpec(spec);
  if (process.getuid?.() !== 0) throw new LabError('the lab needs root (network namespaces, mounts, systemd-nspawn)');
  let stateDir = path.resolve(spec.stateDir);
  if (loadState(stateDir)) throw new LabError(`${stateDir} already holds a lab (state.json); run lab down first`);
  const clash = prefixedNetns(spec.prefix);
  if (clash.length > 0)
    throw new LabError(`network namespaces with prefix "${spec.prefix}-" already exist: ${clash.join(', ')}`);

  const installed = await ensurePrograms(LAB_PROGRAMS, (m) => progress({ phase: 'install', detail: m }));
  if (installed.length > 0) progress({ phase: 'install', detail: `installed ${installed.join(' ')}` });

  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  stateDir = fs.realpathSync(stateDir); // mount points in the mount table are real paths
  const state = initialState(spec, stateDir);
  const rec = new Recorder(state);
  rec.save();
  try {
    progress({ phase: 'image', detail: spec.imageDir });
    const img = await ensureImage({
      imageDir: spec.imageDir,
      packages: spec.imagePackages,
      onProgress: (m) => progress({ phase: 'image', detail: m }),
    });
    state.image = img.path;
    rec.save();
    progress({ phase: 'image', detail: `${img.built ? 'built' : 'cached'} ${img.path} (${img.seconds.toFixed(1)} s)` });

    progress({ phase: 'ssh-key', detail: state.sshKey.privateKeyPath });
    fs.mkdirSync(path.dirname(state.sshKey.privateKeyPath), { recursive: true, mode: 0o700 });
    const comment = `airlock-lab-${state.prefix}`;
    await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', state.sshKey.privateKeyPath]);
    state.sshKey.publicKey = fs.readFileSync(state.sshKey.publicKeyPath, 'utf8').trim();
    rec.save();

    const sw = state.switch.netns;
    progress({ phase: 'switch', detail: sw });
    await addNetns(rec, sw);
    for (const b of state.switch.bridges) {
      rec.link(sw, b.bridge, 'bridge');
      await runOk('ip', ['-n', sw, 'link', 'add', b.bridge, 'type', 'bridge', 'stp_state', '0']);
      await runOk('ip', ['-n', sw, 'link', 'set', b.bridge, 'up']);
    }

    const bst = state.bastion;
    progress({ phase: 'bastion', detail: `${bst.netns} ${bst.address} on ${bst.network}` });
    await addNetns(rec, bst.netns);
    const bridge = state.switch.bridges.find((b) => b.network === bst.network)!.bridge;
    await addVeth(rec, sw, bst.peer, bridge, bst.netns, bst.interface);
    await runOk('ip', ['-n', bst.netns, 'addr', 'add', bst.address, 'dev', bst.interface]);
    await runOk('ip', ['-n', bst.netns, 'link', 'set', bst.interface, 'up']);
    for (const r of bst.routes) await runOk('ip', ['-n', bst.netns, 'route', 'add', r.to, 'via', r.via]);

    const bootTimeoutMs = opts.bootTimeoutMs ?? 180_000;
    const results = await Promise.allSettled(
      state.hosts.map((h, i) => setupHost(rec, img.path, h, spec.hosts[i]!, bootTimeoutMs, progress)),
    );
    const failures = results.flatMap((r, i) =>
      r.status === 'rejected' ? [`${state.hosts[i]!.name}: ${errorMessage(r.reason)}`] : [],
    );
    if (failures.length > 0) throw new LabError(`hosts failed to come up:\n${failures.join('\n')}`);

    state.phase = 'up';
    rec.save();
    return state;
  } catch (e) {
    state.phase = 'failed';
    state.error = errorMessage(e);
    rec.save();
    throw e instanceof LabError ? e : new LabError(errorMessage(e));
  }
}
