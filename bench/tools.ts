// The benches' tools: which commands exist, and installing the missing Debian packages (as root; with
// policy-rc.d denying service starts, so a package install never starts a system service).
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';

export const have = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0 || existsSync(`/usr/sbin/${bin}`);

/** Install the packages of the [command, package] pairs whose command is missing; exits 2 when not root. */
export function ensureTools(bench: string, needed: readonly (readonly [string, string])[]): void {
  const missing = [...new Set(needed.filter(([bin]) => !have(bin)).map(([, pkg]) => pkg))];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(`${bench} needs ${missing.join(' ')} (run as root to have them installed)`);
    process.exit(2);
  }
  console.log(`installing ${missing.join(' ')} (services are not started: policy-rc.d denies it)`);
  let createdPolicy = false;
  if (!existsSync('/usr/sbin/policy-rc.d')) {
    writeFileSync('/usr/sbin/policy-rc.d', '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    createdPolicy = true;
  }
  try {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) throw new Error('apt-get install failed');
  } finally {
    if (createdPolicy) rmSync('/usr/sbin/policy-rc.d', { force: true });
  }
}
