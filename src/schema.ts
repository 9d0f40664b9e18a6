// The site.yaml schema (apiVersion airlock/v1, kind Site). Shapes only: cross-field rules live in check.ts.
import { z } from 'zod';
import { parseCidr, parseAddressCidr, parseIp } from './net.ts';

const name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a lowercase DNS label (a-z, 0-9, "-"), like "cp1"');
const ifname = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,15}$/, 'a Linux interface name of at most 15 characters, like "enp0s9"');
const cidr = z.string().refine((s) => parseCidr(s) !== undefined, {
  message: 'an IPv4 network in CIDR form, like "192.168.10.0/24" (no host bits set)',
});
const addressCidr = z.string().refine((s) => parseAddressCidr(s) !== undefined, {
  message: 'an IPv4 address with prefix length, like "192.168.10.11/24"',
});
const ipv4 = z.string().refine((s) => parseIp(s) !== undefined, {
  message: 'an IPv4 address, like "192.168.10.10"',
});
const hostname = z
  .string()
  .regex(/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/, 'a host name or IPv4 address');
const netRef = z.string().min(1, 'a network name from networks[] or a CIDR');

export const Role = z.enum(['admin', 'control-plane', 'worker']);
export const Os = z.enum(['rocky9', 'debian12']);

export const Network = z.strictObject({
  name,
  cidr,
  gateway: ipv4.optional(),
  description: z.string().optional(),
});

export const Interface = z.strictObject({
  name: ifname,
  network: name,
  address: addressCidr,
  enabled: z.boolean().default(true),
  management: z.boolean().default(false),
});

export const Host = z.strictObject({
  name,
  roles: z.array(Role).min(1, 'at least one role: admin, control-plane or worker'),
  os: Os,
  /** How the host's network is configured: NetworkManager keyfiles (default) or Debian ifupdown. */
  networkConfig: z.enum(['networkmanager', 'ifupdown']).default('networkmanager'),
  interfaces: z.array(Interface).min(1, 'at least one interface'),
  ssh: z
    .strictObject({
      user: z.string().default('root'),
      port: z.number().int().min(1).max(65535).default(22),
      address: ipv4.optional(),
    })
    .optional(),
});

export const Gateway = z.strictObject({
  host: name,
  outside: ifname,
  inside: ifname,
  /** Which packet filter carries the NAT rules: our own nftables table (default) or iptables chains. */
  firewall: z.enum(['nftables', 'iptables']).default('nftables'),
});

export const Ntp = z.strictObject({
  server: name,
  upstream: z.array(hostname).default([]),
  allow: z.array(netRef).default([]),
  localStratum: z.number().int().min(1).max(15).default(10),
});

export const DnsRecord = z.strictObject({
  name: z.string().regex(/^(@|[a-z0-9*]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*)$/, 'a name relative to the zone, like "registry"'),
  address: ipv4,
});

export const Zone = z.strictObject({
  name: hostname,
  ttl: z.number().int().min(1).max(2147483647).default(3600),
  /** Extra A records; every host and service name gets one automatically. */
  records: z.array(DnsRecord).default([]),
});

export const Dns = z.strictObject({
  server: name,
  forwarders: z.array(ipv4).default([]),
  allowQuery: z.array(netRef).default([]),
  allowRecursion: z.array(netRef).default([]),
  dnssecValidation: z.enum(['auto', 'yes', 'no']).default('auto'),
  zone: Zone.optional(),
});

export const MirrorUser = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9._-]{0,31}$/, 'a user name like "ci"'),
  /** A password hash (scrypt, as written by `airlock passwd`); never a clear-text password. */
  passwordHash: z.string().min(1),
});

/** One airlock mirror server on the admin host: OCI registry, APT, YUM, PyPI, Helm, GOPROXY and files. */
export const Mirrors = z.strictObject({
  host: name,
  port: z.number().int().min(1).max(65535).default(5000),
  /** Serve HTTPS with a certificate from the site CA that airlock generates. */
  tls: z.boolean().default(false),
  /** Where the content-addressed store lives on the mirror host. */
  storeDir: z.string().regex(/^\/[^\0]*$/, 'an absolute path').default('/var/lib/airlock/store'),
  /** Users allowed to push/upload (reads are anonymous). */
  auth: z.strictObject({ users: z.array(MirrorUser).default([]) }).optional(),
  /** Upstream registries the nodes' containerd is pointed away from, to this mirror. */
  registries: z.array(hostname).default(['docker.io', 'registry.k8s.io', 'quay.io', 'ghcr.io']),
});

export const Services = z.strictObject({
  gateway: Gateway.optional(),
  ntp: Ntp.optional(),
  dns: Dns.optional(),
  mirrors: Mirrors.optional(),
});

export const Cluster = z.strictObject({
  name: name,
  kubernetesVersion: z.string().regex(/^v?\d+\.\d+\.\d+$/, 'a version like "1.30.4"'),
  controlPlaneEndpoint: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'host[:port], like "192.168.10.11:6443"'),
  podCIDR: cidr,
  serviceCIDR: cidr.default('10.96.0.0/12'),
  dnsDomain: hostname.default('cluster.local'),
  maxPodsPerNode: z.number().int().min(1).max(2048).default(110),
  cni: z
    .strictObject({
      plugin: z.literal('calico').default('calico'),
      /** Calico release, like "v3.28.2". */
      version: z.string().regex(/^v\d+\.\d+\.\d+$/, 'a Calico release like "v3.28.2"').default('v3.28.2'),
      /** How Calico is installed: the plain manifest (seed 001's calico.yaml) or the Tigera operator. */
      install: z.enum(['manifest', 'operator']).default('manifest'),
      natOutgoing: z.boolean().default(true),
      blockSize: z.number().int().min(20).max(32).default(26),
      encapsulation: z.enum(['IPIP', 'IPIPCrossSubnet', 'VXLAN', 'VXLANCrossSubnet', 'None']).default('IPIP'),
    })
    .prefault({}),
  kubeProxy: z.strictObject({ mode: z.enum(['iptables', 'ipvs', 'nftables']).default('iptables') }).prefault({}),
  loadBalancer: z.strictObject({ pools: z.array(cidr).default([]) }).prefault({}),
  /** Lifetime of the bootstrap token kubeadm join uses, like "24h" or "2h30m". */
  bootstrapTokenTTL: z.string().regex(/^(\d+h)?(\d+m)?(\d+s)?$/, 'a duration like "24h"').refine((v) => v !== '', 'a duration like "24h"').default('24h'),
  criSocket: z.string().default('unix:///run/containerd/containerd.sock'),
  /** Extra names/addresses for the API server certificate. */
  certSANs: z.array(z.string()).default([]),
  /** Where kubeadm pulls control-plane images from; default: the site mirror (<mirror>:<port>/k8s). */
  imageRepository: z.string().optional(),
});

const url = z.string().regex(/^https?:\/\/[^\s/$.?#][^\s]*$/, 'an http(s) URL, like "https://pypi.org/simple/"');
const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, 'a sha256 as 64 lowercase hex digits');
/** An image reference with its registry, like "docker.io/library/nginx:1.25". */
const imageRef = z
  .string()
  .regex(/^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[a-f0-9]{64})$/, 'an image reference with registry and tag, like "docker.io/library/nginx:1.25"');

/** Where the connected side fetches a bundle's artifacts from. */
export const BundleSources = z.strictObject({
  /** Upstream registry host → base URL to fetch from instead (a pull-through cache, a test registry). */
  registries: z.record(hostname, url).default({}),
  /** APT sources for debian12 hosts, as deb822 or one-line entries; default: this machine's own apt sources. */
  apt: z.array(z.string().min(1)).optional(),
  /**
   * The nodes' dpkg status (a copy of a node's /var/lib/dpkg/status), an absolute path: what is installed
   * there is left out of the Debian closure. Default: none — the full closure, as for an empty root.
   */
  aptBaseStatus: z.string().regex(/^\/[^\0]*$/, 'an absolute path to a dpkg status file').optional(),
  /** YUM/DNF repositories for rocky9 hosts. */
  yum: z.array(z.strictObject({ name, baseurl: url })).default([]),
  /** A PEP 503/691 simple index. */
  pypi: url.default('https://pypi.org/simple/'),
  /** Helm chart repositories by name. */
  helm: z.array(z.strictObject({ name, url })).default([]),
  /** A GOPROXY base URL. */
  goproxy: url.default('https://proxy.golang.org'),
});

/** What the offline side needs beyond what airlock derives from the site (images, node packages). */
export const Bundle = z.strictObject({
  sources: BundleSources.prefault({}),
  images: z.array(imageRef).default([]),
  /** Extra OS packages per host OS (dependencies are resolved when the bundle is made). */
  packages: z.strictObject({ debian12: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$/, 'a Debian package name, optionally =version')).default([]), rocky9: z.array(z.string().min(1)).default([]) }).prefault({}),
  /** Python distributions as "name==version". */
  python: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.!+_-]+$/, 'a pinned requirement like "requests==2.31.0"')).default([]),
  charts: z.array(z.strictObject({ repo: name, name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a chart name'), version: z.string().min(1) })).default([]),
  /** Go modules as "path@version". */
  goModules: z.array(z.string().regex(/^[A-Za-z0-9.~_/-]+@v\d+\.\d+\.\d+[A-Za-z0-9.+-]*$/, 'a module like "example.com/mod@v1.2.3"')).default([]),
  files: z.array(z.strictObject({ url, sha256: sha256Hex, name: z.string().regex(/^[A-Za-z0-9._+-]+(\/[A-Za-z0-9._+-]+)*$/, 'a relative file name like "tools/helm.tgz"').optional() })).default([]),
  /** Fingerprint (sha256 of the raw ed25519 public key) of the key trusted to sign this site's bundles. */
  signer: sha256Hex.optional(),
});

export const Site = z.strictObject({
  apiVersion: z.literal('airlock/v1'),
  kind: z.literal('Site'),
  metadata: z.strictObject({ name, description: z.string().optional() }),
  /** `offline: true` declares that nothing upstream is reachable: no forwarders or NTP upstreams apply. */
  offline: z.boolean().default(false),
  networks: z.array(Network).min(1, 'at least one network'),
  hosts: z.array(Host).min(1, 'at least one host'),
  services: Services.prefault({}),
  cluster: Cluster.optional(),
  bundle: Bundle.prefault({}),
});

export type Site = z.output<typeof Site>;
export type Network = z.output<typeof Network>;
export type Host = z.output<typeof Host>;
export type Interface = z.output<typeof Interface>;
export type Role = z.output<typeof Role>;
export type Os = z.output<typeof Os>;
export type Cluster = z.output<typeof Cluster>;
export type Dns = z.output<typeof Dns>;
export type Ntp = z.output<typeof Ntp>;
export type Gateway = z.output<typeof Gateway>;
export type Mirrors = z.output<typeof Mirrors>;
export type Bundle = z.output<typeof Bundle>;
export type BundleSources = z.output<typeof BundleSources>;
