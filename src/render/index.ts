// render(site) → every host's files and its ordered, idempotent plan. Pure: no I/O, no clock.
import type { LoadedSite } from '../load.ts';
import type { FileStep, Plan } from '../plan.ts';
import type { Site } from '../schema.ts';
import { topology } from '../topology.ts';
import { bindSteps } from './bind.ts';
import { chronySteps } from './chrony.ts';
import { gatewaySteps } from './gateway.ts';
import { dnsClientSteps, nodeNetworkSteps } from './netconf.ts';
import { nodePrepSteps } from './nodeprep.ts';
import { mirrorClientSteps, type MirrorClientKeys } from './mirrorclient.ts';
import { clusterFileSteps } from './clusterfiles.ts';
import type { KubeadmMaterial } from '../cluster/kubeadm.ts';

export interface RenderOptions {
  /** SOA serial for the internal zone (apply moves it forward on a real host; default 1). */
  serial?: number;
  /** Bootstrap token and CA hash (from `airlock pki`): with them, kubeadm init/join files are rendered too. */
  kubeadm?: KubeadmMaterial;
  /** The site CA (and optionally the repo signing key) the nodes must trust for the mirror. */
  mirrorKeys?: MirrorClientKeys;
}

export interface RenderedFile {
  path: string;
  mode: string;
  owner: string;
  content: string;
}

export interface HostRender {
  host: string;
  plan: Plan;
  files: RenderedFile[];
}

export interface Rendered {
  site: string;
  hosts: HostRender[];
}

export function render(input: LoadedSite | Site, opts: RenderOptions = {}): Rendered {
  const site = 'site' in input && 'source' in input ? input.site : (input as Site);
  const topo = topology(site);
  const serial = opts.serial ?? 1;
  const hosts = site.hosts.map((host): HostRender => {
    const steps = topo.isNode(host)
      ? [...nodeNetworkSteps(topo, host), ...dnsClientSteps(topo, host), ...chronySteps(topo, host), ...bindSteps(topo, host, serial), ...mirrorClientSteps(topo, host, opts.mirrorKeys), ...nodePrepSteps(topo, host), ...clusterFileSteps(topo, host, opts.kubeadm)]
      : [...(topo.gateway?.host === host ? gatewaySteps(topo) : []), ...bindSteps(topo, host, serial), ...dnsClientSteps(topo, host), ...chronySteps(topo, host)];
    const plan: Plan = { host: host.name, os: host.os, roles: host.roles, steps };
    const files = steps
      .filter((s): s is FileStep => s.kind === 'file')
      .map((s) => ({ path: s.path, mode: s.mode, owner: s.owner ?? 'root:root', content: s.content }));
    return { host: host.name, plan, files };
  });
  return { site: site.metadata.name, hosts };
}
