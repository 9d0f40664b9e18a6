// Terminal presentation for the CLI: colour only on a TTY (and never with NO_COLOR), findings and problems.
import { styleText } from 'node:util';
import type { CheckResult, Finding } from './check.ts';
import { formatLocation, type Problem } from './errors.ts';

type Style = Parameters<typeof styleText>[0];

export interface Painter {
  (style: Style, text: string): string;
  enabled: boolean;
}

export function painter(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): Painter {
  const enabled = Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
  const p = ((style: Style, text: string) => (enabled ? styleText(style, text) : text)) as Painter;
  p.enabled = enabled;
  return p;
}

const SEV: Record<Finding['severity'], Style> = { error: 'red', warning: 'yellow', info: 'cyan' };

export function formatFinding(f: Finding, paint: Painter): string {
  const lines = [
    `${paint('bold', formatLocation(f.location))}  ${paint(SEV[f.severity], f.severity.padEnd(7))} ${paint('dim', f.id)}  ${f.path}`,
    `    ${f.message}`,
  ];
  for (const r of f.related ?? []) lines.push(paint('dim', `    also: ${r.path} (${formatLocation(r.location)})`));
  lines.push(`    ${paint('green', 'hint:')} ${f.hint}`);
  return lines.join('\n');
}

export function formatSummary(r: CheckResult, paint: Painter): string {
  if (r.findings.length === 0) return paint('green', '✔ no findings');
  const parts = [`${r.errors} error${r.errors === 1 ? '' : 's'}`, `${r.warnings} warning${r.warnings === 1 ? '' : 's'}`, `${r.infos} info`];
  return r.errors ? paint('red', `✖ ${parts.join(', ')}`) : paint('yellow', `⚠ ${parts.join(', ')}`);
}

export function formatProblemLine(p: Problem, paint: Painter): string {
  let s = `${paint('bold', formatLocation(p.location))}  ${paint('red', 'error')}  ${p.path ? `${p.path}: ` : ''}${p.message}`;
  if (p.expected) s += `\n    expected: ${p.expected}`;
  if (p.hint) s += `\n    ${paint('green', 'hint:')} ${p.hint}`;
  return s;
}
