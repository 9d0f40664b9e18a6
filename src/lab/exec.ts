// Running commands: a promise around child_process.spawn that collects output, feeds stdin, and
// enforces a timeout by killing the whole process group (so commands that fork, like nsenter, die too).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { LabError } from './errors.ts';

import type { ExecResult } from './types.ts';

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  /** Full environment for the child; default: inherited. */
  env?: NodeJS.ProcessEnv;
  /** Called once per complete output line (stdout and stderr), e.g. for progress. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

/** A fixed, clean PATH for commands we run inside hosts and namespaces. */
export const CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: opts.env,
        // With a timeout: own process group, so the timeout can kill everything the command started
        // (nsenter forks). Without: stay in ours, so Ctrl-C on the caller reaches the command too.
        detached: opts.timeoutMs !== undefined,
      });
    } catch (e) {
      resolve({ code: 127, stdout: '', stderr: `cannot run ${cmd}: ${String(e)}` });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let done = false;
    const partial = { stdout: '', stderr: '' };
    const feed = (stream: 'stdout' | 'stderr', chunk: Buffer): void => {
      if (!opts.onLine) return;
      const text = partial[stream] + chunk.toString('utf8');
      const lines = text.split('\n');
      partial[stream] = lines.pop() ?? '';
      for (const l of lines) opts.onLine(l, stream);
    };
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      feed('stdout', c);
    });
    child.stderr.on('data', (c: Buffer) => {
      err.push(c);
      feed('stderr', c);
    });
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            try {
              if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
            } catch {
              /* already gone */
            }
          }, opts.timeoutMs)
        : undefined;
    const finish = (code: number, extraErr = ''): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (opts.onLine) {
        if (partial.stdout) opts.onLine(partial.stdout, 'stdout');
        if (partial.stderr) opts.onLine(partial.stderr, 'stderr');
      }
      let stderr = Buffer.concat(err).toString('utf8') + extraErr;
      if (timedOut) stderr += `\n[timed out after ${opts.timeoutMs} ms]`;
      resolve({ code: timedOut ? 124 : code, stdout: Buffer.concat(out).toString('utf8'), stderr });
    };
    child.on('error', (e) => finish(127, `cannot run ${cmd}: ${e.message}`));
    child.on('close', (code, signal) => {
      finish(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
    });
    child.stdin.on('error', () => {
      /* EPIPE when the command does not read its input */
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

function tail(s: string, lines = 15): string {
  return s.trim().split('\n').slice(-lines).join('\n');
}

/** Runs a command and throws a LabError (with the tail of stderr) unless it exits 0. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const err = tail(r.stderr || r.stdout);
    throw new LabError(`command failed (exit ${r.code}): ${[cmd, ...args].join(' ')}${err ? `\n${err}` : ''}`, {
      command: [cmd, ...args],
      stderr: err,
    });
  }
  return r;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
