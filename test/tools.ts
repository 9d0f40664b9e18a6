// Which real tools a test can use. Outside CI a missing tool skips its test with a reason; in CI it does not
// skip (CI installs every tool via scripts/setup.sh, so a missing one must fail, not pass silently).
import { execFile, spawnSync } from 'node:child_process';

export const have = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

/** For `skip: available('x') ? false : 'needs x'`: in CI every tool counts as available, so a missing one fails. */
export const available = (bin: string): boolean => Boolean(process.env.CI) || have(bin);

export interface RunOptions {
  cwd?: string;
  /** The whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Set on top of it (LC_ALL, DEBIAN_FRONTEND…). */
  set?: Record<string, string>;
  timeoutMs?: number;
}

/** Run a real tool without blocking the event loop (servers under test may live in this process): exit code and stdout+stderr. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: { ...(opts.env ?? process.env), ...opts.set } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}
