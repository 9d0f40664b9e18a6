// Making sure the machine has the programs the lab runs, installing the missing ones with apt-get.
import * as fs from 'node:fs';
import { LabError } from './errors.ts';
import { runOk } from './exec.ts';

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function findProgram(name: string): string | undefined {
  for (const d of SEARCH) {
    const p = `${d}/${name}`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** program name -> Debian package that provides it. */
export const TOOL_PACKAGES: Record<string, string> = {
  debootstrap: 'debootstrap',
  'systemd-nspawn': 'systemd-container',
  ip: 'iproute2',
  nsenter: 'util-linux',
  'ssh-keygen': 'openssh-client',
  ssh: 'openssh-client',
  bash: 'bash',
  timeout: 'coreutils',
};

/** Installs (apt-get update, then apt-get install) the packages providing any missing program. */
export async function ensurePrograms(programs: string[], onProgress?: (msg: string) => void): Promise<string[]> {
  const missing = programs.filter((p) => !findProgram(p));
  if (missing.length === 0) return [];
  const pkgs = [...new Set(missing.map((p) => TOOL_PACKAGES[p] ?? p))].sort();
  if (!findProgram('apt-get')) throw new LabError(`missing programs ${missing.join(', ')} and no apt-get to install them`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  onProgress?.(`installing ${pkgs.join(' ')} (for ${missing.join(', ')}): apt-get update`);
  await runOk('apt-get', ['update'], { env });
  onProgress?.(`apt-get install ${pkgs.join(' ')}`);
  await runOk('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env });
  const still = missing.filter((p) => !findProgram(p));
  if (still.length > 0) throw new LabError(`still missing after installing ${pkgs.join(', ')}: ${still.join(', ')}`);
  return pkgs;
}
