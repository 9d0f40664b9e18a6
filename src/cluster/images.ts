// The exact images a site needs for its Kubernetes and Calico versions, and where they live on the
// site's mirror. The version table is data; each row names its source.
import type { Site } from '../schema.ts';
import { topology } from '../topology.ts';

export interface KubeImageSet {
  /** The release this row was written down from. */
  release: string;
  etcd: string;
  coredns: string;
  pause: string;
  /** Where the row comes from. */
  source: string;
}

/**
 * `kubeadm config images list --kubernetes-version vX.Y.0` per minor (kubeadm's constants.go:
 * DefaultEtcdVersion / SupportedEtcdVersion, CoreDNSVersion, PauseVersion at the vX.Y.0 tag).
 * Patch releases sometimes move etcd or CoreDNS forward; for those the .0 row is used and flagged.
 */
export const KUBE_IMAGES: Record<string, KubeImageSet> = {
  '1.28': { release: '1.28.0', etcd: '3.5.9-0', coredns: 'v1.10.1', pause: '3.9', source: 'kubeadm v1.28.0 cmd/kubeadm/app/constants' },
  '1.29': { release: '1.29.0', etcd: '3.5.10-0', coredns: 'v1.11.1', pause: '3.9', source: 'kubeadm v1.29.0 cmd/kubeadm/app/constants' },
  '1.30': { release: '1.30.0', etcd: '3.5.12-0', coredns: 'v1.11.1', pause: '3.9', source: 'kubeadm v1.30.0 cmd/kubeadm/app/constants' },
  '1.31': { release: '1.31.0', etcd: '3.5.15-0', coredns: 'v1.11.3', pause: '3.10', source: 'kubeadm v1.31.0 cmd/kubeadm/app/constants' },
  '1.32': { release: '1.32.0', etcd: '3.5.16-0', coredns: 'v1.11.3', pause: '3.10', source: 'kubeadm v1.32.0 cmd/kubeadm/app/constants' },
};

/** Calico's images per install mode (the images referenced by calico.yaml / the operator's defaults). */
export const CALICO_IMAGES = {
  manifest: ['docker.io/calico/cni', 'docker.io/calico/node', 'docker.io/calico/kube-controllers'],
  operator: [
    'docker.io/calico/cni',
    'docker.io/calico/node',
    'docker.io/calico/kube-controllers',
    'docker.io/calico/typha',
    'docker.io/calico/pod2daemon-flexvol',
    'docker.io/calico/csi',
    'docker.io/calico/node-driver-registrar',
    'docker.io/calico/apiserver',
  ],
} as const;

export interface ImageRef {
  component: string;
  /** Where it is published upstream (what a bundle fetches). */
  source: string;
  /** Where the nodes pull it from on the site (what a bundle loads into the mirror). */
  mirror?: string;
}

export interface ImageList {
  kubernetesVersion: string;
  calicoVersion: string;
  images: ImageRef[];
  /** E.g. that a patch release used its minor's .0 row. */
  warnings: string[];
}

/** `<address>:<port>` of the site's mirror as the nodes reach it, if the site has one. */
export function mirrorRegistry(site: Site): string | undefined {
  const m = site.services.mirrors;
  if (!m) return undefined;
  const topo = topology(site);
  const host = topo.hosts.get(m.host)?.host;
  if (!host) return undefined;
  const node = site.hosts.find((h) => topo.isNode(h));
  const addr = (node && topo.serverAddressFor(host, node)) ?? topo.managementAddress(host);
  return addr ? `${addr}:${m.port}` : undefined;
}

/** kubeadm's imageRepository: cluster.imageRepository, else the site mirror's /k8s, else kubeadm's default (unset). */
export function imageRepository(site: Site): string | undefined {
  const c = site.cluster;
  if (c?.imageRepository) return c.imageRepository;
  const registry = mirrorRegistry(site);
  return registry ? `${registry}/k8s` : undefined;
}

export function kubeMinor(version: string): string {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(version);
  return m ? `${m[1]}.${m[2]}` : '';
}

/** The image list for the site's cluster; undefined when the version is not in the table. */
export function siteImages(site: Site): ImageList | undefined {
  const c = site.cluster;
  if (!c) return undefined;
  const v = c.kubernetesVersion.replace(/^v/, '');
  const row = KUBE_IMAGES[kubeMinor(v)];
  if (!row) return undefined;
  const warnings: string[] = [];
  if (row.release !== v)
    warnings.push(`etcd/CoreDNS/pause for ${v} come from the ${row.release} row (${row.source}); patch releases may differ — confirm with \`kubeadm config images list --kubernetes-version v${v}\` on the connected side`);
  const registry = mirrorRegistry(site);
  const repo = imageRepository(site);
  const k8s = (name: string, tag: string, upstreamPath = name): ImageRef => ({
    component: name,
    source: `registry.k8s.io/${upstreamPath}:${tag}`,
    // With a custom imageRepository kubeadm drops CoreDNS's "coredns/" sub-path: <repo>/coredns:<tag>.
    ...(repo ? { mirror: `${repo}/${name}:${tag}` } : {}),
  });
  const images: ImageRef[] = [
    k8s('kube-apiserver', `v${v}`),
    k8s('kube-controller-manager', `v${v}`),
    k8s('kube-scheduler', `v${v}`),
    k8s('kube-proxy', `v${v}`),
    k8s('pause', row.pause),
    k8s('etcd', row.etcd),
    k8s('coredns', row.coredns, 'coredns/coredns'),
  ];
  if (c.cni.install === 'operator') {
    const opVersion = TIGERA_OPERATOR[c.cni.version];
    if (opVersion) images.push({ component: 'tigera-operator', source: `quay.io/tigera/operator:${opVersion}`, ...(registry ? { mirror: `${registry}/tigera/operator:${opVersion}` } : {}) });
    else warnings.push(`no Tigera operator version recorded for Calico ${c.cni.version}; add it to TIGERA_OPERATOR`);
  }
  for (const src of CALICO_IMAGES[c.cni.install]) {
    const path = src.replace(/^docker\.io\//, '');
    images.push({ component: path.split('/').pop()!, source: `${src}:${c.cni.version}`, ...(registry ? { mirror: `${registry}/${path}:${c.cni.version}` } : {}) });
  }
  return { kubernetesVersion: v, calicoVersion: c.cni.version, images, warnings };
}

/**
 * Tigera operator release pinned by each Calico release's manifests/tigera-operator.yaml. Only rows we
 * have checked are here; for other Calico versions `airlock images` says what is missing.
 */
export const TIGERA_OPERATOR: Record<string, string> = {
  'v3.28.0': 'v1.34.0',
};
