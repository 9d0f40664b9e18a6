// The error catalog: every error airlock raises has a stable code, a kind that fixes its exit code,
// and a factory here. User errors carry `problems` (file:line:col, field path, expected, hint) and are
// printed without a stack trace; anything else is a bug.

export interface Location {
  file: string;
  line: number;
  col: number;
}

/** One thing wrong with an input, pinned to a place in it. */
export interface Problem {
  location: Location;
  /** Field path, like "hosts[2].interfaces[0].address". Empty for the document itself. */
  path: string;
  message: string;
  expected?: string;
  hint?: string;
}

export const ErrorCodes = {
  /** The input file could not be read. */
  READ: 'AL-E001',
  /** The input is not valid YAML. */
  YAML: 'AL-E002',
  /** The input does not match the site schema (types, unknown fields, missing fields, references). */
  SCHEMA: 'AL-E003',
  /** An output directory could not be written. */
  WRITE: 'AL-E004',
  /** A command-line usage error. */
  USAGE: 'AL-E005',
  /** The site has error findings, so a verb that touches hosts refuses to start. */
  FINDINGS: 'AL-E006',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class AirlockError extends Error {
  readonly code: ErrorCode;
  /** 2 for bad input (the user's to fix), 1 for a failure of the operation. */
  readonly exitCode: 1 | 2;
  readonly problems: Problem[];
  constructor(code: ErrorCode, message: string, exitCode: 1 | 2, problems: Problem[] = []) {
    super(message);
    this.name = 'AirlockError';
    this.code = code;
    this.exitCode = exitCode;
    this.problems = problems;
  }
}

const byPlace = (problems: Problem[]) =>
  [...problems].sort((a, b) => a.location.line - b.location.line || a.location.col - b.location.col);

export const errors = {
  read: (file: string, cause: string) =>
    new AirlockError(ErrorCodes.READ, `cannot read ${file}: ${cause}`, 2, [
      { location: { file, line: 0, col: 0 }, path: '', message: `cannot read the file: ${cause}` },
    ]),
  yaml: (file: string, problems: Problem[]) =>
    new AirlockError(ErrorCodes.YAML, `${file} is not valid YAML (${problems.length} problem(s))`, 2, byPlace(problems)),
  schema: (file: string, problems: Problem[]) =>
    new AirlockError(ErrorCodes.SCHEMA, `${file} is not a valid site (${problems.length} problem(s))`, 2, byPlace(problems)),
  write: (path: string, cause: string) => new AirlockError(ErrorCodes.WRITE, `cannot write ${path}: ${cause}`, 1),
  usage: (message: string) => new AirlockError(ErrorCodes.USAGE, message, 2),
  findings: (file: string, count: number) =>
    new AirlockError(ErrorCodes.FINDINGS, `${file} has ${count} error finding(s); fix them first (airlock check ${file})`, 1),
};

export function isAirlockError(e: unknown): e is AirlockError {
  return e instanceof AirlockError;
}

export function formatLocation(l: Location): string {
  return l.line > 0 ? `${l.file}:${l.line}:${l.col}` : l.file;
}

/** "file:line:col  path: message (expected …) hint: …" — one line per problem, for terminals and logs. */
export function formatProblem(p: Problem): string {
  let s = `${formatLocation(p.location)}  ${p.path ? `${p.path}: ` : ''}${p.message}`;
  if (p.expected) s += `\n    expected: ${p.expected}`;
  if (p.hint) s += `\n    hint: ${p.hint}`;
  return s;
}
