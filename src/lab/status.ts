// labStatus: what is actually there for a lab, checked live (not just read back from state.json).
import { run } from './exec.ts';
import { mountsUnder } from './fsutil.ts';
import { hostExec, hostLeader, isOurNspawn, probeSsh, probeSshFrom } from './hostexec.ts';
import { netnsInode, processesInNetns, pssKiB } from './proc.ts';
import { sameSubnet } from './spec.ts';
import { loadState, realOrResolved } from './state.ts';
import type { LabHostState, LabHostStatus, LabState, LabStatus } from './types.ts';

async function ipv4Addresses(netns: string): Promise<string[]> {
  const r = await run('ip', ['-n', netns, '-4', '-o', 'addr', 'show', 'scope', 'global'], { timeoutMs: 5000 });
  if (r.code !== 0) return [];
  return [...r.stdout.matchAll(/\binet (\d+\.\d+\.\d+\.\d+\/\d+)/g)].map((m) => m[1]!);
}

async function hostStatus(state: LabState, h: LabHostState, bastionUp: boolean): Promise<LabHostStatus> {
  const netnsExists = netnsInode(h.netns) !== undefined;
  const pidAlive = h.pid !== undefined && isOurNspawn(h.pid, h.machine, h.netns);
  const leader = netnsExists ? hostLeader(h) : undefined;
  const st: LabHostStatus = {
    name: h.name,
    netns: h.netns,
    netnsExists,
    pid: h.pid,
    pidAlive,
    leaderPid: leader,
    addresses: [],
    ssh: { reachable: false, from: 'none' },
    processes: 0,
    pssKiB: 0,
  };
  if (!netnsExists) return st;
  const pids = processesInNetns(h.netns);
  st.processes = pids.length;
  st.pssKiB = pids.reduce((a, p) => a + pssKiB(p), 0);
  st.addresses = await ipv4Addresses(h.netns);
  if (leader !== undefined) {
    const r = await hostExec(state, h.name, ['systemctl', 'is-system-running'], { timeoutMs: 5000 });
    st.systemState = r.stdout.trim() || undefined;
  }
  const onBastionNet = st.addresses.find((a) => sameSubnet(state.bastion.address, a));
  if (onBastionNet && bastionUp) {
    const address = onBastionNet.split('/')[0]!;
    st.ssh = { reachable: await probeSsh(state, address), address, from: 'bastion' };
  } else {
    st.ssh = { reachable: await probeSshFrom(h.netns, '127.0.0.1'), address: '127.0.0.1', from: 'host-loopback' };
  }
  return st;
}

/** Live status of the lab in stateDir, or undefined if there is no lab there. */
export async function labStatus(stateDir: string): Promise<LabStatus | undefined> {
  const dir = realOrResolved(stateDir);
  const state = loadState(dir);
  if (!state) return undefined;
  const bastionUp = netnsInode(state.bastion.netns) !== undefined;
  return {
    prefix: state.prefix,
    stateDir: dir,
    phase: state.phase,
    switchNetnsExists: netnsInode(state.switch.netns) !== undefined,
    bastion: { netns: state.bastion.netns, exists: bastionUp },
    hosts: await Promise.all(state.hosts.map((h) => hostStatus(state, h, bastionUp))),
    mounts: mountsUnder(dir),
  };
}
