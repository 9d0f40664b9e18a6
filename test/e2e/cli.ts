// Running the airlock CLI in e2e tests: its JSON output, and killing it at an awkward moment (the crash
// tests: start a command, SIGKILL it once `when()` holds, wait for it to die).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'airlock.js');

/** true when it was killed; false when it ended (or the time ran out) before `when()` held. */
export async function killWhen(args: string[], when: () => boolean, opts: { timeoutMs?: number; pollMs?: number } = {}): Promise<boolean> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: 'ignore' });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  const t0 = Date.now();
  let killed = false;
  while (Date.now() - t0 < (opts.timeoutMs ?? 120_000) && child.exitCode === null) {
    if (when()) {
      child.kill('SIGKILL');
      killed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 50));
  }
  if (!killed && child.exitCode === null) child.kill('SIGKILL');
  await exited;
  return killed;
}

/** A command's --json output; a failure shows what it printed instead. */
export const json = <T>(r: { stdout: string; stderr: string }): T => {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON:\n${r.stdout}\n${r.stderr}`);
  }
};
