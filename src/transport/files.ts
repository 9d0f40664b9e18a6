// readFile and writeFile for every transport, as one shell command each over the transport's own
// `run`, so they work the same locally, in a netns and over SSH (with sudo, where SFTP would not).

import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { shellQuote } from './shell.ts';
import { TransportError, type FileInfo, type RunOptions, type RunResult, type WriteFileOptions } from './types.ts';

export type RunFn = (command: string, opts?: RunOptions) => Promise<RunResult>;

const MODE = /^[0-7]{3,4}$/;

function checkPath(path: string): void {
  if (!posix.isAbsolute(path)) throw new RangeError(`not an absolute path: ${JSON.stringify(path)}`);
  if (path.includes('\0')) throw new RangeError('a path cannot contain a NUL byte');
}

/**
 * The command readFile runs. Its stdout is either `A\n` (absent) or a header line
 * `F <mode> <user>:<group> <0|1 symlink>\n` followed by the file's bytes exactly.
 */
export function readFileCommand(path: string): string {
  checkPath(path);
  return [
    `p=${shellQuote(path)}`,
    `if [ ! -e "$p" ]; then printf 'A\\n'; exit 0; fi`,
    `if [ ! -f "$p" ]; then printf '%s\\n' "not a regular file" >&2; exit 3; fi`,
    `if [ -L "$p" ]; then l=1; else l=0; fi`,
    `s=$(stat -L -c '%a %U:%G' -- "$p") || exit 3`,
    `printf 'F %s %s\\n' "$s" "$l"`,
    `exec cat -- "$p"`,
  ].join('\n');
}

const HEADER = /^F ([0-7]{1,4}) (\S+) ([01])\n/;

/** Parse what readFileCommand printed. */
export function parseReadFile(target: string, path: string, result: RunResult): FileInfo | undefined {
  if (result.code !== 0) {
    throw new TransportError('io', target, `cannot read ${path}: ${result.stderr.trim() || `exit ${result.code}`}`);
  }
  if (result.stdout === 'A\n') return undefined;
  const m = HEADER.exec(result.stdout);
  if (!m) {
    throw new TransportError('io', target, `cannot read ${path}: unexpected reply ${JSON.stringify(result.stdout.slice(0, 60))}`);
  }
  return {
    mode: m[1]!.padStart(4, '0'),
    owner: m[2]!,
    symlink: m[3] === '1',
    content: result.stdout.slice(m[0].length),
  };
}

/**
 * The command writeFile runs, with the content on its stdin: a private temp file next to the target,
 * chmod/chown, then `mv -T` (rename(2)), which replaces a symlink instead of following it and refuses
 * to move into a directory. The temp file is removed if any step fails.
 */
export function writeFileCommand(path: string, opts: WriteFileOptions): string {
  checkPath(path);
  if (path.endsWith('/')) throw new RangeError(`not a file path: ${JSON.stringify(path)}`);
  if (!MODE.test(opts.mode)) throw new RangeError(`not an octal mode: ${JSON.stringify(opts.mode)}`);
  if (opts.owner !== undefined && !/^[^\s:]*(:[^\s:]*)?$/.test(opts.owner)) {
    throw new RangeError(`not an owner ("user", "user:group" or ":group"): ${JSON.stringify(opts.owner)}`);
  }
  const dir = posix.dirname(path);
  const base = posix.basename(path);
  const tmp = posix.join(dir, `.${base.slice(0, 100)}.airlock-${randomBytes(6).toString('hex')}`);
  const lines = [
    'set -e',
    `p=${shellQuote(path)}`,
    `t=${shellQuote(tmp)}`,
    'umask 022',
    `mkdir -p -- ${shellQuote(dir)}`,
    'umask 077',
    `trap 'rm -f -- "$t"' EXIT`,
    'cat > "$t"',
    `chmod -- ${shellQuote(opts.mode)} "$t"`,
  ];
  if (opts.owner !== undefined && opts.owner !== '') lines.push(`chown -- ${shellQuote(opts.owner)} "$t"`);
  lines.push('mv -f -T -- "$t" "$p"');
  return lines.join('\n');
}

/** readFile over any transport's `run`. */
export async function readFileVia(run: RunFn, target: string, path: string): Promise<FileInfo | undefined> {
  const command = readFileCommand(path);
  return parseReadFile(target, path, await run(command));
}

/** writeFile over any transport's `run`. */
export async function writeFileVia(run: RunFn, target: string, path: string, content: string, opts: WriteFileOptions): Promise<void> {
  const command = writeFileCommand(path, opts);
  const result = await run(command, { input: content });
  if (result.code !== 0) {
    throw new TransportError('io', target, `cannot write ${path}: ${result.stderr.trim() || `exit ${result.code}`}`);
  }
}
