// Start an airlock command, SIGKILL it once `when()` holds (polled), and wait for it to die: the crash
// tests' one way to stop airlock at an awkward moment.
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
