// chrony: the NTP server role (upstreams, allow, local stratum) and the client role (server <admin> iburst).
import type { Host } from '../schema.ts';
import type { Step } from '../plan.ts';
import { resolveNetRefs, type Topology } from '../topology.ts';
import { MANAGED, OS_PROFILES } from './os.ts';

export function chronyServerConf(topo: Topology, host: Host): string {
  const ntp = topo.site.services.ntp!;
  const os = OS_PROFILES[host.os];
  const lines = [`# ${MANAGED}`, '# NTP server for the site: syncs upstream, serves the inside networks.'];
  if (topo.site.offline || ntp.upstream.length === 0) lines.push('# No upstream: the site is offline; this host serves its own clock (local stratum).');
  for (const u of ntp.upstream) lines.push(`${/(^|\.)pool\./.test(`.${u}`) ? 'pool' : 'server'} ${u} iburst`);
  lines.push('');
  const allow = ntp.allow.includes('all') ? ['all'] : resolveNetRefs(topo, ntp.allow).map((c) => c.text);
  for (const a of allow) lines.push(a === 'all' ? 'allow all' : `allow ${a}`);
  lines.push(
    '# Keep serving time to the inside when every upstream is gone.',
    `local stratum ${ntp.localStratum}`,
    '',
    `driftfile ${os.chronyDrift}`,
    'makestep 1.0 3',
    'rtcsync',
    'logdir /var/log/chrony',
  );
  return `${lines.join('\n')}\n`;
}

export function chronyClientConf(serverAddress: string, host: Host): string {
  const os = OS_PROFILES[host.os];
  return `# ${MANAGED}
# NTP client: the site's only time source is the admin host.
server ${serverAddress} iburst

driftfile ${os.chronyDrift}
makestep 1.0 3
rtcsync
logdir /var/log/chrony
`;
}

export function chronySteps(topo: Topology, host: Host): Step[] {
  const ntp = topo.site.services.ntp;
  if (!ntp) return [];
  const os = OS_PROFILES[host.os];
  let content: string;
  if (ntp.server === host.name) content = chronyServerConf(topo, host);
  else {
    const server = topo.hosts.get(ntp.server)?.host;
    const addr = server && topo.serverAddressFor(server, host);
    if (!addr) return [];
    content = chronyClientConf(addr, host);
  }
  return [
    { kind: 'command', id: 'chrony-installed', title: 'chrony installed', check: os.queryPackage(os.packages.chrony), run: os.installCommand([os.packages.chrony]), packages: [{ name: os.packages.chrony }] },
    { kind: 'file', id: 'chrony-conf', title: ntp.server === host.name ? 'chrony as the site NTP server' : `chrony client of ${ntp.server}`, path: os.chronyConf, mode: '0644', content, compare: 'exact' },
    { kind: 'service', id: 'chrony-service', title: 'chrony running', unit: os.chronyUnit, restartOn: ['chrony-conf'] },
  ];
}
