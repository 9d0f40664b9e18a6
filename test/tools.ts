// Which real tools a test can use. Outside CI a missing tool skips its test with a reason; in CI it does not
// skip (CI installs every tool via scripts/setup.sh, so a missing one must fail, not pass silently).
import { spawnSync } from 'node:child_process';

export const have = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

/** For `skip: available('x') ? false : 'needs x'`: in CI every tool counts as available, so a missing one fails. */
export const available = (bin: string): boolean => Boolean(process.env.CI) || have(bin);
