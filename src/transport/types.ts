// The one interface every way of reaching a host implements, and the error they raise.

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Sent to the command's standard input, then closed. Without it, stdin is closed at once. */
  input?: string;
  /** Kill the command (and its channel) after this long and throw TransportError('timeout'). */
  timeoutMs?: number;
  /** Run as root through `sudo -n`. Ignored where the transport already runs as root. */
  sudo?: boolean;
}

/** What readFile returns for a file that exists. */
export interface FileInfo {
  content: string;
  /** Permission bits, octal, at least 4 digits: "0644", "0600", "4755". */
  mode: string;
  /** "user:group" */
  owner: string;
  /** The path was a symlink; content, mode and owner are those of the file it points to. */
  symlink: boolean;
}

export interface WriteFileOptions {
  /** Octal permission bits, 3 or 4 digits: "644", "0644", "0600". */
  mode: string;
  /** "user", "user:group" or ":group". Omitted: the file belongs to the user the transport writes as. */
  owner?: string;
}

export interface Transport {
  /** e.g. "ssh root@192.168.10.11:22", "local", "netns lab-cp1" */
  readonly name: string;
  /**
   * Run a shell command line (interpreted by /bin/sh -c on the target). Never throws for a non-zero
   * exit; throws TransportError on connection failure or timeout.
   */
  run(command: string, opts?: RunOptions): Promise<RunResult>;
  /** Read a file (one round trip); undefined if it does not exist (a dangling symlink does not). */
  readFile(path: string): Promise<FileInfo | undefined>;
  /**
   * Atomic write: write to a temp file in the same directory, chmod/chown it, then rename it over
   * the target (a symlink there is replaced, not followed). Creates missing parent directories.
   */
  writeFile(path: string, content: string, opts: WriteFileOptions): Promise<void>;
  /** Release the connection. Idempotent; a closed transport's calls throw TransportError('connect'). */
  close(): Promise<void>;
}

export type TransportErrorCode = 'connect' | 'auth' | 'hostkey' | 'timeout' | 'io';

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  /** The transport's name. */
  readonly target: string;
  constructor(code: TransportErrorCode, target: string, message: string, options?: { cause?: unknown }) {
    super(`${target}: ${message}`, options);
    this.name = 'TransportError';
    this.code = code;
    this.target = target;
  }
}
