// Kubernetes versions airlock can bootstrap, and which config API each minor's kubeadm reads. The table is
// data; each row names where it was written down from. Pure.

export type KubeadmApi = 'kubeadm.k8s.io/v1beta3' | 'kubeadm.k8s.io/v1beta4';

/** The component-config APIs kubeadm passes through (unchanged across 1.28–1.32). */
export const KUBELET_CONFIG_API = 'kubelet.config.k8s.io/v1beta1';
export const KUBE_PROXY_CONFIG_API = 'kubeproxy.config.k8s.io/v1alpha1';

export interface KubeVersion {
  major: number;
  minor: number;
  patch: number;
  /** "1.30.4" (no leading "v"). */
  text: string;
  /** "1.30". */
  minorText: string;
}

/** "1.30.4" or "v1.30.4" → its parts; undefined for anything else (pre-releases included). */
export function parseKubeVersion(text: string): KubeVersion | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { major, minor, patch, text: `${major}.${minor}.${patch}`, minorText: `${major}.${minor}` };
}

export interface MinorSupport {
  /** The kubeadm config API airlock renders for this minor. */
  kubeadmApi: KubeadmApi;
  /** kube-proxy's nftables mode in this minor (KEP-3866: alpha 1.29 behind NFTablesProxyMode, beta 1.31). */
  kubeProxyNftables: 'unavailable' | 'alpha' | 'beta';
  /** Where the row comes from. */
  source: string;
}

/**
 * Supported minors (the same range as KUBE_IMAGES in images.ts, which holds the image tags).
 *
 * kubeadm API per minor:
 * - v1beta3: since kubeadm 1.22; deprecated by v1beta4 in 1.31 ("will be removed in 1.34 or later", package
 *   doc of k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta3).
 * - v1beta4: added in kubeadm 1.31 (kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4, "v1.31:"
 *   changes). The change that matters here: `extraArgs` / `nodeRegistration.kubeletExtraArgs` went from a
 *   string map to a list of {name, value}.
 * We render v1beta4 from 1.31 on, although 1.31–1.33 still read v1beta3: it is the API those releases print
 * with `kubeadm config print init-defaults`, and v1beta3 goes away.
 *
 * nftables: kubernetes/enhancements keps/sig-network/3866-nftables-proxy/kep.yaml (alpha v1.29, beta v1.31).
 */
export const SUPPORTED_MINORS: Readonly<Record<string, MinorSupport>> = {
  '1.28': { kubeadmApi: 'kubeadm.k8s.io/v1beta3', kubeProxyNftables: 'unavailable', source: 'kubeadm v1.28 (v1beta3 current)' },
  '1.29': { kubeadmApi: 'kubeadm.k8s.io/v1beta3', kubeProxyNftables: 'alpha', source: 'kubeadm v1.29 (v1beta3 current); KEP-3866 alpha' },
  '1.30': { kubeadmApi: 'kubeadm.k8s.io/v1beta3', kubeProxyNftables: 'alpha', source: 'kubeadm v1.30 (v1beta3 current); KEP-3866 alpha' },
  '1.31': { kubeadmApi: 'kubeadm.k8s.io/v1beta4', kubeProxyNftables: 'beta', source: 'kubeadm v1.31 (v1beta4 added, v1beta3 deprecated); KEP-3866 beta' },
  '1.32': { kubeadmApi: 'kubeadm.k8s.io/v1beta4', kubeProxyNftables: 'beta', source: 'kubeadm v1.32 (v1beta4 current); KEP-3866 beta' },
};

/** The supported minors in order, like ["1.28", …, "1.32"]. */
export function supportedMinors(): string[] {
  return Object.keys(SUPPORTED_MINORS).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
}

/** "1.28–1.32", for messages. */
export function supportedRange(): string {
  const m = supportedMinors();
  return `${m[0]}–${m[m.length - 1]}`;
}

export function supportOf(version: string): MinorSupport | undefined {
  const v = parseKubeVersion(version);
  return v ? SUPPORTED_MINORS[v.minorText] : undefined;
}

/** Is this Kubernetes version (any patch of a supported minor) one airlock can bootstrap? */
export function isSupported(version: string): boolean {
  return supportOf(version) !== undefined;
}

/**
 * The kubeadm config API for a version: the table's row, else kubeadm's own rule (v1beta4 from 1.31,
 * v1beta3 for 1.22–1.30), so an unsupported version still renders something reviewable. Undefined for a
 * version kubeadm's v1beta3/v1beta4 cannot express (before 1.22) or an unparsable one.
 */
export function kubeadmApiVersion(version: string): KubeadmApi | undefined {
  const v = parseKubeVersion(version);
  if (!v) return undefined;
  const row = SUPPORTED_MINORS[v.minorText];
  if (row) return row.kubeadmApi;
  if (v.major !== 1 || v.minor < 22) return undefined;
  return v.minor >= 31 ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3';
}
