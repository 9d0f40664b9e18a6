// BIND: named.conf (listen, allow-query, allow-recursion, forwarders, dnssec-validation) and the internal zone.
import { contains, ipToString } from '../net.ts';
import type { Step } from '../plan.ts';
import type { Host } from '../schema.ts';
import { resolveNetRefs, type Topology } from '../topology.ts';
import { MANAGED, OS_PROFILES } from './os.ts';

const KEYWORDS = new Set(['any', 'localhost', 'localnets', 'none']);

function aclList(topo: Topology, refs: string[]): string[] {
  const out: string[] = [];
  for (const r of refs) {
    if (KEYWORDS.has(r)) out.push(r);
    else out.push(...resolveNetRefs(topo, [r]).map((c) => c.text));
  }
  return out.length ? out : ['none'];
}

const block = (items: string[]) => `{ ${items.map((i) => `${i};`).join(' ')} }`;

export function zoneFileName(zone: string): string {
  return `db.${zone.replace(/\.$/, '')}`;
}

export function namedConf(topo: Topology, host: Host): string {
  const dns = topo.site.services.dns!;
  const os = OS_PROFILES[host.os];
  // Listen on loopback plus this host's addresses on the networks it serves (not on the outside link).
  const served = resolveNetRefs(topo, [...dns.allowQuery, ...dns.allowRecursion]);
  const wildcard = dns.allowQuery.includes('any');
  const listen = wildcard
    ? ['any']
    : [
        '127.0.0.1',
        ...topo
          .ifacesOf(host)
          .filter((f) => f.iface.enabled && served.some((c) => contains(c, f.addr.ip)))
          .map((f) => ipToString(f.addr.ip)),
      ];
  const forwarders = topo.site.offline ? [] : dns.forwarders;
  const recursion = forwarders.length > 0 || !topo.site.offline;
  const lines = [
    `// ${MANAGED}`,
    'options {',
    `\tdirectory "${os.namedDirectory}";`,
    '\tpid-file "/run/named/named.pid";',
    `\tlisten-on port 53 ${block([...new Set(listen)])};`,
    '\tlisten-on-v6 { none; };',
    `\tallow-query ${block(aclList(topo, dns.allowQuery))};`,
    `\tallow-recursion ${block(recursion ? aclList(topo, dns.allowRecursion) : ['none'])};`,
    '\tallow-transfer { none; };',
    `\trecursion ${recursion ? 'yes' : 'no'};`,
  ];
  if (forwarders.length) {
    lines.push(`\tforwarders ${block(forwarders)};`, '\t// Nodes are offline: never fall back to root servers the admin may not reach either.', '\tforward only;');
  }
  lines.push(`\tdnssec-validation ${dns.dnssecValidation};`, '};', '');
  if (dns.zone) {
    const z = dns.zone.name.replace(/\.$/, '');
    lines.push(`zone "${z}" IN {`, '\ttype primary;', `\tfile "${os.zoneDir}/${zoneFileName(z)}";`, '\tallow-update { none; };', '};');
  }
  return `${lines.join('\n')}\n`;
}

/** The internal zone: SOA, NS, and an A record for every host and service name (plus extra records). */
export function zoneFile(topo: Topology, serial: number): string {
  const dns = topo.site.services.dns!;
  const zone = dns.zone!;
  const z = zone.name.replace(/\.$/, '');
  const records = topo.zoneRecords();
  const seen = new Set<string>();
  const width = Math.max(8, ...records.map((r) => r.name.length)) + 1;
  const lines = [
    `; ${MANAGED}`,
    `; Zone ${z} for site ${topo.site.metadata.name}. The serial moves forward whenever the records change.`,
    `$TTL ${zone.ttl}`,
    `@ IN SOA ns1.${z}. hostmaster.${z}. (`,
    `\t${serial} ; serial`,
    '\t3600       ; refresh',
    '\t900        ; retry',
    '\t1209600    ; expire',
    '\t300 )      ; negative-cache TTL',
    `@ IN NS ns1.${z}.`,
    '',
  ];
  for (const r of records) {
    const key = `${r.name} ${r.address}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(`${r.name.padEnd(width)}IN A ${r.address} ; ${r.origin}`);
  }
  return `${lines.join('\n')}\n`;
}

export function bindSteps(topo: Topology, host: Host, serial: number): Step[] {
  const dns = topo.site.services.dns;
  if (!dns || dns.server !== host.name) return [];
  const os = OS_PROFILES[host.os];
  const steps: Step[] = [
    { kind: 'command', id: 'bind-installed', title: 'BIND installed', check: os.queryPackage(os.packages.bind), run: os.installCommand([os.packages.bind, os.packages.bindUtils]), packages: [{ name: os.packages.bind }, { name: os.packages.bindUtils }] },
    { kind: 'file', id: 'named-conf', title: 'named.conf: listen, ACLs, forwarders, DNSSEC', path: os.namedConf, mode: '0640', owner: os.namedOwner, content: namedConf(topo, host), compare: 'exact' },
  ];
  const restartOn = ['named-conf'];
  if (dns.zone) {
    const z = dns.zone.name.replace(/\.$/, '');
    steps.push({ kind: 'file', id: 'zone-file', title: `zone ${z}`, path: `${os.zoneDir}/${zoneFileName(z)}`, mode: '0644', owner: os.namedOwner, content: zoneFile(topo, serial), compare: 'ignore-soa-serial' });
    restartOn.push('zone-file');
  }
  steps.push(
    { kind: 'assert', id: 'named-checkconf', title: 'named-checkconf -z accepts the config and zone', check: `named-checkconf -z ${os.namedConf} >/dev/null`, timeout: 0 },
    { kind: 'service', id: 'named-service', title: 'named running', unit: os.namedUnit, restartOn },
  );
  return steps;
}
