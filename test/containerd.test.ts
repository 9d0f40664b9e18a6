// containerd pulls through the site mirror exactly as a node would: a real containerd daemon (started here,
// private root/state/socket), `ctr images pull --hosts-dir` with the hosts.toml airlock renders, against
// `airlock serve` on 127.0.0.1. The mirrored registry is a .test name, so a fallback could never leave the machine.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { openStore } from '../src/store/index.ts';
import { importOciLayout } from '../src/store/import.ts';
import { serve, type RunningServer } from '../src/serve/index.ts';
import { hostsToml } from '../src/render/mirrorclient.ts';
import { containerdConfig } from '../src/render/nodeprep.ts';
import { buildImage, writeLayout } from './oci-image.ts';

const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root (containerd)' : have('containerd') && have('ctr') ? false : process.env.CI ? false : 'containerd not installed';
const REGISTRY = 'registry.airlock.test';

describe('containerd pulls through the mirror with the rendered hosts.toml', { skip }, () => {
  let dir: string;
  let server: RunningServer;
  let daemon: ChildProcess;
  let sock: string;
  let digest: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-ctrd-'));
    const store = await openStore(join(dir, 'store'));
    const img = buildImage('pulled through the airlock mirror');
    digest = img.digest;
    await writeLayout(join(dir, 'layout'), img, 'v1');
    await importOciLayout(store, join(dir, 'layout'), { repo: 'demo/hello', tag: 'v1' });
    server = await serve({ store, host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }) });
    // The node's files, as airlock renders them (paths moved under the test dir).
    const certs = join(dir, 'certs.d');
    await mkdir(join(certs, REGISTRY), { recursive: true });
    await writeFile(join(certs, REGISTRY, 'hosts.toml'), hostsToml(REGISTRY, server.url));
    sock = join(dir, 'containerd.sock');
    const config = containerdConfig(`${REGISTRY}/pause:3.9`).replace('config_path = "/etc/containerd/certs.d"', `config_path = "${certs}"`);
    await writeFile(join(dir, 'config.toml'), `${config}\n[grpc]\n  address = "${sock}"\n`);
    daemon = spawn('containerd', ['--config', join(dir, 'config.toml'), '--root', join(dir, 'root'), '--state', join(dir, 'state')], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(sock), 'containerd started');
  });

  after(async () => {
    daemon?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
    await server?.close();
    spawnSync('sh', ['-c', `grep -F ${JSON.stringify(dir)} /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l`]);
    await rm(dir, { recursive: true, force: true });
  });

  // Async on purpose: the server answering ctr lives in this very process.
  const ctr = (...args: string[]) =>
    new Promise<{ code: number; out: string }>((resolve) =>
      execFile('ctr', ['--address', sock, ...args], { timeout: 60_000 }, (e, stdout, stderr) => resolve({ code: e ? 1 : 0, out: `${stdout}${stderr}` })),
    );

  it('ctr images pull resolves the image from the mirror and unpacks it', async () => {
    const ref = `${REGISTRY}/demo/hello:v1`;
    const r = await ctr('images', 'pull', '--hosts-dir', join(dir, 'certs.d'), '--snapshotter', 'native', ref);
    assert.equal(r.code, 0, r.out);
    const ls = await ctr('images', 'ls');
    assert.match(ls.out, new RegExp(`${ref.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${digest}`));
  });
});
