// Ways of reaching a host — this machine, a network namespace, SSH — behind one interface.

export { TransportError } from './types.ts';
export type { FileInfo, RunOptions, RunResult, Transport, TransportErrorCode, WriteFileOptions } from './types.ts';
export { remoteCommandLine, shArgv, shellJoin, shellQuote } from './shell.ts';
export { localTransport, netnsTransport, type LocalOptions } from './local.ts';
export { sshTransport, type SshOptions } from './ssh.ts';
export { checkHostKey, fingerprintOf, fingerprintOfBlob, knownHostsMatches, type HostKeyDecision } from './hostkey.ts';
export { readFileCommand, writeFileCommand } from './files.ts';
