// Host networking: NetworkManager keyfiles (or Debian ifupdown), DNS client (NM dns=none + resolv.conf).
// Order matters: the default route via the gateway is in place and verified before the outside link goes down.
import { ipToString } from '../net.ts';
import type { Step } from '../plan.ts';
import type { Host } from '../schema.ts';
import type { IfaceFacts, Topology } from '../topology.ts';
import { MANAGED, OS_PROFILES } from './os.ts';

export const ROUTE_METRIC = 200;

export function nmKeyfile(f: IfaceFacts, opts: { route?: string; dns?: string[]; search?: string }): string {
  const lines = [
    `# ${MANAGED}`,
    '# No uuid: NetworkManager derives a stable one from this file name.',
    '[connection]',
    `id=${f.iface.name}`,
    'type=ethernet',
    `interface-name=${f.iface.name}`,
    `autoconnect=${f.iface.enabled ? 'true' : 'false'}`,
    '',
    '[ethernet]',
    '',
    '[ipv4]',
    'method=manual',
    `address1=${f.iface.address}`,
  ];
  if (opts.route) lines.push(`route1=0.0.0.0/0,${opts.route},${ROUTE_METRIC}`);
  if (!f.iface.enabled || !opts.route) lines.push('never-default=true');
  if (opts.dns?.length) lines.push(`dns=${opts.dns.join(';')};`, 'ignore-auto-dns=true');
  if (opts.search) lines.push(`dns-search=${opts.search};`);
  lines.push('', '[ipv6]', 'method=disabled', '');
  return lines.join('\n');
}

export function ifupdownStanza(f: IfaceFacts, route?: string): string {
  const lines = [`# ${MANAGED}`];
  if (f.iface.enabled) {
    lines.push(`auto ${f.iface.name}`, `iface ${f.iface.name} inet static`, `\taddress ${f.iface.address}`);
    if (route) lines.push(`\tpost-up ip route replace default via ${route} dev ${f.iface.name} metric ${ROUTE_METRIC}`);
  } else {
    lines.push('# Disabled by airlock: no "auto" line, so it stays down across reboots.', `iface ${f.iface.name} inet manual`);
  }
  return `${lines.join('\n')}\n`;
}

/** Node links: inside links up with the default route via the gateway (verified), then outside links down. */
export function nodeNetworkSteps(topo: Topology, host: Host): Step[] {
  const gw = topo.gateway;
  const dnsServer = topo.site.services.dns && topo.hosts.get(topo.site.services.dns.server)?.host;
  const dnsAddr = dnsServer ? topo.serverAddressFor(dnsServer, host) : undefined;
  const search = topo.site.services.dns?.zone?.name.replace(/\.$/, '');
  const ifaces = topo.ifacesOf(host);
  const up = ifaces.filter((f) => f.iface.enabled).sort((a, b) => Number(b.iface.management) - Number(a.iface.management));
  const down = ifaces.filter((f) => !f.iface.enabled);
  const routeFor = (f: IfaceFacts) => (gw && f.iface.network === gw.inside.iface.network ? ipToString(gw.inside.addr.ip) : undefined);
  const nm = host.networkConfig === 'networkmanager';
  const os = OS_PROFILES[host.os];
  const steps: Step[] = [];

  for (const f of up) {
    const route = routeFor(f);
    const name = f.iface.name;
    const path = nm ? `${os.nmConnections}/${name}.nmconnection` : `/etc/network/interfaces.d/airlock-${name}`;
    const content = nm ? nmKeyfile(f, { route, dns: dnsAddr ? [dnsAddr] : [], search }) : ifupdownStanza(f, route);
    const fileId = `link-${name}`;
    steps.push({ kind: 'file', id: fileId, title: `${name}: ${f.iface.address}${route ? `, default via ${route} metric ${ROUTE_METRIC}` : ''}`, path, mode: nm ? '0600' : '0644', content, compare: 'exact' });
    const addrCheck = `ip -4 -o addr show dev ${name} | grep -qw 'inet ${f.iface.address}'`;
    const routeCheck = route ? ` && ip -4 route show default | grep -q 'via ${route} dev ${name} .*metric ${ROUTE_METRIC}'` : '';
    steps.push({
      kind: 'command',
      id: `link-${name}-up`,
      title: `${name} carries ${f.iface.address}${route ? ` and the default route via ${route}` : ''}`,
      check: addrCheck + routeCheck,
      // reapply changes a live connection in place (the management link is never taken down); up if not active yet.
      run: nm
        ? `nmcli connection load ${path} && { nmcli --wait 30 device reapply ${name} 2>/dev/null || nmcli --wait 30 connection up id ${name}; }`
        : `ifup ${name} 2>/dev/null || true; ip addr replace ${f.iface.address} dev ${name}${route ? ` && ip route replace default via ${route} dev ${name} metric ${ROUTE_METRIC}` : ''}`,
      after: [fileId],
    });
    if (route) {
      steps.push({
        kind: 'assert',
        id: `gateway-reachable-${name}`,
        title: `the gateway ${route} answers on ${name} (before any other link goes down)`,
        check: `ping -c 1 -W 2 -I ${name} ${route} >/dev/null`,
        timeout: 15,
      });
    }
  }
  for (const f of down) {
    const name = f.iface.name;
    const path = nm ? `${os.nmConnections}/${name}.nmconnection` : `/etc/network/interfaces.d/airlock-${name}`;
    const fileId = `link-${name}`;
    steps.push({ kind: 'file', id: fileId, title: `${name}: disabled, no autoconnect`, path, mode: nm ? '0600' : '0644', content: nm ? nmKeyfile(f, {}) : ifupdownStanza(f), compare: 'exact' });
    steps.push({
      kind: 'command',
      id: `link-${name}-down`,
      title: `${name} is down (seed 000: nmcli connection down ${name})`,
      check: nm
        ? `! nmcli -t -f DEVICE connection show --active | grep -qx ${name}`
        : `! ip -4 -o addr show dev ${name} | grep -q inet`,
      run: nm
        ? `nmcli connection load ${path}; nmcli --wait 30 connection down id ${name}`
        : `ifdown ${name} 2>/dev/null; ip -4 addr flush dev ${name}; ip link set ${name} down`,
      after: [fileId],
    });
  }
  return steps;
}

/** DNS client: NetworkManager stops rewriting resolv.conf (dns=none), resolv.conf points at the site DNS. */
export function dnsClientSteps(topo: Topology, host: Host): Step[] {
  const dns = topo.site.services.dns;
  if (!dns) return [];
  const server = topo.hosts.get(dns.server)?.host;
  if (!server) return [];
  const addr = server === host ? '127.0.0.1' : topo.serverAddressFor(server, host);
  if (!addr) return [];
  const search = dns.zone?.name.replace(/\.$/, '');
  const os = OS_PROFILES[host.os];
  const steps: Step[] = [];
  if (host.networkConfig === 'networkmanager') {
    steps.push(
      { kind: 'file', id: 'nm-dns-none', title: 'NetworkManager leaves resolv.conf alone (dns=none)', path: `${os.nmConfD}/99-dns-none.conf`, mode: '0644', content: `# ${MANAGED}\n[main]\ndns=none\n`, compare: 'exact' },
      {
        kind: 'command',
        id: 'nm-dns-none-live',
        title: 'NetworkManager runs with dns=none',
        check: 'NetworkManager --print-config 2>/dev/null | grep -qx "dns=none"',
        run: 'systemctl reload NetworkManager || systemctl restart NetworkManager',
        after: ['nm-dns-none'],
      },
    );
  }
  steps.push({
    kind: 'file',
    id: 'resolv-conf',
    title: `resolv.conf → ${addr}`,
    path: '/etc/resolv.conf',
    mode: '0644',
    content: `# ${MANAGED}\n${search ? `search ${search}\n` : ''}nameserver ${addr}\noptions timeout:2 attempts:2\n`,
    compare: 'exact',
  });
  return steps;
}
