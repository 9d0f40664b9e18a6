// A site rehearsed in the lab: boot it (lab layout + lab machinery), reach its hosts over SSH from the
// bastion namespace exactly as an operator would, and hand apply/verify their transports.
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { appendFileSync, existsSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { join } from 'node:path';
import { bastionExec, ensureImage, hostExec, labDown, labUp, loadState, waitForSsh, type LabProgress, type LabState } from './lab/index.ts';
import { openStore } from './store/index.ts';
import { ensureSitePki } from './sitepki.ts';
import { publishSuite } from './serve/repos/apt.ts';
import { labLayout, UPSTREAM_HOST, type LabLayout } from './labsite.ts';
import type { Site } from './schema.ts';
import { topology } from './topology.ts';
import { sshTransport, type Transport } from './transport/index.ts';
import { OUTSIDER, type TransportFor } from './verify.ts';

export const DEFAULT_STATE_ROOT = '/var/lib/airlock/labs';
export const DEFAULT_IMAGE_DIR = '/var/cache/airlock/images';
/** Beyond the lab machinery's base set: what cluster nodes need that the lab cannot fetch from a mirror yet. */
export const LAB_IMAGE_PACKAGES = ['containerd'];

export interface Rehearsal {
  layout: LabLayout;
  state: LabState;
}

export function labStateDir(prefix: string, stateRoot = DEFAULT_STATE_ROOT): string {
  return join(stateRoot, prefix);
}

export async function rehearsalUp(
  site: Site,
  prefix: string,
  opts: { stateRoot?: string; imageDir?: string; rebuildImage?: boolean; onProgress?: LabProgress } = {},
): Promise<Rehearsal & { image: { built: boolean; seconds: number } }> {
  const layout = labLayout(site, prefix);
  const progress = opts.onProgress ?? (() => {});
  const imageDir = opts.imageDir ?? DEFAULT_IMAGE_DIR;
  // Host keys are made at first boot: pins from an earlier lab of this prefix are stale.
  const stateDir = labStateDir(prefix, opts.stateRoot);
  if (!loadState(stateDir)) rmSync(knownHostsPath(stateDir), { force: true });
  const image = await ensureImage({ imageDir, packages: LAB_IMAGE_PACKAGES, rebuild: opts.rebuildImage, onProgress: (m) => progress({ phase: 'image', detail: m }) });
  const state = await labUp(
    {
      prefix,
      stateDir,
      networks: layout.networks,
      hosts: layout.hosts.map((h) => ({ name: h.name, interfaces: h.interfaces, files: h.files })),
      bastion: { network: layout.bastion.network, address: layout.bastion.address },
      imagePackages: LAB_IMAGE_PACKAGES,
      imageDir,
    },
    { onProgress: progress },
  );
  await Promise.all(
    layout.hosts.map(async (h) => {
      for (const cmd of h.postBoot) {
        const r = await hostExec(state, h.name, ['sh', '-c', cmd], { timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`lab: "${cmd}" on ${h.name} failed: ${r.stderr.trim()}`);
      }
      progress({ host: h.name, phase: 'ready' });
    }),
  );
  // Every site host must answer SSH from the bastion before anyone applies anything.
  await Promise.all(layout.site.hosts.map((h) => waitForSsh(state, sshAddress(layout, h.name), 60_000)));
  await startLabMirror({ layout, state }, progress);
  return { layout, state, image: { built: image.built, seconds: image.seconds } };
}

/** Where the lab's mirror keeps its store (on this machine, under the lab's state dir). */
export function labStoreDir(state: LabState): string {
  return join(state.stateDir, 'store');
}

/** The lab's site PKI (site CA + the mirror's HTTPS certificate when services.mirrors.tls is on). */
export function labPkiDir(state: Pick<LabState, 'stateDir'>): string {
  return join(state.stateDir, 'pki');
}

/**
 * The site's mirror in the lab: `airlock serve` run from this machine inside the mirror host's network
 * namespace, so nodes reach it at the host's address exactly as on the site. It starts with an empty, signed
 * APT suite for the nodes' release; `airlock store add --store <stateDir>/store` fills it. `lab down` ends it
 * (it kills everything in the lab's namespaces).
 */
async function startLabMirror(r: Rehearsal, progress: LabProgress): Promise<void> {
  const m = r.layout.site.services.mirrors;
  const host = m && r.state.hosts.find((h) => h.name === m.host);
  if (!m || !host) return;
  const dir = labStoreDir(r.state);
  const store = await openStore(dir);
  await publishSuite(store, { suite: 'bookworm', codename: 'bookworm', architectures: ['amd64'], packages: [] }, undefined, new Date());
  // With tls: the site CA and the mirror certificate, made as `airlock pki` makes them; apply --lab
  // gives the nodes the same CA.
  const pki = labPkiDir(r.state);
  const tlsArgs: string[] = [];
  if (m.tls) {
    await ensureSitePki(r.layout.site, pki, new Date());
    tlsArgs.push('--tls-cert', join(pki, 'mirror.crt'), '--tls-key', join(pki, 'mirror.key'));
  }
  const log = openSync(join(r.state.stateDir, 'mirror.log'), 'a', 0o600);
  const bin = fileURLToPath(new URL('../bin/airlock.js', import.meta.url));
  const child = spawn('ip', ['netns', 'exec', host.netns, process.execPath, bin, 'serve', '--store', dir, '--listen', '0.0.0.0', '--port', String(m.port), ...tlsArgs], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  child.unref();
  writeFileSync(join(r.state.stateDir, 'mirror.pid'), `${child.pid}\n`);
  const address = sshAddress(r.layout, m.host);
  for (let i = 0; i < 100; i++) {
    const health = m.tls ? ['--cacert', join(pki, 'ca.crt'), `https://${address}:${m.port}/healthz`] : [`http://${address}:${m.port}/healthz`];
    const ok = await bastionExec(r.state, ['curl', '-sf', '-m', '2', ...health], { timeoutMs: 5000 });
    if (ok.code === 0) {
      progress({ host: m.host, phase: 'mirror', detail: `airlock serve on ${m.tls ? 'https' : 'http'}://${address}:${m.port}` });
      return;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the lab mirror did not answer on ${address}:${m.port} (see ${join(r.state.stateDir, 'mirror.log')})`);
}

export async function rehearsalDown(prefix: string, opts: { stateRoot?: string; onProgress?: LabProgress } = {}) {
  const stateDir = labStateDir(prefix, opts.stateRoot);
  const r = await labDown(stateDir, { onProgress: opts.onProgress });
  rmSync(knownHostsPath(stateDir), { force: true });
  // The mirror process lived in the lab's namespaces (labDown ended it); its store and log go with the lab.
  for (const f of ['store', 'pki', 'mirror.log', 'mirror.pid']) rmSync(join(stateDir, f), { recursive: true, force: true });
  try {
    rmdirSync(stateDir);
  } catch {
    // not empty or already gone: leave it
  }
  return r;
}

const knownHostsPath = (stateDir: string) => join(stateDir, 'known_hosts');

/** The lab of a site, if it is up. */
export function findRehearsal(site: Site, prefix: string, stateRoot?: string): Rehearsal | undefined {
  const state = loadState(labStateDir(prefix, stateRoot));
  if (!state) return undefined;
  return { layout: labLayout(site, prefix), state };
}

/** The address an operator on the bastion uses for a host: its address on the bastion's network. */
export function sshAddress(layout: LabLayout, host: string): string {
  const topo = topology(layout.site);
  const h = topo.hosts.get(host)?.host;
  if (!h) throw new Error(`no host ${host}`);
  const f = topo.ifacesOf(h).find((x) => x.iface.network === layout.bastion.network && x.iface.enabled);
  const addr = f ? f.iface.address.replace(/\/\d+$/, '') : topo.managementAddress(h);
  if (!addr) throw new Error(`host ${host} has no address the bastion can reach`);
  return addr;
}

/** A TCP connection to ADDRESS:22 made from inside the bastion namespace, as a stream for ssh2. */
function bastionSocket(netns: string, address: string): Promise<Duplex> {
  const proxy = `const s=require('net').connect(22,${JSON.stringify(address)});process.stdin.pipe(s);s.pipe(process.stdout);s.on('error',e=>{process.stderr.write(e.message);process.exit(1)});s.on('close',()=>process.exit(0))`;
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', proxy], { stdio: ['pipe', 'pipe', 'pipe'] });
  const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
  duplex.on('close', () => child.kill());
  return Promise.resolve(duplex);
}

/** ssh transports to lab hosts: through the bastion, with the lab's key, host keys pinned on first use. */
export function rehearsalTransports(r: Rehearsal): TransportFor & { closeAll(): Promise<void> } {
  const open: Transport[] = [];
  const knownHosts = knownHostsPath(r.state.stateDir);
  const privateKey = readFileSync(r.state.sshKey.privateKeyPath, 'utf8');
  const fn = (async (host: string) => {
    if (host === OUTSIDER || host === UPSTREAM_HOST) return labHostTransport(r.state, UPSTREAM_HOST);
    const address = sshAddress(r.layout, host);
    const pinned = existsSync(knownHosts)
      ? readFileSync(knownHosts, 'utf8').split('\n').filter((l) => l.startsWith(`${address} `))
      : [];
    const t = await sshTransport({
      host: address,
      user: 'root',
      privateKey,
      sock: () => bastionSocket(r.state.bastion.netns, address),
      ...(pinned.length ? { hostKey: pinned.join('\n') } : { trustOnFirstUse: true, onHostKey: (_fp: string, key: string) => appendFileSync(knownHosts, `${address} ${key}\n`) }),
      readyTimeoutMs: 15_000,
    });
    open.push(t);
    return t;
  }) as TransportFor & { closeAll(): Promise<void> };
  fn.closeAll = async () => {
    await Promise.all(open.map((t) => t.close()));
  };
  return fn;
}

/** A transport into a lab host by nsenter (for the upstream host, which the bastion cannot reach). */
export function labHostTransport(state: LabState, host: string): Transport {
  return {
    name: `lab ${state.prefix}/${host}`,
    run: async (command, opts) => {
      const r = await hostExec(state, host, ['sh', '-c', command], { input: opts?.input, timeoutMs: opts?.timeoutMs });
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    },
    readFile: async () => {
      throw new Error('readFile is not supported on the lab upstream host');
    },
    writeFile: async () => {
      throw new Error('writeFile is not supported on the lab upstream host');
    },
    close: async () => {},
  };
}
