// End to end, as an operator runs it: the seed site in a lab of real booted hosts (systemd, NetworkManager,
// chronyd, named, nftables), configured over SSH from the bastion, verified with the seed's checklist.
// Then: re-apply changes nothing; things broken by hand are caught by verify and repaired by apply;
// killing airlock mid `lab up` / mid `apply` is recovered by `lab down` / a re-`apply`.
// Traffic stays inside the lab's namespaces: the "internet" is a TEST-NET host in the lab.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { applyPlan, findRehearsal, loadSite, rehearsalTransports, type Plan } from '../../src/index.ts';
import { buildImage, writeLayout } from '../oci-image.ts';
import { json, killWhen } from './cli.ts';
import { mkdirSync } from 'node:fs';

const root = join(import.meta.dirname, '..', '..');
const site = join(root, 'examples', 'seed', 'site.yaml');
const prefix = `e${randomBytes(3).toString('hex').slice(0, 4)}`;
const tmp = mkdtempSync(join(tmpdir(), 'airlock-e2e-'));
const isRoot = process.getuid?.() === 0;
const stateDir = `/var/lib/airlock/labs/${prefix}`;

function airlock(args: string[], timeoutMs = 300_000) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'airlock.js'), ...args], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const labExec = (host: string, cmd: string) => airlock(['lab', 'exec', site, host, '--prefix', prefix, '--', 'sh', '-c', cmd]);

interface ApplyJson { ok: boolean; changed: number; hosts: { host: string; ok: boolean; changed: number; error?: string }[] }
interface VerifyJson { passed: number; failed: number; results: { id: string; host: string; status: string; seen: string }[] }

const apply = () => json<ApplyJson>(airlock(['apply', site, '--lab', '--prefix', prefix, '--json']));
const verify = () => json<VerifyJson>(airlock(['verify', site, '--lab', '--prefix', prefix, '--json', '--report', join(tmp, 'report.html')]));
/** Failing hosts with their error and the tail of their NetworkManager log (for a failure worth reading). */
const brief = (a: ApplyJson) =>
  a.hosts
    .filter((h) => !h.ok)
    .map((h) => `${h.host}: ${h.error}\n${labExec(h.host, 'journalctl -u NetworkManager --no-pager -n 25 -o short-precise').stdout}`)
    .join('\n');
const failing = (v: VerifyJson) => v.results.filter((r) => r.status === 'fail' || r.status === 'error').map((r) => `${r.host}:${r.id}`).sort();
const labNetns = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${prefix}-`));
const labCgroups = () =>
  ['/sys/fs/cgroup/systemd/airlock', '/sys/fs/cgroup/unified/airlock', '/sys/fs/cgroup/airlock'].flatMap((d) =>
    existsSync(d) ? spawnSync('ls', [d], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${prefix}-`)) : [],
  );
const labMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(stateDir));

const killMidway = (args: string[], when: () => boolean) => killWhen(args, when);

describe('seed site in the lab', { skip: isRoot ? false : 'needs root (namespaces, mounts, systemd-nspawn)' }, () => {
  before(() => {
    // A lab left by an earlier crashed run of this same prefix is impossible (random), but be safe.
    airlock(['lab', 'down', site, '--prefix', prefix]);
  });
  after(() => {
    airlock(['lab', 'down', site, '--prefix', prefix]);
    rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(labNetns(), [], 'no namespace left');
    assert.deepEqual(labMounts(), [], 'no mount left');
    assert.deepEqual(labCgroups(), [], 'no cgroup left');
  });

  it('lab up killed midway is cleaned by lab down', async () => {
    const killed = await killMidway(['lab', 'up', site, '--prefix', prefix], () => labNetns().some((n) => n.endsWith('-cp1')));
    assert.ok(killed, 'lab up was killed while booting');
    assert.ok(labNetns().length > 0, 'it had made namespaces');
    const down = airlock(['lab', 'down', site, '--prefix', prefix]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(labNetns(), []);
    assert.deepEqual(labMounts(), []);
    assert.deepEqual(labCgroups(), []);
    assert.ok(!existsSync(join(stateDir, 'state.json')));
  });

  it('lab up boots every host', () => {
    const r = airlock(['lab', 'up', site, '--prefix', prefix, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const up = json<{ hosts: string[]; notes: string[] }>(r);
    assert.deepEqual(up.hosts.sort(), ['admin', 'cp1', 'upstream', 'w1', 'w2']);
    assert.ok(up.notes.some((n) => n.includes('8.8.8.8 → 203.0.113.1')), 'public forwarders are mapped to the lab upstream');
    const hostname = labExec('cp1', 'hostname; ip -o link show enp0s8 >/dev/null && ip -o link show enp0s9 >/dev/null && echo links-ok');
    assert.match(hostname.stdout, /cp1\nlinks-ok/);
  });

  it('apply killed midway, then apply again converges', async () => {
    // Kill once the admin's first file is in place (the apply has started changing hosts).
    const killed = await killMidway(['apply', site, '--lab', '--prefix', prefix], () => {
      const r = spawnSync('sh', ['-c', `ls ${stateDir}/hosts/admin/upper/etc/sysctl.d/99-ipforward.conf 2>/dev/null`]);
      return r.status === 0;
    });
    assert.ok(killed, 'apply was killed midway');
    const a = apply();
    assert.equal(a.ok, true, brief(a));
    assert.ok(a.changed > 0);
  });

  it('verify: every check of the seed checklist passes', () => {
    const v = verify();
    assert.deepEqual(failing(v), []);
    const ids = new Set(v.results.map((r) => r.id));
    for (const id of ['node-default-route', 'node-outside-down', 'node-nat-egress', 'node-dns-internal', 'node-dns-upstream', 'node-ntp-synced', 'node-resolv-survives-nm', 'ntp-server-synced', 'outsider-dns-refused', 'outsider-ntp-denied'])
      assert.ok(ids.has(id), `probe ${id} ran`);
    const nat = v.results.find((r) => r.id === 'node-nat-egress')!;
    assert.match(nat.seen, /203\.0\.113\.10/, "the upstream sees the admin's outside address");
    const html = readFileSync(join(tmp, 'report.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.match(html, /passed, 0 failed/);
  });

  it('node preparation: applied where a container can, reported "not checkable" where it cannot', () => {
    const v = verify();
    const prep = (id: string) => v.results.filter((r) => r.id === id).map((r) => r.status);
    assert.deepEqual(prep('prep-containerd'), ['pass', 'pass', 'pass'], 'containerd runs with our config on cp1, w1, w2');
    assert.deepEqual(prep('prep-ip-forward'), ['pass', 'pass', 'pass']);
    assert.deepEqual(prep('prep-modules'), ['skipped', 'skipped', 'skipped'], 'kernel modules are the machine\'s');
    assert.deepEqual(prep('prep-swap-off'), ['skipped', 'skipped', 'skipped']);
  });

  it('with the PKI material, apply places kubeadm init/join files (0600)', () => {
    const dir = join(tmp, 'pki');
    assert.equal(airlock(['pki', site, '--out', dir]).code, 0);
    const a = json<ApplyJson>(airlock(['apply', site, '--lab', '--prefix', prefix, '--pki', dir, '--json']));
    assert.equal(a.ok, true, brief(a));
    assert.equal(labExec('cp1', 'stat -c %a /etc/kubernetes/airlock/kubeadm-init.yaml').stdout.trim(), '600');
    assert.match(labExec('w1', 'cat /etc/kubernetes/airlock/kubeadm-join.yaml').stdout, /caCertHashes:\s*\n\s*- sha256:[0-9a-f]{64}/);
    const again = json<ApplyJson>(airlock(['apply', site, '--lab', '--prefix', prefix, '--pki', dir, '--json']));
    assert.equal(again.changed, 0);
  });

  it('a second apply changes nothing', () => {
    const a = apply();
    assert.equal(a.ok, true);
    assert.equal(a.changed, 0, JSON.stringify(a.hosts.filter((h) => h.changed).map((h) => h.host)));
  });

  it('breakage by hand is caught by verify and repaired by apply', () => {
    assert.equal(labExec('admin', 'systemctl stop named').code, 0);
    assert.equal(labExec('admin', 'iptables -t nat -A POSTROUTING -o enp0s8 -j MASQUERADE').code, 0, 'the seed\'s hand-made NAT rule, again');
    assert.equal(labExec('cp1', 'ip route del default').code, 0);
    assert.equal(labExec('w2', 'echo "deb http://deb.debian.org/debian bookworm main" > /etc/apt/sources.list.d/stray.list').code, 0, 'a stray apt source, as an installer leaves one');
    const broken = verify();
    const f = failing(broken);
    for (const want of ['admin:dns-server-running', 'admin:gateway-nat-rule', 'cp1:node-default-route', 'cp1:node-nat-egress', 'w1:node-dns-internal', 'w2:node-apt-only-mirror'])
      assert.ok(f.includes(want), `verify catches ${want} (failing: ${f.join(', ')})`);
    const a = apply();
    assert.equal(a.ok, true, brief(a));
    assert.ok(a.hosts.find((h) => h.host === 'admin')!.changed >= 2, 'named started, hand rule removed');
    assert.ok(a.hosts.find((h) => h.host === 'cp1')!.changed >= 1, 'route restored');
    assert.deepEqual(failing(verify()), []);
    assert.equal(apply().changed, 0);
  });

  it("a node installs a package and pulls an image from the admin's mirror, through the rendered client config", async () => {
    // Build what a bundle would carry: one .deb and one OCI image, then load them into the lab mirror's store.
    const pkg = join(tmp, 'deb', 'pkg');
    mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
    mkdirSync(join(pkg, 'usr/share/airlock-hello'), { recursive: true });
    writeFileSync(join(pkg, 'usr/share/airlock-hello/hello.txt'), 'hello from the admin mirror\n');
    writeFileSync(join(pkg, 'DEBIAN/control'), 'Package: airlock-hello\nVersion: 1.0-1\nArchitecture: all\nMaintainer: airlock tests <t@example.invalid>\nDescription: airlock e2e package\n built by the e2e test\n');
    const deb = join(tmp, 'deb', 'airlock-hello_1.0-1_all.deb');
    assert.equal(spawnSync('dpkg-deb', ['--root-owner-group', '--build', pkg, deb]).status, 0);
    const img = buildImage('pulled by containerd from the admin');
    await writeLayout(join(tmp, 'layout'), img, 'v1');
    const store = join(stateDir, 'store');
    assert.equal(airlock(['store', 'add', 'deb', deb, '--store', store]).code, 0);
    assert.equal(airlock(['store', 'add', 'oci-layout', join(tmp, 'layout'), '--store', store, '--repo', 'demo/hello', '--tag', 'v1']).code, 0);
    // The node has no route out but via the admin (checked by verify); apt and containerd use what apply rendered.
    const apt = labExec('w1', 'apt-get update -qq && apt-get install -y -qq airlock-hello >/dev/null && cat /usr/share/airlock-hello/hello.txt');
    assert.equal(apt.code, 0, apt.stderr);
    assert.match(apt.stdout, /hello from the admin mirror/);
    const pull = labExec('w2', 'ctr images pull --hosts-dir /etc/containerd/certs.d --snapshotter native docker.io/demo/hello:v1 >/dev/null && ctr images ls');
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, new RegExp(`docker\\.io/demo/hello:v1\\s+\\S+\\s+${img.digest}`));
  });

  it('a failing step stops the host and rolls back the files this run replaced', async () => {
    const r = findRehearsal(loadSite(readFileSync(site, 'utf8'), site).site, prefix)!;
    const transports = rehearsalTransports(r);
    try {
      const t = await transports('w1');
      await t.writeFile('/etc/airlock-rollback-a.conf', 'before\n', { mode: '0644' });
      await t.run('rm -f /etc/airlock-rollback-b.conf');
      const plan: Plan = {
        host: 'w1',
        os: 'debian12',
        roles: ['worker'],
        steps: [
          { kind: 'file', id: 'a', title: 'replace a', path: '/etc/airlock-rollback-a.conf', mode: '0644', content: 'after\n', compare: 'exact' },
          { kind: 'file', id: 'b', title: 'create b', path: '/etc/airlock-rollback-b.conf', mode: '0644', content: 'new\n', compare: 'exact' },
          { kind: 'command', id: 'boom', title: 'a step that fails', check: 'false', run: 'echo broken >&2; exit 3' },
          { kind: 'file', id: 'c', title: 'never reached', path: '/etc/airlock-rollback-c.conf', mode: '0644', content: 'x\n', compare: 'exact' },
        ],
      };
      const res = await applyPlan(plan, t);
      assert.equal(res.ok, false);
      assert.match(res.error ?? '', /a step that fails.*exit 3.*broken/s);
      assert.deepEqual(res.rolledBack.sort(), ['/etc/airlock-rollback-a.conf', '/etc/airlock-rollback-b.conf']);
      assert.equal((await t.readFile('/etc/airlock-rollback-a.conf'))?.content, 'before\n', 'replaced file restored');
      assert.equal(await t.readFile('/etc/airlock-rollback-b.conf'), undefined, 'created file removed');
      assert.equal(await t.readFile('/etc/airlock-rollback-c.conf'), undefined, 'later steps not run');
      assert.ok(res.backupDir && (await t.readFile(`${res.backupDir}/etc/airlock-rollback-a.conf`))?.content === 'before\n', 'backup kept');
      await t.run('rm -f /etc/airlock-rollback-a.conf');
    } finally {
      await transports.closeAll();
    }
  });

  it('from the bastion, plain `apply` reaches the hosts as real servers: key auth, pinned host keys', () => {
    // The operator's view: airlock run on the bastion against the hosts' addresses, no lab involved.
    const r = findRehearsal(loadSite(readFileSync(site, 'utf8'), site).site, prefix)!;
    const siteFile = join(tmp, 'as-deployed.yaml');
    // The lab-mapped site (Debian hosts, forwarders in the lab), without its cluster and mirrors: outside
    // the lab, node preparation would (rightly) load kernel modules and fetch the mirror's key, which a lab
    // host cannot (no modules of its own, no mirror server in the lab yet).
    const { cluster: _cluster, ...networkOnly } = r.layout.site;
    const { mirrors: _mirrors, ...services } = networkOnly.services;
    writeFileSync(siteFile, stringify({ ...networkOnly, services }));
    const run = (knownHosts: string) =>
      spawnSync('ip', ['netns', 'exec', r.state.bastion.netns, process.execPath, join(root, 'bin', 'airlock.js'), 'apply', siteFile, '-i', r.state.sshKey.privateKeyPath, '--known-hosts', knownHosts, '--json'], { encoding: 'utf8', timeout: 120_000 });
    const ok = run(join(r.state.stateDir, 'known_hosts'));
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as ApplyJson).changed, 0);
    const wrong = join(tmp, 'wrong_known_hosts');
    const other = readFileSync(join(r.state.stateDir, 'known_hosts'), 'utf8').split('\n').filter(Boolean);
    // Every address pinned to some other host's key: every connection must be refused.
    writeFileSync(wrong, other.map((l, i) => `${l.split(' ')[0]} ${other[(i + 1) % other.length]!.split(' ').slice(1).join(' ')}`).join('\n'));
    const bad = run(wrong);
    assert.equal(bad.status, 1);
    const res = JSON.parse(bad.stdout) as ApplyJson;
    assert.ok(res.hosts.every((h) => !h.ok && /host key/i.test(h.error ?? '')), bad.stdout);
  });

  it('lab status sees every host running', () => {
    const r = airlock(['lab', 'status', site, '--prefix', prefix, '--json']);
    assert.equal(r.code, 0, r.stdout);
  });
});
