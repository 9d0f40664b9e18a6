// A site as a lab: which hosts to boot (the site's own plus an "upstream internet" host on TEST-NET),
// what they look like freshly installed, where the operator's bastion sits, and how the site is mapped so
// that no lab packet ever targets a real public address. Pure: the lab machinery does the I/O.
import { createHash } from 'node:crypto';
import { contains, ipToString, last, parseCidr, parseIp, type Cidr } from './net.ts';
import type { Site } from './schema.ts';
import { topology, type IfaceFacts } from './topology.ts';

export interface LabFile {
  path: string;
  content: string;
  mode?: string;
}

export interface LabHostSpec {
  name: string;
  interfaces: { name: string; network: string }[];
  files: LabFile[];
  /** Commands run inside the host once it has booted (as root). */
  postBoot: string[];
}

export interface LabLayout {
  prefix: string;
  /** The site as the lab runs it (OS, forwarders, NTP upstreams mapped). */
  site: Site;
  networks: { name: string }[];
  hosts: LabHostSpec[];
  bastion: { network: string; address: string };
  upstream: { host: string; network: string; address: string; whoamiUrl: string; testName: string };
  /** Human-readable lines: every mapping from the site file to the lab. */
  notes: string[];
}

export const UPSTREAM_HOST = 'upstream';
export const UPSTREAM_TEST_ZONE = 'upstream.test';

/** A short, stable resource prefix for a site file (so `lab up` and `apply --lab` find the same lab). */
export function labPrefix(siteRealPath: string): string {
  return `al${createHash('sha256').update(siteRealPath).digest('hex').slice(0, 4)}`;
}

const TESTNET = ['203.0.113.0/24', '198.51.100.0/24', '192.0.2.0/24'];
const isTestNet = (c: Cidr) => TESTNET.some((t) => {
  const n = parseCidr(t)!;
  return contains(n, c.base) && c.prefix >= n.prefix;
});

function freeAddress(cidr: Cidr, used: Set<number>, fromTop: boolean): number | undefined {
  const first = cidr.base + 1;
  const lastHost = last(cidr) - 1;
  for (let i = 0; i <= lastHost - first; i++) {
    const ip = fromTop ? lastHost - i : first + i;
    if (!used.has(ip)) return ip;
  }
  return undefined;
}

export class LabLayoutError extends Error {}

export function labLayout(site: Site, prefix: string): LabLayout {
  const topo = topology(site);
  const notes: string[] = [];
  const gw = topo.gateway;
  if (!gw) throw new LabLayoutError('the lab needs services.gateway: it puts the upstream host on the gateway\'s outside network');
  const outsideNet = topo.networks.get(gw.outside.iface.network)!;
  if (!isTestNet(outsideNet.cidr))
    throw new LabLayoutError(
      `the gateway's outside network ${outsideNet.cidr.text} is not a TEST-NET range (${TESTNET.join(', ')}); the lab only plays "the internet" on documentation addresses`,
    );
  const used = new Set<number>(topo.ifaces.map((f) => f.addr.ip));
  for (const n of site.networks) if (n.gateway) used.add(parseIp(n.gateway)!);

  // The upstream host takes the outside network's gateway address (the nodes' first default route, as in the seed).
  const upAddrNum = outsideNet.network.gateway ? parseIp(outsideNet.network.gateway)! : freeAddress(outsideNet.cidr, used, true)!;
  used.add(upAddrNum);
  const upAddr = ipToString(upAddrNum);
  const insideNet = topo.networks.get(gw.inside.iface.network)!;
  const bastionNum = freeAddress(insideNet.cidr, used, true);
  if (bastionNum === undefined) throw new LabLayoutError(`no free address for the bastion in ${insideNet.cidr.text}`);
  used.add(bastionNum);

  // --- the site as the lab runs it ---
  const mapped: Site = structuredClone(site);
  for (const h of mapped.hosts) {
    if (h.os !== 'debian12') notes.push(`host ${h.name}: runs as debian12 in the lab (the lab image is Debian; site says ${h.os})`);
    h.os = 'debian12';
    h.networkConfig = 'networkmanager';
  }
  const dns = mapped.services.dns;
  if (dns?.forwarders.length) {
    for (const f of dns.forwarders) notes.push(`DNS forwarder ${f} → ${upAddr} (lab upstream host)`);
    dns.forwarders = [upAddr];
    if (dns.dnssecValidation !== 'no') {
      notes.push(`dnssecValidation ${dns.dnssecValidation} → no (the lab upstream cannot prove the signed root chain)`);
      dns.dnssecValidation = 'no';
    }
  }
  const ntp = mapped.services.ntp;
  const ntpNames: string[] = [];
  if (ntp?.upstream.length) {
    ntp.upstream = ntp.upstream.map((u) => {
      if (parseIp(u) !== undefined) {
        notes.push(`NTP upstream ${u} → ${upAddr} (lab upstream host)`);
        return upAddr;
      }
      ntpNames.push(u.replace(/\.$/, ''));
      notes.push(`NTP upstream ${u} → resolves to ${upAddr} through the lab upstream's DNS`);
      return u;
    });
  }

  // --- hosts as freshly installed: every link up with its address, default route via the outside gateway ---
  const mtopo = topology(mapped);
  const hosts: LabHostSpec[] = mapped.hosts.map((h) => ({
    name: h.name,
    interfaces: h.interfaces.map((i) => ({ name: i.name, network: i.network })),
    files: installedNetwork(mtopo.ifacesOf(h), upAddr),
    // A fresh install runs no DNS server; apply enables named where the site wants it.
    postBoot: ['systemctl disable --now named.service >/dev/null 2>&1 || true'],
  }));
  hosts.push(upstreamHost(upAddr, outsideNet.network.name, outsideNet.cidr, ipToString(gw.outside.addr.ip), insideNet.cidr.text, ntpNames));

  return {
    prefix,
    site: mapped,
    networks: site.networks.map((n) => ({ name: n.name })),
    hosts,
    bastion: { network: insideNet.network.name, address: `${ipToString(bastionNum)}/${insideNet.cidr.prefix}` },
    upstream: { host: UPSTREAM_HOST, network: outsideNet.network.name, address: upAddr, whoamiUrl: `http://${upAddr}/whoami`, testName: `www.${UPSTREAM_TEST_ZONE}` },
    notes,
  };
}

function keyfile(name: string, address: string, extra: string[] = []): LabFile {
  return {
    path: `/etc/NetworkManager/system-connections/${name}.nmconnection`,
    mode: '0600',
    content: ['# Written by the lab: the host as the installer left it.', '[connection]', `id=${name}`, 'type=ethernet', `interface-name=${name}`, 'autoconnect=true', '', '[ipv4]', 'method=manual', `address1=${address}`, ...extra, '', '[ipv6]', 'method=disabled', ''].join('\n'),
  };
}

function installedNetwork(ifaces: IfaceFacts[], upAddr: string): LabFile[] {
  return ifaces.map((f) => {
    const gateway = f.network?.gateway;
    return keyfile(f.iface.name, f.iface.address, gateway ? [`gateway=${gateway}`, `dns=${upAddr};`] : ['never-default=true']);
  });
}

function upstreamHost(addr: string, network: string, cidr: Cidr, adminOutside: string, insideCidr: string, ntpNames: string[]): LabHostSpec {
  const zones = [UPSTREAM_TEST_ZONE, ...new Set(ntpNames)];
  const zoneFile = (z: string) => `$TTL 60
@ IN SOA ns.${UPSTREAM_TEST_ZONE}. hostmaster.${UPSTREAM_TEST_ZONE}. ( 1 60 60 600 60 )
@ IN NS ns.${UPSTREAM_TEST_ZONE}.
@ IN A ${addr}
${z === UPSTREAM_TEST_ZONE ? `ns IN A ${addr}\nwww IN A ${addr}\nntp IN A ${addr}\n` : ''}`;
  const files: LabFile[] = [
    // A route back to the site's inside network via the admin: lets this host act as an outsider for the negative checks.
    keyfile('eth0', `${addr}/${cidr.prefix}`, [`route1=${insideCidr},${adminOutside}`]),
    {
      path: '/etc/chrony/chrony.conf',
      content: '# Lab upstream: serves its own clock to anyone, like a public NTP server.\nlocal stratum 1\nallow all\ndriftfile /var/lib/chrony/chrony.drift\n',
    },
    {
      path: '/etc/bind/named.conf',
      content: `options {\n\tdirectory "/var/cache/bind";\n\tlisten-on { any; };\n\tlisten-on-v6 { none; };\n\trecursion no;\n\tallow-query { any; };\n\tdnssec-validation no;\n};\n${zones.map((z) => `zone "${z}" { type primary; file "/etc/bind/db.lab-${z}"; };`).join('\n')}\n`,
    },
    ...zones.map((z) => ({ path: `/etc/bind/db.lab-${z}`, content: zoneFile(z) })),
    {
      path: '/usr/local/bin/airlock-whoami',
      mode: '0755',
      content: `#!/usr/bin/python3
# Answers every HTTP request with the client address it sees: proves the site's NAT from the outside.
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(64)
while True:
    c, (ip, _) = s.accept()
    try:
        c.settimeout(5)
        c.recv(4096)
        body = (ip + "\\n").encode()
        c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: " + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
    except OSError:
        pass
    finally:
        c.close()
`,
    },
    {
      path: '/etc/systemd/system/airlock-whoami.service',
      content: '[Unit]\nDescription=lab upstream: HTTP whoami\nAfter=network.target\n[Service]\nExecStart=/usr/local/bin/airlock-whoami\nRestart=always\n[Install]\nWantedBy=multi-user.target\n',
    },
  ];
  return {
    name: UPSTREAM_HOST,
    interfaces: [{ name: 'eth0', network }],
    files,
    postBoot: ['systemctl daemon-reload', 'systemctl enable --now airlock-whoami.service', 'systemctl restart named.service chrony.service'],
  };
}
