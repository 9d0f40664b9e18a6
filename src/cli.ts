// The command line: a thin layer over the library. Exit codes: 0 ok, 1 findings/failures, 2 bad input.
import { Command, CommanderError, Option } from 'commander';
import { check, isAirlockError, readSite, render, writeRendered, type AirlockError } from './index.ts';
import { formatFinding, formatProblemLine, formatSummary, painter } from './term.ts';

const out = process.stdout;
const err = process.stderr;
const paint = painter(out, process.env);
const paintErr = painter(err, process.env);

function todaySerial(d = new Date()): number {
  return Number(`${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}01`);
}

const program = new Command('airlock')
  .description('Build, check, render, apply and verify an air-gapped Kubernetes site from one site.yaml')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ writeErr: (s) => err.write(s), writeOut: (s) => out.write(s) });

program
  .command('check')
  .description('Validate site.yaml and run the static checks (exit 0 clean, 1 errors found, 2 invalid input)')
  .argument('<site>', 'path to site.yaml')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { json?: boolean }) => {
    const loaded = await readSite(sitePath);
    const result = check(loaded);
    if (opts.json) out.write(`${JSON.stringify({ ok: result.errors === 0, ...result }, null, 2)}\n`);
    else {
      for (const f of result.findings) out.write(`${formatFinding(f, paint)}\n`);
      out.write(`${formatSummary(result, paint)}\n`);
    }
    process.exitCode = result.errors > 0 ? 1 : 0;
  });

program
  .command('render')
  .description("Render every host's files and ordered plan into a directory (refuses if check finds errors)")
  .argument('<site>', 'path to site.yaml')
  .requiredOption('-o, --out <dir>', 'output directory (created; replaced if airlock wrote it before)')
  .addOption(new Option('--serial <n>', 'SOA serial for the internal zone (default: today as YYYYMMDD01)').argParser((v) => {
    if (!/^\d{1,10}$/.test(v) || Number(v) > 4294967295) throw new CommanderError(2, 'airlock.usage', `--serial must be a number up to 4294967295, got "${v}"`);
    return Number(v);
  }))
  .option('--force', 'render even when check reports errors')
  .option('--json', 'machine-readable output')
  .action(async (sitePath: string, opts: { out: string; serial?: number; force?: boolean; json?: boolean }) => {
    const loaded = await readSite(sitePath);
    const result = check(loaded);
    if (result.errors > 0 && !opts.force) {
      if (opts.json) out.write(`${JSON.stringify({ ok: false, written: [], ...result }, null, 2)}\n`);
      else {
        for (const f of result.findings.filter((x) => x.severity === 'error')) err.write(`${formatFinding(f, paintErr)}\n`);
        err.write(`${formatSummary(result, paintErr)} — nothing rendered (use --force to render anyway)\n`);
      }
      process.exitCode = 1;
      return;
    }
    const rendered = render(loaded, { serial: opts.serial ?? todaySerial() });
    const written = await writeRendered(rendered, opts.out);
    if (opts.json) out.write(`${JSON.stringify({ ok: true, out: opts.out, written, findings: result.findings }, null, 2)}\n`);
    else {
      for (const h of rendered.hosts) out.write(`${paint('bold', h.host.padEnd(12))} ${String(h.files.length).padStart(3)} files  ${String(h.plan.steps.length).padStart(3)} steps  → ${opts.out}/${h.host}/\n`);
      out.write(`${paint('green', '✔')} rendered ${rendered.hosts.length} hosts into ${opts.out}\n`);
    }
  });

function reportError(e: AirlockError): void {
  err.write(`${paintErr('red', 'airlock:')} ${e.message} [${e.code}]\n`);
  for (const p of e.problems) err.write(`${formatProblemLine(p, paintErr)}\n`);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? 0 : 2;
  } else if (isAirlockError(e)) {
    reportError(e);
    process.exitCode = e.exitCode;
  } else {
    err.write(`airlock: internal error (a bug — please report it with this trace)\n${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 70;
  }
}
