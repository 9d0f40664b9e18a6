// A Plan is the ordered list of Steps that brings one host to the rendered state. Every step says how to
// tell whether it is already done, so applying a plan twice changes nothing the second time.

/** What every step may say about the lab: some things cannot be done inside a container on a shared kernel. */
export interface LabNote {
  /** Skip this step in the lab (reported as "skipped"), with the reason. */
  labSkip?: string;
}

/** Put a file in place (atomically, with a backup of what it replaces). */
export interface FileStep extends LabNote {
  kind: 'file';
  id: string;
  title: string;
  path: string;
  /** Octal, like "0644". */
  mode: string;
  /** "user:group"; omitted means root:root. */
  owner?: string;
  content: string;
  /** How to decide the file is already right: byte for byte, or ignoring a zone's SOA serial. */
  compare: 'exact' | 'ignore-soa-serial';
}

/** Run `run` when `check` (sh, exit 0 = already so) fails, or when a file it follows changed. */
export interface CommandStep extends LabNote {
  kind: 'command';
  id: string;
  title: string;
  check: string;
  run: string;
  /** File step ids: if any changed in this apply, run even when the check passes. */
  after?: string[];
  /** OS packages this step installs (what a bundle must carry for the host). */
  packages?: PackageRef[];
}

/** An OS package a step installs; version as the OS writes it, a prefix ("1.30.4") when pinned. */
export interface PackageRef {
  name: string;
  version?: string;
}

/** A condition that must hold before going on (e.g. the new route works before the old link goes down). */
export interface AssertStep extends LabNote {
  kind: 'assert';
  id: string;
  title: string;
  check: string;
  /** Seconds to keep retrying the check before failing the host. */
  timeout: number;
}

/** A systemd unit: enabled and running, restarted when one of its files changed. */
export interface ServiceStep extends LabNote {
  kind: 'service';
  id: string;
  title: string;
  unit: string;
  /** File step ids whose change requires a restart. */
  restartOn: string[];
}

export type Step = FileStep | CommandStep | AssertStep | ServiceStep;

export interface Plan {
  host: string;
  os: string;
  roles: string[];
  steps: Step[];
}

/** Human-readable plan: one numbered line per step. */
export function formatPlan(plan: Plan): string {
  const lines = [`# ${plan.host} (${plan.os}; ${plan.roles.join(', ')}) — ${plan.steps.length} steps`];
  plan.steps.forEach((s, i) => {
    const n = String(i + 1).padStart(2);
    if (s.labSkip) lines.push(`    (skipped in the lab: ${s.labSkip})`);
    switch (s.kind) {
      case 'file':
        lines.push(`${n}. file     ${s.path} (${s.mode}${s.owner ? ` ${s.owner}` : ''}) — ${s.title}`);
        break;
      case 'command':
        lines.push(`${n}. command  ${s.title}\n      check: ${s.check}\n      run:   ${s.run}${s.after?.length ? `\n      also after: ${s.after.join(', ')}` : ''}`);
        break;
      case 'assert':
        lines.push(`${n}. assert   ${s.title}\n      check: ${s.check} (up to ${s.timeout}s)`);
        break;
      case 'service':
        lines.push(`${n}. service  ${s.unit} enabled + running${s.restartOn.length ? `; restart after ${s.restartOn.join(', ')}` : ''}`);
        break;
    }
  });
  return `${lines.join('\n')}\n`;
}
