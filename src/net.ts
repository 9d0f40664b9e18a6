// IPv4 addresses and CIDRs as plain numbers: parsing via ipaddr.js, arithmetic on uint32.
import ipaddr from 'ipaddr.js';

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
  /** The text it was parsed from, normalised ("a.b.c.d/n"). */
  text: string;
}

export interface AddressCidr {
  ip: number;
  prefix: number;
  /** The network this address sits in. */
  network: Cidr;
}

function toNumber(ip: ipaddr.IPv4): number {
  const o = ip.octets;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

export function ipToString(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** A strict dotted-quad IPv4 address, or undefined. */
export function parseIp(s: string): number | undefined {
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return undefined;
  return toNumber(ipaddr.IPv4.parse(s));
}

function splitCidr(s: string): { ip: number; prefix: number } | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (ip === undefined || !/^\d{1,2}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > 32) return undefined;
  return { ip, prefix };
}

/** A network in CIDR form with no host bits set ("10.96.0.0/12"), or undefined. */
export function parseCidr(s: string): Cidr | undefined {
  const c = splitCidr(s);
  if (!c || (c.ip & mask(c.prefix)) >>> 0 !== c.ip) return undefined;
  return { base: c.ip, prefix: c.prefix, text: `${ipToString(c.ip)}/${c.prefix}` };
}

/** An interface address with its prefix ("192.168.10.11/24"), or undefined. */
export function parseAddressCidr(s: string): AddressCidr | undefined {
  const c = splitCidr(s);
  if (!c) return undefined;
  const base = (c.ip & mask(c.prefix)) >>> 0;
  return { ip: c.ip, prefix: c.prefix, network: { base, prefix: c.prefix, text: `${ipToString(base)}/${c.prefix}` } };
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function last(c: Cidr): number {
  return c.base + size(c) - 1;
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & mask(c.prefix)) >>> 0 === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= last(b) && b.base <= last(a);
}

/** Does `outer` contain every address of `inner`? */
export function covers(outer: Cidr, inner: Cidr): boolean {
  return outer.prefix <= inner.prefix && contains(outer, inner.base);
}

export function addressOnly(addressCidr: string): string {
  const slash = addressCidr.indexOf('/');
  return slash < 0 ? addressCidr : addressCidr.slice(0, slash);
}
