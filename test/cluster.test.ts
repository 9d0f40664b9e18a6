// Cluster planning: Calico manifests, the IPAM plan, the image list, node preparation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { calicoInstallation, calicoNodeEnv, calicoPoolManifest, ipamPlan, loadSite, siteImages, type Site } from '../src/index.ts';
import { encapsulationModes } from '../src/cluster/calico.ts';
import { firewallPorts } from '../src/render/nodeprep.ts';
import { root } from './sites.ts';

const seedText = readFileSync(join(root, 'examples', 'seed', 'site.yaml'), 'utf8');
const seed = loadSite(seedText).site;
const withCluster = (patch: (c: NonNullable<Site['cluster']>) => void): Site => {
  const s = structuredClone(seed);
  patch(s.cluster!);
  return s;
};

describe('images', () => {
  it('matches `kubeadm config images list --kubernetes-version v1.30.0` (written down from the release)', () => {
    const list = siteImages(withCluster((c) => (c.kubernetesVersion = '1.30.0')))!;
    assert.deepEqual(
      list.images.slice(0, 7).map((i) => i.source),
      [
        'registry.k8s.io/kube-apiserver:v1.30.0',
        'registry.k8s.io/kube-controller-manager:v1.30.0',
        'registry.k8s.io/kube-scheduler:v1.30.0',
        'registry.k8s.io/kube-proxy:v1.30.0',
        'registry.k8s.io/pause:3.9',
        'registry.k8s.io/etcd:3.5.12-0',
        'registry.k8s.io/coredns/coredns:v1.11.1',
      ],
    );
    assert.deepEqual(list.warnings, []);
  });
  it('rewrites to the site mirror; CoreDNS loses its sub-path under a custom imageRepository (as kubeadm does)', () => {
    const list = siteImages(seed)!;
    const coredns = list.images.find((i) => i.component === 'coredns')!;
    assert.equal(coredns.mirror, '192.168.10.10:5000/k8s/coredns:v1.11.1');
    assert.ok(list.images.some((i) => i.source === 'docker.io/calico/node:v3.28.2' && i.mirror === '192.168.10.10:5000/calico/node:v3.28.2'));
    assert.match(list.warnings.join(), /1\.30\.4 come from the 1\.30\.0 row/);
  });
  it('knows which versions it does not know', () => {
    assert.equal(siteImages(withCluster((c) => (c.kubernetesVersion = '1.19.0'))), undefined);
  });
});

describe('Calico', () => {
  it('maps encapsulation to ipipMode/vxlanMode', () => {
    assert.deepEqual(encapsulationModes('IPIPCrossSubnet'), { ipipMode: 'CrossSubnet', vxlanMode: 'Never' });
    assert.deepEqual(encapsulationModes('VXLAN'), { ipipMode: 'Never', vxlanMode: 'Always' });
    assert.deepEqual(encapsulationModes('None'), { ipipMode: 'Never', vxlanMode: 'Never' });
  });
  it('Installation and IPPool carry the pod CIDR, block size and mirror registry', () => {
    const inst = parseAllDocuments(calicoInstallation(seed)).map((d) => d.toJS());
    assert.equal(inst[0].kind, 'Installation');
    assert.equal(inst[0].spec.registry, '192.168.10.10:5000/');
    assert.deepEqual(inst[0].spec.calicoNetwork.ipPools[0], { name: 'default-ipv4-ippool', cidr: '10.244.0.0/16', blockSize: 26, encapsulation: 'IPIP', natOutgoing: 'Enabled', nodeSelector: 'all()' });
    const pool = parseAllDocuments(calicoPoolManifest(seed)).map((d) => d.toJS());
    assert.equal(pool[0].kind, 'IPPool');
    assert.equal(pool[0].spec.ipipMode, 'Always');
    assert.equal(pool[1].kind, 'BGPConfiguration');
    assert.equal(calicoNodeEnv(seed).CALICO_IPV4POOL_CIDR, '10.244.0.0/16');
  });
});

describe('IPAM plan', () => {
  it('splits the pool into blocks and hands each node what maxPods needs', () => {
    const p = ipamPlan(seed)!;
    assert.equal(p.totalBlocks, 1024);
    assert.equal(p.blocksPerNode, 2);
    assert.deepEqual(p.nodes.map((n) => n.name), ['cp1', 'w1', 'w2']);
    assert.deepEqual(p.nodes[1]!.blocks, ['10.244.0.128/26', '10.244.0.192/26']);
    assert.equal(p.maxNodes, 512);
    assert.deepEqual(p.problems, []);
  });
  it('reports exhaustion per node', () => {
    const p = ipamPlan(withCluster((c) => (c.podCIDR = '10.244.0.0/25')))!;
    assert.equal(p.totalBlocks, 2);
    assert.match(p.problems.join('\n'), /w1 gets 0 of the 2 block/);
  });
});

describe('node preparation', () => {
  it('opens the ports of each role', () => {
    const cp = seed.hosts.find((h) => h.name === 'cp1')!;
    const w = seed.hosts.find((h) => h.name === 'w1')!;
    assert.deepEqual(firewallPorts(cp, 'IPIP'), ['6443/tcp', '2379-2380/tcp', '10250/tcp', '10257/tcp', '10259/tcp', '179/tcp']);
    assert.deepEqual(firewallPorts(w, 'VXLAN'), ['10250/tcp', '30000-32767/tcp', '4789/udp']);
  });
});
