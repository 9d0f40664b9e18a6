// Processes: reading /proc to check that a PID is what we think it is before signalling it, and to
// find the processes living in one of our network namespaces.
import * as fs from 'node:fs';
import { sleep } from './exec.ts';

export interface ProcInfo {
  pid: number;
  ppid: number;
  state: string;
  /** PIDs of this process in each nested PID namespace, outermost first. */
  nspid: number[];
  rssKiB: number;
}

export function readProc(pid: number): ProcInfo | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (k: string): string => {
    const m = new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(text);
    return m?.[1]?.trim() ?? '';
  };
  return {
    pid,
    ppid: Number(field('PPid')) || 0,
    state: field('State').charAt(0),
    nspid: field('NSpid').split(/\s+/).filter(Boolean).map(Number),
    rssKiB: parseInt(field('VmRSS'), 10) || 0,
  };
}

/** Alive = exists and is not a zombie (a zombie whose parent does not reap it counts as gone). */
export function pidAlive(pid: number): boolean {
  const p = readProc(pid);
  return p !== undefined && p.state !== 'Z' && p.state !== 'X';
}

export function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
  } catch {
    return [];
  }
}

/** Inode of the network namespace a process is in, or undefined. */
export function procNetnsInode(pid: number): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Inode of a named network namespace (/run/netns/NAME), or undefined if it does not exist. */
export function netnsInode(name: string): number | undefined {
  try {
    return fs.statSync(`/run/netns/${name}`).ino;
  } catch {
    return undefined;
  }
}

export function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Live processes whose network namespace is /run/netns/NAME. */
export function processesInNetns(name: string): number[] {
  const ino = netnsInode(name);
  if (ino === undefined) return [];
  return allPids().filter((p) => p !== process.pid && procNetnsInode(p) === ino && pidAlive(p));
}

/**
 * The init (PID 1) of a container booted into /run/netns/NAME: a process in that network namespace
 * that is PID 1 of its own (nested) PID namespace.
 */
export function containerLeader(netns: string): number | undefined {
  for (const p of processesInNetns(netns)) {
    const info = readProc(p);
    if (info && info.nspid.length >= 2 && info.nspid[info.nspid.length - 1] === 1) return p;
  }
  return undefined;
}

/** Sends a signal; false if the process is gone. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Waits until none of the PIDs is alive; true if that happened within the timeout. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (pids.every((p) => !pidAlive(p))) return true;
    if (Date.now() >= end) return false;
    await sleep(100);
  }
}

/** Proportional set size (KiB) of a process, or 0. */
export function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
