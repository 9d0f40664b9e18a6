// kubeadm config files: golden renders per Kubernetes minor and OS family (test/fixtures/kubeadm/<case>/),
// every document parsed back, and the kubeadm validation rules. No kubeadm binary here: the files are
// checked against the API shapes written down from the kubeadm reference, not by `kubeadm config validate`.
// Regenerate the golden files after an intended change with: UPDATE_GOLDEN=1 npx tsx --test test/kubeadm.test.ts
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { check, loadSite, type Site } from '../src/index.ts';
import { KUBE_IMAGES } from '../src/cluster/images.ts';
import {
  apiServerSANs,
  clusterDnsAddress,
  clusterHosts,
  firstServiceAddress,
  initControlPlane,
  kubeadmInitConfig,
  kubeadmJoinConfig,
  nodeAddress,
  validateKubeadm,
  validateMaterial,
  type KubeadmMaterial,
} from '../src/cluster/kubeadm.ts';
import { joinCommand } from '../src/cluster/pki.ts';
import { isSupported, kubeadmApiVersion, parseKubeVersion, supportedMinors, SUPPORTED_MINORS } from '../src/cluster/versions.ts';
import { root } from './sites.ts';

const fixtures = join(root, 'test', 'fixtures', 'kubeadm');
const update = process.env.UPDATE_GOLDEN === '1';

/** Fixed material: nothing random in a golden file. */
const MATERIAL: KubeadmMaterial = {
  token: 'abcdef.0123456789abcdef',
  caCertHash: 'sha256:d4f955570781216fdd6aa2cc53f82787e367cf8bb6e1cb16d08c879783998e5c',
};
const CERT_KEY = 'e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204';

interface Case {
  name: string;
  site: Site;
  material: KubeadmMaterial;
}

function cases(): Case[] {
  return readdirSync(fixtures, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const file = join(fixtures, name, 'site.yaml');
      const site = loadSite(readFileSync(file, 'utf8'), file).site;
      const multiCp = site.hosts.filter((h) => h.roles.includes('control-plane')).length > 1;
      return { name, site, material: multiCp ? { ...MATERIAL, certificateKey: CERT_KEY } : MATERIAL };
    });
}

/** Every generated file of a case: one kubeadm file per cluster host, the SAN list and the join commands. */
function outputs(c: Case): Map<string, string> {
  const out = new Map<string, string>();
  const first = initControlPlane(c.site)!;
  for (const h of clusterHosts(c.site))
    out.set(`${h.name}.yaml`, h === first ? kubeadmInitConfig(c.site, h, c.material) : kubeadmJoinConfig(c.site, h, c.material));
  out.set('apiserver-sans.txt', `${apiServerSANs(c.site).join('\n')}\n`);
  const endpoint = c.site.cluster!.controlPlaneEndpoint;
  out.set('join-commands.txt', `${joinCommand(endpoint, c.material)}\n${joinCommand(endpoint, c.material, { controlPlane: true })}\n`);
  return out;
}

interface NodeReg { name: string; kubeletExtraArgs: unknown; taints?: unknown }
interface InitDoc { bootstrapTokens: { token: string; ttl: string }[]; localAPIEndpoint: { advertiseAddress: string }; nodeRegistration: NodeReg; certificateKey?: string }
interface ClusterDoc { kubernetesVersion: string; clusterName: string; controlPlaneEndpoint: string; networking: object; apiServer: { certSANs: string[] }; imageRepository?: string }
interface KubeletDoc { cgroupDriver: string; clusterDNS: string[]; clusterDomain: string; maxPods: number }
interface ProxyDoc { mode: string; clusterCIDR: string; featureGates?: object; ipvs?: object }
interface JoinDoc { discovery: { bootstrapToken: { token: string; apiServerEndpoint: string; caCertHashes: string[] } }; nodeRegistration: NodeReg; controlPlane?: object }

const parse = (text: string) => {
  const docs = parseAllDocuments(text);
  assert.ok(Array.isArray(docs), 'parses as a YAML stream');
  for (const d of docs) assert.deepEqual(d.errors, [], 'no YAML errors');
  return docs.map((d) => d.toJS() as Record<string, unknown>);
};

describe('kubeadm golden files', () => {
  const all = cases();

  it('cover three or more minors on both API versions and both OS families', () => {
    const minors = new Set(all.map((c) => parseKubeVersion(c.site.cluster!.kubernetesVersion)!.minorText));
    assert.ok(minors.size >= 3, `minors: ${[...minors].join(', ')}`);
    const apis = new Set(all.map((c) => kubeadmApiVersion(c.site.cluster!.kubernetesVersion)));
    assert.deepEqual([...apis].sort(), ['kubeadm.k8s.io/v1beta3', 'kubeadm.k8s.io/v1beta4']);
    const oses = new Set(all.flatMap((c) => clusterHosts(c.site).map((h) => h.os)));
    assert.deepEqual([...oses].sort(), ['debian12', 'rocky9']);
  });

  for (const c of all) {
    describe(c.name, () => {
      const dir = join(fixtures, c.name);
      const files = outputs(c);

      it('is a clean site (no error findings from check, no kubeadm problems)', () => {
        const file = join(dir, 'site.yaml');
        const result = check(loadSite(readFileSync(file, 'utf8'), file));
        assert.deepEqual(result.findings.filter((f) => f.severity === 'error'), []);
        assert.deepEqual(validateKubeadm(c.site).filter((p) => p.severity === 'error'), []);
        assert.deepEqual(validateMaterial(c.site, c.material), []);
      });

      it('matches the golden files (UPDATE_GOLDEN=1 to accept)', () => {
        if (update) {
          for (const f of readdirSync(dir)) if (f !== 'site.yaml' && !files.has(f)) rmSync(join(dir, f));
          for (const [f, text] of files) writeFileSync(join(dir, f), text);
        }
        const onDisk = readdirSync(dir).filter((f) => f !== 'site.yaml').sort();
        assert.deepEqual(onDisk, [...files.keys()].sort(), 'same set of files');
        for (const [f, text] of files) assert.equal(text, readFileSync(join(dir, f), 'utf8'), `${c.name}/${f} differs`);
      });

      it('parses back: apiVersion and kind of every document, values from the site', () => {
        const cl = c.site.cluster!;
        const api = kubeadmApiVersion(cl.kubernetesVersion)!;
        const v1beta4 = api.endsWith('v1beta4');
        const first = initControlPlane(c.site)!;
        for (const h of clusterHosts(c.site)) {
          const docs = parse(files.get(`${h.name}.yaml`)!);
          const ip = nodeAddress(c.site, h)!;
          const kubeletArgs = (nr: NodeReg) => nr.kubeletExtraArgs;
          const expectedArgs = v1beta4 ? [{ name: 'node-ip', value: ip }] : { 'node-ip': ip };
          if (h === first) {
            assert.deepEqual(
              docs.map((d) => [d.apiVersion, d.kind]),
              [
                [api, 'InitConfiguration'],
                [api, 'ClusterConfiguration'],
                ['kubelet.config.k8s.io/v1beta1', 'KubeletConfiguration'],
                ['kubeproxy.config.k8s.io/v1alpha1', 'KubeProxyConfiguration'],
              ],
            );
            const [init, cluster, kubelet, proxy] = docs as unknown as [InitDoc, ClusterDoc, KubeletDoc, ProxyDoc];
            assert.equal(init.bootstrapTokens[0]!.token, c.material.token);
            assert.equal(init.bootstrapTokens[0]!.ttl, cl.bootstrapTokenTTL);
            assert.equal(init.localAPIEndpoint.advertiseAddress, ip);
            assert.equal(init.nodeRegistration.name, h.name);
            assert.deepEqual(kubeletArgs(init.nodeRegistration), expectedArgs);
            assert.equal(init.certificateKey, c.material.certificateKey);
            assert.equal(cluster.kubernetesVersion, `v${parseKubeVersion(cl.kubernetesVersion)!.text}`);
            assert.equal(cluster.clusterName, cl.name);
            assert.match(cluster.controlPlaneEndpoint, /:\d+$/);
            assert.deepEqual(cluster.networking, { podSubnet: cl.podCIDR, serviceSubnet: cl.serviceCIDR, dnsDomain: cl.dnsDomain });
            for (const san of cl.certSANs) assert.ok(cluster.apiServer.certSANs.includes(san), `certSANs has ${san}`);
            assert.ok(typeof cluster.imageRepository === 'string' && cluster.imageRepository.length > 0);
            assert.equal(kubelet.cgroupDriver, 'systemd');
            assert.deepEqual(kubelet.clusterDNS, [clusterDnsAddress(cl.serviceCIDR)]);
            assert.equal(kubelet.clusterDomain, cl.dnsDomain);
            assert.equal(kubelet.maxPods, cl.maxPodsPerNode);
            assert.equal(proxy.mode, cl.kubeProxy.mode);
            assert.equal(proxy.clusterCIDR, cl.podCIDR);
          } else {
            assert.deepEqual(docs.map((d) => [d.apiVersion, d.kind]), [[api, 'JoinConfiguration']]);
            const join = docs[0] as unknown as JoinDoc;
            assert.deepEqual(join.discovery.bootstrapToken.caCertHashes, [c.material.caCertHash]);
            assert.equal(join.discovery.bootstrapToken.token, c.material.token);
            assert.match(join.discovery.bootstrapToken.apiServerEndpoint, /:\d+$/);
            assert.deepEqual(kubeletArgs(join.nodeRegistration), expectedArgs);
            if (h.roles.includes('control-plane')) {
              assert.deepEqual(join.controlPlane, { localAPIEndpoint: { advertiseAddress: ip, bindPort: 6443 }, certificateKey: CERT_KEY });
            } else assert.equal(join.controlPlane, undefined);
          }
        }
      });
    });
  }

  it('v1.30 nftables turns on the feature gate; v1.32 IPVS with an LB pool sets strictARP; cp3 (also a worker) has no taint', () => {
    const byName = new Map(cases().map((c) => [c.name, c]));
    const k130 = byName.get('v1.30-nftables-debian12')!;
    const proxy130 = parse(kubeadmInitConfig(k130.site, 'cp1', k130.material))[3] as unknown as ProxyDoc;
    assert.deepEqual(proxy130.featureGates, { NFTablesProxyMode: true });
    const k132 = byName.get('v1.32-ha-mixed')!;
    const proxy132 = parse(kubeadmInitConfig(k132.site, 'cp1', k132.material))[3] as unknown as ProxyDoc;
    assert.deepEqual(proxy132.ipvs, { strictARP: true });
    const cp3 = parse(kubeadmJoinConfig(k132.site, 'cp3', k132.material))[0] as unknown as JoinDoc;
    assert.deepEqual(cp3.nodeRegistration.taints, []);
    const cp2 = parse(kubeadmJoinConfig(k132.site, 'cp2', k132.material))[0] as unknown as JoinDoc;
    assert.equal(cp2.nodeRegistration.taints, undefined, 'a pure control plane keeps kubeadm\'s default taint');
  });
});

// --- helpers and validation over the seed site ---

const seedFile = join(root, 'examples', 'seed', 'site.yaml');
const seedText = readFileSync(seedFile, 'utf8');
const seed = loadSite(seedText, seedFile).site;
const variant = (patch: (s: Site) => void): Site => {
  const s = structuredClone(seed);
  patch(s);
  return s;
};
const paths = (s: Site) => validateKubeadm(s).map((p) => `${p.severity} ${p.path}`);

describe('kubeadm helpers', () => {
  it('cluster DNS is the 10th and the kubernetes Service the 1st service address', () => {
    assert.equal(clusterDnsAddress('10.96.0.0/12'), '10.96.0.10');
    assert.equal(firstServiceAddress('10.96.0.0/12'), '10.96.0.1');
    assert.equal(clusterDnsAddress('172.21.0.0/20'), '172.21.0.10');
    assert.equal(clusterDnsAddress('10.96.0.0/29'), undefined, '8 addresses: no 10th');
  });

  it('API server SANs: kubernetes.* names, node names, first service IP, advertise addresses, endpoint, certSANs', () => {
    const s = variant((x) => {
      x.cluster!.certSANs = ['api.example.lab', '192.168.10.11'];
      x.cluster!.dnsDomain = 'corp.internal';
    });
    assert.deepEqual(apiServerSANs(s), [
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.corp.internal',
      'cp1',
      'api.example.lab',
      '10.96.0.1',
      '192.168.10.11',
    ]);
  });

  it('renders for the seed as the seed\'s hand-made init did, minus its mistakes', () => {
    const docs = parse(kubeadmInitConfig(seed, 'cp1', MATERIAL));
    const cluster = docs[1] as { networking: { podSubnet: string; serviceSubnet: string } };
    // Seed 001: --apiserver-advertise-address=192.168.56.10 (the node's host-only address), here cp1's inside one.
    assert.equal((docs[0] as { localAPIEndpoint: { advertiseAddress: string } }).localAPIEndpoint.advertiseAddress, '192.168.10.11');
    // Seed 001: --pod-network-cidr=10.96.0.0/12 = the service CIDR; the site separates them.
    assert.notEqual(cluster.networking.podSubnet, cluster.networking.serviceSubnet);
    assert.deepEqual(validateKubeadm(seed), []);
  });

  it('refuses hosts it cannot render for', () => {
    assert.throws(() => kubeadmInitConfig(seed, 'w1', MATERIAL), /not a control plane/);
    assert.throws(() => kubeadmJoinConfig(seed, 'admin', MATERIAL), /neither a control plane nor a worker/);
    assert.throws(() => kubeadmJoinConfig(seed, 'nope', MATERIAL), /no host named/);
  });

  it('quotes strings YAML 1.1 would read as booleans (kubeadm reads YAML 1.1)', () => {
    const s = variant((x) => {
      x.hosts[2]!.name = 'on';
    });
    assert.match(kubeadmJoinConfig(s, 'on', MATERIAL), /name: "on"/);
  });
});

describe('kubeadm validation', () => {
  it('pod CIDR = service CIDR (seed 001) → cluster.podCIDR', () => {
    const s = variant((x) => (x.cluster!.podCIDR = '10.96.0.0/12'));
    assert.deepEqual(paths(s), ['error cluster.podCIDR']);
    assert.match(validateKubeadm(s)[0]!.message, /overlaps serviceCIDR/);
  });

  it('cluster DNS outside the service CIDR (too small a service CIDR) → cluster.serviceCIDR', () => {
    const s = variant((x) => (x.cluster!.serviceCIDR = '10.96.0.0/29'));
    assert.deepEqual(paths(s), ['error cluster.serviceCIDR']);
    assert.match(validateKubeadm(s)[0]!.message, /10th, 10\.96\.0\.10\) falls outside/);
  });

  it('service CIDR larger than /12 (kubeadm MaximumBitsForServiceSubnet = 20) → cluster.serviceCIDR', () => {
    assert.deepEqual(paths(variant((x) => (x.cluster!.serviceCIDR = '10.96.0.0/11'))), ['error cluster.serviceCIDR']);
    assert.deepEqual(paths(variant((x) => (x.cluster!.serviceCIDR = '10.96.0.0/12'))), []);
  });

  it('pod CIDR smaller than the /24 node mask, or > 16 bits larger → cluster.podCIDR', () => {
    assert.deepEqual(paths(variant((x) => (x.cluster!.podCIDR = '10.244.0.0/25'))), ['error cluster.podCIDR']);
    assert.deepEqual(paths(variant((x) => (x.cluster!.podCIDR = '100.0.0.0/7'))), ['error cluster.podCIDR']);
    assert.deepEqual(paths(variant((x) => (x.cluster!.podCIDR = '100.0.0.0/8'))), []);
  });

  it('advertise address not on a node network → that interface\'s address', () => {
    const s = variant((x) => {
      x.networks.push({ name: 'oob', cidr: '10.20.0.0/24' });
      // cp1 loses its inside link; what is left is an out-of-band network no other node is on.
      x.hosts[1]!.interfaces = [{ name: 'eno1', network: 'oob', address: '10.20.0.11/24', enabled: true, management: true }];
    });
    const problems = validateKubeadm(s);
    assert.deepEqual(problems.map((p) => `${p.severity} ${p.path}`), ['error hosts[1].interfaces[0].address']);
    assert.deepEqual(problems[0]!.segments, ['hosts', 1, 'interfaces', 0, 'address']);
    assert.match(problems[0]!.message, /cp1's advertise address and node-ip 10\.20\.0\.11 is on network "oob"/);
  });

  it('unsupported version → cluster.kubernetesVersion', () => {
    for (const v of ['1.27.3', '1.33.0', 'v1.19.16']) {
      const s = variant((x) => (x.cluster!.kubernetesVersion = v));
      assert.deepEqual(paths(s), ['error cluster.kubernetesVersion'], v);
      assert.match(validateKubeadm(s)[0]!.message, /1\.28–1\.32/);
    }
  });

  it('bad TTL → cluster.bootstrapTokenTTL (error); a TTL of 0 never expires (warning)', () => {
    // "1d" cannot come through the schema; a site built in code can still carry it.
    assert.deepEqual(paths(variant((x) => (x.cluster!.bootstrapTokenTTL = '1d'))), ['error cluster.bootstrapTokenTTL']);
    const zero = loadSite(seedText.replace('  kubernetesVersion: 1.30.4', '  kubernetesVersion: 1.30.4\n  bootstrapTokenTTL: 0h'), seedFile).site;
    assert.deepEqual(paths(zero), ['warning cluster.bootstrapTokenTTL']);
  });

  it('kube-proxy nftables: unavailable in 1.28 (error), alpha in 1.30 (warning), fine in 1.31', () => {
    const nft = (v: string) => paths(variant((x) => ((x.cluster!.kubernetesVersion = v), (x.cluster!.kubeProxy.mode = 'nftables'))));
    assert.deepEqual(nft('1.28.15'), ['error cluster.kubeProxy.mode']);
    assert.deepEqual(nft('1.30.4'), ['warning cluster.kubeProxy.mode']);
    assert.deepEqual(nft('1.31.0'), []);
  });

  it('certSANs, dnsDomain, criSocket, imageRepository formats', () => {
    assert.deepEqual(paths(variant((x) => (x.cluster!.certSANs = ['ok.example', 'Not_A_Name', '*.wild.example', '10.0.0.1']))), ['error cluster.certSANs[1]']);
    assert.deepEqual(paths(variant((x) => (x.cluster!.dnsDomain = 'Cluster.Local'))), ['error cluster.dnsDomain']);
    assert.deepEqual(paths(variant((x) => (x.cluster!.criSocket = '/run/containerd/containerd.sock'))), ['warning cluster.criSocket']);
    assert.deepEqual(paths(variant((x) => (x.cluster!.criSocket = 'tcp://10.0.0.1:1234'))), ['error cluster.criSocket']);
    assert.deepEqual(paths(variant((x) => (x.cluster!.imageRepository = 'Registry/UPPER'))), ['error cluster.imageRepository']);
    assert.deepEqual(paths(variant((x) => (x.cluster!.imageRepository = 'registry.corp.example:5443/k8s'))), []);
  });

  it('an offline site without a mirror or imageRepository would pull from registry.k8s.io (warning)', () => {
    const s = variant((x) => {
      x.offline = true;
      delete x.services.mirrors;
    });
    assert.deepEqual(paths(s), ['warning cluster']);
  });

  it('material formats, and a certificate key for more than one control plane', () => {
    assert.deepEqual(validateMaterial(seed, MATERIAL), []);
    const bad = validateMaterial(seed, { token: 'ABCDEF.0123456789abcdef', caCertHash: 'md5:00', certificateKey: 'xyz' });
    assert.deepEqual(bad.map((p) => p.path), ['token', 'ca.crt', 'certificate-key']);
    const ha = variant((x) => (x.hosts[2]!.roles = ['control-plane']));
    assert.deepEqual(validateMaterial(ha, MATERIAL).map((p) => p.path), ['certificate-key']);
  });
});

describe('versions', () => {
  it('parses versions and maps minors to kubeadm APIs (v1beta3 < 1.31 ≤ v1beta4)', () => {
    assert.deepEqual(parseKubeVersion('v1.30.4'), { major: 1, minor: 30, patch: 4, text: '1.30.4', minorText: '1.30' });
    assert.equal(parseKubeVersion('1.30'), undefined);
    assert.equal(parseKubeVersion('1.30.0-rc.1'), undefined);
    assert.equal(kubeadmApiVersion('1.29.10'), 'kubeadm.k8s.io/v1beta3');
    assert.equal(kubeadmApiVersion('1.30.0'), 'kubeadm.k8s.io/v1beta3');
    assert.equal(kubeadmApiVersion('1.31.0'), 'kubeadm.k8s.io/v1beta4');
    assert.equal(kubeadmApiVersion('1.32.3'), 'kubeadm.k8s.io/v1beta4');
    assert.equal(kubeadmApiVersion('1.33.0'), 'kubeadm.k8s.io/v1beta4', 'by kubeadm\'s rule, though unsupported');
    assert.equal(kubeadmApiVersion('1.21.0'), undefined);
    assert.ok(isSupported('1.28.0') && isSupported('v1.32.9'));
    assert.ok(!isSupported('1.27.16') && !isSupported('1.33.0') && !isSupported('banana'));
    assert.deepEqual(supportedMinors(), ['1.28', '1.29', '1.30', '1.31', '1.32']);
  });

  it('every supported minor has an image row (images.ts), and only those', () => {
    assert.deepEqual(Object.keys(SUPPORTED_MINORS).sort(), Object.keys(KUBE_IMAGES).sort());
  });
});
