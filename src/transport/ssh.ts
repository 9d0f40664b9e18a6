// SSH transport (ssh2): one connection per transport, one exec channel per command, at most
// `maxSessions` channels open at once (OpenSSH's MaxSessions is 10 by default).

import type { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { readFileVia, writeFileVia } from './files.ts';
import { checkHostKey, fingerprintOfBlob, publicKeyLineOfBlob } from './hostkey.ts';
import { signalExitCode } from './local.ts';
import { remoteCommandLine } from './shell.ts';
import { TransportError, type FileInfo, type RunOptions, type RunResult, type Transport, type WriteFileOptions } from './types.ts';

export interface SshOptions {
  host: string;
  /** Default 22. */
  port?: number;
  /** Default "root". */
  user?: string;
  /** Private key text (PEM or OpenSSH format, unencrypted). */
  privateKey?: string;
  /** Path of an ssh-agent socket (the caller's SSH_AUTH_SOCK). */
  agent?: string;
  /**
   * Host key pins, one per line: "SHA256:..." fingerprints, bare public keys or known_hosts lines
   * (see checkHostKey). When given, any other key fails with TransportError('hostkey'), even if
   * trustOnFirstUse is set.
   */
  hostKey?: string;
  /** Without hostKey: accept whatever key the server shows and report it through onHostKey. */
  trustOnFirstUse?: boolean;
  /**
   * Called with the accepted host key's fingerprint ("SHA256:...") and public key line
   * ("ssh-ed25519 AAAA..."), so the caller can store it.
   */
  onHostKey?: (fingerprint: string, publicKey: string) => void;
  /** Run commands through `sudo -n /bin/sh -c` when user is not root. Per call: RunOptions.sudo. */
  sudo?: boolean;
  /** Connection and handshake timeout (including `sock()`). Default 20000. */
  readyTimeoutMs?: number;
  /** A connected stream to use instead of TCP, e.g. `ip netns exec NS nc HOST 22`. */
  sock?: () => Promise<Duplex>;
  /** Most channels (commands) open at once on the connection; more wait their turn. Default 8. */
  maxSessions?: number;
  /** SSH keepalive interval; the connection is dropped after 3 unanswered. Default 15000; 0 disables. */
  keepaliveIntervalMs?: number;
}

type SshError = Error & { level?: string; code?: string };

function targetName(user: string, host: string, port: number): string {
  return `ssh ${user}@${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function classify(target: string, err: SshError, hostKeyProblem: string | undefined): TransportError {
  if (hostKeyProblem !== undefined) return new TransportError('hostkey', target, hostKeyProblem, { cause: err });
  if (err.level === 'client-authentication') {
    return new TransportError('auth', target, `authentication failed: ${err.message}`, { cause: err });
  }
  if (err.level === 'client-timeout') return new TransportError('timeout', target, err.message, { cause: err });
  return new TransportError('connect', target, err.message, { cause: err });
}

/** A counting semaphore for channels. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

class SshTransport implements Transport {
  readonly name: string;
  readonly #client: Client;
  readonly #rootUser: boolean;
  readonly #sudo: boolean;
  readonly #slots: Slots;
  /** Fail functions of the commands in flight, called when the connection drops. */
  readonly #inFlight = new Set<(e: TransportError) => void>();
  #closed = false;
  #lostReason: string | undefined;
  #closedPromise: Promise<void>;

  constructor(name: string, client: Client, opts: SshOptions) {
    this.name = name;
    this.#client = client;
    this.#rootUser = (opts.user ?? 'root') === 'root';
    this.#sudo = opts.sudo ?? false;
    this.#slots = new Slots(Math.max(1, opts.maxSessions ?? 8));
    this.#closedPromise = new Promise((resolve) => {
      client.on('close', () => {
        this.#closed = true;
        this.#lostReason ??= 'connection closed';
        const err = new TransportError('connect', this.name, this.#lostReason);
        for (const fail of [...this.#inFlight]) fail(err);
        resolve();
      });
    });
    client.on('error', (e: SshError) => {
      this.#lostReason = `connection lost: ${e.message}`;
    });
  }

  async run(command: string, opts: RunOptions = {}): Promise<RunResult> {
    const sudo = (opts.sudo ?? this.#sudo) && !this.#rootUser;
    // The remote side kills the command a second after we give up on it (see remoteCommandLine).
    const line = remoteCommandLine(command, {
      sudo,
      ...(opts.timeoutMs !== undefined ? { killAfterSeconds: opts.timeoutMs / 1000 + 1 } : {}),
    });
    await this.#slots.acquire();
    try {
      return await this.#exec(line, opts);
    } finally {
      this.#slots.release();
    }
  }

  #exec(line: string, opts: RunOptions): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      if (this.#closed) {
        reject(new TransportError('connect', this.name, this.#lostReason ?? 'transport is closed'));
        return;
      }
      let channel: ClientChannel | undefined;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let code: number | undefined;
      const kill = (): void => {
        channel?.close();
      };
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        this.#inFlight.delete(fail);
        fn();
      };
      const fail = (e: TransportError): void => settle(() => reject(e));
      this.#inFlight.add(fail);
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          kill();
          fail(new TransportError('timeout', this.name, `command timed out after ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
      try {
        this.#client.exec(line, (e, ch) => {
          if (e) {
            fail(new TransportError('connect', this.name, `cannot open a channel: ${e.message}`, { cause: e }));
            return;
          }
          channel = ch;
          if (settled) {
            kill();
            return;
          }
          ch.on('data', (b: Buffer) => out.push(b));
          ch.stderr.on('data', (b: Buffer) => err.push(b));
          ch.on('exit', (c: number | null, signal?: string) => {
            code = c ?? signalExitCode(signal);
          });
          ch.on('error', () => {
            /* reported through 'close' and the connection's own events */
          });
          ch.on('close', () => {
            settle(() =>
              resolve({
                code: code ?? 255,
                stdout: Buffer.concat(out).toString('utf8'),
                stderr: Buffer.concat(err).toString('utf8'),
              }),
            );
          });
          ch.end(opts.input ?? '');
        });
      } catch (e) {
        fail(new TransportError('connect', this.name, `cannot open a channel: ${(e as Error).message}`, { cause: e }));
      }
    });
  }

  readFile(path: string): Promise<FileInfo | undefined> {
    return readFileVia((c, o) => this.run(c, o), this.name, path);
  }

  writeFile(path: string, content: string, opts: WriteFileOptions): Promise<void> {
    return writeFileVia((c, o) => this.run(c, o), this.name, path, content, opts);
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#lostReason = 'transport is closed';
      this.#client.end();
    }
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.#closedPromise, new Promise<void>((r) => (t = setTimeout(r, 2000)))]);
    clearTimeout(t);
    if (!this.#closed) this.#client.destroy();
    this.#closed = true;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(onTimeout()), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Connect, authenticate and verify the host key; resolves to a connected transport. */
export async function sshTransport(opts: SshOptions): Promise<Transport> {
  const port = opts.port ?? 22;
  const user = opts.user ?? 'root';
  const name = targetName(user, opts.host, port);
  const readyTimeout = opts.readyTimeoutMs ?? 20000;

  if (opts.hostKey === undefined && !opts.trustOnFirstUse) {
    throw new TransportError('hostkey', name, 'no host key pinned (pass hostKey, or trustOnFirstUse to accept and report the key)');
  }

  let sock: Duplex | undefined;
  if (opts.sock) {
    try {
      sock = await withTimeout(opts.sock(), readyTimeout, () => new TransportError('timeout', name, `no stream after ${readyTimeout} ms`));
    } catch (e) {
      if (e instanceof TransportError) throw e;
      throw new TransportError('connect', name, `cannot open the stream: ${(e as Error).message}`, { cause: e });
    }
  }

  let hostKeyProblem: string | undefined;
  let accepted: { fingerprint: string; publicKey: string } | undefined;
  const hostVerifier = (blob: Buffer): boolean => {
    const fingerprint = fingerprintOfBlob(blob);
    if (opts.hostKey !== undefined) {
      const decision = checkHostKey(opts.hostKey, blob, opts.host, port);
      if (!decision.ok) {
        hostKeyProblem = decision.reason ?? 'host key refused';
        return false;
      }
    }
    accepted = { fingerprint, publicKey: publicKeyLineOfBlob(blob) };
    return true;
  };

  const config: ConnectConfig = {
    host: opts.host,
    port,
    username: user,
    readyTimeout,
    hostVerifier,
    keepaliveInterval: opts.keepaliveIntervalMs ?? 15000,
    keepaliveCountMax: 3,
  };
  if (opts.privateKey !== undefined) config.privateKey = opts.privateKey;
  if (opts.agent !== undefined) config.agent = opts.agent;
  if (sock) config.sock = sock;

  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const onError = (e: SshError): void => {
      cleanup();
      client.destroy();
      reject(classify(name, e, hostKeyProblem));
    };
    const onClose = (): void => {
      cleanup();
      reject(
        hostKeyProblem !== undefined
          ? new TransportError('hostkey', name, hostKeyProblem)
          : new TransportError('connect', name, 'connection closed during the handshake'),
      );
    };
    const cleanup = (): void => {
      client.off('ready', onReady).off('error', onError).off('close', onClose);
      // Keep one listener so a late 'error' can never go unhandled.
      client.on('error', () => {});
    };
    client.on('ready', onReady).on('error', onError).on('close', onClose);
    try {
      client.connect(config);
    } catch (e) {
      cleanup();
      const message = (e as Error).message;
      reject(new TransportError(/key/i.test(message) ? 'auth' : 'connect', name, message, { cause: e }));
    }
  });

  const transport = new SshTransport(name, client, opts);
  if (accepted && opts.onHostKey) {
    try {
      opts.onHostKey(accepted.fingerprint, accepted.publicKey);
    } catch (e) {
      await transport.close();
      throw e;
    }
  }
  return transport;
}
