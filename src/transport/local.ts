// Transports that run commands as child processes of this one: on this machine, or inside a network
// namespace through `ip netns exec` (same filesystem, that namespace's network).

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { readFileVia, writeFileVia } from './files.ts';
import { shArgv } from './shell.ts';
import { TransportError, type FileInfo, type RunOptions, type RunResult, type Transport, type WriteFileOptions } from './types.ts';

export interface LocalOptions {
  /** Run every command through `sudo -n` unless this process is already root. Default false. */
  sudo?: boolean;
}

/** Exit code a shell would report for a process killed by `signal`. */
export function signalExitCode(signal: string | null | undefined): number {
  if (!signal) return 255;
  const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`) as keyof typeof constants.signals;
  const n = constants.signals[name];
  return typeof n === 'number' ? 128 + n : 255;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Spawn argv in its own process group; on timeout the whole group is killed. */
function spawnRun(target: string, argv: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const [file, ...args] = argv;
    if (file === undefined) throw new RangeError('empty argv');
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      fn();
    };
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {
      /* the command exited without reading all of its input: not an error of ours */
    });
    child.on('error', (e) => {
      finish(() => reject(new TransportError('connect', target, `cannot start ${file}: ${e.message}`, { cause: e })));
    });
    child.on('close', (code, signal) => {
      finish(() =>
        resolve({
          code: code ?? signalExitCode(signal),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        }),
      );
    });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        finish(() => {
          try {
            if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
          child.stdout.destroy();
          child.stderr.destroy();
          reject(new TransportError('timeout', target, `command timed out after ${opts.timeoutMs} ms`));
        });
      }, opts.timeoutMs);
    }
    child.stdin.end(opts.input ?? '');
  });
}

class ChildTransport implements Transport {
  readonly name: string;
  #closed = false;
  readonly #prefix: string[];
  readonly #sudo: boolean;

  constructor(name: string, prefix: string[], sudo: boolean) {
    this.name = name;
    this.#prefix = prefix;
    this.#sudo = sudo;
  }

  run(command: string, opts: RunOptions = {}): Promise<RunResult> {
    if (this.#closed) return Promise.reject(new TransportError('connect', this.name, 'transport is closed'));
    const sudo = (opts.sudo ?? this.#sudo) && !isRoot();
    const sh = shArgv(command, false);
    const argv = sudo ? ['sudo', '-n', '--', ...this.#prefix, ...sh] : [...this.#prefix, ...sh];
    return spawnRun(this.name, argv, opts);
  }

  readFile(path: string): Promise<FileInfo | undefined> {
    return readFileVia((c, o) => this.run(c, o), this.name, path);
  }

  writeFile(path: string, content: string, opts: WriteFileOptions): Promise<void> {
    return writeFileVia((c, o) => this.run(c, o), this.name, path, content, opts);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** Commands run by /bin/sh on this machine. */
export function localTransport(opts: LocalOptions = {}): Transport {
  return new ChildTransport('local', [], opts.sudo ?? false);
}

/** Commands run by /bin/sh inside network namespace `netns` (`ip netns exec NETNS /bin/sh -c ...`). */
export function netnsTransport(netns: string, opts: LocalOptions = {}): Transport {
  if (netns === '' || netns.includes('/') || netns.startsWith('-')) {
    throw new RangeError(`not a network namespace name: ${JSON.stringify(netns)}`);
  }
  return new ChildTransport(`netns ${netns}`, ['ip', 'netns', 'exec', netns], opts.sudo ?? false);
}
