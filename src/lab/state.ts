// state.json: the lab's single source of truth, rewritten atomically (temp + rename) every time a
// resource is about to be created, so that labDown can undo a labUp killed at any point.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError } from './errors.ts';
import { writeFileAtomic } from './fsutil.ts';
import type { LabState } from './types.ts';

export const STATE_FILE = 'state.json';

export function statePath(stateDir: string): string {
  return path.join(stateDir, STATE_FILE);
}

export function saveState(state: LabState): void {
  writeFileAtomic(statePath(state.stateDir), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

/** The lab state in stateDir, or undefined if there is none. Throws if it exists but is not ours. */
export function loadState(stateDir: string): LabState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(statePath(stateDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let s: unknown;
  try {
    s = JSON.parse(text);
  } catch (e) {
    throw new LabError(`${statePath(stateDir)} is not valid JSON: ${String(e)}`);
  }
  const st = s as Partial<LabState>;
  if (
    typeof st !== 'object' ||
    st === null ||
    st.version !== 1 ||
    typeof st.prefix !== 'string' ||
    !/^[a-z0-9]{2,6}$/.test(st.prefix) ||
    typeof st.resources !== 'object' ||
    !Array.isArray(st.hosts)
  )
    throw new LabError(`${statePath(stateDir)} is not an airlock lab state file`);
  if (realOrResolved(st.stateDir ?? '') !== realOrResolved(stateDir))
    throw new LabError(`${statePath(stateDir)} belongs to state dir ${st.stateDir}, not ${stateDir}`);
  return st as LabState;
}

/** The real path of a directory if it exists, else its resolved path. */
export function realOrResolved(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}
