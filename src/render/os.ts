// Where each OS family keeps things: the only place renderers learn paths and unit names.
import type { Os } from '../schema.ts';

export interface OsProfile {
  chronyConf: string;
  chronyDrift: string;
  chronyUnit: string;
  namedConf: string;
  namedDirectory: string;
  /** Directory for zone files named writes nothing into (primary zones we own). */
  zoneDir: string;
  namedOwner: string;
  namedUnit: string;
  nmConnections: string;
  nmConfD: string;
  /** Package names, for the plan's install step. */
  packages: { chrony: string; bind: string; bindUtils: string; nftables: string; iptables: string };
  installCommand: (pkgs: string[]) => string;
  queryPackage: (pkg: string) => string;
}

export const OS_PROFILES: Record<Os, OsProfile> = {
  rocky9: {
    chronyConf: '/etc/chrony.conf',
    chronyDrift: '/var/lib/chrony/drift',
    chronyUnit: 'chronyd.service',
    namedConf: '/etc/named.conf',
    namedDirectory: '/var/named',
    zoneDir: '/var/named',
    namedOwner: 'root:named',
    namedUnit: 'named.service',
    nmConnections: '/etc/NetworkManager/system-connections',
    nmConfD: '/etc/NetworkManager/conf.d',
    packages: { chrony: 'chrony', bind: 'bind', bindUtils: 'bind-utils', nftables: 'nftables', iptables: 'iptables-nft' },
    installCommand: (pkgs) => `dnf install -y ${pkgs.join(' ')}`,
    queryPackage: (pkg) => `rpm -q ${pkg} >/dev/null`,
  },
  debian12: {
    chronyConf: '/etc/chrony/chrony.conf',
    chronyDrift: '/var/lib/chrony/chrony.drift',
    chronyUnit: 'chrony.service',
    namedConf: '/etc/bind/named.conf',
    namedDirectory: '/var/cache/bind',
    zoneDir: '/var/lib/bind',
    namedOwner: 'root:bind',
    namedUnit: 'named.service',
    nmConnections: '/etc/NetworkManager/system-connections',
    nmConfD: '/etc/NetworkManager/conf.d',
    packages: { chrony: 'chrony', bind: 'bind9', bindUtils: 'bind9-dnsutils', nftables: 'nftables', iptables: 'iptables' },
    installCommand: (pkgs) => `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkgs.join(' ')}`,
    queryPackage: (pkg) => `dpkg-query -W -f='\${Status}' ${pkg} 2>/dev/null | grep -q 'install ok installed'`,
  },
};

export const MANAGED = 'Managed by airlock — edits here are replaced by `airlock apply`.';
