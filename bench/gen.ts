// A synthetic site with N hosts (admin + 3 control planes + workers) on a /16, for benchmarks.
export function bigSiteYaml(n: number): string {
  const hosts: string[] = [];
  const addr = (i: number) => `10.20.${Math.floor(i / 250)}.${(i % 250) + 2}`;
  hosts.push(`  - name: admin
    roles: [admin]
    os: rocky9
    interfaces:
      - { name: enp0s8, network: outside, address: 203.0.113.10/24 }
      - { name: enp0s9, network: inside, address: 10.20.255.1/16, management: true }`);
  for (let i = 1; i < n; i++) {
    const role = i <= 3 ? 'control-plane' : 'worker';
    hosts.push(`  - name: node${i}
    roles: [${role}]
    os: ${i % 2 ? 'rocky9' : 'debian12'}
    interfaces:
      - { name: enp0s9, network: inside, address: ${addr(i)}/16, management: true }`);
  }
  return `apiVersion: airlock/v1
kind: Site
metadata: { name: big }
networks:
  - { name: outside, cidr: 203.0.113.0/24, gateway: 203.0.113.1 }
  - { name: inside, cidr: 10.20.0.0/16 }
hosts:
${hosts.join('\n')}
services:
  gateway: { host: admin, outside: enp0s8, inside: enp0s9 }
  ntp: { server: admin, upstream: [pool.ntp.org], allow: [inside] }
  dns:
    server: admin
    forwarders: [198.51.100.53]
    allowQuery: [localhost, inside]
    allowRecursion: [localhost, inside]
    zone: { name: big.lab }
cluster:
  name: big
  kubernetesVersion: 1.30.4
  controlPlaneEndpoint: ${addr(1)}:6443
  podCIDR: 10.128.0.0/12
  serviceCIDR: 10.96.0.0/16
`;
}
