// Golden files: every rendered file and plan of every test site is compared byte for byte with
// test/golden/<site>/<host>/. Regenerate after an intended change with: UPDATE_GOLDEN=1 npm test
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { formatIpamPlan, ipamPlan, runbookMarkdown, siteImages } from '../src/index.ts';
import { root, testSites } from './sites.ts';

const goldenDir = join(root, 'test', 'golden');
const update = process.env.UPDATE_GOLDEN === '1';

function expectedTree(site: ReturnType<typeof testSites>[number]): Map<string, string> {
  const m = new Map<string, string>();
  for (const h of site.rendered.hosts) {
    for (const f of h.files) m.set(join(h.host, 'files', f.path), f.content);
    m.set(join(h.host, 'plan.json'), `${JSON.stringify(h.plan, null, 2)}\n`);
  }
  // Site-wide outputs of the cluster planning verbs.
  if (site.site.cluster) {
    m.set(join('_site', 'runbook.md'), runbookMarkdown(site.site));
    const ipam = ipamPlan(site.site);
    if (ipam) m.set(join('_site', 'ipam.txt'), formatIpamPlan(ipam));
    const images = siteImages(site.site);
    if (images) m.set(join('_site', 'images.json'), `${JSON.stringify(images, null, 2)}\n`);
  }
  return m;
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

describe('golden renders', () => {
  for (const site of testSites()) {
    it(site.name, () => {
      const dir = join(goldenDir, site.name);
      const tree = expectedTree(site);
      if (update) {
        rmSync(dir, { recursive: true, force: true });
        for (const [p, c] of tree) {
          mkdirSync(dirname(join(dir, p)), { recursive: true });
          writeFileSync(join(dir, p), c);
        }
      }
      assert.deepEqual(listFiles(dir).sort(), [...tree.keys()].sort(), 'same set of files (UPDATE_GOLDEN=1 to accept)');
      for (const [p, c] of tree) assert.equal(c, readFileSync(join(dir, p), 'utf8'), `${site.name}/${p} differs (UPDATE_GOLDEN=1 to accept)`);
    });
  }

  it('covers both OS families and both firewalls', () => {
    const all = testSites().flatMap((s) => s.rendered.hosts);
    const oses = new Set(all.map((h) => h.plan.os));
    assert.deepEqual([...oses].sort(), ['debian12', 'rocky9']);
    const paths = new Set(all.flatMap((h) => h.files.map((f) => f.path)));
    for (const p of ['/etc/airlock/nat.nft', '/etc/airlock/iptables.rules', '/etc/chrony.conf', '/etc/chrony/chrony.conf', '/etc/named.conf', '/etc/bind/named.conf'])
      assert.ok(paths.has(p), `some site renders ${p}`);
  });

  it('is pure: rendering twice gives identical output', () => {
    const a = testSites().map((s) => s.rendered);
    const b = testSites().map((s) => s.rendered);
    assert.deepEqual(a, b);
  });
});
