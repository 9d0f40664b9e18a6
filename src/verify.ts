// verify: the seed 000 checklist, automated. Probes are pure data (where to run, what to run, how to judge);
// runProbes is the I/O edge that runs them through transports and collects expected vs seen.
import { ipToString } from './net.ts';
import type { Host, Site } from './schema.ts';
import { mirrorBase } from './render/mirrorclient.ts';
import { topology, type Topology } from './topology.ts';
import type { RunResult, Transport } from './transport/index.ts';

/** Where the probes reach "the internet" from inside the site (the lab fills this in with its upstream host). */
export interface UpstreamTarget {
  /** An http URL that answers with the client address it sees (proves NAT), e.g. http://203.0.113.1/whoami */
  whoamiUrl?: string;
  /** A name only the upstream DNS knows (proves forwarding), e.g. www.upstream.test */
  name?: string;
}

export interface VerifyOptions {
  upstream?: UpstreamTarget;
  /** Run the negative probes from a vantage outside the allowed networks (the lab's upstream host). */
  outsider?: boolean;
  /** Seconds to wait for chrony to select its source (^*). */
  ntpSyncTimeout?: number;
}

const LAB_KERNEL = "not checkable in the lab: hosts share the machine's kernel";
const LAB_MIRROR = 'not checkable in the lab: Kubernetes packages come from the site mirror';

export const OUTSIDER = '@outsider';

export interface Probe {
  /** Stable id, e.g. "node-default-route". */
  id: string;
  /** Host name to run on, or OUTSIDER. */
  host: string;
  title: string;
  command: string;
  expected: string;
  judge: (r: RunResult) => { pass: boolean; seen: string };
  /** Keep retrying for this many seconds until it passes. */
  retryFor?: number;
  /** Hosts/networks this probe speaks for, to colour the topology picture. */
  about: string[];
  /** Not checkable inside the lab (shared kernel, no mirror content): reported as skipped there. */
  labSkip?: string;
}

export interface ProbeResult {
  id: string;
  host: string;
  title: string;
  expected: string;
  seen: string;
  status: 'pass' | 'fail' | 'error' | 'skipped';
  seconds: number;
  attempts: number;
  about: string[];
}

export interface VerifyReport {
  site: string;
  startedAt: string;
  seconds: number;
  passed: number;
  failed: number;
  /** Probes that cannot be judged here (e.g. kernel state inside the lab). */
  skipped: number;
  results: ProbeResult[];
  /** Notes printed with the report (e.g. lab mappings). */
  notes: string[];
}

const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';
const oneLine = (s: string, max = 160) => {
  const t = s.trim().replace(/\s*\n\s*/g, ' | ');
  return t.length > max ? `${t.slice(0, max - 3)}...` : t || '(nothing)';
};

function digJudge(wantAddress: string | undefined, wantServer: string) {
  return (r: RunResult) => {
    const status = /status: (\w+)/.exec(r.stdout)?.[1] ?? 'no answer';
    const server = /SERVER: ([\d.]+)#/.exec(r.stdout)?.[1] ?? '?';
    const answers = [...r.stdout.matchAll(/^\S+\s+\d+\s+IN\s+A\s+([\d.]+)$/gm)].map((m) => m[1]!);
    const pass = status === 'NOERROR' && server === wantServer && answers.length > 0 && (!wantAddress || answers.includes(wantAddress));
    return { pass, seen: `${status} from ${server}: ${answers.join(', ') || 'no A record'}` };
  };
}

/** The checklist for a site, as probes. Pure. */
export function verifyProbes(site: Site, opts: VerifyOptions = {}): Probe[] {
  const topo = topology(site);
  const probes: Probe[] = [];
  const gw = topo.gateway;
  const dns = site.services.dns;
  const ntp = site.services.ntp;
  const zone = dns?.zone?.name.replace(/\.$/, '');
  const ntpTimeout = opts.ntpSyncTimeout ?? 120;

  if (gw) {
    const admin = gw.host.name;
    probes.push({
      id: 'gateway-forwarding',
      host: admin,
      title: 'IPv4 forwarding is on',
      command: 'sysctl -n net.ipv4.ip_forward',
      expected: '1',
      judge: (r) => ({ pass: r.stdout.trim() === '1', seen: oneLine(r.stdout || r.stderr) }),
      about: [admin],
    });
    const fw = site.services.gateway!.firewall;
    probes.push({
      id: 'gateway-nat-rule',
      host: admin,
      title: `exactly one masquerade rule for ${gw.outside.iface.name} (no duplicates from re-runs)`,
      command: fw === 'nftables' ? "nft list ruleset 2>/dev/null | grep -c 'masquerade'" : 'iptables-save -t nat | grep -c MASQUERADE',
      expected: '1',
      judge: (r) => ({ pass: r.stdout.trim() === '1', seen: `${r.stdout.trim() || '0'} masquerade rule(s)` }),
      about: [admin],
    });
  }

  for (const host of site.hosts) {
    if (!topo.isNode(host) || !gw) continue;
    nodeProbes(topo, host, opts, probes, ntpTimeout);
  }
  if (site.cluster) for (const host of site.hosts) if (host.roles.includes('control-plane') || host.roles.includes('worker')) prepProbes(site, host, probes);
  for (const host of site.hosts) mirrorProbes(topo, host, probes);

  if (dns) {
    const server = topo.hosts.get(dns.server)?.host;
    if (server) {
      const unit = 'named';
      probes.push({
        id: 'dns-server-running',
        host: server.name,
        title: 'named is running',
        command: `systemctl is-active ${unit}`,
        expected: 'active',
        judge: (r) => ({ pass: r.stdout.trim() === 'active', seen: oneLine(r.stdout) }),
        about: [server.name],
      });
      if (zone) {
        const rec = topo.zoneRecords().find((x) => x.name === server.name);
        probes.push({
          id: 'dns-zone-served',
          host: server.name,
          title: `named answers for ${zone}`,
          command: `dig +time=2 +tries=2 @127.0.0.1 ${server.name}.${zone} A`,
          expected: `${server.name}.${zone} → ${rec?.address ?? '?'}`,
          judge: digJudge(rec?.address, '127.0.0.1'),
          about: [server.name],
        });
      }
    }
  }
  if (ntp) {
    const server = topo.hosts.get(ntp.server)?.host;
    if (server && ntp.upstream.length && !site.offline) {
      probes.push({
        id: 'ntp-server-synced',
        host: server.name,
        title: 'chrony on the NTP server has selected an upstream (^*)',
        command: 'chronyc -n sources',
        expected: 'a line starting with ^*',
        judge: (r) => ({ pass: /^\^\*/m.test(r.stdout), seen: oneLine(r.stdout.split('\n').filter((l) => /^\^/.test(l)).join('\n') || r.stdout || r.stderr) }),
        retryFor: ntpTimeout,
        about: [server.name],
      });
    }
  }

  if (opts.outsider && gw) {
    const inside = ipToString(gw.inside.addr.ip);
    if (dns && dns.server === gw.host.name) {
      probes.push({
        id: 'outsider-dns-refused',
        host: OUTSIDER,
        title: `a host outside the allowed networks is REFUSED by named (${inside})`,
        command: `dig +time=2 +tries=1 @${inside} ${opts.upstream?.name ?? 'example.org'} A`,
        expected: 'status: REFUSED',
        judge: (r) => {
          const status = /status: (\w+)/.exec(r.stdout)?.[1];
          return { pass: status === 'REFUSED', seen: status ? `status: ${status}` : oneLine(r.stdout || r.stderr) };
        },
        about: [gw.host.name],
      });
    }
    if (ntp && ntp.server === gw.host.name) {
      probes.push({
        id: 'outsider-ntp-denied',
        host: OUTSIDER,
        title: `a host outside the allowed networks gets no NTP service from ${inside}`,
        // Reachable (ping answers) yet silent on NTP: the denial is chrony's allow list, not a missing route.
        command: `ping -c 1 -W 2 ${inside} >/dev/null && echo reachable; chronyd -Q -t 3 'server ${inside} iburst maxsamples 1' 2>&1; true`,
        expected: `${inside} answers ping but sends no NTP reply`,
        judge: (r) => {
          const reachable = /^reachable$/m.test(r.stdout);
          const gotTime = /System clock wrong by/i.test(r.stdout);
          return { pass: reachable && !gotTime, seen: `${reachable ? 'reachable' : 'NOT reachable (route?)'}, ${gotTime ? 'got NTP time' : 'no NTP reply'}` };
        },
        about: [gw.host.name],
      });
    }
  }
  return probes;
}

function nodeProbes(topo: Topology, host: Host, opts: VerifyOptions, probes: Probe[], ntpTimeout: number) {
  const gw = topo.gateway!;
  const site = topo.site;
  const adminInside = ipToString(gw.inside.addr.ip);
  const adminOutside = ipToString(gw.outside.addr.ip);
  const insideIf = topo.ifacesOf(host).find((f) => f.iface.enabled && f.iface.network === gw.inside.iface.network);
  const name = host.name;
  if (insideIf) {
    const dev = insideIf.iface.name;
    probes.push({
      id: 'node-default-route',
      host: name,
      title: `the only default route is via the admin ${adminInside} on ${dev}, metric 200`,
      command: 'ip -4 route show default',
      expected: `default via ${adminInside} dev ${dev} ... metric 200 (and no other)`,
      judge: (r) => {
        const lines = r.stdout.trim().split('\n').filter(Boolean);
        const pass = lines.length === 1 && new RegExp(`via ${adminInside.replace(/\./g, '\\.')} dev ${dev}\\b.*metric 200`).test(lines[0]!);
        return { pass, seen: oneLine(r.stdout) };
      },
      about: [name, gw.host.name],
    });
  }
  for (const f of topo.ifacesOf(host).filter((x) => !x.iface.enabled)) {
    probes.push({
      id: 'node-outside-down',
      host: name,
      title: `${f.iface.name} (${f.iface.network}) is down`,
      command: `ip -4 -o addr show dev ${f.iface.name}`,
      expected: 'no IPv4 address on it',
      judge: (r) => ({ pass: r.code === 0 && !/inet /.test(r.stdout), seen: r.code !== 0 ? oneLine(r.stderr) : /inet (\S+)/.exec(r.stdout)?.[1] ?? 'no address' }),
      about: [name],
    });
  }
  if (opts.upstream?.whoamiUrl) {
    probes.push({
      id: 'node-nat-egress',
      host: name,
      title: 'reaches the upstream through the admin, NATed to its outside address',
      command: `curl -sS --max-time 5 ${opts.upstream.whoamiUrl}`,
      expected: `upstream sees ${adminOutside}`,
      judge: (r) => ({ pass: r.code === 0 && r.stdout.trim() === adminOutside, seen: r.code === 0 ? `upstream sees ${firstLine(r.stdout)}` : oneLine(r.stderr) }),
      about: [name, gw.host.name],
    });
  }
  const dns = site.services.dns;
  const dnsServer = dns && topo.hosts.get(dns.server)?.host;
  const dnsAddr = dnsServer && topo.serverAddressFor(dnsServer, host);
  const zone = dns?.zone?.name.replace(/\.$/, '');
  if (dnsAddr && zone) {
    const rec = topo.zoneRecords().find((x) => x.name === gw.host.name);
    probes.push({
      id: 'node-dns-internal',
      host: name,
      title: `resolves internal names via ${dnsAddr} (resolv.conf)`,
      command: `dig +time=2 +tries=2 ${gw.host.name}.${zone} A`,
      expected: `${gw.host.name}.${zone} → ${rec?.address} from ${dnsAddr}`,
      judge: digJudge(rec?.address, dnsAddr),
      about: [name, dnsServer.name],
    });
    if (opts.upstream?.name && dns.forwarders.length && !site.offline) {
      probes.push({
        id: 'node-dns-upstream',
        host: name,
        title: `resolves upstream names through the forwarders (${opts.upstream.name})`,
        command: `dig +time=2 +tries=2 ${opts.upstream.name} A`,
        expected: `an A record from ${dnsAddr}`,
        judge: digJudge(undefined, dnsAddr),
        about: [name, dnsServer.name],
      });
    }
    if (host.networkConfig === 'networkmanager') {
      probes.push({
        id: 'node-resolv-survives-nm',
        host: name,
        title: 'resolv.conf survives NetworkManager rewriting DNS (dns=none)',
        // `reload conf,dns-rc` re-reads NetworkManager.conf and rewrites resolv.conf exactly as a restart or
        // reboot does, without re-applying routes (a restart would quietly repair what other probes look for).
        command: 'a=$(md5sum < /etc/resolv.conf); nmcli general reload conf,dns-rc && sleep 1; b=$(md5sum < /etc/resolv.conf); [ "$a" = "$b" ] && echo unchanged || echo REWRITTEN; head -n 1 /etc/resolv.conf; grep ^nameserver /etc/resolv.conf',
        expected: `airlock's file, unchanged, nameserver ${dnsAddr} only`,
        judge: (r) => {
          const ns = [...r.stdout.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1]);
          const unchanged = /^unchanged$/m.test(r.stdout);
          const ours = /Managed by airlock/.test(r.stdout);
          const pass = unchanged && ours && ns.length === 1 && ns[0] === dnsAddr;
          const head = oneLine(r.stdout.split('\n')[1] ?? '', 60);
          return { pass, seen: `${unchanged ? 'unchanged' : 'REWRITTEN'}${ours ? '' : ` (not airlock's: "${head}")`}, nameserver ${ns.join(', ') || 'none'}` };
        },
        about: [name],
      });
    }
  }
  const ntp = site.services.ntp;
  const ntpServer = ntp && topo.hosts.get(ntp.server)?.host;
  const ntpAddr = ntpServer && topo.serverAddressFor(ntpServer, host);
  if (ntpAddr) {
    probes.push({
      id: 'node-ntp-synced',
      host: name,
      title: `chronyc sources shows ^* on the admin ${ntpAddr}`,
      command: 'chronyc -n sources',
      expected: `^* ${ntpAddr}`,
      judge: (r) => {
        const line = r.stdout.split('\n').find((l) => l.includes(ntpAddr));
        return { pass: Boolean(line && line.startsWith('^*')), seen: line ? oneLine(line) : oneLine(r.stdout || r.stderr) };
      },
      retryFor: ntpTimeout,
      about: [name, ntpServer.name],
    });
  }
}

/** Node preparation for kubeadm, item by item. */
function prepProbes(site: Site, host: Host, probes: Probe[]) {
  const name = host.name;
  const v = site.cluster!.kubernetesVersion.replace(/^v/, '');
  const simple = (id: string, title: string, command: string, expected: string, pass: (out: string) => boolean, labSkip?: string) =>
    probes.push({ id, host: name, title, command, expected, judge: (r) => ({ pass: r.code === 0 && pass(r.stdout), seen: oneLine(r.stdout || r.stderr) }), about: [name], ...(labSkip ? { labSkip } : {}) });
  simple('prep-swap-off', 'swap is off', 'swapon --show --noheadings; echo "swaps: $(swapon --show --noheadings | wc -l)"', 'swaps: 0', (o) => /swaps: 0/.test(o), LAB_KERNEL);
  simple('prep-modules', 'overlay and br_netfilter are loaded', 'for m in overlay br_netfilter; do [ -d /sys/module/$m ] && echo "$m loaded" || echo "$m missing"; done', 'overlay loaded, br_netfilter loaded', (o) => !/missing/.test(o), LAB_KERNEL);
  simple('prep-ip-forward', 'IPv4 forwarding is on', 'sysctl -n net.ipv4.ip_forward', '1', (o) => o.trim() === '1');
  simple('prep-bridge-nf', 'bridged traffic goes through iptables', 'sysctl -n net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables', '1 and 1', (o) => o.trim().split('\n').every((l) => l.trim() === '1'), LAB_KERNEL);
  simple('prep-containerd', 'containerd runs with the systemd cgroup driver and the mirror config', 'systemctl is-active containerd && containerd config dump 2>/dev/null | grep -E "SystemdCgroup|config_path|sandbox_image"', 'active, SystemdCgroup = true, config_path = /etc/containerd/certs.d', (o) => /^active/m.test(o) && /SystemdCgroup = true/.test(o) && /config_path = "\/etc\/containerd\/certs.d"/.test(o));
  simple('prep-crictl', 'crictl points at containerd', 'cat /etc/crictl.yaml', site.cluster!.criSocket, (o) => o.includes(`runtime-endpoint: ${site.cluster!.criSocket}`));
  simple('prep-kube-packages', `kubelet/kubeadm/kubectl ${v} installed`, 'kubeadm version -o short 2>/dev/null; kubelet --version 2>/dev/null', `v${v}`, (o) => o.includes(`v${v}`), LAB_MIRROR);
}

/** The node's way to artifacts: the site mirror, trusted (HTTPS with the site CA in the OS store) and alone. */
function mirrorProbes(topo: Topology, host: Host, probes: Probe[]) {
  const where = mirrorBase(topo, host);
  if (!where) return;
  const m = topo.site.services.mirrors!;
  probes.push({
    id: 'node-mirror-reachable',
    host: host.name,
    title: `the site mirror answers at ${where.base}${m.tls ? ' (its certificate trusted through the OS CA store)' : ''}`,
    command: `curl -sS -m 5 -o /dev/null -w '%{http_code}' ${where.base}/healthz`,
    expected: 'HTTP 200',
    judge: (r) => ({ pass: r.code === 0 && r.stdout.trim() === '200', seen: r.stdout.trim() ? `HTTP ${r.stdout.trim()}` : oneLine(r.stderr) }),
    retryFor: 10,
    about: [host.name, m.host],
  });
  if (host.os === 'debian12') {
    probes.push({
      id: 'node-apt-only-mirror',
      host: host.name,
      title: 'apt knows no source but the site mirror',
      command: "cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -E '^[[:space:]]*(deb|URIs:)' | sed -E 's/^[[:space:]]*(deb(-src)?|URIs:)[[:space:]]+(\\[[^]]*\\][[:space:]]+)?//' | awk '{print $1}' | sort -u",
      expected: `${where.base}/apt`,
      judge: (r) => {
        const uris = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
        return { pass: uris.length > 0 && uris.every((u) => u.replace(/\/+$/, '') === `${where.base}/apt`), seen: uris.join(' ') || 'no apt source' };
      },
      about: [host.name],
    });
  }
}

export type TransportFor = (host: string) => Promise<Transport>;

/** Run the probes: hosts in parallel, each host's probes in order (the NetworkManager restart comes last). */
export async function runProbes(
  site: Site,
  probes: Probe[],
  transportFor: TransportFor,
  opts: { onResult?: (r: ProbeResult) => void; notes?: string[]; lab?: boolean } = {},
): Promise<VerifyReport> {
  const started = Date.now();
  const byHost = new Map<string, Probe[]>();
  for (const p of probes) byHost.set(p.host, [...(byHost.get(p.host) ?? []), p]);
  const results: ProbeResult[] = [];
  await Promise.all(
    [...byHost.entries()].map(async ([host, list]) => {
      let t: Transport | undefined;
      let connectError: string | undefined;
      try {
        t = await transportFor(host);
      } catch (e) {
        connectError = e instanceof Error ? e.message : String(e);
      }
      // Probes that may need to wait (chrony) go after the quick ones, the disruptive NM restart last.
      const ordered = [...list].sort((a, b) => rank(a) - rank(b));
      for (const p of ordered) {
        const t0 = Date.now();
        let attempts = 0;
        let res: ProbeResult;
        if (opts.lab && p.labSkip) {
          res = { ...meta(p), seen: p.labSkip, status: 'skipped', seconds: 0, attempts: 0 };
        } else if (!t) {
          res = { ...meta(p), seen: `cannot reach ${host}: ${connectError}`, status: 'error', seconds: 0, attempts: 0 };
        } else {
          for (;;) {
            attempts++;
            try {
              const r = await t.run(p.command, { timeoutMs: 20_000 });
              const j = p.judge(r);
              res = { ...meta(p), seen: j.seen, status: j.pass ? 'pass' : 'fail', seconds: 0, attempts };
            } catch (e) {
              res = { ...meta(p), seen: e instanceof Error ? e.message : String(e), status: 'error', seconds: 0, attempts };
            }
            if (res.status === 'pass' || !p.retryFor || Date.now() - t0 > p.retryFor * 1000) break;
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
        res.seconds = (Date.now() - t0) / 1000;
        results.push(res);
        opts.onResult?.(res);
      }
    }),
  );
  // Report grouped by host (in the order hosts first appear), probes in checklist order.
  const hostOrder = new Map<string, number>();
  for (const p of probes) if (!hostOrder.has(p.host)) hostOrder.set(p.host, hostOrder.size);
  const order = new Map(probes.map((p, i) => [`${p.host}/${p.id}/${p.title}`, i]));
  const key = (r: ProbeResult) => (hostOrder.get(r.host) ?? 0) * 1e6 + (order.get(`${r.host}/${r.id}/${r.title}`) ?? 0);
  results.sort((a, b) => key(a) - key(b));
  return {
    site: site.metadata.name,
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    passed: results.filter((r) => r.status === 'pass').length,
    failed: results.filter((r) => r.status === 'fail' || r.status === 'error').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    results,
    notes: opts.notes ?? [],
  };
}

function rank(p: Probe): number {
  // The NetworkManager restart goes last: it would repair some breakage (a deleted route) before we saw it.
  if (p.id === 'node-resolv-survives-nm') return 3;
  if (p.retryFor) return 2;
  return 1;
}

function meta(p: Probe) {
  return { id: p.id, host: p.host, title: p.title, expected: p.expected, about: p.about };
}
