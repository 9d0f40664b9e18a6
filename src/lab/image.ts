// The base image: a debootstrapped Debian root shared read-only (as the overlay lower dir) by every
// host of every lab. Cached per package list; built in a temp dir and published by an atomic symlink
// swap, so a crashed build never leaves anything that looks like a valid image.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, errorMessage } from './errors.ts';
import { runOk, sleep } from './exec.ts';
import { maskUnit, readMounts, removeTree, unmountUnder, writeInRoot } from './fsutil.ts';
import { allPids, cmdline, pidAlive } from './proc.ts';
import { ensurePrograms } from './tools.ts';

export const SUITE = 'bookworm';

/** Always in the image; `packages` adds to these. */
export const BASE_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'chrony',
  'bind9',
  'bind9-dnsutils',
  'network-manager',
  'nftables',
  'iptables',
  'iproute2',
  'iputils-ping',
  'curl',
  'ca-certificates',
  'python3-minimal',
  'procps',
  // polkitd (pulled in by network-manager) depends on "default-logind | logind"; debootstrap's
  // resolver cannot choose a provider for a virtual package, so name the one Debian uses.
  'libpam-systemd',
];

/** Bump when prepareImage changes, so cached images built by older code are not reused. */
const PREP_VERSION = 1;

export interface EnsureImageOptions {
  imageDir: string;
  packages: string[];
  rebuild?: boolean;
  onProgress?: (msg: string) => void;
  /** Debian mirror URL; default: the one the machine's apt sources use for the suite. */
  mirror?: string;
}

export interface ImageResult {
  /** The image root (use as overlay lowerdir). */
  path: string;
  built: boolean;
  seconds: number;
}

interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
}

/** Parses deb822 (.sources) text. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last = '';
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      if (/^\s/.test(line) && last) {
        fields[last] = `${fields[last] ?? ''} ${line.trim()}`;
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1]!.toLowerCase();
        fields[last] = m[2]!.trim();
      }
    }
    if ((fields['enabled'] ?? 'yes').toLowerCase() === 'no') continue;
    const split = (k: string): string[] => (fields[k] ?? '').split(/\s+/).filter(Boolean);
    if (fields['uris']) out.push({ types: split('types'), uris: split('uris'), suites: split('suites') });
  }
  return out;
}

/** Parses one-line-style sources.list text. */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m) out.push({ types: [m[1]!], uris: [m[2]!], suites: [m[3]!] });
  }
  return out;
}

/** The first `deb` source URI serving exactly `suite` (not -updates/-security), or undefined. */
export function pickMirror(sources: AptSource[], suite = SUITE): string | undefined {
  for (const s of sources) {
    if (!s.types.includes('deb') || !s.suites.includes(suite)) continue;
    const uri = s.uris.find((u) => /^https?:\/\//.test(u));
    if (uri) return uri;
  }
  return undefined;
}

/** The Debian mirror the machine's apt uses for `suite`, from /etc/apt/sources.list{,.d/*.sources,.d/*.list}. */
export function machineMirror(suite = SUITE, aptDir = '/etc/apt'): string {
  const sources: AptSource[] = [];
  const d = path.join(aptDir, 'sources.list.d');
  let files: string[] = [];
  try {
    files = fs.readdirSync(d).sort();
  } catch {
    /* none */
  }
  for (const f of files) {
    const text = readOr(path.join(d, f));
    if (f.endsWith('.sources')) sources.push(...parseDeb822Sources(text));
    else if (f.endsWith('.list')) sources.push(...parseOneLineSources(text));
  }
  sources.push(...parseOneLineSources(readOr(path.join(aptDir, 'sources.list'))));
  const m = pickMirror(sources, suite);
  if (!m) throw new LabError(`no apt source for suite "${suite}" found under ${aptDir}; pass a mirror explicitly`);
  return m;
}

function readOr(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

export function imagePackageList(extra: string[]): string[] {
  for (const p of extra)
    if (!/^[a-z0-9][a-z0-9+.-]*$/.test(p)) throw new LabError(`invalid Debian package name "${p}"`);
  return [...new Set([...BASE_PACKAGES, ...extra])].sort();
}

export function imageKey(packages: string[]): string {
  const h = createHash('sha256')
    .update(JSON.stringify({ suite: SUITE, variant: 'minbase', prep: PREP_VERSION, packages }))
    .digest('hex');
  return `${SUITE}-${h.slice(0, 16)}`;
}

interface ImageMeta {
  key: string;
  suite: string;
  packages: string[];
  mirror: string;
  builtAt: string;
  buildSeconds: number;
}

/** Root (real path) of the published image for `key`, if there is a valid one. */
function publishedRoot(imageDir: string, key: string): string | undefined {
  const link = path.join(imageDir, key);
  try {
    const dir = fs.realpathSync(link);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'image.json'), 'utf8')) as ImageMeta;
    const root = path.join(dir, 'root');
    if (meta.key === key && fs.existsSync(path.join(root, 'etc/os-release'))) return root;
  } catch {
    /* not there or not valid */
  }
  return undefined;
}

async function acquireLock(lock: string, onProgress?: (msg: string) => void): Promise<void> {
  let told = false;
  for (;;) {
    try {
      const fd = fs.openSync(lock, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number(readOr(lock).trim());
    if (!owner || !pidAlive(owner)) {
      fs.rmSync(lock, { force: true });
      continue;
    }
    if (!told) onProgress?.(`waiting for process ${owner}, which is building this image`);
    told = true;
    await sleep(1000);
  }
}

/** Is any live process using `dir` (named in its command line, or chrooted below it)? */
function inUse(dir: string): boolean {
  for (const pid of allPids()) {
    if (pid === process.pid || !pidAlive(pid)) continue;
    if (cmdline(pid).some((a) => a.startsWith(dir))) return true;
    try {
      if (fs.readlinkSync(`/proc/${pid}/root`).startsWith(dir)) return true;
    } catch {
      /* gone or not ours to read */
    }
  }
  return false;
}

/** Removes leftovers of crashed builds and images no longer published nor mounted. */
async function collect(imageDir: string, key: string, keep: string | undefined): Promise<void> {
  const mounted = readMounts()
    .filter((m) => m.fsType === 'overlay')
    .map((m) => m.options);
  for (const name of fs.readdirSync(imageDir)) {
    const full = path.join(imageDir, name);
    const build = /^\.build-(.+)-(\d+)-[0-9a-f]+$/.exec(name);
    if (build && build[1] === key && !pidAlive(Number(build[2])) && !inUse(full)) {
      await unmountUnder(full);
      await removeTree(full);
      continue;
    }
    if (name.startsWith(`${key}.`)) {
      if (name.endsWith('.link')) {
        fs.rmSync(full, { force: true }); // a symlink left by a crash between create and rename
        continue;
      }
      const real = fs.realpathSync(full);
      if (real === keep) continue;
      if (mounted.some((o) => o.includes(`${real}/`)) || inUse(real)) continue; // still in use, e.g. a lab's lower dir
      await unmountUnder(real);
      await removeTree(real);
    }
  }
}

export async function ensureImage(opts: EnsureImageOptions): Promise<ImageResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? ((): void => {});
  if (!path.isAbsolute(opts.imageDir)) throw new LabError(`imageDir must be absolute: ${opts.imageDir}`);
  const packages = imagePackageList(opts.packages);
  const key = imageKey(packages);
  fs.mkdirSync(opts.imageDir, { recursive: true, mode: 0o755 });
  // Real path: mount points and overlay options in the mount table are real paths.
  const imageDir = fs.realpathSync(opts.imageDir);
  if (!opts.rebuild) {
    const root = publishedRoot(imageDir, key);
    if (root) return { path: root, built: false, seconds: (Date.now() - t0) / 1000 };
  }
  const lock = path.join(imageDir, `.lock-${key}`);
  await acquireLock(lock, say);
  try {
    if (!opts.rebuild) {
      const root = publishedRoot(imageDir, key); // someone else may have built it meanwhile
      if (root) return { path: root, built: false, seconds: (Date.now() - t0) / 1000 };
    }
    await ensurePrograms(['debootstrap'], say);
    const mirror = opts.mirror ?? machineMirror(SUITE);
    const tmp = path.join(imageDir, `.build-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
    const current = publishedRoot(imageDir, key);
    await collect(imageDir, key, current ? path.dirname(current) : undefined);
    fs.mkdirSync(tmp, { mode: 0o755 });
    const root = path.join(tmp, 'root');
    // Downloaded .debs are kept here, so a rebuild or another package list downloads only what is new.
    const debCache = path.join(imageDir, '.debs');
    fs.mkdirSync(debCache, { recursive: true, mode: 0o755 });
    try {
      say(`debootstrap ${SUITE} from ${mirror} (${packages.length} packages + dependencies)`);
      await runOk(
        'debootstrap',
        [
          '--variant=minbase',
          `--cache-dir=${debCache}`,
          `--include=${packages.join(',')}`,
          SUITE,
          root,
          mirror,
        ],
        { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, onLine: (l) => l.trim() && say(l.trim()) },
      );
      await unmountUnder(tmp); // debootstrap unmounts /proc and /sys itself; be sure
      say('preparing image for containers');
      prepareImage(root);
      const meta: ImageMeta = {
        key,
        suite: SUITE,
        packages,
        mirror,
        builtAt: new Date().toISOString(),
        buildSeconds: (Date.now() - t0) / 1000,
      };
      fs.writeFileSync(path.join(tmp, 'image.json'), `${JSON.stringify(meta, null, 2)}\n`);
    } catch (e) {
      await unmountUnder(tmp).catch(() => undefined);
      await removeTree(tmp).catch(() => undefined);
      throw new LabError(`building the base image failed: ${errorMessage(e)}`);
    }
    // Publish: tmp -> KEY.STAMP, then atomically point the KEY symlink at it.
    const finalName = `${key}.${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
    const finalDir = path.join(imageDir, finalName);
    fs.renameSync(tmp, finalDir);
    const linkTmp = path.join(imageDir, `${key}.${randomBytes(4).toString('hex')}.link`);
    fs.symlinkSync(finalName, linkTmp);
    fs.renameSync(linkTmp, path.join(imageDir, key));
    const realFinal = fs.realpathSync(finalDir);
    await collect(imageDir, key, realFinal);
    const seconds = (Date.now() - t0) / 1000;
    say(`image ready in ${seconds.toFixed(1)} s: ${realFinal}`);
    return { path: path.join(realFinal, 'root'), built: true, seconds };
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** Units that cannot work (or must not run) in a container. */
const MASKED_UNITS = [
  'systemd-timesyncd.service',
  'getty.target',
  'console-getty.service',
  'getty@.service',
  'serial-getty@.service',
  'systemd-udevd.service',
  'systemd-udev-trigger.service',
  'systemd-udev-settle.service',
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'fstrim.timer',
];

/** Turns a debootstrapped root into a bootable container image. Exported for tests. */
export function prepareImage(root: string): void {
  // chrony: start without CAP_SYS_TIME, and never steer the clock (-x). Containers never get CAP_SYS_TIME.
  writeInRoot(
    root,
    '/etc/systemd/system/chrony.service.d/airlock-lab.conf',
    [
      '# airlock lab: no CAP_SYS_TIME in containers; chronyd serves/measures time but never sets the clock.',
      '[Unit]',
      'ConditionCapability=',
      '[Service]',
      'ExecStart=',
      'ExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x',
      '',
    ].join('\n'),
    0o644,
  );
  // sshd: root by key only; host keys made on first boot (so hosts do not share the image's keys).
  writeInRoot(
    root,
    '/etc/ssh/sshd_config.d/airlock-lab.conf',
    [
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'UseDNS no',
      '',
    ].join('\n'),
    0o644,
  );
  writeInRoot(
    root,
    '/etc/systemd/system/ssh.service.d/airlock-lab.conf',
    ['[Service]', 'ExecStartPre=', 'ExecStartPre=/usr/bin/ssh-keygen -A', 'ExecStartPre=/usr/sbin/sshd -t', ''].join('\n'),
    0o644,
  );
  const sshDir = path.join(root, 'etc/ssh');
  for (const f of fs.readdirSync(sshDir)) if (f.startsWith('ssh_host_')) fs.rmSync(path.join(sshDir, f));
  // NetworkManager: manage veth devices (udev rules would mark them unmanaged), and create no
  // automatic DHCP profiles: interfaces are configured only by the keyfiles the lab writes.
  writeInRoot(
    root,
    '/etc/NetworkManager/conf.d/90-airlock-lab.conf',
    ['[main]', 'no-auto-default=*', '', '[device-airlock-lab-veth]', 'match-device=driver:veth', 'managed=1', ''].join(
      '\n',
    ),
    0o644,
  );
  for (const u of MASKED_UNITS) maskUnit(root, u);
  // Each host gets its own machine-id (written per host); the image has an empty one.
  writeInRoot(root, '/etc/machine-id', '', 0o444);
  const dbusId = path.join(root, 'var/lib/dbus/machine-id');
  try {
    if (!fs.lstatSync(dbusId).isSymbolicLink()) {
      fs.rmSync(dbusId);
      fs.symlinkSync('/etc/machine-id', dbusId);
    }
  } catch {
    /* absent */
  }
  writeInRoot(root, '/etc/hostname', 'localhost\n', 0o644);
  writeInRoot(root, '/etc/resolv.conf', '', 0o644); // never the build machine's resolvers
  const debs = path.join(root, 'var/cache/apt/archives');
  for (const f of fs.readdirSync(debs)) if (f.endsWith('.deb')) fs.rmSync(path.join(debs, f));
}
