// File-system helpers: writing files inside a container root without ever following a symlink out
// of it, reading the mount table, and removing trees without crossing into mounts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError } from './errors.ts';
import { runOk } from './exec.ts';

/** Parses an octal mode string ("0644", "600"). */
export function parseMode(mode: string | undefined, fallback = 0o644): number {
  if (mode === undefined) return fallback;
  if (!/^[0-7]{3,4}$/.test(mode)) throw new LabError(`invalid file mode "${mode}" (expected octal like "0644")`);
  return parseInt(mode, 8);
}

/** Checks an in-root path is absolute and has no "." / ".." / empty components. */
export function checkRootPath(p: string): string[] {
  if (!p.startsWith('/')) throw new LabError(`file path "${p}" must be absolute`);
  const parts = p.split('/').filter((s) => s !== '');
  if (parts.length === 0 || parts.some((s) => s === '.' || s === '..'))
    throw new LabError(`file path "${p}" must name a file and contain no "." or ".." components`);
  return parts;
}

/**
 * Resolves the directory part of `inRoot` inside `root` the way a chroot would: symlinks are followed,
 * absolute targets are re-based on `root`, ".." never climbs above `root`. Missing directories are
 * created (mode 0755, root-owned). Returns the host path of the file, whose last component is not
 * resolved (unless wholePath: then every component is a directory, resolved and created).
 */
function resolveInRoot(root: string, inRoot: string, wholePath = false): string {
  const parts = checkRootPath(inRoot);
  const fileName = wholePath ? '' : parts.pop()!;
  let cur: string[] = []; // resolved components below root
  const queue = [...parts];
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      cur.pop();
      continue;
    }
    const hostPath = path.join(root, ...cur, c);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(hostPath);
    } catch {
      st = undefined;
    }
    if (!st) {
      fs.mkdirSync(hostPath, { mode: 0o755 });
      cur.push(c);
    } else if (st.isSymbolicLink()) {
      if (++hops > 40) throw new LabError(`too many symlinks resolving ${inRoot} in ${root}`);
      const target = fs.readlinkSync(hostPath);
      if (target.startsWith('/')) cur = [];
      queue.unshift(...target.split('/'));
    } else if (st.isDirectory()) {
      cur.push(c);
    } else {
      throw new LabError(`cannot write ${inRoot}: ${path.join('/', ...cur, c)} is not a directory`);
    }
  }
  return path.join(root, ...cur, fileName);
}

/**
 * Writes a file inside a container root (through its merged overlay, or into an image root).
 * A symlink at the final component is replaced by the regular file; no path ever escapes `root`.
 */
export function writeInRoot(root: string, inRoot: string, content: string, mode: number): void {
  const target = resolveInRoot(root, inRoot);
  try {
    const st = fs.lstatSync(target);
    if (st.isDirectory()) throw new LabError(`cannot write ${inRoot}: it is a directory`);
    fs.unlinkSync(target);
  } catch (e) {
    if (e instanceof LabError) throw e;
  }
  fs.writeFileSync(target, content, { mode, flag: 'wx' });
  fs.chmodSync(target, mode); // the umask must not change the mode asked for
  fs.chownSync(target, 0, 0);
}

/** Makes a directory (and its parents) inside a root, resolved as above, and sets its mode. */
export function mkdirInRoot(root: string, inRoot: string, mode: number): void {
  fs.chmodSync(resolveInRoot(root, inRoot, true), mode);
}

/** Replaces a unit with a link to /dev/null inside a root (what `systemctl mask` does). */
export function maskUnit(root: string, unit: string): void {
  const link = resolveInRoot(root, `/etc/systemd/system/${unit}`);
  fs.rmSync(link, { force: true });
  fs.symlinkSync('/dev/null', link);
}

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  options: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mount table of our mount namespace. */
export function readMounts(): MountEntry[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const g = post.split(' ');
    out.push({
      mountPoint: unescapeMount(f[4] ?? ''),
      fsType: g[0] ?? '',
      source: unescapeMount(g[1] ?? ''),
      options: `${f[5] ?? ''},${g[2] ?? ''}`,
    });
  }
  return out;
}

function isUnder(p: string, dir: string): boolean {
  const d = dir.endsWith('/') ? dir : `${dir}/`;
  return p === dir || p.startsWith(d);
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const set = new Set(readMounts().map((m) => m.mountPoint).filter((m) => isUnder(m, dir)));
  return [...set].sort((a, b) => b.length - a.length);
}

/** Unmounts everything at or below `dir` (deepest first; lazily if busy). Returns what was unmounted. */
export async function unmountUnder(dir: string): Promise<string[]> {
  const done: string[] = [];
  for (let round = 0; round < 5; round++) {
    const ms = mountsUnder(dir);
    if (ms.length === 0) break;
    for (const m of ms) {
      try {
        await runOk('umount', [m]);
      } catch {
        await runOk('umount', ['-l', m]);
      }
      if (!done.includes(m)) done.push(m);
    }
  }
  const left = mountsUnder(dir);
  if (left.length > 0) throw new LabError(`could not unmount: ${left.join(', ')}`);
  return done;
}

/** rm -rf that refuses to run while anything is mounted below and never crosses file systems. */
export async function removeTree(dir: string): Promise<boolean> {
  if (!fs.existsSync(dir)) return false;
  if (mountsUnder(dir).length > 0) throw new LabError(`refusing to remove ${dir}: something is mounted below it`);
  await runOk('rm', ['-rf', '--one-file-system', '--', dir]);
  return true;
}

/** Atomic write: temp file in the same directory, then rename. */
export function writeFileAtomic(file: string, content: string, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode });
  fs.renameSync(tmp, file);
}
