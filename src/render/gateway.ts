// The admin host as NAT gateway: IP forwarding, masquerade out the outside link, forward rules, and
// firewalld zones/policy when firewalld runs. Every rule lives in a table/chains airlock owns and
// replaces whole, so re-applying never duplicates a rule (seed 000's repeated `iptables -A`).
import { ipToString } from '../net.ts';
import type { Step } from '../plan.ts';
import type { Topology } from '../topology.ts';
import { MANAGED } from './os.ts';

export const NFT_FILE = '/etc/airlock/nat.nft';
export const NFT_TABLE = 'airlock';
export const IPT_FILE = '/etc/airlock/iptables.rules';
export const IPT_EXPECT = '/etc/airlock/iptables.expect';
export const STATE_DIR = '/var/lib/airlock';

export function gatewaySteps(topo: Topology): Step[] {
  const gw = topo.gateway;
  const svc = topo.site.services.gateway;
  if (!gw || !svc) return [];
  const out = gw.outside.iface.name;
  const inn = gw.inside.iface.name;
  const insideNet = gw.inside.cidr?.text ?? `${ipToString(gw.inside.addr.network.base)}/${gw.inside.addr.prefix}`;

  const steps: Step[] = [
    {
      kind: 'file',
      id: 'sysctl-ip-forward',
      title: 'persist IPv4 forwarding',
      path: '/etc/sysctl.d/99-ipforward.conf',
      mode: '0644',
      content: `# ${MANAGED}\nnet.ipv4.ip_forward = 1\n`,
      compare: 'exact',
    },
    {
      kind: 'command',
      id: 'ip-forward-on',
      title: 'enable IPv4 forwarding now',
      check: '[ "$(sysctl -n net.ipv4.ip_forward)" = 1 ]',
      run: 'sysctl -q -p /etc/sysctl.d/99-ipforward.conf',
    },
  ];

  if (svc.firewall === 'nftables') {
    steps.push(
      { kind: 'file', id: 'nat-ruleset', title: `nftables table ${NFT_TABLE}: masquerade ${insideNet} out ${out}`, path: NFT_FILE, mode: '0644', content: nftRuleset(out, inn, insideNet), compare: 'exact' },
      {
        kind: 'command',
        id: 'nat-load',
        title: `load table ip ${NFT_TABLE} (atomic replace)`,
        // The live table must equal what we loaded last time: a rule added by hand (or a lost table) reloads it.
        check: `nft list table ip ${NFT_TABLE} 2>/dev/null | cmp -s - ${STATE_DIR}/nat.live`,
        run: `nft -f ${NFT_FILE} && mkdir -p ${STATE_DIR} && nft list table ip ${NFT_TABLE} > ${STATE_DIR}/nat.live`,
        after: ['nat-ruleset'],
      },
      natUnit(`/usr/sbin/nft -f ${NFT_FILE}`, `/usr/sbin/nft delete table ip ${NFT_TABLE}`),
    );
  } else {
    const { rules, expect } = iptablesRules(out, inn, insideNet);
    const jumps: [string, string, string][] = [
      ['nat', 'POSTROUTING', 'AIRLOCK-POSTROUTING'],
      ['filter', 'FORWARD', 'AIRLOCK-FORWARD'],
    ];
    const jumpCheck = jumps.map(([t, c, j]) => `[ "$(iptables -t ${t} -S ${c} | grep -c -- '-j ${j}$')" = 1 ]`).join(' && ');
    const jumpRun = jumps
      .map(([t, c, j]) => `while iptables -t ${t} -D ${c} -j ${j} 2>/dev/null; do :; done; iptables -t ${t} -I ${c} 1 -j ${j}`)
      .join('; ');
    steps.push(
      { kind: 'file', id: 'nat-ruleset', title: `iptables chains AIRLOCK-*: masquerade ${insideNet} out ${out}`, path: IPT_FILE, mode: '0644', content: rules, compare: 'exact' },
      { kind: 'file', id: 'nat-expect', title: 'what iptables-save must show for our chains', path: IPT_EXPECT, mode: '0644', content: expect, compare: 'exact' },
      {
        kind: 'command',
        id: 'nat-load',
        title: 'load AIRLOCK-* chains (restore --noflush replaces only our chains)',
        check: `{ iptables-save -t nat; iptables-save -t filter; } | grep -- '^-A AIRLOCK-' | cmp -s - ${IPT_EXPECT}`,
        run: `iptables-restore --noflush ${IPT_FILE}`,
        after: ['nat-ruleset'],
      },
      { kind: 'command', id: 'nat-jumps', title: 'exactly one jump from POSTROUTING and FORWARD into our chains', check: jumpCheck, run: jumpRun },
      natUnit(`/bin/sh -c '/usr/sbin/iptables-restore --noflush ${IPT_FILE} && ${jumpRun}'`, '/bin/true'),
    );
  }
  steps.push({ kind: 'service', id: 'airlock-nat-service', title: 'restore NAT rules at boot', unit: 'airlock-nat.service', restartOn: [] });
  // Seed 000's hand-made rule duplicates ours (and piles up with every re-run of `iptables -A`): remove it.
  const seedRule = `POSTROUTING -o ${out} -j MASQUERADE`;
  steps.push({
    kind: 'command',
    id: 'no-hand-nat-rule',
    title: `no hand-made "iptables -t nat -A ${seedRule}" left beside ours`,
    check: `! command -v iptables >/dev/null || ! iptables -t nat -C ${seedRule} 2>/dev/null`,
    run: `while iptables -t nat -D ${seedRule} 2>/dev/null; do :; done`,
  });
  steps.push(...firewalldSteps(out, inn));
  return steps;
}

function natUnit(start: string, stop: string): Step {
  return {
    kind: 'file',
    id: 'nat-unit',
    title: 'systemd unit that restores the NAT rules at boot',
    path: '/etc/systemd/system/airlock-nat.service',
    mode: '0644',
    content: `# ${MANAGED}
[Unit]
Description=airlock NAT gateway rules
After=network-pre.target nftables.service firewalld.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${start}
ExecStop=${stop}

[Install]
WantedBy=multi-user.target
`,
    compare: 'exact',
  };
}

export function nftRuleset(out: string, inn: string, insideNet: string): string {
  return `#!/usr/sbin/nft -f
# ${MANAGED}
# NAT gateway: ${insideNet} (${inn}) leaves through ${out} with the gateway's outside address.
# Declaring then deleting the table makes this file an atomic, idempotent replace.
table ip ${NFT_TABLE}
delete table ip ${NFT_TABLE}

table ip ${NFT_TABLE} {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr ${insideNet} oifname "${out}" masquerade
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "${inn}" oifname "${out}" ip saddr ${insideNet} accept
		iifname "${out}" oifname "${inn}" ct state established,related accept
		iifname "${out}" oifname "${inn}" drop
	}
}
`;
}

export function iptablesRules(out: string, inn: string, insideNet: string): { rules: string; expect: string } {
  // Written in iptables-save's canonical option order so the live chains can be compared line for line.
  const nat = [`-A AIRLOCK-POSTROUTING -s ${insideNet} -o ${out} -j MASQUERADE`];
  const filter = [
    `-A AIRLOCK-FORWARD -s ${insideNet} -i ${inn} -o ${out} -j ACCEPT`,
    `-A AIRLOCK-FORWARD -i ${out} -o ${inn} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A AIRLOCK-FORWARD -i ${out} -o ${inn} -j DROP`,
  ];
  const rules = `# ${MANAGED}
# Load with: iptables-restore --noflush ${IPT_FILE}  (declaring a chain flushes only that chain)
*nat
:AIRLOCK-POSTROUTING - [0:0]
${nat.join('\n')}
COMMIT
*filter
:AIRLOCK-FORWARD - [0:0]
${filter.join('\n')}
COMMIT
`;
  return { rules, expect: `${[...nat, ...filter].join('\n')}\n` };
}

/** When firewalld runs (Rocky's default), our rules alone are not enough: its own forward chain rejects. */
function firewalldSteps(out: string, inn: string): Step[] {
  const active = 'systemctl is-active -q firewalld';
  const both = (args: string) => `firewall-cmd -q ${args} && firewall-cmd -q --permanent ${args}`;
  return [
    {
      kind: 'command',
      id: 'firewalld-zones',
      title: `firewalld (if running): ${out} in zone external, ${inn} in zone internal`,
      check: `! ${active} || { [ "$(firewall-cmd --get-zone-of-interface=${out})" = external ] && [ "$(firewall-cmd --get-zone-of-interface=${inn})" = internal ]; }`,
      run: `${both(`--zone=external --change-interface=${out}`)} && ${both(`--zone=internal --change-interface=${inn}`)}`,
    },
    {
      kind: 'command',
      id: 'firewalld-services',
      title: 'firewalld (if running): allow ntp and dns from the inside',
      check: `! ${active} || { firewall-cmd -q --zone=internal --query-service=ntp && firewall-cmd -q --zone=internal --query-service=dns; }`,
      run: `${both('--zone=internal --add-service=ntp')} && ${both('--zone=internal --add-service=dns')}`,
    },
    {
      kind: 'command',
      id: 'firewalld-forward',
      title: 'firewalld (if running): policy airlock-egress forwards internal → external',
      check: `! ${active} || firewall-cmd -q --permanent --info-policy=airlock-egress >/dev/null 2>&1`,
      run: `firewall-cmd -q --permanent --new-policy=airlock-egress && firewall-cmd -q --permanent --policy=airlock-egress --add-ingress-zone=internal && firewall-cmd -q --permanent --policy=airlock-egress --add-egress-zone=external && firewall-cmd -q --permanent --policy=airlock-egress --set-target=ACCEPT && firewall-cmd -q --reload`,
    },
  ];
}
