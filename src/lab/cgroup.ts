// One cgroup subtree per container. Without a host systemd there is no machine scope: every container's
// systemd would otherwise share (and fight over) the same /system.slice/... directories, and a unit
// started twice could fail with 219/CGROUP when another container removed "its" cgroup.
import fs from 'node:fs';
import path from 'node:path';

const ROOT = '/sys/fs/cgroup';

/** The writable hierarchies systemd inside a container uses: cgroup2 alone, or name=systemd + unified. */
export function cgroupHierarchies(): string[] {
  try {
    if (fs.statfsSync(ROOT).type === 0x63677270) return [ROOT]; // CGROUP2_SUPER_MAGIC: pure cgroup2
  } catch {
    return [];
  }
  return ['systemd', 'unified'].map((h) => path.join(ROOT, h)).filter((d) => fs.existsSync(path.join(d, 'cgroup.procs')));
}

/** Where the container `name` gets its cgroups: `airlock/<name>` in every hierarchy (no side effects). */
export function cgroupDirsFor(name: string): string[] {
  return cgroupHierarchies().map((h) => path.join(h, 'airlock', name));
}

/** Create the directories that can be created; a read-only hierarchy is skipped (the container then shares its parent's). */
export function makeCgroups(dirs: string[]): string[] {
  return dirs.filter((d) => {
    try {
      fs.mkdirSync(d, { recursive: true });
      return true;
    } catch {
      return false;
    }
  });
}

/** Remove a cgroup directory and everything the container's systemd made below it (depth first). */
export function removeCgroup(dir: string): boolean {
  if (!dir.startsWith(`${ROOT}/`) || !dir.includes('/airlock/') || !fs.existsSync(dir)) return false;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch {
    return false;
  }
  try {
    fs.rmdirSync(path.dirname(dir)); // the shared airlock/ parent, once no lab uses it
  } catch {
    // other labs still there
  }
  return true;
}
