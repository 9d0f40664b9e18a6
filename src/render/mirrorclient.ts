// Client wiring for the site mirror (services.mirrors): every node pulls images, OS packages, Python
// packages, Go modules and Helm charts from the one airlock server on the admin host.
//   containerd  /etc/containerd/certs.d/<registry>/hosts.toml  (mirror first, upstream as the server)
//   apt         /etc/apt/sources.list.d/airlock.sources (deb822, Signed-By: the site keyring)   debian12
//   dnf         /etc/yum.repos.d/airlock.repo (repo_gpgcheck with the site key)                 rocky9
//   pip         /etc/pip.conf;  Go  /etc/profile.d/airlock-go.sh;  Helm  a repositories.yaml
//   TLS         the site CA in the OS trust store (and named in hosts.toml / helm)
// Conventions shared with the mirror's import side: the APT suite is the OS codename ("bookworm",
// component "main"), the YUM repo is the OS name ("rocky9"), images keep their upstream path except
// registry.k8s.io, which lives under "k8s/" (as cluster/images.ts lists them). Pure.
import type { Step } from '../plan.ts';
import type { Host, Os } from '../schema.ts';
import type { Topology } from '../topology.ts';
import { MANAGED } from './os.ts';

/** Site material the renderer cannot derive from site.yaml; without it, steps fetch the key from the mirror. */
export interface MirrorClientKeys {
  /** PEM of the site CA (needed when services.mirrors.tls is on). */
  caCert?: string;
  /** The site repository signing key, ASCII-armored (served by the mirror at /apt/airlock-archive-keyring.asc). */
  signingKey?: string;
}

interface ClientOsPaths {
  caAnchor: string;
  caBundle: string;
  caUpdate: string;
  /** Where the repo key goes. */
  repoKey: string;
  /** Package-source suite / repo name on the mirror. */
  channel: string;
}

export const MIRROR_CLIENT_PATHS: Record<Os, ClientOsPaths> = {
  debian12: {
    caAnchor: '/usr/local/share/ca-certificates/airlock-site-ca.crt',
    caBundle: '/etc/ssl/certs/ca-certificates.crt',
    caUpdate: 'update-ca-certificates',
    repoKey: '/etc/apt/keyrings/airlock-site.asc',
    channel: 'bookworm',
  },
  rocky9: {
    caAnchor: '/etc/pki/ca-trust/source/anchors/airlock-site-ca.crt',
    caBundle: '/etc/pki/tls/certs/ca-bundle.crt',
    caUpdate: 'update-ca-trust extract',
    repoKey: '/etc/pki/rpm-gpg/RPM-GPG-KEY-airlock',
    channel: 'rocky9',
  },
};

/** containerd's fallback server for a registry name (docker.io's API lives at registry-1.docker.io). */
export function upstreamServer(registry: string): string {
  return registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`;
}

/** Where a registry's images live on the mirror: registry.k8s.io under "k8s/", others at their upstream path. */
export function mirrorPathFor(registry: string): string | undefined {
  return registry === 'registry.k8s.io' ? 'k8s' : undefined;
}

export function hostsToml(registry: string, mirrorBase: string, caPath?: string): string {
  const sub = mirrorPathFor(registry);
  const lines = [
    `# ${MANAGED}`,
    `# Pulls of ${registry} images go to the site mirror first; the upstream is only the fallback.`,
    `server = "${upstreamServer(registry)}"`,
    '',
    `[host."${mirrorBase}${sub ? `/v2/${sub}` : ''}"]`,
    '  capabilities = ["pull", "resolve"]',
  ];
  if (sub) lines.push('  override_path = true');
  if (caPath) lines.push(`  ca = "${caPath}"`);
  return `${lines.join('\n')}\n`;
}

export function aptSources(mirrorBase: string, suite: string, keyring: string): string {
  return `# ${MANAGED}
# Debian packages from the site mirror, verified with the site's signing key.
Types: deb
URIs: ${mirrorBase}/apt
Suites: ${suite}
Components: main
Signed-By: ${keyring}
`;
}

export function dnfRepo(mirrorBase: string, repo: string, gpgkey: string): string {
  return `# ${MANAGED}
# RPMs from the site mirror. repomd.xml is signed with the site key (repo_gpgcheck), and it pins the
# sha256 of every package; package signatures are their vendors' (gpgcheck off here, on in vendor repos).
[airlock]
name=airlock site mirror (${repo})
baseurl=${mirrorBase}/yum/${repo}
enabled=1
gpgcheck=0
repo_gpgcheck=1
gpgkey=${gpgkey}
metadata_expire=1h
`;
}

export function pipConf(mirrorBase: string, address: string, port: number, tls: boolean, caBundle: string): string {
  return `# ${MANAGED}
[global]
index-url = ${mirrorBase}/pypi/simple/
${tls ? `# The site CA is in the OS bundle; pip is pointed at it (its own certifi bundle would not have it).\ncert = ${caBundle}` : `# Plain HTTP inside the site: pip needs the mirror marked as trusted.\ntrusted-host = ${address}:${port}`}
`;
}

export function goProfile(mirrorBase: string): string {
  return `# ${MANAGED}
# Go modules come from the site mirror only; there is no checksum database to reach offline.
export GOPROXY=${mirrorBase}/go
export GOSUMDB=off
export GONOSUMDB='*'
export GOFLAGS=-mod=mod
# Go >= 1.21 would otherwise try to download newer toolchains through GOPROXY.
export GOTOOLCHAIN=local
`;
}

export function helmRepositories(mirrorBase: string, caPath?: string): string {
  return `# ${MANAGED}
# Helm repositories of the site (HELM_REPOSITORY_CONFIG points here; run \`helm repo update\`).
apiVersion: ""
generated: "0001-01-01T00:00:00Z"
repositories:
  - name: airlock
    url: ${mirrorBase}/helm
    caFile: "${caPath ?? ''}"
    certFile: ""
    keyFile: ""
    username: ""
    password: ""
    insecure_skip_tls_verify: false
    pass_credentials_all: false
`;
}

/** The first base64 line of a PEM certificate: a cheap, specific "is it in the bundle" probe. */
function pemProbe(pem: string): string | undefined {
  return pem.split('\n').map((l) => l.trim()).find((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l));
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The mirror as this node reaches it: base URL and address; undefined without a mirror or a path to it. */
export function mirrorBase(topo: Topology, host: Host): { base: string; address: string } | undefined {
  const m = topo.site.services.mirrors;
  if (!m || !topo.isNode(host)) return undefined;
  const server = topo.hosts.get(m.host)?.host;
  const address = server && topo.serverAddressFor(server, host);
  if (!address) return undefined;
  return { base: `${m.tls ? 'https' : 'http'}://${address}:${m.port}`, address };
}

export function mirrorClientSteps(topo: Topology, host: Host, keys: MirrorClientKeys = {}): Step[] {
  const m = topo.site.services.mirrors;
  const where = mirrorBase(topo, host);
  if (!m || !where) return [];
  const { base, address } = where;
  const paths = MIRROR_CLIENT_PATHS[host.os];
  const steps: Step[] = [];

  // 1. Trust the site CA first: everything below talks HTTPS to the mirror when tls is on.
  if (m.tls) {
    if (keys.caCert) {
      const probe = pemProbe(keys.caCert);
      steps.push(
        { kind: 'file', id: 'mirror-ca', title: 'the site CA as a trust anchor', path: paths.caAnchor, mode: '0644', content: keys.caCert.endsWith('\n') ? keys.caCert : `${keys.caCert}\n`, compare: 'exact' },
        {
          kind: 'command',
          id: 'mirror-ca-trusted',
          title: 'the site CA is in the OS CA bundle',
          check: probe ? `grep -qF ${q(probe)} ${paths.caBundle}` : `test -s ${paths.caAnchor}`,
          run: paths.caUpdate,
          after: ['mirror-ca'],
        },
      );
    } else {
      steps.push({
        kind: 'assert',
        id: 'mirror-ca',
        title: `the site CA is installed at ${paths.caAnchor} (copy it from the mirror host; render with the CA to have airlock place it)`,
        check: `test -s ${paths.caAnchor}`,
        timeout: 5,
      });
    }
  }
  const caPath = m.tls ? paths.caAnchor : undefined;

  // 2. containerd: one hosts.toml per mirrored registry (read at each pull; no restart needed).
  for (const registry of m.registries) {
    steps.push({
      kind: 'file',
      id: `containerd-mirror-${registry}`,
      title: `containerd pulls ${registry} images from ${address}:${m.port}`,
      path: `/etc/containerd/certs.d/${registry}/hosts.toml`,
      mode: '0644',
      content: hostsToml(registry, base, caPath),
      compare: 'exact',
    });
  }

  // 3. OS packages.
  const keyStep = (id: string, title: string, url: string): Step =>
    keys.signingKey
      ? { kind: 'file', id, title, path: paths.repoKey, mode: '0644', content: keys.signingKey.endsWith('\n') ? keys.signingKey : `${keys.signingKey}\n`, compare: 'exact' }
      : {
          kind: 'command',
          id,
          title: `${title} (fetched from the mirror)`,
          check: `grep -q 'BEGIN PGP PUBLIC KEY BLOCK' ${paths.repoKey} 2>/dev/null`,
          run: `mkdir -p ${paths.repoKey.replace(/\/[^/]+$/, '')} && curl -fsS ${caPath ? `--cacert ${caPath} ` : ''}-o ${paths.repoKey}.tmp ${url} && grep -q 'BEGIN PGP PUBLIC KEY BLOCK' ${paths.repoKey}.tmp && mv ${paths.repoKey}.tmp ${paths.repoKey}`,
        };
  if (host.os === 'debian12') {
    steps.push(
      keyStep('apt-keyring', 'the site repository key for apt (Signed-By)', `${base}/apt/airlock-archive-keyring.asc`),
      { kind: 'file', id: 'apt-sources', title: `apt sources: ${base}/apt ${paths.channel} main, signed by the site key`, path: '/etc/apt/sources.list.d/airlock.sources', mode: '0644', content: aptSources(base, paths.channel, paths.repoKey), compare: 'exact' },
      {
        // Offline, every other source only makes `apt-get update` fail: they are moved aside (kept, renamed).
        kind: 'command',
        id: 'apt-only-mirror',
        title: 'apt uses only the site mirror (other sources moved aside as *.airlock-off)',
        check: "! grep -qsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list && [ -z \"$(find /etc/apt/sources.list.d -maxdepth 1 \\( -name '*.list' -o -name '*.sources' \\) ! -name airlock.sources 2>/dev/null)\" ]",
        run: "if grep -qsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list; then mv /etc/apt/sources.list /etc/apt/sources.list.airlock-off; fi; find /etc/apt/sources.list.d -maxdepth 1 \\( -name '*.list' -o -name '*.sources' \\) ! -name airlock.sources -exec mv {} {}.airlock-off \\;",
      },
      {
        kind: 'command',
        id: 'apt-update',
        title: 'apt has read the mirror\'s signed index',
        check: `ls /var/lib/apt/lists/ 2>/dev/null | grep -q '_apt_dists_${paths.channel}_InRelease$'`,
        run: 'apt-get update -qq',
        after: ['apt-sources', 'apt-keyring', 'apt-only-mirror'],
      },
    );
  } else {
    steps.push(
      keyStep('dnf-key', 'the site repository key for dnf (repo_gpgcheck)', `${base}/yum/RPM-GPG-KEY-airlock`),
      { kind: 'file', id: 'dnf-repo', title: `dnf repo: ${base}/yum/${paths.channel}, repomd signed by the site key`, path: '/etc/yum.repos.d/airlock.repo', mode: '0644', content: dnfRepo(base, paths.channel, `file://${paths.repoKey}`), compare: 'exact' },
    );
  }

  // 4. Language package managers and Helm.
  steps.push(
    { kind: 'file', id: 'pip-conf', title: `pip installs from ${base}/pypi/simple/`, path: '/etc/pip.conf', mode: '0644', content: pipConf(base, address, m.port, m.tls, paths.caBundle), compare: 'exact' },
    { kind: 'file', id: 'go-env', title: `Go modules from ${base}/go (GOSUMDB off)`, path: '/etc/profile.d/airlock-go.sh', mode: '0644', content: goProfile(base), compare: 'exact' },
    { kind: 'file', id: 'helm-repos', title: `Helm repository "airlock" → ${base}/helm`, path: '/etc/airlock/helm/repositories.yaml', mode: '0644', content: helmRepositories(base, caPath), compare: 'exact' },
    {
      kind: 'file',
      id: 'helm-env',
      title: 'Helm reads the site repositories file',
      path: '/etc/profile.d/airlock-helm.sh',
      mode: '0644',
      content: `# ${MANAGED}\nexport HELM_REPOSITORY_CONFIG="\${HELM_REPOSITORY_CONFIG:-/etc/airlock/helm/repositories.yaml}"\n`,
      compare: 'exact',
    },
  );
  return steps;
}

/** The names and addresses the mirror's HTTPS certificate must carry: every address of the mirror host, its
 * name and <name>.<zone>, and every zone record pointing at it (e.g. registry.<zone>). */
export function mirrorCertificateNames(topo: Topology): { dnsNames: string[]; ipAddresses: string[] } {
  const m = topo.site.services.mirrors;
  const host = m && topo.hosts.get(m.host)?.host;
  if (!host) return { dnsNames: [], ipAddresses: [] };
  const ipAddresses = topo.ifacesOf(host).filter((f) => f.iface.enabled).map((f) => f.iface.address.replace(/\/\d+$/, ''));
  const zone = topo.site.services.dns?.zone?.name.replace(/\.$/, '');
  const names = [host.name, ...(zone ? [`${host.name}.${zone}`] : [])];
  if (zone) for (const r of topo.zoneRecords()) if (ipAddresses.includes(r.address)) names.push(`${r.name}.${zone}`);
  return { dnsNames: [...new Set(names)], ipAddresses };
}
