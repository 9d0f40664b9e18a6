// What every bench needs around its measurements: child processes it starts (and stops by PID), plain
// HTTP to 127.0.0.1, waiting for a server to come up, and pushing blobs into a registry over its API.
import { closeSync, createReadStream, openSync, statSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

/** The bench's child processes: logs under logDir, stopped by PID (SIGTERM, then SIGKILL after 5 s). */
export class Children {
  private readonly all = new Set<ChildProcess>();
  constructor(private readonly logDir: string) {}

  /** Start a server with its output in <logDir>/<name>.log. */
  start(name: string, cmd: string, args: string[]): ChildProcess {
    const log = openSync(join(this.logDir, `${name}.log`), 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    child.on('error', (e) => console.error(`${name}: ${e.message}`));
    this.all.add(child);
    return child;
  }

  /** Stop it with the others at the end; forget it once it is done. */
  track(child: ChildProcess): void {
    this.all.add(child);
  }
  forget(child: ChildProcess): void {
    this.all.delete(child);
  }

  async stopAll(): Promise<void> {
    for (const c of this.all) if (c.pid !== undefined && alive(c)) c.kill('SIGTERM');
    const deadline = Date.now() + 5000;
    while ([...this.all].some(alive) && Date.now() < deadline) await sleep(50);
    for (const c of this.all) if (alive(c)) c.kill('SIGKILL');
  }
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request on 127.0.0.1 without keep-alive; the body is a buffer or a file streamed from disk. */
export function http(method: string, url: string, opts: { body?: Buffer; file?: string; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const length = opts.file ? statSync(opts.file).size : (opts.body?.length ?? 0);
    const req = request(url, { method, headers: { ...opts.headers, 'Content-Length': String(length) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.file) createReadStream(opts.file, { highWaterMark: 1 << 20 }).pipe(req);
    else req.end(opts.body);
  });
}

/** Wait until url answers at all (any status); fail after timeoutMs or as soon as proc has died. */
export async function waitHttp(url: string, what: string, opts: { proc?: ChildProcess; timeoutMs?: number; logs: string }): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    const ok = await http('GET', url).then(() => true, () => false);
    if (ok) return;
    if (Date.now() > deadline || (opts.proc && !alive(opts.proc))) throw new Error(`${what} did not come up at ${url}; see ${opts.logs}`);
    await sleep(50);
  }
}

/**
 * Push one blob the portable way (POST a session, PUT the whole body with ?digest=); with mountFrom, try a
 * cross-repository mount first.
 */
export async function pushBlob(base: string, repo: string, content: { body: Buffer } | { file: string }, digest: string, mountFrom?: string): Promise<void> {
  if (mountFrom) {
    const m = await http('POST', `${base}/v2/${repo}/blobs/uploads/?mount=${digest}&from=${mountFrom}`);
    if (m.status === 201) return;
    if (m.status === 202) await http('DELETE', new URL(String(m.headers.location), base).href).catch(() => undefined);
  }
  const post = await http('POST', `${base}/v2/${repo}/blobs/uploads/`);
  if (post.status !== 202) throw new Error(`POST ${base} ${repo} upload: ${post.status} ${post.body.toString()}`);
  const loc = new URL(String(post.headers.location), base);
  loc.searchParams.set('digest', digest);
  const put = await http('PUT', loc.href, { ...content, headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`PUT ${base} ${repo} ${digest}: ${put.status} ${put.body.toString()}`);
}
