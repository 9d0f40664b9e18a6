// kubeadm's config files for a site: `kubeadm init --config` on the first control plane (InitConfiguration,
// ClusterConfiguration, KubeletConfiguration, KubeProxyConfiguration) and `kubeadm join --config` on every
// other node, in the kubeadm API of the site's Kubernetes minor (v1beta3 < 1.31 ≤ v1beta4). Seed 001 did
// this with flags by hand; here every value comes from the site. Plus the kubeadm validation rules that can
// be checked before a node is touched (transcribed from cmd/kubeadm/app/apis/kubeadm/validation and
// cmd/kubeadm/app/constants). Pure: text and problems out.
import { isScalar, stringify, type Pair } from 'yaml';
import { ipToString, overlaps, parseCidr, parseIp, size } from '../net.ts';
import { MANAGED } from '../render/os.ts';
import type { Host, Site } from '../schema.ts';
import { formatPath, type PathSegment } from '../source.ts';
import { topology, type IfaceFacts, type Topology } from '../topology.ts';
import { imageRepository } from './images.ts';
import { isBootstrapToken, isCaCertHash, isCertificateKey, parseTTL } from './pki.ts';
import { KUBE_PROXY_CONFIG_API, KUBELET_CONFIG_API, kubeadmApiVersion, parseKubeVersion, supportedRange, supportOf, type KubeadmApi } from './versions.ts';

type Cluster = NonNullable<Site['cluster']>;

/** The secrets and hashes the files carry (from `airlock pki`; fixed values in tests). */
export interface KubeadmMaterial {
  token: string;
  /** `sha256:<hex>`. */
  caCertHash: string;
  /** Needed for control-plane joins (certificates uploaded by `kubeadm init --upload-certs`). */
  certificateKey?: string;
}

/** One kubeadm rule the site breaks. `segments` is the field path for Source.locate; `path` its text. */
export interface KubeadmProblem {
  path: string;
  segments: PathSegment[];
  severity: 'error' | 'warning';
  message: string;
  hint: string;
}

/** The rendered files carry the bootstrap token (and certificate key): write them 0600. */
export const KUBEADM_FILE_MODE = '0600';
export const API_SERVER_PORT = 6443;
/** kubeadm's default bootstrap-token groups and usages (what `kubeadm init` would create). */
const TOKEN_GROUPS = ['system:bootstrappers:kubeadm:default-node-token'];
const TOKEN_USAGES = ['signing', 'authentication'];

// --- address helpers ---------------------------------------------------------------------------------

/** The `index`th address of a CIDR (base + index), or undefined when the CIDR is smaller than that. */
function indexedAddress(cidr: string, index: number): string | undefined {
  const c = parseCidr(cidr);
  if (!c || index >= size(c)) return undefined;
  return ipToString(c.base + index);
}

/** CoreDNS's ClusterIP: the 10th address of the service CIDR (kubeadm's GetDNSIP: 10.96.0.0/12 → 10.96.0.10). */
export function clusterDnsAddress(serviceCIDR: string): string | undefined {
  return indexedAddress(serviceCIDR, 10);
}

/** The `kubernetes` Service's ClusterIP: the first address of the service CIDR (10.96.0.1). */
export function firstServiceAddress(serviceCIDR: string): string | undefined {
  return indexedAddress(serviceCIDR, 1);
}

export function controlPlaneHosts(site: Site): Host[] {
  return site.hosts.filter((h) => h.roles.includes('control-plane'));
}

/** Where `kubeadm init` runs: the first control-plane host (the runbook's order). */
export function initControlPlane(site: Site): Host | undefined {
  return controlPlaneHosts(site)[0];
}

/** Hosts that run a kubelet: control planes and workers. */
export function clusterHosts(site: Site): Host[] {
  return site.hosts.filter((h) => h.roles.includes('control-plane') || h.roles.includes('worker'));
}

/**
 * The interface a node talks to the cluster on: its enabled one on the gateway's inside network (where
 * every node meets the admin host), else its management interface. Its address is the node's kubelet
 * `node-ip` and, on a control plane, the API server's advertise address.
 */
function nodeIface(topo: Topology, host: Host): IfaceFacts | undefined {
  const enabled = topo.ifacesOf(host).filter((f) => f.iface.enabled);
  const inside = topo.gateway?.inside.iface.network;
  return (inside !== undefined ? enabled.find((f) => f.iface.network === inside) : undefined) ?? enabled.find((f) => f.iface.management) ?? enabled[0];
}

/** The node's cluster address (see nodeIface); undefined when it has no enabled interface. */
export function nodeAddress(site: Site, host: Host): string | undefined {
  const f = nodeIface(topology(site), host);
  return f && ipToString(f.addr.ip);
}

function endpointHost(endpoint: string): string {
  return endpoint.replace(/:\d+$/, '');
}

function endpointWithPort(endpoint: string): string {
  return /:\d+$/.test(endpoint) ? endpoint : `${endpoint}:${API_SERVER_PORT}`;
}

/**
 * Every name and address the API server certificates must cover, for the given control planes (the union
 * over them; each control plane's own certificate has its own name and address plus the shared ones).
 * kubeadm adds the kubernetes.* names, the first service address, the node name and advertise address,
 * and controlPlaneEndpoint itself; cluster.certSANs are the extras. DNS names first, then addresses.
 */
export function apiServerSANs(site: Site, cpHosts: readonly Host[] = controlPlaneHosts(site)): string[] {
  const c = site.cluster;
  if (!c) return [];
  const topo = topology(site);
  const all = [
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    `kubernetes.default.svc.${c.dnsDomain.replace(/\.$/, '')}`,
    ...cpHosts.map((h) => h.name),
    firstServiceAddress(c.serviceCIDR),
    ...cpHosts.map((h) => {
      const f = nodeIface(topo, h);
      return f && ipToString(f.addr.ip);
    }),
    endpointHost(c.controlPlaneEndpoint),
    ...c.certSANs,
  ].filter((s): s is string => s !== undefined && s !== '');
  const unique = [...new Set(all)];
  const isIp = (s: string) => parseIp(s) !== undefined;
  return [...unique.filter((s) => !isIp(s)), ...unique.filter(isIp)];
}

/**
 * What goes into ClusterConfiguration.apiServer.certSANs: the endpoint's host, every control plane's
 * advertise address and cluster.certSANs (the rest kubeadm adds by itself). Listing every control plane
 * keeps one shared list valid on each of them.
 */
function configCertSANs(topo: Topology, c: Cluster, cps: readonly Host[]): string[] {
  const list = [
    endpointHost(c.controlPlaneEndpoint),
    ...cps.map((h) => {
      const f = nodeIface(topo, h);
      return f && ipToString(f.addr.ip);
    }),
    ...c.certSANs,
  ].filter((s): s is string => s !== undefined && s !== '');
  return [...new Set(list)];
}

export { imageRepository };

// --- YAML --------------------------------------------------------------------------------------------

const FIRST_KEYS = ['apiVersion', 'kind'];
const keyText = (k: unknown) => String(isScalar(k) ? k.value : k);
/** apiVersion and kind first, then every key in alphabetical order (like `kubeadm config print`). */
function byKey(a: Pair, b: Pair): number {
  const ka = keyText(a.key);
  const kb = keyText(b.key);
  const ia = FIRST_KEYS.indexOf(ka);
  const ib = FIRST_KEYS.indexOf(kb);
  if (ia >= 0 || ib >= 0) return (ia < 0 ? FIRST_KEYS.length : ia) - (ib < 0 ? FIRST_KEYS.length : ib);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
/**
 * YAML 1.1 quoting: kubeadm reads its files with sigs.k8s.io/yaml (YAML 1.1 rules), where a bare `on`,
 * `no` or `y` is a boolean; the 1.1 schema quotes every such string.
 */
const doc = (o: object) => stringify(o, { version: '1.1', sortMapEntries: byKey, lineWidth: 0 });

function documents(header: string[], docs: object[]): string {
  return `${header.map((l) => `# ${l}`).join('\n')}\n${docs.map(doc).join('---\n')}`;
}

/** kubeletExtraArgs: a string map in v1beta3, a list of {name, value} in v1beta4. */
function extraArgs(api: KubeadmApi, args: Record<string, string>): Record<string, string> | { name: string; value: string }[] {
  if (api === 'kubeadm.k8s.io/v1beta3') return args;
  return Object.keys(args)
    .sort()
    .map((name) => ({ name, value: args[name]! }));
}

// --- renderers ---------------------------------------------------------------------------------------

interface Ctx {
  site: Site;
  c: Cluster;
  topo: Topology;
  api: KubeadmApi;
  version: string;
}

function context(site: Site): Ctx {
  const c = site.cluster;
  if (!c) throw new Error('the site has no cluster section');
  const api = kubeadmApiVersion(c.kubernetesVersion);
  if (!api) throw new Error(`kubeadm cannot be configured for Kubernetes ${c.kubernetesVersion} (v1beta3 needs 1.22 or later)`);
  return { site, c, topo: topology(site), api, version: parseKubeVersion(c.kubernetesVersion)!.text };
}

function resolveHost(site: Site, host: Host | string): Host {
  const h = typeof host === 'string' ? site.hosts.find((x) => x.name === host) : host;
  if (!h) throw new Error(`no host named "${String(host)}" in the site`);
  return h;
}

function addressOf(ctx: Ctx, host: Host): string {
  const f = nodeIface(ctx.topo, host);
  if (!f) throw new Error(`host "${host.name}" has no enabled interface to give kubeadm as its address`);
  return ipToString(f.addr.ip);
}

function nodeRegistration(ctx: Ctx, host: Host) {
  const ip = addressOf(ctx, host);
  const isCp = host.roles.includes('control-plane');
  return {
    name: host.name,
    criSocket: ctx.c.criSocket,
    kubeletExtraArgs: extraArgs(ctx.api, { 'node-ip': ip }),
    // A control plane that is also a worker: no NoSchedule taint (an empty list; omitted = kubeadm's default taint).
    ...(isCp && host.roles.includes('worker') ? { taints: [] } : {}),
  };
}

/**
 * `kubeadm init --config` for the first control plane: InitConfiguration, ClusterConfiguration,
 * KubeletConfiguration and KubeProxyConfiguration as one multi-document YAML. Throws (a bug in the caller,
 * which checks first) for a site without a cluster, a host that is not a control plane, or one without an
 * address.
 */
export function kubeadmInitConfig(site: Site, cpHost: Host | string, material: KubeadmMaterial): string {
  const ctx = context(site);
  const { c, api } = ctx;
  const host = resolveHost(site, cpHost);
  if (!host.roles.includes('control-plane')) throw new Error(`host "${host.name}" is not a control plane`);
  const advertise = addressOf(ctx, host);
  const cps = controlPlaneHosts(site);
  const repo = imageRepository(site);
  const support = supportOf(c.kubernetesVersion);
  const nftablesGate = c.kubeProxy.mode === 'nftables' && support?.kubeProxyNftables === 'alpha';

  const init = {
    apiVersion: api,
    kind: 'InitConfiguration',
    bootstrapTokens: [
      {
        token: material.token,
        description: `airlock bootstrap token for cluster ${c.name}`,
        ttl: c.bootstrapTokenTTL,
        usages: TOKEN_USAGES,
        groups: TOKEN_GROUPS,
      },
    ],
    localAPIEndpoint: { advertiseAddress: advertise, bindPort: API_SERVER_PORT },
    nodeRegistration: nodeRegistration(ctx, host),
    ...(material.certificateKey ? { certificateKey: material.certificateKey } : {}),
  };
  const cluster = {
    apiVersion: api,
    kind: 'ClusterConfiguration',
    kubernetesVersion: `v${ctx.version}`,
    clusterName: c.name,
    controlPlaneEndpoint: endpointWithPort(c.controlPlaneEndpoint),
    networking: { podSubnet: c.podCIDR, serviceSubnet: c.serviceCIDR, dnsDomain: c.dnsDomain.replace(/\.$/, '') },
    apiServer: { certSANs: configCertSANs(ctx.topo, c, cps) },
    ...(repo ? { imageRepository: repo } : {}),
  };
  const kubelet = {
    apiVersion: KUBELET_CONFIG_API,
    kind: 'KubeletConfiguration',
    cgroupDriver: 'systemd',
    clusterDNS: [clusterDnsAddress(c.serviceCIDR) ?? ''],
    clusterDomain: c.dnsDomain.replace(/\.$/, ''),
    maxPods: c.maxPodsPerNode,
    // The nodes' resolv.conf points at the admin's BIND (written by airlock, NetworkManager dns=none).
    resolvConf: '/etc/resolv.conf',
  };
  const proxy = {
    apiVersion: KUBE_PROXY_CONFIG_API,
    kind: 'KubeProxyConfiguration',
    mode: c.kubeProxy.mode,
    clusterCIDR: c.podCIDR,
    // kube-proxy nftables mode is alpha in 1.29/1.30 (KEP-3866): behind a feature gate.
    ...(nftablesGate ? { featureGates: { NFTablesProxyMode: true } } : {}),
    // LoadBalancer pools answered by ARP (MetalLB L2) need strictARP in IPVS mode.
    ...(c.kubeProxy.mode === 'ipvs' && c.loadBalancer.pools.length > 0 ? { ipvs: { strictARP: true } } : {}),
  };
  return documents(
    [
      MANAGED,
      `kubeadm init --config <this file> --upload-certs on ${host.name}: Kubernetes v${ctx.version}, ${api.split('/')[1]}.`,
      `Holds the bootstrap token${material.certificateKey ? ' and certificate key' : ''}: keep it mode ${KUBEADM_FILE_MODE}.`,
    ],
    [init, cluster, kubelet, proxy],
  );
}

/**
 * `kubeadm join --config` for a worker, or for an extra control plane (controlPlane.localAPIEndpoint and
 * certificateKey, with which it fetches the certificates `kubeadm init --upload-certs` stored; without a
 * certificateKey the shared certificates must be copied to it by hand first). Throws for a site without a
 * cluster or a host that is neither control plane nor worker.
 */
export function kubeadmJoinConfig(site: Site, host: Host | string, material: KubeadmMaterial): string {
  const ctx = context(site);
  const { c, api } = ctx;
  const h = resolveHost(site, host);
  if (!h.roles.includes('control-plane') && !h.roles.includes('worker')) throw new Error(`host "${h.name}" is neither a control plane nor a worker`);
  const isCp = h.roles.includes('control-plane');
  const join = {
    apiVersion: api,
    kind: 'JoinConfiguration',
    discovery: {
      bootstrapToken: {
        apiServerEndpoint: endpointWithPort(c.controlPlaneEndpoint),
        token: material.token,
        caCertHashes: [material.caCertHash],
      },
    },
    nodeRegistration: nodeRegistration(ctx, h),
    ...(isCp
      ? {
          controlPlane: {
            localAPIEndpoint: { advertiseAddress: addressOf(ctx, h), bindPort: API_SERVER_PORT },
            ...(material.certificateKey ? { certificateKey: material.certificateKey } : {}),
          },
        }
      : {}),
  };
  return documents(
    [
      MANAGED,
      `kubeadm join --config <this file> on ${h.name} (${isCp ? 'control plane' : 'worker'}): Kubernetes v${ctx.version}, ${api.split('/')[1]}.`,
      `Holds the bootstrap token${isCp && material.certificateKey ? ' and certificate key' : ''}: keep it mode ${KUBEADM_FILE_MODE}.`,
    ],
    [join],
  );
}

// --- validation --------------------------------------------------------------------------------------

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = new RegExp(`^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`);
/** k8s.io/apimachinery IsDNS1123Subdomain. */
function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}
/** IsWildcardDNS1123Subdomain: "*." + a subdomain. */
function isWildcardSubdomain(s: string): boolean {
  return s.startsWith('*.') && isDns1123Subdomain(s.slice(2));
}
/** A loose transcription of distribution/reference for "<repo>/name:tag": host[:port] then lowercase path components. */
const IMAGE_REPO_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** kubeadm constants (cmd/kubeadm/app/constants/constants.go). */
const KUBEADM = {
  /** The largest service subnet is /12 for IPv4 (2^20 addresses): MaximumBitsForServiceSubnet. */
  maximumBitsForServiceSubnet: 20,
  /** "We need at least ten, because the DNS service is always at the tenth cluster clusterIP." */
  minimumAddressesInServiceSubnet: 10,
  minimumAddressesInPodSubnet: 14,
  /** kube-controller-manager's default --node-cidr-mask-size for IPv4. */
  defaultNodeMaskIPv4: 24,
  /** The node mask may be at most 16 bits longer than the pod subnet's: PodSubnetNodeMaskMaxDiff. */
  podSubnetNodeMaskMaxDiff: 16,
};

/**
 * The kubeadm rules a site can break, checked statically: what `kubeadm init`/`join` would reject (errors)
 * or what would bite later (warnings). Only cluster-level rules that check.ts does not already cover; token
 * and hash formats are in validateMaterial (they are not in the site file).
 */
export function validateKubeadm(site: Site): KubeadmProblem[] {
  const c = site.cluster;
  if (!c) return [];
  const out: KubeadmProblem[] = [];
  const add = (segments: PathSegment[], severity: KubeadmProblem['severity'], message: string, hint: string) =>
    out.push({ path: formatPath(segments), segments, severity, message, hint });
  const topo = topology(site);

  // Version.
  const v = parseKubeVersion(c.kubernetesVersion);
  const support = supportOf(c.kubernetesVersion);
  if (!support)
    add(['cluster', 'kubernetesVersion'], 'error', `Kubernetes ${v?.text ?? c.kubernetesVersion} is not supported: airlock knows kubeadm for ${supportedRange()}`, `use a ${supportedRange()} release (the kubeadm API, image list and package pins are only written down for those)`);

  // networking.serviceSubnet (ValidateIPNetFromString + ValidateServiceSubnetSize).
  const svc = parseCidr(c.serviceCIDR);
  if (svc) {
    if (32 - svc.prefix > KUBEADM.maximumBitsForServiceSubnet)
      add(['cluster', 'serviceCIDR'], 'error', `serviceCIDR ${svc.text} is too large: kubeadm allows at most a /${32 - KUBEADM.maximumBitsForServiceSubnet} for IPv4 (2^${KUBEADM.maximumBitsForServiceSubnet} addresses)`, `use a /${32 - KUBEADM.maximumBitsForServiceSubnet} or smaller, like kubeadm's default 10.96.0.0/12`);
    const dns = clusterDnsAddress(c.serviceCIDR);
    if (size(svc) < KUBEADM.minimumAddressesInServiceSubnet || dns === undefined)
      add(['cluster', 'serviceCIDR'], 'error', `serviceCIDR ${svc.text} has ${size(svc)} addresses: kubeadm needs at least ${KUBEADM.minimumAddressesInServiceSubnet}, and the cluster DNS address (the 10th, ${ipToString(svc.base + 10)}) falls outside it`, 'use at least a /24 (kubeadm default 10.96.0.0/12)');
  }

  // networking.podSubnet (ValidateIPNetFromString + ValidatePodSubnetNodeMask) and the pod/service overlap.
  const pod = parseCidr(c.podCIDR);
  if (pod) {
    const nodeMask = KUBEADM.defaultNodeMaskIPv4;
    if (size(pod) < KUBEADM.minimumAddressesInPodSubnet || pod.prefix > nodeMask)
      add(['cluster', 'podCIDR'], 'error', `podCIDR ${pod.text} is smaller than one node's /${nodeMask} (kube-controller-manager's node-cidr-mask-size); kubeadm rejects it`, `use a /${nodeMask} or larger (a /16 is usual)`);
    else if (nodeMask - pod.prefix > KUBEADM.podSubnetNodeMaskMaxDiff)
      add(['cluster', 'podCIDR'], 'error', `podCIDR ${pod.text} is more than ${KUBEADM.podSubnetNodeMaskMaxDiff} bits larger than the /${nodeMask} node mask; kubeadm rejects it`, `use a /${nodeMask - KUBEADM.podSubnetNodeMaskMaxDiff} or smaller`);
    if (svc && overlaps(pod, svc))
      add(['cluster', 'podCIDR'], 'error', `podCIDR ${pod.text} overlaps serviceCIDR ${svc.text}: pods would get ClusterIP addresses (seed 001's --pod-network-cidr=10.96.0.0/12 is the default service CIDR)`, 'pick disjoint ranges, like podCIDR 10.244.0.0/16 with serviceCIDR 10.96.0.0/12');
  }

  // networking.dnsDomain (IsDNS1123Subdomain).
  const domain = c.dnsDomain.replace(/\.$/, '');
  if (!isDns1123Subdomain(domain))
    add(['cluster', 'dnsDomain'], 'error', `dnsDomain "${c.dnsDomain}" is not a lowercase DNS subdomain`, 'use lowercase labels of a-z, 0-9 and "-", like "cluster.local"');

  // bootstrapTokens[0].ttl.
  const ttl = parseTTL(c.bootstrapTokenTTL);
  if (ttl === undefined)
    add(['cluster', 'bootstrapTokenTTL'], 'error', `bootstrapTokenTTL "${c.bootstrapTokenTTL}" is not a duration kubeadm reads`, 'use Go duration syntax, like "24h", "2h30m" or "90m" (no "d" unit)');
  else if (ttl === 0)
    add(['cluster', 'bootstrapTokenTTL'], 'warning', 'a bootstrap token TTL of 0 never expires: anyone holding the token can join nodes forever', 'use a lifetime that covers the joins, like "24h"; make a new token later with kubeadm token create');

  // nodeRegistration.criSocket (ValidateSocketPath: only unix:// URLs).
  if (!/^unix:\/\/\/./.test(c.criSocket))
    add(['cluster', 'criSocket'], c.criSocket.startsWith('/') ? 'warning' : 'error', `criSocket "${c.criSocket}" is not a unix:// URL${c.criSocket.startsWith('/') ? ' (kubeadm adds the scheme and warns)' : ': kubeadm only supports the unix scheme'}`, 'use "unix:///run/containerd/containerd.sock"');

  // apiServer.certSANs (ValidateCertSANs).
  c.certSANs.forEach((san, i) => {
    if (!isDns1123Subdomain(san) && !isWildcardSubdomain(san) && parseIp(san) === undefined)
      add(['cluster', 'certSANs', i], 'error', `certSAN "${san}" is not an IP address, a lowercase DNS name or a "*." wildcard name`, 'use an address like "192.168.10.11" or a name like "k8s-api.example.lab"');
  });

  // imageRepository (ValidateImageRepository), and an offline site pulling from registry.k8s.io.
  const repo = imageRepository(site);
  if (c.imageRepository && !IMAGE_REPO_RE.test(c.imageRepository))
    add(['cluster', 'imageRepository'], 'error', `imageRepository "${c.imageRepository}" is not a valid image repository`, 'use "<registry>[:port]/<path>" with a lowercase path, like "192.168.10.10:5000/k8s"');
  if (!repo && site.offline)
    add(['cluster'], 'warning', 'the site is offline and has neither services.mirrors nor cluster.imageRepository: kubeadm would pull from registry.k8s.io', 'add services.mirrors (imageRepository becomes <mirror>:<port>/k8s) or set cluster.imageRepository');

  // kube-proxy mode vs. version.
  if (c.kubeProxy.mode === 'nftables' && support) {
    if (support.kubeProxyNftables === 'unavailable')
      add(['cluster', 'kubeProxy', 'mode'], 'error', `kube-proxy has no nftables mode in Kubernetes ${v!.minorText} (alpha from 1.29, beta from 1.31)`, 'use mode iptables or ipvs, or Kubernetes 1.31 or later');
    else if (support.kubeProxyNftables === 'alpha')
      add(['cluster', 'kubeProxy', 'mode'], 'warning', `kube-proxy's nftables mode is alpha in Kubernetes ${v!.minorText}: airlock turns on the NFTablesProxyMode feature gate`, 'use mode iptables, or Kubernetes 1.31 or later where it is beta; check that the CNI works with nftables kube-proxy');
  }

  // localAPIEndpoint.advertiseAddress / node-ip: on a network the other nodes are on.
  const nodes = clusterHosts(site);
  const inside = topo.gateway?.inside.iface.network;
  for (const h of nodes) {
    const f = nodeIface(topo, h);
    const hostIndex = site.hosts.indexOf(h);
    const what = h.roles.includes('control-plane') ? 'advertise address and node-ip' : 'node-ip';
    if (!f) {
      add(['hosts', hostIndex, 'interfaces'], 'error', `host "${h.name}" has no enabled interface for its kubelet ${what}`, 'enable the interface on the nodes\' network');
      continue;
    }
    // A single-node cluster has nobody to reach; a node off the gateway's inside network is check.ts's node-no-gateway-path.
    const others = nodes.filter((o) => o !== h);
    if (others.length === 0) continue;
    const shared = others.some((o) => topo.ifacesOf(o).some((g) => g.iface.enabled && g.iface.network === f.iface.network));
    if (!shared) {
      const where = [...new Set(others.flatMap((o) => topo.ifacesOf(o).filter((g) => g.iface.enabled).map((g) => g.iface.network)))];
      add(['hosts', hostIndex, 'interfaces', f.ifaceIndex, 'address'], 'error', `${h.name}'s ${what} ${ipToString(f.addr.ip)} is on network "${f.iface.network}", which no other cluster node is on${where.length ? ` (they are on ${where.join(', ')})` : ''}`, `give ${h.name} an enabled interface on the nodes' network${inside ? ` ("${inside}", the gateway's inside)` : ''} and make it the management one`);
    }
  }
  return out;
}

/** Formats of the material (the pki directory, not the site): paths are the pki file names. */
export function validateMaterial(site: Site, material: KubeadmMaterial): KubeadmProblem[] {
  const out: KubeadmProblem[] = [];
  const add = (file: string, message: string, hint: string) => out.push({ path: file, segments: [file], severity: 'error', message, hint });
  if (!isBootstrapToken(material.token))
    add('token', 'the bootstrap token is not in kubeadm\'s format [a-z0-9]{6}.[a-z0-9]{16}', 'make one with airlock pki (or kubeadm token generate)');
  if (!isCaCertHash(material.caCertHash))
    add('ca.crt', `the CA hash "${material.caCertHash}" is not sha256:<64 hex digits>`, 'derive it from ca.crt (airlock pki does)');
  if (material.certificateKey !== undefined && !isCertificateKey(material.certificateKey))
    add('certificate-key', 'the certificate key is not 32 bytes of hex (64 characters)', 'make one with airlock pki (or kubeadm certs certificate-key)');
  if (material.certificateKey === undefined && controlPlaneHosts(site).length > 1)
    add('certificate-key', 'the site has more than one control plane but no certificate key: the extra control planes cannot fetch the shared certificates', 'let airlock pki make a certificate key; uploaded certificates expire after 2 hours, so join the control planes soon after init');
  return out;
}
