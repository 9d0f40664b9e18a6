// Validating a LabSpec and deriving every resource name from it. All names start with the prefix.
import * as path from 'node:path';
import { LabError } from './errors.ts';
import { checkRootPath, parseMode } from './fsutil.ts';
import type { LabSpec } from './types.ts';

export const PREFIX_RE = /^[a-z0-9]{2,6}$/;
const HOST_RE = /^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const NETWORK_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Paths go into overlay mount options and nspawn arguments: keep them plain. */
const SAFE_PATH_RE = /^\/[A-Za-z0-9_./+@-]*$/;

export const names = {
  switchNetns: (prefix: string): string => `${prefix}-sw`,
  bastionNetns: (prefix: string): string => `${prefix}-bastion`,
  hostNetns: (prefix: string, host: string): string => `${prefix}-${host}`,
  machine: (prefix: string, host: string): string => `${prefix}-${host}`,
  bridge: (prefix: string, networkIndex: number): string => `${prefix}-br${networkIndex}`,
  hostPeer: (prefix: string, hostIndex: number, ifIndex: number): string => `${prefix}-h${hostIndex}i${ifIndex}`,
  bastionIf: (prefix: string): string => `${prefix}-bst`,
  bastionPeer: (prefix: string): string => `${prefix}-bstp`,
};

export function ipv4ToNumber(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

export function parseCidr4(s: string): { ip: number; prefix: number } | undefined {
  const [a, p, ...rest] = s.split('/');
  if (rest.length > 0 || a === undefined || p === undefined || !/^\d{1,2}$/.test(p) || Number(p) > 32) return undefined;
  const ip = ipv4ToNumber(a);
  return ip === undefined ? undefined : { ip, prefix: Number(p) };
}

export function sameSubnet(cidrA: string, addrB: string): boolean {
  const a = parseCidr4(cidrA);
  const b = ipv4ToNumber(addrB.split('/')[0] ?? '');
  if (!a || b === undefined) return false;
  const mask = a.prefix === 0 ? 0 : (0xffffffff << (32 - a.prefix)) >>> 0;
  return ((a.ip & mask) >>> 0) === ((b & mask) >>> 0);
}

/** Throws a LabError listing every problem in the spec. */
export function validateSpec(spec: LabSpec): void {
  const p: string[] = [];
  if (!PREFIX_RE.test(spec.prefix)) p.push(`prefix "${spec.prefix}" must match [a-z0-9]{2,6}`);
  for (const [k, v] of [
    ['stateDir', spec.stateDir],
    ['imageDir', spec.imageDir],
  ] as const) {
    if (!path.isAbsolute(v) || path.resolve(v) === '/') p.push(`${k} "${v}" must be an absolute directory other than /`);
    else if (!SAFE_PATH_RE.test(v)) p.push(`${k} "${v}" may contain only letters, digits and _ . / + @ -`);
  }
  const nets = new Set<string>();
  for (const n of spec.networks) {
    if (!NETWORK_RE.test(n.name)) p.push(`network name "${n.name}" is not valid`);
    if (nets.has(n.name)) p.push(`network "${n.name}" is declared twice`);
    nets.add(n.name);
  }
  const hosts = new Set<string>();
  for (const h of spec.hosts) {
    if (!HOST_RE.test(h.name)) p.push(`host name "${h.name}" must be a lower-case DNS label`);
    if (h.name === 'sw' || h.name === 'bastion') p.push(`host name "${h.name}" is reserved`);
    if (hosts.has(h.name)) p.push(`host "${h.name}" is declared twice`);
    hosts.add(h.name);
    const ifs = new Set<string>();
    for (const i of h.interfaces) {
      if (!IFNAME_RE.test(i.name) || i.name === 'lo') p.push(`host ${h.name}: interface name "${i.name}" is not valid`);
      if (ifs.has(i.name)) p.push(`host ${h.name}: interface "${i.name}" is declared twice`);
      ifs.add(i.name);
      if (!nets.has(i.network)) p.push(`host ${h.name}: interface ${i.name} is on unknown network "${i.network}"`);
    }
    for (const f of h.files) {
      try {
        checkRootPath(f.path);
        parseMode(f.mode);
      } catch (e) {
        p.push(`host ${h.name}: ${(e as Error).message}`);
      }
    }
  }
  if (!nets.has(spec.bastion.network)) p.push(`bastion is on unknown network "${spec.bastion.network}"`);
  if (!parseCidr4(spec.bastion.address)) p.push(`bastion address "${spec.bastion.address}" must be IPv4 CIDR like 192.168.10.250/24`);
  for (const r of spec.bastion.routes ?? []) {
    if (r.to !== 'default' && !parseCidr4(r.to)) p.push(`bastion route to "${r.to}" must be "default" or an IPv4 CIDR`);
    if (ipv4ToNumber(r.via) === undefined) p.push(`bastion route via "${r.via}" must be an IPv4 address`);
  }
  for (const [i] of spec.networks.entries()) {
    if (names.bridge(spec.prefix, i).length > 15) p.push('too many networks for link-name limits');
  }
  for (const [hi, h] of spec.hosts.entries())
    for (const [ii] of h.interfaces.entries())
      if (names.hostPeer(spec.prefix, hi, ii).length > 15) p.push('too many hosts/interfaces for link-name limits');
  if (p.length > 0) throw new LabError(`invalid lab spec:\n  ${[...new Set(p)].join('\n  ')}`);
}
