// Errors raised by the lab machinery. Library code throws these; the CLI decides how to print them.

export class LabError extends Error {
  /** The command that failed, when the failure was a command. */
  readonly command: string[] | undefined;
  /** Its standard error (trimmed, last lines), when there was one. */
  readonly stderr: string | undefined;
  constructor(message: string, details: { command?: string[]; stderr?: string } = {}) {
    super(message);
    this.name = 'LabError';
    this.command = details.command;
    this.stderr = details.stderr;
  }
}

export function isLabError(e: unknown): e is LabError {
  return e instanceof LabError;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
