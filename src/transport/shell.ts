// POSIX shell quoting, and the wrapper every transport puts around a command line so that it is
// interpreted by /bin/sh -c on the target, as root through `sudo -n` when asked to.

/** Characters that never need quoting in a POSIX shell word. */
const SAFE = /^[A-Za-z0-9_@%+:,./-]+$/;

/**
 * Quote one string as a single POSIX shell word. The result is safe to paste anywhere a word is
 * expected: `shellQuote("it's")` → `'it'\''s'`, `shellQuote("")` → `''`.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new RangeError('a shell word cannot contain a NUL byte');
  if (value !== '' && SAFE.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Quote every argument and join them with spaces: `shellJoin(['rm', '-f', '--', path])`. */
export function shellJoin(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}

/**
 * The argument vector that runs `command` with /bin/sh -c, through `sudo -n` (never prompts; fails
 * instead) when `sudo` is true.
 */
export function shArgv(command: string, sudo: boolean): string[] {
  const sh = ['/bin/sh', '-c', command];
  return sudo ? ['sudo', '-n', '--', ...sh] : sh;
}

/**
 * The command line an SSH exec request carries: `/bin/sh -c COMMAND` (so the login shell only ever
 * sees one quoted word list), through `sudo -n` when asked. With `killAfterSeconds`, COMMAND runs
 * under coreutils `timeout -s KILL`, which puts it in a process group of its own and kills the whole
 * group when time is up: closing an SSH channel does not stop the remote command, and OpenSSH refuses
 * "signal" requests in many setups. Where `timeout` is missing, the command runs without it.
 */
export function remoteCommandLine(command: string, opts: { sudo: boolean; killAfterSeconds?: number }): string {
  let argv: string[];
  if (opts.killAfterSeconds === undefined) {
    argv = ['/bin/sh', '-c', command];
  } else {
    const n = Math.max(1, Math.ceil(opts.killAfterSeconds));
    const guard =
      `if command -v timeout >/dev/null 2>&1; then exec timeout -s KILL ${n} /bin/sh -c "$1"; fi; ` +
      'exec /bin/sh -c "$1"';
    argv = ['/bin/sh', '-c', guard, 'airlock', command];
  }
  return shellJoin(opts.sudo ? ['sudo', '-n', '--', ...argv] : argv);
}
