// Static checks over a loaded site: every Finding has a stable id, a severity, a location and a fix hint.
import type { Location } from './errors.ts';
import type { LoadedSite } from './load.ts';
import { contains, ipToString, last, overlaps, parseCidr, parseIp, size, type Cidr } from './net.ts';
import type { Host } from './schema.ts';
import { formatPath, type PathSegment } from './source.ts';
import { inAny, resolveNetRefs, topology } from './topology.ts';
import { validateKubeadm } from './cluster/kubeadm.ts';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  /** Stable id, e.g. "cidr-overlap"; documented in docs/checks.md. */
  id: string;
  severity: Severity;
  message: string;
  path: string;
  location: Location;
  hint: string;
  /** Other fields involved (e.g. the other side of an overlap). */
  related?: { path: string; location: Location }[];
}

export interface CheckResult {
  findings: Finding[];
  errors: number;
  warnings: number;
  infos: number;
}

/** Every check id with its meaning; the catalog is the contract for --json consumers. */
export const CHECKS = {
  'cidr-overlap': 'Two of networks, podCIDR, serviceCIDR and LB pools overlap',
  'lb-pool-overlap': 'A LoadBalancer pool overlaps a pod/service CIDR or holds a host or gateway address',
  'address-outside-network': "An interface address is not inside its network's CIDR",
  'prefix-mismatch': "An interface's prefix length differs from its network's",
  'address-reserved': 'An interface address is the network or broadcast address',
  'duplicate-host-name': 'Two hosts share a name',
  'duplicate-address': 'Two interfaces share an address',
  'gateway-interfaces': 'The gateway host lacks a distinct, enabled outside and inside interface',
  'gateway-role': 'The gateway host does not have the admin role',
  'node-no-gateway-path': "A node has no enabled interface on the gateway's inside network",
  'node-direct-route': 'A node keeps an enabled link on the outside network, bypassing the gateway',
  'no-management-interface': 'A host has no interface marked management: true',
  'management-disabled': 'A management interface is marked enabled: false (it would cut the operator off)',
  'service-not-on-allowed-network': 'The NTP/DNS server has no interface on a network it serves',
  'client-not-allowed': 'A host is outside the NTP allow / DNS allowQuery / allowRecursion lists',
  'client-cannot-reach-server': 'A host shares no enabled network with its NTP/DNS server',
  'control-plane-endpoint': 'controlPlaneEndpoint is not an address (or zone name) of a control-plane host',
  'no-control-plane': 'The cluster has no host with the control-plane role',
  'calico-block-size': 'Calico blockSize is larger than podCIDR, or so small that a node needs more than 2 (warning) or 4 (error) blocks for maxPodsPerNode',
  'pod-cidr-exhausted': 'podCIDR has fewer Calico blocks than the nodes need',
  'offline-upstream': 'DNS forwarders or NTP upstreams are set on a site declared offline',
  'no-upstream-path': 'Upstreams are set but no gateway gives the site a way out',
  'zone-record-conflict': 'A zone record name is used twice with different addresses',
  'kubeadm-config': 'A cluster setting kubeadm would reject, or that bites later (version, service subnet size, TTL, advertise address, proxy mode)',
  'bundle-source': 'A bundle entry names a source the site does not define (a chart repository), or the site has bundle content but no mirror to load it into',
} as const;
export type CheckId = keyof typeof CHECKS;

export function check(loaded: LoadedSite): CheckResult {
  const { site, source } = loaded;
  const findings: Finding[] = [];
  const at = (path: PathSegment[]) => ({ path: formatPath(path), location: source.locate(path) });
  const add = (id: CheckId, severity: Severity, path: PathSegment[], message: string, hint: string, related: PathSegment[][] = []) =>
    findings.push({ id, severity, message, ...at(path), hint, ...(related.length ? { related: related.map(at) } : {}) });

  const topo = topology(site);
  const cluster = site.cluster;

  // --- address space: networks, podCIDR, serviceCIDR, LB pools ---
  interface Space { cidr: Cidr; path: PathSegment[]; what: string; kind: 'network' | 'pod' | 'service' | 'lb' }
  const spaces: Space[] = [];
  site.networks.forEach((n, i) => {
    const c = parseCidr(n.cidr);
    if (c) spaces.push({ cidr: c, path: ['networks', i, 'cidr'], what: `network "${n.name}"`, kind: 'network' });
  });
  if (cluster) {
    const pod = parseCidr(cluster.podCIDR);
    const svc = parseCidr(cluster.serviceCIDR);
    if (pod) spaces.push({ cidr: pod, path: ['cluster', 'podCIDR'], what: 'podCIDR', kind: 'pod' });
    if (svc) spaces.push({ cidr: svc, path: ['cluster', 'serviceCIDR'], what: 'serviceCIDR', kind: 'service' });
    cluster.loadBalancer.pools.forEach((p, i) => {
      const c = parseCidr(p);
      if (c) spaces.push({ cidr: c, path: ['cluster', 'loadBalancer', 'pools', i], what: `LoadBalancer pool ${p}`, kind: 'lb' });
    });
  }
  for (let i = 0; i < spaces.length; i++) {
    for (let j = i + 1; j < spaces.length; j++) {
      const a = spaces[i]!;
      const b = spaces[j]!;
      if (!overlaps(a.cidr, b.cidr)) continue;
      // An LB pool is meant to sit inside a node network (L2 announcement); everything else must be disjoint.
      if ((a.kind === 'lb' && b.kind === 'network') || (a.kind === 'network' && b.kind === 'lb')) continue;
      const id: CheckId = a.kind === 'lb' || b.kind === 'lb' ? 'lb-pool-overlap' : 'cidr-overlap';
      const extra =
        (a.kind === 'pod' && b.kind === 'service') || (a.kind === 'service' && b.kind === 'pod')
          ? ' (seed 001 used 10.96.0.0/12 for pods, which is the default service CIDR)'
          : '';
      add(
        id,
        'error',
        b.path,
        `${b.what} (${b.cidr.text}, ${formatPath(b.path)}) overlaps ${a.what} (${a.cidr.text}, ${formatPath(a.path)} at line ${source.locate(a.path).line})${extra}`,
        a.kind === 'pod' || b.kind === 'pod'
          ? 'pick a podCIDR disjoint from every network and the serviceCIDR, e.g. 10.244.0.0/16'
          : 'make the ranges disjoint',
        [a.path],
      );
    }
  }
  const lbPools = spaces.filter((s) => s.kind === 'lb');

  // --- interface addresses ---
  const seenAddr = new Map<number, PathSegment[]>();
  for (const f of topo.ifaces) {
    const p: PathSegment[] = ['hosts', f.hostIndex, 'interfaces', f.ifaceIndex, 'address'];
    if (f.cidr) {
      if (!contains(f.cidr, f.addr.ip)) {
        add('address-outside-network', 'error', p, `${f.iface.address} on ${f.host.name}/${f.iface.name} is not inside network "${f.iface.network}" (${f.cidr.text})`, `use an address in ${f.cidr.text}, or attach the interface to the right network`);
      } else {
        if (f.addr.prefix !== f.cidr.prefix)
          add('prefix-mismatch', 'warning', p, `${f.iface.address} has prefix /${f.addr.prefix} but network "${f.iface.network}" is ${f.cidr.text}`, `write the address as ${ipToString(f.addr.ip)}/${f.cidr.prefix}`);
        if (f.cidr.prefix < 31 && (f.addr.ip === f.cidr.base || f.addr.ip === last(f.cidr)))
          add('address-reserved', 'error', p, `${ipToString(f.addr.ip)} is the ${f.addr.ip === f.cidr.base ? 'network' : 'broadcast'} address of ${f.cidr.text}`, 'pick a host address between them');
        if (f.network?.gateway && parseIp(f.network.gateway) === f.addr.ip && topo.gateway?.host !== f.host)
          add('duplicate-address', 'error', p, `${ipToString(f.addr.ip)} on ${f.host.name} is network "${f.iface.network}"'s gateway address`, 'pick another address');
      }
    }
    const prev = seenAddr.get(f.addr.ip);
    if (prev) add('duplicate-address', 'error', p, `${ipToString(f.addr.ip)} on ${f.host.name}/${f.iface.name} is also used at ${formatPath(prev)}`, 'every interface needs its own address', [prev]);
    else seenAddr.set(f.addr.ip, p);
    for (const pool of lbPools)
      if (contains(pool.cidr, f.addr.ip))
        add('lb-pool-overlap', 'error', pool.path, `${pool.what} holds ${ipToString(f.addr.ip)}, the address of ${f.host.name}/${f.iface.name}`, 'move the pool to a free range of the network', [p]);
    if (f.iface.management && !f.iface.enabled)
      add('management-disabled', 'error', ['hosts', f.hostIndex, 'interfaces', f.ifaceIndex, 'enabled'], `${f.host.name}/${f.iface.name} is the management interface but is marked enabled: false — applying this would cut the operator off`, 'disable another interface, or move management: true to the link you keep');
  }
  for (const pool of lbPools)
    for (const n of site.networks) {
      const g = n.gateway ? parseIp(n.gateway) : undefined;
      if (g !== undefined && contains(pool.cidr, g))
        add('lb-pool-overlap', 'error', pool.path, `${pool.what} holds ${n.gateway}, the gateway of network "${n.name}"`, 'move the pool to a free range of the network');
    }

  // --- hosts ---
  const seenHost = new Map<string, number>();
  site.hosts.forEach((h, i) => {
    const first = seenHost.get(h.name);
    if (first !== undefined) add('duplicate-host-name', 'error', ['hosts', i, 'name'], `host "${h.name}" is defined twice (first at hosts[${first}])`, 'host names must be unique', [['hosts', first, 'name']]);
    else seenHost.set(h.name, i);
    if (!h.interfaces.some((x) => x.management))
      add('no-management-interface', 'info', ['hosts', i, 'interfaces'], `host "${h.name}" has no interface marked management: true; airlock will reach it on ${topo.managementAddress(h) ?? 'nothing'}`, 'mark the interface operators reach it on with management: true');
  });

  // --- gateway ---
  const gw = site.services.gateway;
  if (gw) {
    const g = topo.hosts.get(gw.host);
    if (g && !g.host.roles.includes('admin'))
      add('gateway-role', 'warning', ['services', 'gateway', 'host'], `gateway host "${gw.host}" does not have the admin role`, 'add "admin" to its roles');
    if (gw.outside === gw.inside)
      add('gateway-interfaces', 'error', ['services', 'gateway', 'inside'], `gateway outside and inside are both "${gw.inside}"`, 'the gateway needs two links: one outside, one inside');
    if (topo.gateway) {
      for (const side of ['outside', 'inside'] as const) {
        const f = topo.gateway[side];
        if (!f.iface.enabled)
          add('gateway-interfaces', 'error', ['hosts', f.hostIndex, 'interfaces', f.ifaceIndex, 'enabled'], `gateway ${side} interface ${gw.host}/${f.iface.name} is disabled`, 'the gateway needs both links up');
      }
      if (topo.gateway.outside.iface.network === topo.gateway.inside.iface.network && gw.outside !== gw.inside)
        add('gateway-interfaces', 'error', ['services', 'gateway', 'inside'], `gateway outside and inside interfaces are on the same network "${topo.gateway.inside.iface.network}"`, 'put the inside interface on the nodes\' network');
    }
  }

  // --- nodes' way out ---
  const inside = topo.gateway?.inside;
  const outsideNet = topo.gateway?.outside.iface.network;
  site.hosts.forEach((h, hi) => {
    if (!topo.isNode(h)) return;
    const mine = topo.ifacesOf(h);
    if (inside && !mine.some((f) => f.iface.enabled && f.iface.network === inside.iface.network))
      add('node-no-gateway-path', 'error', ['hosts', hi, 'interfaces'], `node "${h.name}" has no enabled interface on "${inside.iface.network}", so it cannot route out via the gateway ${gw?.host}`, `add an interface on network "${inside.iface.network}"`);
    for (const f of mine) {
      if (f.iface.enabled && outsideNet && f.iface.network === outsideNet)
        add('node-direct-route', 'warning', ['hosts', hi, 'interfaces', f.ifaceIndex], `node "${h.name}" keeps ${f.iface.name} up on the outside network "${outsideNet}": its traffic bypasses the gateway`, 'set enabled: false on it (seed 000: nmcli connection down + autoconnect no)');
    }
  });

  // --- NTP / DNS service reach ---
  const serviceReach = (svc: 'ntp' | 'dns', serverName: string, lists: [string, string[]][]) => {
    const server = topo.hosts.get(serverName)?.host;
    if (!server) return;
    const serverNets = topo.ifacesOf(server).filter((f) => f.iface.enabled && f.cidr);
    for (const [field, refs] of lists) {
      const cidrs = resolveNetRefs(topo, refs);
      refs.forEach((r, i) => {
        const c = resolveNetRefs(topo, [r])[0];
        if (c && !serverNets.some((f) => overlaps(f.cidr!, c)))
          add('service-not-on-allowed-network', 'warning', ['services', svc, field, i], `${svc.toUpperCase()} server "${serverName}" has no interface on ${r} (${c.text}), which ${field} lets in`, `give ${serverName} an interface there, or remove ${r}`);
      });
      const wildcard = refs.includes('any') || refs.includes('all');
      if (wildcard) continue;
      site.hosts.forEach((h, hi) => {
        if (h === server) return;
        // The interface the client would use: its management link first (as serverAddressFor picks).
        const f = topo
          .ifacesOf(h)
          .filter((x) => x.iface.enabled && serverNets.some((s) => s.iface.network === x.iface.network))
          .sort((a, b) => Number(b.iface.management) - Number(a.iface.management))[0];
        // An address outside its own network is reported once, as address-outside-network.
        if (f && f.cidr && contains(f.cidr, f.addr.ip) && !inAny(cidrs, f.addr.ip))
          add('client-not-allowed', 'error', ['services', svc, field], `${h.name} (${ipToString(f.addr.ip)}) is not in services.${svc}.${field} — ${svc === 'ntp' ? 'chronyd will refuse its requests' : 'named will REFUSE its queries'}`, `add "${f.iface.network}" to ${field}`, [['hosts', hi, 'interfaces', f.ifaceIndex, 'address']]);
      });
    }
    site.hosts.forEach((h, hi) => {
      if (h !== server && !topo.serverAddressFor(server, h))
        add('client-cannot-reach-server', 'error', ['hosts', hi, 'interfaces'], `${h.name} shares no enabled network with the ${svc.toUpperCase()} server "${serverName}"`, `connect ${h.name} to a network ${serverName} is on`);
    });
  };
  const ntp = site.services.ntp;
  if (ntp) serviceReach('ntp', ntp.server, [['allow', ntp.allow]]);
  const dns = site.services.dns;
  if (dns) serviceReach('dns', dns.server, [['allowQuery', dns.allowQuery], ['allowRecursion', dns.allowRecursion]]);

  // --- offline vs upstreams ---
  const upstreams: [PathSegment[], number][] = [
    [['services', 'dns', 'forwarders'], dns?.forwarders.length ?? 0],
    [['services', 'ntp', 'upstream'], ntp?.upstream.length ?? 0],
  ];
  for (const [p, n] of upstreams) {
    if (n === 0) continue;
    if (site.offline)
      add('offline-upstream', 'error', p, `${formatPath(p)} is set but the site is declared offline: true — nothing upstream is reachable`, `remove ${formatPath(p)}, or set offline: false and configure services.gateway`, [['offline']]);
    else if (!gw) {
      const server = p[1] === 'dns' ? dns?.server : ntp?.server;
      const host = server ? topo.hosts.get(server)?.host : undefined;
      const hasOutside = host && topo.ifacesOf(host).some((f) => f.network?.gateway && f.iface.enabled);
      if (!hasOutside)
        add('no-upstream-path', 'warning', p, `${formatPath(p)} is set but there is no services.gateway and the server has no link with a network gateway`, 'configure services.gateway, or declare offline: true and drop the upstreams');
    }
  }

  // --- zone ---
  const zone = dns?.zone;
  if (zone) {
    const byName = new Map<string, string>();
    const records = topo.zoneRecords();
    records.forEach((r) => {
      const prev = byName.get(r.name);
      if (prev !== undefined && prev !== r.address) {
        const m = /records\[(\d+)\]/.exec(r.origin);
        add('zone-record-conflict', 'error', m ? ['services', 'dns', 'zone', 'records', Number(m[1]), 'name'] : ['services', 'dns', 'zone'], `"${r.name}.${zone.name}" would point at ${prev} and ${r.address} (${r.origin})`, 'rename the record: host and service names (gateway, ntp, dns, ns1) get records automatically');
      } else byName.set(r.name, r.address);
    });
  }

  // --- bundle ---
  const b = site.bundle;
  b.charts.forEach((c, i) => {
    if (!b.sources.helm.some((r) => r.name === c.repo)) {
      const known = b.sources.helm.map((r) => r.name);
      add('bundle-source', 'error', ['bundle', 'charts', i, 'repo'], `chart ${c.name} names repository "${c.repo}", which bundle.sources.helm does not define`, known.length ? `use one of: ${known.join(', ')}` : `add { name: ${c.repo}, url: https://… } under bundle.sources.helm`);
    }
  });
  const userContent = b.images.length + b.packages.debian12.length + b.packages.rocky9.length + b.python.length + b.charts.length + b.goModules.length + b.files.length;
  if (userContent > 0 && !site.services.mirrors) {
    add('bundle-source', 'warning', ['bundle'], 'the site lists bundle content but has no services.mirrors to serve it on the offline side', 'add services.mirrors (host: the admin host) so `airlock bundle load` has a mirror to publish into');
  }

  // --- cluster ---
  if (cluster) {
    const cps = site.hosts.filter((h) => h.roles.includes('control-plane'));
    if (cps.length === 0) add('no-control-plane', 'error', ['hosts'], 'the cluster has no host with role control-plane', 'give one host the control-plane role');
    checkEndpoint(cluster.controlPlaneEndpoint, cps);
    const pod = parseCidr(cluster.podCIDR);
    const bs = cluster.cni.blockSize;
    if (pod) {
      const perBlock = 2 ** (32 - bs);
      const nodes = site.hosts.filter((h) => h.roles.includes('control-plane') || h.roles.includes('worker')).length;
      const blocksPerNode = Math.ceil(cluster.maxPodsPerNode / perBlock);
      if (bs < pod.prefix) {
        add('calico-block-size', 'error', ['cluster', 'cni', 'blockSize'], `blockSize /${bs} is larger than podCIDR ${pod.text}`, `use a blockSize of at least /${pod.prefix} (Calico's default is 26)`, [['cluster', 'podCIDR']]);
      } else {
        const blocks = 2 ** (bs - pod.prefix);
        // Calico lets a node borrow extra blocks, so 2 blocks per full node (its default /26 with 110 pods) is
        // normal; past 4 the route table grows per node and affinity breaks easily: too small.
        if (blocksPerNode > 2)
          add('calico-block-size', blocksPerNode > 4 ? 'error' : 'warning', ['cluster', 'cni', 'blockSize'], `a /${bs} block holds ${perBlock} addresses but a node may run ${cluster.maxPodsPerNode} pods: each full node needs ${blocksPerNode} blocks`, `use blockSize ${Math.max(pod.prefix, 32 - Math.ceil(Math.log2(Math.ceil(cluster.maxPodsPerNode / 2))))} or smaller (Calico's default is 26), or lower maxPodsPerNode`);
        if (blocks < nodes * blocksPerNode)
          add('pod-cidr-exhausted', 'error', ['cluster', 'podCIDR'], `podCIDR ${pod.text} has ${blocks} blocks of /${bs}, but ${nodes} node(s) × ${blocksPerNode} block(s) are needed for ${cluster.maxPodsPerNode} pods each`, 'widen podCIDR or lower maxPodsPerNode', [['cluster', 'cni', 'blockSize']]);
        else if (blocks < nodes * blocksPerNode * 2)
          add('pod-cidr-exhausted', 'warning', ['cluster', 'podCIDR'], `podCIDR ${pod.text} (${blocks} blocks of /${bs}) leaves little room to add nodes (${nodes} need ${nodes * blocksPerNode})`, 'widen podCIDR before the cluster grows');
      }
    }
    const svc = parseCidr(cluster.serviceCIDR);
    if (svc && size(svc) < 256)
      add('cidr-overlap', 'warning', ['cluster', 'serviceCIDR'], `serviceCIDR ${svc.text} holds only ${size(svc)} ClusterIPs`, 'use at least a /24 (kubeadm default 10.96.0.0/12)');
  }

  function checkEndpoint(endpoint: string, cps: Host[]) {
    const hostPart = endpoint.replace(/:\d+$/, '');
    const p: PathSegment[] = ['cluster', 'controlPlaneEndpoint'];
    const cpAddrs = new Set(cps.flatMap((h) => topo.ifacesOf(h).filter((f) => f.iface.enabled).map((f) => f.addr.ip)));
    let ip = parseIp(hostPart);
    let via = '';
    if (ip === undefined) {
      const zoneName = dns?.zone?.name.replace(/\.$/, '');
      const rel = zoneName && hostPart.endsWith(`.${zoneName}`) ? hostPart.slice(0, -zoneName.length - 1) : hostPart;
      const rec = topo.zoneRecords().find((r) => r.name === rel);
      if (!rec) {
        add('control-plane-endpoint', 'error', p, `"${hostPart}" is not an IP and no zone record resolves it`, `use a control-plane address, or add "${rel}" to services.dns.zone.records`);
        return;
      }
      ip = parseIp(rec.address)!;
      via = ` (${hostPart} → ${rec.address})`;
    }
    if (!cpAddrs.has(ip)) {
      const lb = lbPools.some((pool) => contains(pool.cidr, ip!));
      add('control-plane-endpoint', lb ? 'warning' : 'error', p, `${ipToString(ip)}${via} is not an address of a control-plane host (${cps.map((h) => h.name).join(', ') || 'none'})${lb ? '; it is in a LoadBalancer pool, which the API server cannot depend on at bootstrap' : ''}`, `use ${cps[0] ? topo.managementAddress(cps[0]) ?? 'a control-plane address' : 'a control-plane address'}, or a VIP served by keepalived/kube-vip on the control planes`);
    } else if (cps.length > 1 && via === '') {
      add('control-plane-endpoint', 'info', p, `controlPlaneEndpoint is one node's address; with ${cps.length} control planes the API goes down with that node`, 'use a DNS name or VIP shared by the control planes');
    }
  }

  // kubeadm's own field rules (those not already covered above).
  const overlapReported = findings.some((f) => f.id === 'cidr-overlap' && /podCIDR|serviceCIDR/.test(f.path));
  for (const p of validateKubeadm(site)) {
    if (overlapReported && /overlaps/.test(p.message)) continue; // already a cidr-overlap finding
    add('kubeadm-config', p.severity, p.segments, p.message, p.hint);
  }

  findings.sort((a, b) => a.location.line - b.location.line || a.location.col - b.location.col || a.id.localeCompare(b.id));
  return {
    findings,
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
    infos: findings.filter((f) => f.severity === 'info').length,
  };
}
