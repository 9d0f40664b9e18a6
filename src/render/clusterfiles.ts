// The bootstrap files each cluster node needs on disk: kubeadm init/join configuration (with the token,
// so 0600) when the PKI material is known, and the Calico pool/installation on the first control plane.
import { calicoInstallation, calicoPoolManifest } from '../cluster/calico.ts';
import { initControlPlane, kubeadmInitConfig, kubeadmJoinConfig, KUBEADM_FILE_MODE, type KubeadmMaterial } from '../cluster/kubeadm.ts';
import { KUBEADM_DIR } from '../cluster/runbook.ts';
import type { Step } from '../plan.ts';
import type { Host } from '../schema.ts';
import type { Topology } from '../topology.ts';

export function clusterFileSteps(topo: Topology, host: Host, material?: KubeadmMaterial): Step[] {
  const site = topo.site;
  if (!site.cluster || !(host.roles.includes('control-plane') || host.roles.includes('worker'))) return [];
  const first = initControlPlane(site);
  const steps: Step[] = [];
  if (first === host) {
    const operator = site.cluster.cni.install === 'operator';
    steps.push({
      kind: 'file',
      id: 'calico-config',
      title: operator ? 'Calico Installation for the Tigera operator' : 'Calico IPPool + BGPConfiguration',
      path: `${KUBEADM_DIR}/${operator ? 'calico-installation.yaml' : 'calico-ippool.yaml'}`,
      mode: '0644',
      content: operator ? calicoInstallation(site) : calicoPoolManifest(site),
      compare: 'exact',
    });
  }
  if (material) {
    const init = first === host;
    steps.push({
      kind: 'file',
      id: 'kubeadm-config',
      title: init ? 'kubeadm init configuration (holds the bootstrap token)' : 'kubeadm join configuration (holds the bootstrap token)',
      path: `${KUBEADM_DIR}/${init ? 'kubeadm-init.yaml' : 'kubeadm-join.yaml'}`,
      mode: KUBEADM_FILE_MODE,
      content: init ? kubeadmInitConfig(site, host, material) : kubeadmJoinConfig(site, host, material),
      compare: 'exact',
    });
  }
  return steps;
}
