// Transports against real things: /bin/sh on this machine, a network namespace made for the test, and
// a private sshd on 127.0.0.1 with its own keys. Nothing is mocked.

import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  TransportError,
  checkHostKey,
  fingerprintOf,
  localTransport,
  netnsTransport,
  remoteCommandLine,
  shellQuote,
  sshTransport,
  type SshOptions,
  type Transport,
} from '../src/transport/index.ts';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const SSHD = '/usr/sbin/sshd';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-trt-'));
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('/bin/sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line is exactly `args` (read from /proc, so no ps needed). */
function processesWithArgs(args: string): number {
  let n = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '').join(' ');
      if (cmdline === args) n++;
    } catch {
      /* exited meanwhile */
    }
  }
  return n;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** A sleep command line nothing else on the machine runs. */
function uniqueSleep(): string {
  return `sleep 97.${randomBytes(3).readUIntBE(0, 3) % 1000000}`;
}

async function rejectsWith(p: Promise<unknown>, code: TransportError['code']): Promise<TransportError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TransportError, `expected a TransportError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected TransportError('${code}')`);
}

/** Who files written by `t` belong to ("user:group"), as the target sees it. */
async function whoAmI(t: Transport): Promise<string> {
  const r = await t.run('printf "%s:%s" "$(id -un)" "$(id -gn)"');
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** The readFile/writeFile behaviour every transport must have, in a fresh directory `dir`. */
async function fileRoundTrips(t: Transport, dir: string): Promise<void> {
  const me = await whoAmI(t);
  const f = path.join(dir, 'a.conf');
  assert.equal(await t.readFile(f), undefined, 'missing file → undefined');

  for (const content of ['line one\nline two\n', 'no trailing newline', '', '\n\n', 'ünïcødé ✓ 日本語\r\nA\n', 'A\n', "it's \"$HOME\" `x` \\ %s\n"]) {
    await t.writeFile(f, content, { mode: '0640' });
    const got = await t.readFile(f);
    assert.deepEqual(got, { content, mode: '0640', owner: me, symlink: false }, JSON.stringify(content));
    assert.equal(fs.readFileSync(f, 'utf8'), content);
  }

  // Mode with three digits, and changing an existing file's mode.
  await t.writeFile(f, 'x\n', { mode: '600' });
  assert.equal((await t.readFile(f))?.mode, '0600');
  assert.equal(fs.statSync(f).mode & 0o7777, 0o600);

  // A large file, in one piece.
  const big = 'abcdefghij\n'.repeat(200_000);
  await t.writeFile(f, big, { mode: '0644' });
  assert.equal((await t.readFile(f))?.content, big);

  // Parent directories are created (0755, not the temp file's private umask).
  const deep = path.join(dir, 'x', 'y z', "it's", 'deep.conf');
  await t.writeFile(deep, 'deep\n', { mode: '0644' });
  assert.equal(fs.readFileSync(deep, 'utf8'), 'deep\n');
  assert.equal(fs.statSync(path.join(dir, 'x', 'y z')).mode & 0o777, 0o755);

  // A symlink at the path is replaced, its target left alone; readFile reports links.
  const target = path.join(dir, 'target.conf');
  const link = path.join(dir, 'link.conf');
  fs.writeFileSync(target, 'original\n', { mode: 0o644 });
  fs.symlinkSync(target, link);
  const viaLink = await t.readFile(link);
  assert.deepEqual(viaLink, { content: 'original\n', mode: '0644', owner: me, symlink: true });
  await t.writeFile(link, 'replaced\n', { mode: '0644' });
  assert.equal(fs.lstatSync(link).isSymbolicLink(), false);
  assert.equal(fs.readFileSync(link, 'utf8'), 'replaced\n');
  assert.equal(fs.readFileSync(target, 'utf8'), 'original\n');

  // A dangling symlink reads as missing.
  const dangling = path.join(dir, 'dangling.conf');
  fs.symlinkSync(path.join(dir, 'nowhere'), dangling);
  assert.equal(await t.readFile(dangling), undefined);

  // Failures are TransportError('io') and leave no temp file behind.
  const notADir = path.join(dir, 'plain');
  fs.writeFileSync(notADir, '');
  await rejectsWith(t.writeFile(path.join(notADir, 'child.conf'), 'x', { mode: '0644' }), 'io');
  const aDir = path.join(dir, 'adir');
  fs.mkdirSync(aDir);
  await rejectsWith(t.writeFile(aDir, 'x', { mode: '0644' }), 'io');
  await rejectsWith(t.readFile(aDir), 'io');
  assert.deepEqual(
    fs.readdirSync(dir).filter((n) => n.includes('.airlock-')),
    [],
    'no temp files left',
  );

  // Bad arguments are the caller's bug, not the target's.
  await assert.rejects(t.writeFile(f, 'x', { mode: 'rw-r--r--' }), RangeError);
  await assert.rejects(t.writeFile('relative/path', 'x', { mode: '0644' }), RangeError);
  await assert.rejects(t.readFile('relative/path'), RangeError);
}

// ---------------------------------------------------------------------------------------------------

describe('shellQuote', () => {
  test('every string survives a round trip through /bin/sh', async () => {
    const t = localTransport();
    const samples = ['', 'plain', 'with space', "it's", '"double"', '$HOME', '`id`', 'a\\b', '\n', 'tab\there', '*', '-n', '~', 'ünï ✓', "''", 'a=b'];
    for (const s of samples) {
      const r = await t.run(`printf '%s' ${shellQuote(s)}`);
      assert.equal(r.stdout, s, JSON.stringify(s));
    }
    assert.equal(shellQuote('/etc/hosts'), '/etc/hosts');
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
    assert.equal(shellQuote(''), `''`);
    assert.throws(() => shellQuote('a\0b'), RangeError);
  });

  test('remoteCommandLine wraps in /bin/sh -c, and in sudo -n only when asked', () => {
    assert.equal(remoteCommandLine('echo hi', { sudo: false }), `/bin/sh -c 'echo hi'`);
    assert.equal(remoteCommandLine('echo hi', { sudo: true }), `sudo -n -- /bin/sh -c 'echo hi'`);
    assert.match(remoteCommandLine('echo hi', { sudo: false, killAfterSeconds: 1.2 }), /timeout -s KILL 2 /);
  });
});

describe('local transport', () => {
  let dir: string;
  const t = localTransport();
  before(() => {
    dir = tempDir();
  });
  after(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('name', () => {
    assert.equal(t.name, 'local');
  });

  test('exit codes, stdout and stderr; never throws for a non-zero exit', async () => {
    assert.deepEqual(await t.run('true'), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await t.run('echo out; echo err >&2; exit 7'), { code: 7, stdout: 'out\n', stderr: 'err\n' });
    assert.equal((await t.run('false')).code, 1);
    assert.equal((await t.run('no-such-command-airlock')).code, 127);
    assert.equal((await t.run('kill -KILL $$')).code, 128 + 9);
  });

  test('commands are interpreted by /bin/sh', async () => {
    assert.equal((await t.run('echo "$0"')).stdout, '/bin/sh\n');
    assert.equal((await t.run('a=1; b=2; echo $((a + b)) | cat')).stdout, '3\n');
  });

  test('stdin input, and stdin closed without it', async () => {
    assert.deepEqual(await t.run('cat', { input: 'héllo\nwörld' }), { code: 0, stdout: 'héllo\nwörld', stderr: '' });
    assert.equal((await t.run('wc -c', { input: '✓\n' })).stdout.trim(), '4');
    assert.deepEqual(await t.run('cat'), { code: 0, stdout: '', stderr: '' });
    // A command that does not read its input is not an error.
    assert.equal((await t.run('exit 0', { input: 'x'.repeat(1 << 20) })).code, 0);
  });

  test('timeout kills the whole process tree and throws TransportError(timeout)', async () => {
    const sleep = uniqueSleep();
    await rejectsWith(t.run(`${sleep}; echo never`, { timeoutMs: 300 }), 'timeout');
    assert.ok(await waitFor(() => processesWithArgs(sleep) === 0, 3000), `${sleep} still running`);
  });

  test('sudo is not used when already root', { skip: !isRoot && 'needs root' }, async () => {
    const s = localTransport({ sudo: true });
    assert.equal((await s.run('echo "[${SUDO_USER-}]"')).stdout, '[]\n');
    assert.equal((await t.run('echo "[${SUDO_USER-}]"', { sudo: true })).stdout, '[]\n');
  });

  test('readFile / writeFile', async () => {
    await fileRoundTrips(t, dir);
  });

  test('owner is applied', { skip: !isRoot && 'needs root' }, async () => {
    const group = execFileSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).trim();
    const f = path.join(dir, 'owned.conf');
    await t.writeFile(f, 'x\n', { mode: '0600', owner: `nobody:${group}` });
    assert.deepEqual(await t.readFile(f), { content: 'x\n', mode: '0600', owner: `nobody:${group}`, symlink: false });
    await rejectsWith(t.writeFile(f, 'y\n', { mode: '0600', owner: 'no-such-user-airlock' }), 'io');
    assert.equal(fs.readFileSync(f, 'utf8'), 'x\n', 'a failed write leaves the old file');
  });

  test('many files at once', async () => {
    const files = Array.from({ length: 40 }, (_, i) => path.join(dir, 'many', `f${i}.conf`));
    await Promise.all(files.map((f, i) => t.writeFile(f, `file ${i}\n`, { mode: '0644' })));
    const read = await Promise.all(files.map((f) => t.readFile(f)));
    assert.deepEqual(read.map((r) => r?.content), files.map((_, i) => `file ${i}\n`));
  });

  test('a closed transport throws TransportError(connect)', async () => {
    const c = localTransport();
    await c.close();
    await c.close();
    await rejectsWith(c.run('true'), 'connect');
  });
});

describe('netns transport', { skip: (!isRoot && 'needs root') || (!hasCommand('ip') && 'needs ip (iproute2)') }, () => {
  const ns = `trt-${randomBytes(4).toString('hex')}`;
  let t: Transport;
  let dir: string;
  before(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    t = netnsTransport(ns);
    dir = tempDir();
  });
  after(async () => {
    await t?.close();
    execFileSync('ip', ['netns', 'delete', ns]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('commands run inside the namespace: only lo', async () => {
    assert.equal(t.name, `netns ${ns}`);
    const r = await t.run('ip -o link');
    assert.equal(r.code, 0, r.stderr);
    const links = r.stdout.trim().split('\n');
    assert.equal(links.length, 1, r.stdout);
    assert.match(links[0]!, /^1: lo:/);
    assert.equal((await t.run('ip netns identify')).stdout.trim(), ns);
  });

  test('exit codes, input, timeout', async () => {
    assert.deepEqual(await t.run('cat; echo e >&2; exit 4', { input: 'in\n' }), { code: 4, stdout: 'in\n', stderr: 'e\n' });
    const sleep = uniqueSleep();
    await rejectsWith(t.run(`${sleep}; true`, { timeoutMs: 300 }), 'timeout');
    assert.ok(await waitFor(() => processesWithArgs(sleep) === 0, 3000), `${sleep} still running`);
  });

  test('readFile / writeFile', async () => {
    await fileRoundTrips(t, dir);
  });

  test('names are checked', () => {
    assert.throws(() => netnsTransport('../etc'), RangeError);
    assert.throws(() => netnsTransport(''), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------

const sshSkip = !isRoot ? 'needs root' : !fs.existsSync(SSHD) ? `needs ${SSHD} (apt-get install openssh-server)` : !hasCommand('ssh-keygen') ? 'needs ssh-keygen' : false;
if (sshSkip) console.log(`# ssh transport tests skipped: ${sshSkip}`);

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('ssh transport', { skip: sshSkip }, () => {
  let dir: string;
  let port: number;
  let sshd: ChildProcess | undefined;
  let log = '';
  let hostPub: string;
  let hostFingerprint: string;
  let clientKey: string;
  let wrongKey: string;
  let wrongFingerprint: string;
  const open: Transport[] = [];

  const accepted = (): number => log.split('\n').filter((l) => l.includes('Accepted publickey for root')).length;
  const connect = async (extra: Partial<SshOptions> = {}): Promise<Transport> => {
    const t = await sshTransport({ host: '127.0.0.1', port, user: 'root', privateKey: clientKey, hostKey: hostFingerprint, readyTimeoutMs: 10000, ...extra });
    open.push(t);
    return t;
  };

  before(async () => {
    dir = tempDir();
    const keygen = (file: string): void => {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', path.basename(file), '-f', path.join(dir, file)]);
    };
    keygen('host_key');
    keygen('client_key');
    keygen('wrong_key');
    fs.copyFileSync(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));
    hostPub = fs.readFileSync(path.join(dir, 'host_key.pub'), 'utf8');
    hostFingerprint = fingerprintOf(hostPub);
    clientKey = fs.readFileSync(path.join(dir, 'client_key'), 'utf8');
    wrongKey = fs.readFileSync(path.join(dir, 'wrong_key'), 'utf8');
    wrongFingerprint = fingerprintOf(fs.readFileSync(path.join(dir, 'wrong_key.pub'), 'utf8'));
    port = await freePort();
    const conf = path.join(dir, 'sshd_config');
    fs.writeFileSync(
      conf,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${path.join(dir, 'host_key')}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        'UsePAM no',
        'StrictModes no',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'LogLevel INFO',
        '',
      ].join('\n'),
    );
    // sshd's privilege separation directory; the package's tmpfiles.d makes it at boot.
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    sshd = spawn(SSHD, ['-D', '-e', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    sshd.stderr!.on('data', (b: Buffer) => {
      log += b.toString('utf8');
    });
    let exited = false;
    sshd.on('exit', () => {
      exited = true;
    });
    const up = await waitFor(() => exited || log.includes(`Server listening on 127.0.0.1 port ${port}`), 10000);
    assert.ok(up && !exited, `sshd did not start:\n${log}`);
  });

  after(async () => {
    for (const t of open) await t.close();
    if (sshd?.pid !== undefined && sshd.exitCode === null) {
      const gone = new Promise((r) => sshd!.once('exit', r));
      process.kill(sshd.pid, 'SIGTERM');
      await gone;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('our fingerprint is the one ssh-keygen prints', () => {
    const out = execFileSync('ssh-keygen', ['-l', '-f', path.join(dir, 'host_key.pub')], { encoding: 'utf8' });
    assert.equal(out.split(' ')[1], hostFingerprint);
  });

  test('run: exit codes, stdout/stderr, input, /bin/sh', async () => {
    const t = await connect();
    assert.equal(t.name, `ssh root@127.0.0.1:${port}`);
    assert.deepEqual(await t.run('echo out; echo err >&2; exit 7'), { code: 7, stdout: 'out\n', stderr: 'err\n' });
    assert.equal((await t.run('true')).code, 0);
    assert.equal((await t.run('no-such-command-airlock')).code, 127);
    assert.equal((await t.run('kill -KILL $$')).code, 128 + 9);
    assert.equal((await t.run('echo "$0"')).stdout, '/bin/sh\n');
    assert.deepEqual(await t.run('cat', { input: 'héllo ✓\nno newline' }), { code: 0, stdout: 'héllo ✓\nno newline', stderr: '' });
    assert.deepEqual(await t.run('cat'), { code: 0, stdout: '', stderr: '' });
    assert.equal((await t.run(`printf '%s' ${shellQuote(`it's "$HOME" \`x\``)}`)).stdout, `it's "$HOME" \`x\``);
  });

  test('readFile / writeFile', async () => {
    const t = await connect();
    const d = path.join(dir, 'files');
    fs.mkdirSync(d);
    await fileRoundTrips(t, d);
  });

  test('many concurrent calls share the connection (more than sshd MaxSessions)', async () => {
    const t = await connect();
    const before = accepted();
    const d = path.join(dir, 'many');
    const files = Array.from({ length: 30 }, (_, i) => path.join(d, `f${i}.conf`));
    await Promise.all(files.map((f, i) => t.writeFile(f, `file ${i}\n`, { mode: '0644' })));
    const read = await Promise.all(files.map((f) => t.readFile(f)));
    assert.deepEqual(read.map((r) => r?.content), files.map((_, i) => `file ${i}\n`));
    assert.equal(accepted(), before);
  });

  test('50 sequential runs use one connection', async () => {
    const before = accepted();
    const t = await connect();
    for (let i = 0; i < 50; i++) {
      const r = await t.run(`echo ${i}`);
      assert.equal(r.stdout, `${i}\n`);
    }
    await t.close();
    assert.equal(accepted() - before, 1, log);
  });

  test('host key pinning: fingerprint, known_hosts lines, hashed known_hosts', async () => {
    const [type, key] = hostPub.trim().split(/\s+/);
    for (const hostKey of [
      hostFingerprint,
      `${wrongFingerprint}\n${hostFingerprint}`,
      `${type} ${key}`,
      `# comment\n[127.0.0.1]:${port},other.example ${type} ${key}`,
      `[127.0.0.*]:${port} ${type} ${key}`,
    ]) {
      const t = await connect({ hostKey });
      assert.equal((await t.run('echo ok')).stdout, 'ok\n');
      await t.close();
    }
    // A hashed known_hosts line, made by ssh-keygen -H itself.
    const kh = path.join(dir, 'known_hosts');
    fs.writeFileSync(kh, `[127.0.0.1]:${port} ${type} ${key}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', kh], { stdio: 'ignore' });
    const hashed = fs.readFileSync(kh, 'utf8');
    assert.match(hashed, /^\|1\|/);
    const t = await connect({ hostKey: hashed });
    await t.close();
    assert.equal(checkHostKey(hashed, Buffer.from(key!, 'base64'), '127.0.0.1', port + 1).ok, false);
  });

  test('host key mismatch → TransportError(hostkey)', async () => {
    const [type, key] = hostPub.trim().split(/\s+/);
    const wrongPub = fs.readFileSync(path.join(dir, 'wrong_key.pub'), 'utf8').trim().split(/\s+/);
    const e = await rejectsWith(connect({ hostKey: wrongFingerprint }), 'hostkey');
    assert.match(e.message, new RegExp(hostFingerprint.replace(/[+/]/g, '\\$&')), 'names the key it saw');
    await rejectsWith(connect({ hostKey: `[127.0.0.1]:${port} ${wrongPub[0]} ${wrongPub[1]}` }), 'hostkey');
    // The right key, but pinned for another host.
    await rejectsWith(connect({ hostKey: `[10.0.0.1]:${port} ${type} ${key}` }), 'hostkey');
    // The right key, revoked.
    await rejectsWith(connect({ hostKey: `${hostFingerprint}\n@revoked * ${type} ${key}` }), 'hostkey');
    // Nothing pinned and no trust on first use: refuse.
    await rejectsWith(connect({ hostKey: undefined }), 'hostkey');
    await rejectsWith(connect({ hostKey: 'garbage' }), 'hostkey');
  });

  test('trust on first use reports the key', async () => {
    const seen: string[][] = [];
    const t = await connect({ hostKey: undefined, trustOnFirstUse: true, onHostKey: (fp, pub) => seen.push([fp, pub]) });
    const [type, key] = hostPub.trim().split(/\s+/);
    assert.deepEqual(seen, [[hostFingerprint, `${type} ${key}`]]);
    assert.equal((await t.run('echo ok')).stdout, 'ok\n');
    // A pin wins over trustOnFirstUse.
    await rejectsWith(connect({ hostKey: wrongFingerprint, trustOnFirstUse: true }), 'hostkey');
  });

  test('wrong client key → TransportError(auth)', async () => {
    await rejectsWith(connect({ privateKey: wrongKey }), 'auth');
    await rejectsWith(connect({ privateKey: 'not a key' }), 'auth');
  });

  test('command timeout → TransportError(timeout); the remote command is killed, the connection lives on', async () => {
    const t = await connect();
    const sleep = uniqueSleep();
    await rejectsWith(t.run(`${sleep}; echo never`, { timeoutMs: 300 }), 'timeout');
    assert.equal((await t.run('echo still here')).stdout, 'still here\n');
    // The target is this machine, so /proc shows whether the remote sleep is gone.
    assert.ok(await waitFor(() => processesWithArgs(sleep) === 0, 6000), `${sleep} still running`);
  });

  test('handshake timeout → TransportError(timeout)', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      // Accept and say nothing.
      sockets.add(s);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const address = silent.address() as net.AddressInfo;
    try {
      await rejectsWith(connect({ port: address.port, readyTimeoutMs: 300 }), 'timeout');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test('nothing listening → TransportError(connect)', async () => {
    await rejectsWith(connect({ port: await freePort() }), 'connect');
  });

  test('sock: a caller-supplied stream instead of TCP', async () => {
    const t = await connect({
      sock: () =>
        new Promise((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        }),
    });
    assert.equal((await t.run('echo tunnelled')).stdout, 'tunnelled\n');
    await rejectsWith(connect({ sock: () => Promise.reject(new Error('no route')) }), 'connect');
  });

  test('sudo as root: commands are not wrapped', async () => {
    const t = await connect({ sudo: true });
    // sudo would set SUDO_USER (or fail, where sudo is not installed).
    assert.deepEqual(await t.run('echo "[${SUDO_USER-}]"'), { code: 0, stdout: '[]\n', stderr: '' });
    assert.deepEqual(await t.run('echo "[${SUDO_USER-}]"', { sudo: true }), { code: 0, stdout: '[]\n', stderr: '' });
  });

  test('a dropped connection fails the command in flight, and later ones, with TransportError(connect)', async () => {
    const t = await connect();
    // Kill the nearest sshd ancestor of the command: the server side of this connection.
    const killSession = [
      'p=$$',
      'while [ "$p" -gt 1 ]; do',
      '  if [ "$(cat /proc/$p/comm)" = sshd ]; then kill -KILL "$p"; break; fi',
      '  set -- $(cat /proc/$p/stat); p=$4',
      'done',
      'sleep 3',
    ].join('\n');
    await rejectsWith(t.run(killSession, { timeoutMs: 10000 }), 'connect');
    await rejectsWith(t.run('true'), 'connect');
    await t.close();
  });

  test('close is idempotent; a closed transport throws TransportError(connect)', async () => {
    const t = await connect();
    await t.close();
    await t.close();
    await rejectsWith(t.run('true'), 'connect');
    await rejectsWith(t.readFile('/etc/hostname'), 'connect');
  });
});
