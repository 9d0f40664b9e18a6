// Rendered configs are accepted by the real tools: chronyd -p, named-checkconf -z, named-checkzone,
// nft -c, iptables-restore. Each validator is also fed a broken file, to prove it can fail.
// Firewall rules are loaded for real in a throwaway network namespace (unshare -n), twice, to show
// that re-applying never duplicates a rule.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { RenderedFile } from '../src/index.ts';
import { testSites } from './sites.ts';

const tmp = mkdtempSync(join(tmpdir(), 'airlock-configs-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;
const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
// In CI every tool must be there: a missing one is a failure, not a skip.
const need = (bin: string) => (have(bin) || process.env.CI ? false : `${bin} not installed (apt-get install chrony bind9-utils nftables iptables)`);

function run(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}
function put(path: string, content: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
}

const sites = testSites();
const filesWhere = (pred: (f: RenderedFile) => boolean) =>
  sites.flatMap((s) => s.rendered.hosts.flatMap((h) => h.files.filter(pred).map((f) => ({ site: s.name, host: h.host, file: f }))));

describe('chrony.conf passes chronyd -p', { skip: need('chronyd') }, () => {
  const confs = filesWhere((f) => /chrony(\/chrony)?\.conf$/.test(f.path));
  it('found configs', () => assert.ok(confs.length >= 4));
  for (const c of confs) {
    it(`${c.site}/${c.host}${c.file.path}`, () => {
      const p = put(join(tmp, 'chrony', c.site, c.host, 'chrony.conf'), c.file.content);
      const r = run('chronyd', ['-p', '-f', p]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^(server|pool|allow|local) /m);
    });
  }
  it('rejects a broken config (the validator can fail)', () => {
    const p = put(join(tmp, 'chrony', 'broken.conf'), 'server 192.168.10.10 iburst\nallow 300.1.1.1\nlocal stratum 99\n');
    assert.notEqual(run('chronyd', ['-p', '-f', p]).code, 0);
  });
});

describe('named.conf + zone pass named-checkconf -z and named-checkzone', { skip: need('named-checkconf') }, () => {
  const servers = sites.flatMap((s) =>
    s.rendered.hosts.filter((h) => h.files.some((f) => f.path.endsWith('named.conf'))).map((h) => ({ site: s.name, host: h })),
  );
  it('found servers', () => assert.ok(servers.length >= 3));
  for (const { site, host } of servers) {
    it(`${site}/${host.host}`, () => {
      // Lay the host's files out under a fake root and check there (-t chroots named-checkconf).
      const root = join(tmp, 'bind', site, host.host);
      for (const f of host.files) put(join(root, f.path), f.content);
      const conf = host.files.find((f) => f.path.endsWith('named.conf'))!;
      const dirMatch = /directory "([^"]+)"/.exec(conf.content)!;
      mkdirSync(join(root, dirMatch[1]!), { recursive: true });
      const r = run('named-checkconf', ['-t', root, '-z', conf.path]);
      assert.equal(r.code, 0, r.out);
      const zone = host.files.find((f) => /\/db\.[^/]+$/.test(f.path));
      if (zone) {
        const name = zone.path.replace(/^.*\/db\./, '');
        const z = run('named-checkzone', ['-k', 'fail', '-n', 'fail', name, join(root, zone.path)]);
        assert.equal(z.code, 0, z.out);
        assert.match(z.out, /loaded serial 2026010101/);
      }
    });
  }
  it('rejects a broken named.conf and zone (the validators can fail)', () => {
    const p = put(join(tmp, 'bind', 'broken.conf'), 'options { directory "/"; allow-query { 10.0.0.0/33; }; };\n');
    assert.notEqual(run('named-checkconf', [p]).code, 0);
    const z = put(join(tmp, 'bind', 'db.broken'), '$TTL 60\n@ IN SOA ns1 h 1 1 1 1 1\n@ IN NS ns1\nx IN A 10.0.0.300\n');
    assert.notEqual(run('named-checkzone', ['broken', z]).code, 0);
  });
});

describe('NAT rules load for real in a throwaway netns, idempotently', { skip: !isRoot ? 'needs root (unshare -n)' : need('nft') || need('iptables-restore') }, () => {
  const nfts = filesWhere((f) => f.path.endsWith('.nft'));
  const ipts = filesWhere((f) => f.path.endsWith('iptables.rules'));
  it('found rulesets', () => assert.ok(nfts.length >= 1 && ipts.length >= 1));
  for (const n of nfts) {
    it(`nft ${n.site}/${n.host}`, () => {
      const p = put(join(tmp, 'nft', n.site, 'nat.nft'), n.file.content);
      assert.equal(run('unshare', ['-n', 'nft', '-c', '-f', p]).code, 0, 'nft -c');
      // Load three times in one namespace: the table holds exactly one copy of each rule.
      const listing = execFileSync('unshare', ['-n', 'sh', '-c', `nft -f ${p} && nft -f ${p} && nft -f ${p} && nft list table ip airlock`], { encoding: 'utf8' });
      assert.equal(listing.match(/masquerade/g)?.length, 1, listing);
      assert.equal(listing.match(/ drop/g)?.length, 1, listing);
    });
  }
  it('nft -c rejects a broken ruleset (the validator can fail)', () => {
    const p = put(join(tmp, 'nft', 'broken.nft'), 'table ip x { chain c { type nat hook postrouting priority srcnat; oifname "e" masqueradee } }\n');
    assert.notEqual(run('unshare', ['-n', 'nft', '-c', '-f', p]).code, 0);
  });
  for (const n of ipts) {
    it(`iptables ${n.site}/${n.host}`, () => {
      const host = sites.find((s) => s.name === n.site)!.rendered.hosts.find((h) => h.host === n.host)!;
      const expect = host.files.find((f) => f.path.endsWith('iptables.expect'))!;
      const p = put(join(tmp, 'ipt', n.site, 'rules'), n.file.content);
      const e = put(join(tmp, 'ipt', n.site, 'expect'), expect.content);
      assert.equal(run('unshare', ['-n', 'iptables-restore', '--test', '--noflush', p]).code, 0, 'iptables-restore --test');
      // Restore twice, then the plan's own check must hold: the live chains equal the expect file.
      const r = run('unshare', ['-n', 'sh', '-c', `iptables-restore --noflush ${p} && iptables-restore --noflush ${p} && { iptables-save -t nat; iptables-save -t filter; } | grep -- '^-A AIRLOCK-' | cmp - ${e}`]);
      assert.equal(r.code, 0, r.out);
    });
  }
});

describe('containerd config.toml passes containerd config dump', { skip: need('containerd') }, () => {
  const confs = filesWhere((f) => f.path === '/etc/containerd/config.toml');
  it('found configs', () => assert.ok(confs.length >= 3));
  for (const c of confs) {
    it(`${c.site}/${c.host}`, () => {
      const p = put(join(tmp, 'containerd', c.site, c.host, 'config.toml'), c.file.content);
      const r = run('containerd', ['--config', p, 'config', 'dump']);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /SystemdCgroup = true/);
      assert.match(r.out, /config_path = "\/etc\/containerd\/certs.d"/);
    });
  }
  it('rejects a broken config (the validator can fail)', () => {
    const p = put(join(tmp, 'containerd', 'broken.toml'), 'version = 2\n[plugins."io.containerd.grpc.v1.cri"\n');
    assert.notEqual(run('containerd', ['--config', p, 'config', 'dump']).code, 0);
  });
});
