// Debian's docker-registry (the reference distribution registry) on 127.0.0.1 for tests (and its config for
// the benches): a temp config, filesystem storage under `dir`, no access log; stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** docker-registry's config: filesystem storage at root, 127.0.0.1:port, errors only, no access log (its best case). */
export function distributionConfig(opts: { root: string; port: number; deletes?: boolean }): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${opts.root}`,
    ...(opts.deletes ? ['  delete:', '    enabled: true'] : []),
    'http:',
    `  addr: 127.0.0.1:${opts.port}`,
    '',
  ].join('\n');
}

export interface Distribution {
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port> (for docker:// references) */
  host: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startDistribution(dir: string): Promise<Distribution> {
  const port = await freePort();
  const config = join(dir, 'registry.yml');
  await writeFile(config, distributionConfig({ root: join(dir, 'registry'), port }));
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry did not start:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, process: child, stop };
}
