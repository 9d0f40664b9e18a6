// Facts derived from a Site that checks and renderers both need: who is the gateway, which address of a
// server a client should use, the internal zone's records. Pure and computed once per site.
import { contains, ipToString, parseAddressCidr, parseCidr, type AddressCidr, type Cidr } from './net.ts';
import type { Host, Interface, Network, Site } from './schema.ts';

export interface IfaceFacts {
  host: Host;
  hostIndex: number;
  iface: Interface;
  ifaceIndex: number;
  addr: AddressCidr;
  network: Network | undefined;
  cidr: Cidr | undefined;
}

export interface ZoneRecord {
  name: string;
  address: string;
  /** Where it came from: a host, a service, or zone.records[i]. */
  origin: string;
}

export interface Topology {
  site: Site;
  networks: Map<string, { network: Network; index: number; cidr: Cidr }>;
  hosts: Map<string, { host: Host; index: number }>;
  ifaces: IfaceFacts[];
  ifacesOf(host: Host): IfaceFacts[];
  gateway?: { host: Host; outside: IfaceFacts; inside: IfaceFacts };
  /** The address of `server` that `client` should talk to: on a network they share, the client's management one first. */
  serverAddressFor(server: Host, client: Host): string | undefined;
  /** The address operators reach a host on (its management interface, else its first enabled one). */
  managementAddress(host: Host): string | undefined;
  zoneRecords(): ZoneRecord[];
  /** A node (not the gateway host) — what the node renderers target. */
  isNode(host: Host): boolean;
}

export function topology(site: Site): Topology {
  const networks = new Map<string, { network: Network; index: number; cidr: Cidr }>();
  site.networks.forEach((network, index) => {
    const cidr = parseCidr(network.cidr);
    if (cidr && !networks.has(network.name)) networks.set(network.name, { network, index, cidr });
  });
  const hosts = new Map<string, { host: Host; index: number }>();
  site.hosts.forEach((host, index) => {
    if (!hosts.has(host.name)) hosts.set(host.name, { host, index });
  });
  const ifaces: IfaceFacts[] = [];
  const byHost = new Map<Host, IfaceFacts[]>();
  site.hosts.forEach((host, hostIndex) => {
    const list: IfaceFacts[] = [];
    host.interfaces.forEach((iface, ifaceIndex) => {
      const addr = parseAddressCidr(iface.address);
      if (!addr) return;
      const net = networks.get(iface.network);
      const f = { host, hostIndex, iface, ifaceIndex, addr, network: net?.network, cidr: net?.cidr };
      ifaces.push(f);
      list.push(f);
    });
    byHost.set(host, list);
  });
  const ifacesOf = (h: Host) => byHost.get(h) ?? [];

  let gateway: Topology['gateway'];
  const gw = site.services.gateway;
  if (gw) {
    const host = hosts.get(gw.host)?.host;
    const outside = host && ifacesOf(host).find((f) => f.iface.name === gw.outside);
    const inside = host && ifacesOf(host).find((f) => f.iface.name === gw.inside);
    if (host && outside && inside) gateway = { host, outside, inside };
  }

  const managementAddress = (h: Host) => {
    const list = ifacesOf(h).filter((f) => f.iface.enabled);
    const m = list.find((f) => f.iface.management) ?? list[0];
    return m && ipToString(m.addr.ip);
  };

  const serverAddressFor = (server: Host, client: Host): string | undefined => {
    const serverIfaces = ifacesOf(server).filter((f) => f.iface.enabled);
    const clientIfaces = ifacesOf(client)
      .filter((f) => f.iface.enabled)
      .sort((a, b) => Number(b.iface.management) - Number(a.iface.management));
    for (const c of clientIfaces) {
      const s = serverIfaces.find((f) => f.iface.network === c.iface.network);
      if (s) return ipToString(s.addr.ip);
    }
    return undefined;
  };

  const zoneRecords = (): ZoneRecord[] => {
    const zone = site.services.dns?.zone;
    if (!zone) return [];
    const records: ZoneRecord[] = [];
    const inside = gateway?.inside.iface.network;
    for (const h of site.hosts) {
      if (hosts.get(h.name)?.host !== h) continue; // a duplicate name is reported by check, not here
      // A host's name points at its address on the inside network when it has one, else its management address.
      const onInside = inside ? ifacesOf(h).find((f) => f.iface.enabled && f.iface.network === inside) : undefined;
      const address = onInside ? ipToString(onInside.addr.ip) : managementAddress(h);
      if (address) records.push({ name: h.name, address, origin: `host ${h.name}` });
    }
    const insideAddr = (serverName: string) => {
      const server = hosts.get(serverName)?.host;
      if (!server) return undefined;
      const onInside = inside ? ifacesOf(server).find((f) => f.iface.enabled && f.iface.network === inside) : undefined;
      return onInside ? ipToString(onInside.addr.ip) : managementAddress(server);
    };
    const svc: [string, string | undefined][] = [
      ['gateway', gateway && ipToString(gateway.inside.addr.ip)],
      ['ntp', site.services.ntp && insideAddr(site.services.ntp.server)],
      ['dns', site.services.dns && insideAddr(site.services.dns.server)],
      ['ns1', site.services.dns && insideAddr(site.services.dns.server)],
    ];
    for (const [name, address] of svc) if (address) records.push({ name, address, origin: `service ${name}` });
    zone.records.forEach((r, i) => records.push({ name: r.name, address: r.address, origin: `services.dns.zone.records[${i}]` }));
    return records;
  };

  return {
    site,
    networks,
    hosts,
    ifaces,
    ifacesOf,
    gateway,
    serverAddressFor,
    managementAddress,
    zoneRecords,
    isNode: (h) => h !== gateway?.host && !h.roles.includes('admin'),
  };
}

/** Resolve a list of network names / CIDRs / keywords to CIDRs (keywords dropped). */
export function resolveNetRefs(topo: Topology, refs: readonly string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const r of refs) {
    const n = topo.networks.get(r);
    if (n) out.push(n.cidr);
    else {
      const c = parseCidr(r);
      if (c) out.push(c);
    }
  }
  return out;
}

export function inAny(cidrs: readonly Cidr[], ip: number): boolean {
  return cidrs.some((c) => contains(c, ip));
}

