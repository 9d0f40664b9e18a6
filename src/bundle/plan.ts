// What a site's bundle must carry, from site.yaml alone (pure): the cluster's images (`airlock images`),
// the OS packages every host's plan installs (per OS; their dependencies are resolved when the bundle
// is made), and the user's additions under `bundle:`.
import type { Site } from '../schema.ts';
import { render } from '../render/index.ts';
import { siteImages } from '../cluster/images.ts';
import type { BundlePlan, PlannedArtifact } from './types.ts';

/** "registry/path:tag" → "path:tag" (the repository path and tag on the site mirror). */
export function withoutRegistry(ref: string): string {
  const slash = ref.indexOf('/');
  return slash < 0 ? ref : ref.slice(slash + 1);
}

export function bundlePlan(site: Site): BundlePlan {
  const artifacts: PlannedArtifact[] = [];
  const warnings: string[] = [];
  const seen = new Map<string, PlannedArtifact>();
  const add = (a: PlannedArtifact) => {
    const key = `${a.kind}\0${a.os ?? ''}\0${a.repo ?? ''}\0${a.name}\0${a.version ?? ''}`;
    const had = seen.get(key);
    if (had) {
      if (!had.reason.split(', ').includes(a.reason)) had.reason += `, ${a.reason}`;
      if (a.targets) had.targets = [...new Set([...(had.targets ?? []), ...a.targets])];
      return;
    }
    seen.set(key, a);
    artifacts.push(a);
  };

  // 1. Images: the cluster's, then the user's.
  if (site.cluster) {
    const list = siteImages(site);
    if (!list) warnings.push(`Kubernetes ${site.cluster.kubernetesVersion} is not in the image table; add its images under bundle.images`);
    else {
      warnings.push(...list.warnings);
      for (const img of list.images) {
        const targets = [withoutRegistry(img.source)];
        if (img.mirror) targets.unshift(withoutRegistry(img.mirror));
        const reason = img.source.startsWith('registry.k8s.io/') ? `kubeadm v${list.kubernetesVersion}` : `Calico ${list.calicoVersion}`;
        add({ kind: 'image', name: img.source, targets: [...new Set(targets)], reason });
      }
    }
  }
  for (const ref of site.bundle.images) add({ kind: 'image', name: ref, targets: [withoutRegistry(ref)], reason: 'bundle.images' });

  // 2. OS packages the hosts' plans install, per OS, in plan order.
  const byPackage = new Map<string, { os: Site['hosts'][number]['os']; name: string; version?: string; hosts: string[] }>();
  for (const h of render(site).hosts) {
    const host = site.hosts.find((x) => x.name === h.host)!;
    for (const step of h.plan.steps) {
      if (step.kind !== 'command' || !step.packages) continue;
      for (const p of step.packages) {
        const key = `${host.os}\0${p.name}\0${p.version ?? ''}`;
        const e = byPackage.get(key) ?? { os: host.os, name: p.name, ...(p.version ? { version: p.version } : {}), hosts: [] };
        e.hosts.push(host.name);
        byPackage.set(key, e);
      }
    }
  }
  for (const p of byPackage.values()) {
    add({ kind: p.os === 'debian12' ? 'deb' : 'rpm', os: p.os, name: p.name, ...(p.version ? { version: p.version } : {}), reason: `installed on ${p.hosts.join(', ')}` });
  }
  for (const spec of site.bundle.packages.debian12) {
    const [name, version] = spec.split('=') as [string, string | undefined];
    add({ kind: 'deb', os: 'debian12', name, ...(version ? { version } : {}), reason: 'bundle.packages.debian12' });
  }
  for (const name of site.bundle.packages.rocky9) add({ kind: 'rpm', os: 'rocky9', name, reason: 'bundle.packages.rocky9' });

  // 3. The user's other artifacts.
  for (const req of site.bundle.python) {
    const [name, version] = req.split('==') as [string, string];
    add({ kind: 'python', name, version, reason: 'bundle.python' });
  }
  for (const c of site.bundle.charts) {
    if (!site.bundle.sources.helm.some((r) => r.name === c.repo)) warnings.push(`chart ${c.name}: no repository "${c.repo}" under bundle.sources.helm`);
    add({ kind: 'chart', repo: c.repo, name: c.name, version: c.version, reason: 'bundle.charts' });
  }
  for (const m of site.bundle.goModules) {
    const at = m.lastIndexOf('@');
    add({ kind: 'gomod', name: m.slice(0, at), version: m.slice(at + 1), reason: 'bundle.goModules' });
  }
  for (const f of site.bundle.files) {
    const name = f.name ?? decodeURIComponent(new URL(f.url).pathname.split('/').pop() || 'file');
    add({ kind: 'file', name, url: f.url, sha256: f.sha256, reason: 'bundle.files' });
  }
  return { site: site.metadata.name, artifacts, warnings };
}

/** One line per planned artifact, for people. */
export function formatBundlePlan(plan: BundlePlan): string {
  const lines = [`# bundle for site ${plan.site}: ${plan.artifacts.length} artifact(s) before dependencies`];
  for (const a of plan.artifacts) {
    const what = a.kind === 'deb' || a.kind === 'rpm' ? `${a.os} ${a.name}${a.version ? ` ${a.version}` : ''}` : `${a.name}${a.version ? ` ${a.version}` : ''}`;
    lines.push(`${a.kind.padEnd(6)} ${what}  (${a.reason})`);
  }
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
