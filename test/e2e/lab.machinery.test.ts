// Lab machinery, for real: builds (or reuses) the base image, boots a 2-host lab of systemd-nspawn
// containers in network namespaces, checks SSH from the bastion, interface names, chrony without
// CAP_SYS_TIME and that the machine's root namespace gained no links; then takes it down, and checks
// that a labUp killed with SIGKILL half-way is cleaned up completely by labDown.
// All traffic stays inside namespaces this test creates (192.168.77.0/24, 203.0.113.0/24, no routes out).
// Needs root; skipped otherwise. AIRLOCK_LAB_IMAGE_DIR overrides the image cache (default /var/cache/airlock/images).
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  bastionExec,
  ensureImage,
  hostExec,
  labDown,
  labStatus,
  labUp,
  loadState,
  waitForSsh,
  type LabFile,
  type LabSpec,
  type LabState,
} from '../../src/lab/index.ts';
import { mkdirInRoot, writeInRoot } from '../../src/lab/fsutil.ts';
import { parseDeb822Sources, parseOneLineSources, pickMirror } from '../../src/lab/image.ts';
import { validateSpec } from '../../src/lab/spec.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'skipped: the lab machinery needs root (network namespaces, mounts, systemd-nspawn)';
const IMAGE_DIR = process.env['AIRLOCK_LAB_IMAGE_DIR'] ?? '/var/cache/airlock/images';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function randomPrefix(): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `t${[...randomBytes(4)].map((b) => chars[b % chars.length]).join('')}`;
}

function keyfile(ifname: string, address: string): LabFile {
  return {
    path: `/etc/NetworkManager/system-connections/${ifname}.nmconnection`,
    mode: '0600',
    content: [
      '[connection]',
      `id=${ifname}`,
      'type=ethernet',
      `interface-name=${ifname}`,
      'autoconnect=true',
      '[ipv4]',
      'method=manual',
      `address1=${address}`,
      '[ipv6]',
      'method=disabled',
      '',
    ].join('\n'),
  };
}

function makeSpec(prefix: string, stateDir: string): LabSpec {
  return {
    prefix,
    stateDir,
    imageDir: IMAGE_DIR,
    imagePackages: [],
    networks: [{ name: 'outside' }, { name: 'inside' }],
    hosts: [
      {
        name: 'a',
        interfaces: [
          { name: 'enp0s8', network: 'outside' },
          { name: 'enp0s9', network: 'inside' },
        ],
        files: [keyfile('enp0s8', '203.0.113.10/24'), keyfile('enp0s9', '192.168.77.10/24')],
      },
      { name: 'b', interfaces: [{ name: 'enp0s9', network: 'inside' }], files: [keyfile('enp0s9', '192.168.77.11/24')] },
    ],
    bastion: { network: 'inside', address: '192.168.77.250/24' },
  };
}

const HOST_ADDR: Record<string, string> = { a: '192.168.77.10', b: '192.168.77.11' };

/** Links of the machine's root namespace, as "name" strings (ifindex dropped: names are what matter). */
function rootLinks(): string[] {
  return execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.split(': ')[1] ?? '').split('@')[0]!)
    .sort();
}

function netnsWithPrefix(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

function mountsMentioning(s: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(s));
}

/** PIDs of live (non-zombie) processes whose command line mentions our machine names. */
function nspawnProcesses(prefix: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = fs.readFileSync(`/proc/${d}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue;
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('systemd-nspawn') && argv.some((a) => a.startsWith(`${prefix}-`))) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

function capBit(statusText: string, field: string, bit: number): boolean {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(statusText);
  assert.ok(m, `${field} in /proc status`);
  return (BigInt(`0x${m[1]}`) & (1n << BigInt(bit))) !== 0n;
}
const CAP_SYS_TIME = 25;

async function assertClean(prefix: string, stateDir: string, pids: number[]): Promise<void> {
  assert.deepEqual(netnsWithPrefix(prefix), [], 'no network namespace with the prefix is left');
  assert.deepEqual(mountsMentioning(stateDir), [], 'nothing is mounted under the state dir');
  assert.deepEqual(mountsMentioning(`${prefix}-`), [], 'no mount mentions the prefix');
  assert.deepEqual(nspawnProcesses(prefix), [], 'no systemd-nspawn of this lab is running');
  for (const p of pids) {
    let alive = false;
    try {
      alive = !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
    } catch {
      alive = false;
    }
    assert.equal(alive, false, `process ${p} is gone`);
  }
  assert.equal(fs.existsSync(path.join(stateDir, 'state.json')), false, 'state.json removed');
  assert.ok(!rootLinks().some((l) => l.startsWith(`${prefix}-`)), 'no link with the prefix in the root namespace');
}

test('the Debian mirror comes from apt sources (deb822 and one-line), suite exactly', () => {
  const deb822 = [
    'Types: deb',
    'URIs: http://mirror.example/debian',
    'Suites: bookworm bookworm-updates',
    'Components: main',
    '',
    'Types: deb',
    'URIs: http://mirror.example/debian-security',
    'Suites: bookworm-security',
    'Components: main',
  ].join('\n');
  assert.equal(pickMirror(parseDeb822Sources(deb822)), 'http://mirror.example/debian');
  assert.equal(pickMirror(parseDeb822Sources('Types: deb\nURIs: http://x/d\nSuites: bookworm-security\n')), undefined);
  const oneLine = '# comment\ndeb [signed-by=/k.gpg] https://other.example/debian bookworm main\n';
  assert.equal(pickMirror(parseOneLineSources(oneLine)), 'https://other.example/debian');
  assert.equal(pickMirror(parseDeb822Sources('Enabled: no\nTypes: deb\nURIs: http://x/d\nSuites: bookworm\n')), undefined);
});

test('validateSpec rejects bad prefixes, names and references', () => {
  const good = makeSpec('ab12', '/tmp/x/ab12');
  assert.doesNotThrow(() => validateSpec(good));
  assert.throws(() => validateSpec({ ...good, prefix: 'TooLong7' }), /prefix/);
  assert.throws(() => validateSpec({ ...good, stateDir: 'relative' }), /stateDir/);
  assert.throws(() => validateSpec({ ...good, bastion: { network: 'nowhere', address: '192.168.77.250/24' } }), /unknown network/);
  assert.throws(
    () => validateSpec({ ...good, hosts: [{ name: 'sw', interfaces: [{ name: 'enp0s9', network: 'x' }], files: [] }] }),
    /reserved[\s\S]*unknown network/,
  );
  assert.throws(
    () =>
      validateSpec({
        ...good,
        hosts: [{ name: 'c', interfaces: [], files: [{ path: '/etc/../../escape', content: '' }] }],
      }),
    /"\.\."/,
  );
});

test('files are written inside the root, never through a symlink out of it', { skip }, () => {
  const base = fs.mkdtempSync('/tmp/airlock-labtest-');
  try {
    const root = path.join(base, 'root');
    const outside = path.join(base, 'outside');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'resolv.conf'), 'machine\n');
    // absolute symlinks, as an image has them: they must be read as relative to the root
    fs.symlinkSync(path.join(outside, 'resolv.conf'), path.join(root, 'etc/resolv.conf'));
    fs.symlinkSync(outside, path.join(root, 'etc/nm'));
    fs.symlinkSync('usr/lib', path.join(root, 'lib'));
    writeInRoot(root, '/etc/resolv.conf', 'lab\n', 0o644);
    writeInRoot(root, '/etc/nm/conf.d/x.conf', 'x\n', 0o600);
    writeInRoot(root, '/lib/thing', 'y\n', 0o644);
    mkdirInRoot(root, '/root/.ssh', 0o700);
    assert.equal(fs.readFileSync(path.join(outside, 'resolv.conf'), 'utf8'), 'machine\n');
    assert.deepEqual(fs.readdirSync(outside), ['resolv.conf']);
    assert.equal(fs.readFileSync(path.join(root, 'etc/resolv.conf'), 'utf8'), 'lab\n');
    assert.equal(fs.lstatSync(path.join(root, 'etc/resolv.conf')).isSymbolicLink(), false);
    assert.equal(fs.readFileSync(path.join(root, outside, 'conf.d/x.conf'), 'utf8'), 'x\n');
    assert.equal(fs.statSync(path.join(root, outside, 'conf.d/x.conf')).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(path.join(root, 'usr/lib/thing'), 'utf8'), 'y\n');
    assert.equal(fs.statSync(path.join(root, 'root/.ssh')).mode & 0o777, 0o700);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('lab machinery: image, 2-host lab, ssh from bastion, isolation, teardown', { skip, timeout: 30 * 60_000 }, async (t) => {
  const prefix = randomPrefix();
  const parent = fs.mkdtempSync('/tmp/airlock-labtest-');
  const stateDir = path.join(parent, prefix);
  const spec = makeSpec(prefix, stateDir);
  const linksBefore = rootLinks();
  let state: LabState | undefined;
  try {
    await t.test('base image builds or is reused, and a second call is a cache hit', { timeout: 20 * 60_000 }, async () => {
      const first = await ensureImage({ imageDir: IMAGE_DIR, packages: [] });
      t.diagnostic(`image ${first.built ? 'BUILT (cold)' : 'cached'} in ${first.seconds.toFixed(1)} s: ${first.path}`);
      assert.ok(fs.existsSync(path.join(first.path, 'etc/os-release')));
      const second = await ensureImage({ imageDir: IMAGE_DIR, packages: [] });
      assert.equal(second.built, false);
      assert.equal(second.path, first.path);
      t.diagnostic(`image cache hit in ${(second.seconds * 1000).toFixed(0)} ms`);
      // the prepared image: chrony never steers the clock, sshd takes keys only, no shared host keys
      const dropIn = fs.readFileSync(path.join(first.path, 'etc/systemd/system/chrony.service.d/airlock-lab.conf'), 'utf8');
      assert.match(dropIn, /^ConditionCapability=$/m);
      assert.match(dropIn, /chronyd \$DAEMON_OPTS -x$/m);
      assert.equal(fs.readdirSync(path.join(first.path, 'etc/ssh')).filter((f) => f.startsWith('ssh_host_')).length, 0);
      assert.equal(fs.readFileSync(path.join(first.path, 'etc/machine-id'), 'utf8'), '');
    });

    await t.test('labUp boots both hosts', { timeout: 5 * 60_000 }, async () => {
      const phases: string[] = [];
      const t0 = performance.now();
      state = await labUp(spec, { onProgress: (e) => phases.push(`${e.host ?? '-'} ${e.phase}`) });
      const secs = (performance.now() - t0) / 1000;
      t.diagnostic(`labUp (2 hosts, image cached) took ${secs.toFixed(2)} s`);
      assert.equal(state.phase, 'up');
      assert.ok(phases.includes('a ready') && phases.includes('b ready'), phases.join(', '));
      for (const h of state.hosts) assert.match(h.systemState ?? '', /^(running|degraded)$/);
      // every resource name carries the prefix
      for (const ns of state.resources.netns) assert.ok(ns.startsWith(`${prefix}-`), ns);
      for (const l of state.resources.links) assert.ok(l.name.startsWith(`${prefix}-`), l.name);
      for (const h of state.hosts) assert.ok(h.machine.startsWith(`${prefix}-`), h.machine);
      for (const m of state.resources.mounts) assert.ok(m.startsWith(`${stateDir}/`), m);
      assert.deepEqual(loadState(stateDir)?.phase, 'up');
    });

    await t.test('ssh from the bastion reaches both hosts with the lab key', async () => {
      assert.ok(state);
      for (const [host, addr] of Object.entries(HOST_ADDR)) {
        const waited = await waitForSsh(state, addr, 60_000);
        t.diagnostic(`sshd on ${host} (${addr}) answered after ${waited.toFixed(2)} s`);
        const r = await bastionExec(
          state,
          [
            'ssh',
            '-i',
            state.sshKey.privateKeyPath,
            '-o',
            'StrictHostKeyChecking=no',
            '-o',
            'UserKnownHostsFile=/dev/null',
            '-o',
            'BatchMode=yes',
            '-o',
            'ConnectTimeout=10',
            `root@${addr}`,
            'hostname',
          ],
          { timeoutMs: 30_000 },
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), host);
      }
    });

    await t.test('hosts have the seed interface names; the bastion only lo + its one link', async () => {
      assert.ok(state);
      const linksOf = async (h: string): Promise<string[]> => {
        const r = await hostExec(state!, h, ['ip', '-o', 'link'], { timeoutMs: 10_000 });
        assert.equal(r.code, 0, r.stderr);
        return r.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => (l.split(': ')[1] ?? '').split('@')[0]!)
          .sort();
      };
      assert.deepEqual(await linksOf('a'), ['enp0s8', 'enp0s9', 'lo']);
      assert.deepEqual(await linksOf('b'), ['enp0s9', 'lo']);
      const addrA = await hostExec(state, 'a', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'enp0s8'], { timeoutMs: 10_000 });
      assert.match(addrA.stdout, /inet 203\.0\.113\.10\/24/);
      const bl = execFileSync('ip', ['-n', state.bastion.netns, '-o', 'link'], { encoding: 'utf8' }).trim().split('\n');
      assert.equal(bl.length, 2, bl.join('\n'));
      const hn = await hostExec(state, 'b', ['hostname'], { timeoutMs: 10_000 });
      assert.equal(hn.stdout.trim(), 'b');
    });

    await t.test('chronyd runs with -x and nothing in the container has CAP_SYS_TIME', async () => {
      assert.ok(state);
      for (const h of ['a', 'b']) {
        const active = await hostExec(state, h, ['systemctl', 'is-active', 'chrony'], { timeoutMs: 10_000 });
        assert.equal(active.stdout.trim(), 'active', `chrony on ${h}: ${active.stdout}${active.stderr}`);
        const pids = await hostExec(state, h, ['pgrep', '-x', 'chronyd'], { timeoutMs: 10_000 });
        const first = pids.stdout.trim().split('\n')[0]!;
        assert.match(first, /^\d+$/);
        const argv = await hostExec(state, h, ['cat', `/proc/${first}/cmdline`], { timeoutMs: 10_000 });
        assert.ok(argv.stdout.split('\0').includes('-x'), `chronyd argv: ${argv.stdout.split('\0').join(' ')}`);
        const init = await hostExec(state, h, ['cat', '/proc/1/status'], { timeoutMs: 10_000 });
        assert.equal(capBit(init.stdout, 'CapBnd', CAP_SYS_TIME), false, 'container bounding set lacks CAP_SYS_TIME');
        const chrony = await hostExec(state, h, ['cat', `/proc/${first}/status`], { timeoutMs: 10_000 });
        assert.equal(capBit(chrony.stdout, 'CapEff', CAP_SYS_TIME), false, 'chronyd lacks CAP_SYS_TIME');
      }
    });

    await t.test('the root namespace gained no links; labStatus sees the lab healthy', async () => {
      assert.ok(state);
      assert.deepEqual(rootLinks(), linksBefore);
      const st = await labStatus(stateDir);
      assert.ok(st);
      assert.equal(st.phase, 'up');
      assert.ok(st.switchNetnsExists && st.bastion.exists);
      for (const h of st.hosts) {
        assert.ok(h.netnsExists && h.pidAlive, `${h.name} running`);
        assert.equal(h.ssh.reachable, true, `${h.name} ssh`);
        assert.equal(h.ssh.from, 'bastion');
        t.diagnostic(`host ${h.name}: ${h.processes} processes, PSS ${(h.pssKiB / 1024).toFixed(1)} MiB, ${h.systemState}`);
      }
    });

    await t.test('labDown removes everything; a second labDown is a no-op', async () => {
      assert.ok(state);
      const pids = state.hosts.flatMap((h) => [h.pid, h.leaderPid]).filter((p): p is number => p !== undefined);
      const t0 = performance.now();
      const down = await labDown(stateDir);
      t.diagnostic(`labDown took ${((performance.now() - t0) / 1000).toFixed(2)} s, removed ${down.removed.length}`);
      assert.ok(down.removed.some((r) => r.startsWith('netns ')));
      state = undefined;
      await assertClean(prefix, stateDir, pids);
      assert.deepEqual(rootLinks(), linksBefore);
      const again = await labDown(stateDir);
      assert.deepEqual(again.removed, []);
    });
  } finally {
    if (fs.existsSync(path.join(stateDir, 'state.json'))) await labDown(stateDir).catch(() => undefined);
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

/** Runs labUp in a child process, SIGKILLs it once `ready(state)` holds, then checks labDown cleans up. */
async function crashAndClean(
  label: string,
  ready: (s: LabState) => boolean,
): Promise<{ prefix: string; removed: string[] }> {
  const prefix = randomPrefix();
  const parent = fs.mkdtempSync('/tmp/airlock-labtest-');
  const stateDir = path.join(parent, prefix);
  const spec = makeSpec(prefix, stateDir);
  const code = `import { labUp } from ${JSON.stringify(path.join(REPO, 'src/lab/index.ts'))};
await labUp(JSON.parse(process.env.AIRLOCK_LAB_SPEC));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: REPO,
    env: { ...process.env, AIRLOCK_LAB_SPEC: JSON.stringify(spec) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  let childDone = false;
  void exited.then(() => (childDone = true));
  try {
    const end = Date.now() + 120_000;
    let seen: LabState | undefined;
    while (Date.now() < end && !childDone) {
      try {
        const s = loadState(stateDir);
        if (s && ready(s)) {
          seen = s;
          break;
        }
      } catch {
        /* mid-write: retry */
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(seen, `${label}: crash point not reached (child exited: ${childDone}) ${stderr}`);
    child.kill('SIGKILL');
    await exited;
    await new Promise((r) => setTimeout(r, 300)); // let an orphaned `ip`/`mount` the child had started finish
    const crashed = loadState(stateDir);
    assert.ok(crashed && crashed.phase === 'starting', `${label}: state left by the killed labUp`);
    const pids = crashed.resources.processes.map((p) => p.pid);
    const down = await labDown(stateDir);
    await assertClean(prefix, stateDir, pids);
    assert.deepEqual((await labDown(stateDir)).removed, []);
    return { prefix, removed: down.removed };
  } finally {
    if (!childDone) child.kill('SIGKILL');
    if (fs.existsSync(path.join(stateDir, 'state.json'))) await labDown(stateDir).catch(() => undefined);
    fs.rmSync(parent, { recursive: true, force: true });
  }
}

test('labDown cleans up after labUp is SIGKILLed', { skip, timeout: 10 * 60_000 }, async (t) => {
  await t.test('killed once the first host netns exists', async () => {
    const down = await crashAndClean('netns', (s) => {
      const ns = s.hosts[0]?.netns;
      return ns !== undefined && s.resources.netns.includes(ns) && fs.existsSync(`/run/netns/${ns}`);
    });
    t.diagnostic(`removed: ${down.removed.join('; ')}`);
    assert.ok(down.removed.includes(`netns ${down.prefix}-a`), down.removed.join('; '));
  });
  await t.test('killed once the first container is booting (orphaned systemd-nspawn)', async () => {
    const down = await crashAndClean('booting', (s) => {
      const h = s.hosts[0];
      return h?.leaderPid !== undefined;
    });
    t.diagnostic(`removed: ${down.removed.join('; ')}`);
    assert.ok(down.removed.some((r) => r.includes('systemd-nspawn')), down.removed.join('; '));
  });
});
