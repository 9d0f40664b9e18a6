// Go module proxy (the GOPROXY protocol): <module>/@v/list, <module>/@v/<version>.info|.mod|.zip and
// <module>/@latest, with module paths and versions case-encoded ("!" + lower case for each upper-case
// letter). 404 = never had it (the go command may try the next proxy); 410 = removed from this mirror.
import { readFile } from 'node:fs/promises';
import type { Store } from '../../store/types.ts';
import { HttpError, type RepoHandler } from '../types.ts';
import { ArchiveError, zipEntries, zipRead } from './archive.ts';
import { comparePrerelease, publishPath, sha256Hex, putAndPublish, readJsonMeta, sendPublished, withLock, writeJsonMeta, readOnlyHandler } from './http.ts';

export const GO_NS = 'go';

export class GoProxyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoProxyError';
  }
}

/** Case-encode a module path or version: "github.com/Azure" → "github.com/!azure". */
export function escapePath(p: string): string {
  return p.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

/** Undo escapePath; undefined for a string that is not a valid encoding (upper case, or "!" not before a-z). */
export function unescapePath(p: string): string | undefined {
  if (/[A-Z]/.test(p)) return undefined;
  let bad = false;
  const out = p.replace(/!(.?)/g, (_, c: string) => {
    if (!/^[a-z]$/.test(c)) bad = true;
    return c.toUpperCase();
  });
  return bad ? undefined : out;
}

const SEMVER = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export function isCanonicalVersion(v: string): boolean {
  const m = SEMVER.exec(v);
  // Build metadata is only allowed as "+incompatible" (the go command's canonical form).
  return !!m && (m[5] === undefined || m[5] === 'incompatible');
}

/** vX.Y.Z-<yyyymmddhhmmss>-<12 hex> forms (never listed in @v/list). */
export function isPseudoVersion(v: string): boolean {
  return /^v\d+\.\d+\.\d+-(?:[0-9A-Za-z.-]*\.)?(?:0\.)?\d{14}-[0-9a-f]{12}(?:\+incompatible)?$/.test(v) || /-0\.\d{14}-[0-9a-f]{12}(\+incompatible)?$/.test(v);
}

/** Module path rules of golang.org/x/mod/module.CheckPath, the parts a proxy needs. */
export function checkModulePath(path: string): string | undefined {
  if (path.length === 0 || path.length > 500) return 'empty or too long';
  const elems = path.split('/');
  if (!elems[0]!.includes('.')) return 'the first path element must contain a dot (a domain name)';
  if (/^[-.]/.test(elems[0]!)) return 'the first path element must not start with "-" or "."';
  if (!/^[a-z0-9.-]+$/.test(elems[0]!)) return 'the first path element may only hold lower-case letters, digits, "." and "-"';
  for (const e of elems) {
    if (e === '' || e === '.' || e === '..') return 'empty, "." or ".." path element';
    if (!/^[A-Za-z0-9._~-]+$/.test(e)) return `path element "${e}" has characters other than letters, digits, "._~-"`;
    if (e.endsWith('.')) return `path element "${e}" ends in a dot`;
  }
  return undefined;
}

function major(path: string): string | undefined {
  return /\/v([2-9]|[1-9]\d+)$/.exec(path)?.[1] ?? (/^gopkg\.in\//.test(path) ? /\.v(\d+)(-unstable)?$/.exec(path)?.[1] : undefined);
}

function versionMatchesPath(path: string, version: string): boolean {
  const want = major(path);
  const have = /^v(\d+)\./.exec(version)?.[1];
  if (version.endsWith('+incompatible')) return want === undefined && Number(have) >= 2;
  if (want !== undefined) return have === want;
  return have === '0' || have === '1';
}

function compareVersion(a: string, b: string): number {
  const pa = SEMVER.exec(a)!;
  const pb = SEMVER.exec(b)!;
  for (let i = 1; i <= 3; i++) if (pa[i] !== pb[i]) return Number(pa[i]) - Number(pb[i]);
  const xa = pa[4];
  const xb = pb[4];
  if (xa === xb) return 0;
  if (xa === undefined) return 1;
  if (xb === undefined) return -1;
  return comparePrerelease(xa, xb);
}

export interface GoModuleState {
  module: string;
  /** version → info (Time, RFC 3339). */
  versions: Record<string, { Time: string }>;
  /** Versions removed from the mirror: 410 Gone. */
  gone: string[];
}

/** The @v/list body: known versions (no pseudo-versions), one per line, in semver order. */
export function goVersionList(state: GoModuleState): string {
  const vs = Object.keys(state.versions).filter((v) => !isPseudoVersion(v)).sort(compareVersion);
  return vs.map((v) => `${v}\n`).join('');
}

/** @latest: the highest release, else the highest pre-release, else the newest pseudo-version. */
export function goLatest(state: GoModuleState): { Version: string; Time: string } | undefined {
  const all = Object.keys(state.versions);
  const rel = all.filter((v) => !isPseudoVersion(v) && !SEMVER.exec(v)![4]).sort(compareVersion);
  const pre = all.filter((v) => !isPseudoVersion(v) && SEMVER.exec(v)![4]).sort(compareVersion);
  const pseudo = all.filter(isPseudoVersion).sort(compareVersion);
  const v = rel.at(-1) ?? pre.at(-1) ?? pseudo.at(-1);
  return v ? { Version: v, Time: state.versions[v]!.Time } : undefined;
}

export function goInfoJson(version: string, time: string): string {
  return `${JSON.stringify({ Version: version, Time: time })}\n`;
}

export interface GoModuleInput {
  module: string;
  version: string;
  /** The module zip (path or bytes): every file under "<module>@<version>/". */
  zip: string | Buffer;
  /** go.mod (path or bytes); default: the zip's go.mod, else "module <path>" as the go command synthesises. */
  mod?: string | Buffer;
  /** Commit time; default now. */
  info?: { Time?: string | Date };
}

// Meta keys allow neither "!" nor "~": one document per module, named by the path's hash.
const moduleKey = (module: string) => `modules/${sha256Hex(module)}.json`;
const rfc3339 = (d: Date) => d.toISOString().replace(/\.000Z$/, 'Z');

async function bytesOf(x: string | Buffer): Promise<Buffer> {
  return typeof x === 'string' ? readFile(x) : x;
}

/** Check a module zip's layout (each file under <module>@<version>/) and return its go.mod if any. */
export function checkModuleZip(zip: Buffer, module: string, version: string): Buffer | undefined {
  const prefix = `${module}@${version}/`;
  let entries;
  try {
    entries = zipEntries(zip);
  } catch (e) {
    throw new GoProxyError(`${module}@${version}: ${e instanceof ArchiveError ? e.message : String(e)}`);
  }
  for (const e of entries) {
    if (!e.name.startsWith(prefix) || e.name.includes('\\') || e.name.split('/').some((s) => s === '..' || s === '.'))
      throw new GoProxyError(`${module}@${version}: zip entry "${e.name}" is not under "${prefix}"`);
  }
  const gomod = entries.find((e) => e.name === `${prefix}go.mod`);
  return gomod && zipRead(zip, gomod);
}

async function publishModuleIndex(store: Store, state: GoModuleState): Promise<void> {
  const base = escapePath(state.module);
  await putAndPublish(store, GO_NS, `${base}/@v/list`, goVersionList(state), 'text/plain; charset=utf-8');
  const latest = goLatest(state);
  if (latest) await putAndPublish(store, GO_NS, `${base}/@latest`, goInfoJson(latest.Version, latest.Time), 'application/json');
  else await publishPath(store, GO_NS, `${base}/@latest`, { contentType: 'text/plain', gone: true });
}

/** Import one module version; republish its list and @latest. */
export async function importGoModule(store: Store, input: GoModuleInput): Promise<{ module: string; version: string }> {
  const { module, version } = input;
  const bad = checkModulePath(module);
  if (bad) throw new GoProxyError(`module path "${module}": ${bad}`);
  if (!isCanonicalVersion(version)) throw new GoProxyError(`version "${version}" is not a canonical semantic version (like v1.2.3)`);
  if (!versionMatchesPath(module, version)) throw new GoProxyError(`version ${version} does not match the major version of module path "${module}"`);
  const zip = await bytesOf(input.zip);
  const zipMod = checkModuleZip(zip, module, version);
  const mod = input.mod !== undefined ? await bytesOf(input.mod) : (zipMod ?? Buffer.from(`module ${module}\n`));
  const t = input.info?.Time;
  const time = t === undefined ? rfc3339(new Date()) : typeof t === 'string' ? t : rfc3339(t);
  if (Number.isNaN(Date.parse(time))) throw new GoProxyError(`info Time "${time}" is not RFC 3339`);
  const base = `${escapePath(module)}/@v/${escapePath(version)}`;
  await putAndPublish(store, GO_NS, `${base}.zip`, zip, 'application/zip', true);
  await putAndPublish(store, GO_NS, `${base}.mod`, mod, 'text/plain; charset=utf-8', true);
  await putAndPublish(store, GO_NS, `${base}.info`, goInfoJson(version, time), 'application/json', true);
  await withLock(store, `go:${module}`, async () => {
    const state = (await readJsonMeta<GoModuleState>(store, GO_NS, moduleKey(module))) ?? { module, versions: {}, gone: [] };
    state.versions[version] = { Time: time };
    state.gone = state.gone.filter((v) => v !== version);
    await writeJsonMeta(store, GO_NS, moduleKey(module), state);
    await publishModuleIndex(store, state);
  });
  return { module, version };
}

/** Remove a version from the mirror: its .info/.mod/.zip answer 410 Gone, and it leaves @v/list. */
export async function removeGoModuleVersion(store: Store, module: string, version: string): Promise<boolean> {
  return withLock(store, `go:${module}`, async () => {
    const state = await readJsonMeta<GoModuleState>(store, GO_NS, moduleKey(module));
    if (!state || !state.versions[version]) return false;
    delete state.versions[version];
    state.gone = [...new Set([...state.gone, version])];
    const base = `${escapePath(module)}/@v/${escapePath(version)}`;
    for (const ext of ['zip', 'mod', 'info']) await publishPath(store, GO_NS, `${base}.${ext}`, { contentType: 'text/plain', gone: true });
    await writeJsonMeta(store, GO_NS, moduleKey(module), state);
    await publishModuleIndex(store, state);
    return true;
  });
}

export function goProxyHandler(prefix = '/go/'): RepoHandler {
  return readOnlyHandler(prefix, async (req, res, store, segs) => {
    // <escaped module...>/@v/<file> or <escaped module...>/@latest
    const at = segs.findIndex((s) => s === '@v' || s === '@latest');
    if (at <= 0) throw new HttpError(404, 'not found: expected <module>/@v/... or <module>/@latest');
    const mod = unescapePath(segs.slice(0, at).join('/'));
    if (mod === undefined || checkModulePath(mod)) throw new HttpError(400, 'invalid (case-encoded) module path');
    const tail = segs.slice(at);
    if (tail[0] === '@latest') {
      if (tail.length !== 1) throw new HttpError(404, 'not found');
    } else if (tail.length !== 2) {
      throw new HttpError(404, 'not found');
    } else if (tail[1] !== 'list') {
      const m = /^(.+)\.(info|mod|zip)$/.exec(tail[1]!);
      const v = m && unescapePath(m[1]!);
      if (!v) throw new HttpError(404, 'not found');
    }
    if (await sendPublished(req, res, store, GO_NS, segs.join('/'))) return true;
    throw new HttpError(404, `not found: ${mod}`);
  });
}
