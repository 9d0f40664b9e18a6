// Calico: the operator's Installation, or the manifest-mode IPPool + BGPConfiguration, from the site's
// cluster.cni. Pure: text out.
import { stringify } from 'yaml';
import type { Site } from '../schema.ts';
import { mirrorRegistry } from './images.ts';

type Cluster = NonNullable<Site['cluster']>;

/** Calico's two encapsulation knobs for our one `encapsulation` field. */
export function encapsulationModes(enc: Cluster['cni']['encapsulation']): { ipipMode: string; vxlanMode: string } {
  switch (enc) {
    case 'IPIP':
      return { ipipMode: 'Always', vxlanMode: 'Never' };
    case 'IPIPCrossSubnet':
      return { ipipMode: 'CrossSubnet', vxlanMode: 'Never' };
    case 'VXLAN':
      return { ipipMode: 'Never', vxlanMode: 'Always' };
    case 'VXLANCrossSubnet':
      return { ipipMode: 'Never', vxlanMode: 'CrossSubnet' };
    case 'None':
      return { ipipMode: 'Never', vxlanMode: 'Never' };
  }
}

const doc = (o: unknown) => stringify(o, { lineWidth: 0 });

/** operator.tigera.io/v1 Installation (+ the APIServer) for `cni.install: operator`. */
export function calicoInstallation(site: Site): string {
  const c = site.cluster!;
  const registry = mirrorRegistry(site);
  const installation = {
    apiVersion: 'operator.tigera.io/v1',
    kind: 'Installation',
    metadata: { name: 'default' },
    spec: {
      ...(registry ? { registry: `${registry}/` } : {}),
      calicoNetwork: {
        bgp: c.cni.encapsulation === 'VXLAN' || c.cni.encapsulation === 'VXLANCrossSubnet' ? 'Disabled' : 'Enabled',
        ipPools: [
          {
            name: 'default-ipv4-ippool',
            cidr: c.podCIDR,
            blockSize: c.cni.blockSize,
            encapsulation: c.cni.encapsulation,
            natOutgoing: c.cni.natOutgoing ? 'Enabled' : 'Disabled',
            nodeSelector: 'all()',
          },
        ],
      },
    },
  };
  return `# Managed by airlock — Calico ${c.cni.version} via the Tigera operator.\n${doc(installation)}---\n${doc({ apiVersion: 'operator.tigera.io/v1', kind: 'APIServer', metadata: { name: 'default' }, spec: {} })}`;
}

/** projectcalico.org/v3 IPPool + BGPConfiguration for `cni.install: manifest` (apply with calicoctl or the CRDs). */
export function calicoPoolManifest(site: Site): string {
  const c = site.cluster!;
  const modes = encapsulationModes(c.cni.encapsulation);
  const pool = {
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPPool',
    metadata: { name: 'default-ipv4-ippool' },
    spec: { cidr: c.podCIDR, blockSize: c.cni.blockSize, ...modes, natOutgoing: c.cni.natOutgoing, nodeSelector: 'all()' },
  };
  const bgp = {
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: { nodeToNodeMeshEnabled: modes.vxlanMode === 'Never', asNumber: 64512, logSeverityScreen: 'Info' },
  };
  return `# Managed by airlock — Calico ${c.cni.version} (manifest mode): the pool calico-node would otherwise guess.\n${doc(pool)}---\n${doc(bgp)}`;
}

/**
 * The settings calico.yaml (manifest mode) takes from the environment of calico-node: CALICO_IPV4POOL_*.
 * Applied by patching the DaemonSet env, so the downloaded manifest stays byte-identical to upstream.
 */
export function calicoNodeEnv(site: Site): Record<string, string> {
  const c = site.cluster!;
  const modes = encapsulationModes(c.cni.encapsulation);
  return {
    CALICO_IPV4POOL_CIDR: c.podCIDR,
    CALICO_IPV4POOL_BLOCK_SIZE: String(c.cni.blockSize),
    CALICO_IPV4POOL_IPIP: modes.ipipMode,
    CALICO_IPV4POOL_VXLAN: modes.vxlanMode,
    CALICO_IPV4POOL_NAT_OUTGOING: String(c.cni.natOutgoing),
  };
}
