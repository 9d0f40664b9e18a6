// RPMs for rocky9 hosts from the YUM/DNF repositories in bundle.sources.yum, resolved here without dnf:
// each repository's repodata/repomd.xml → primary.xml (.gz; .xz/.zst/.bz2 through the xz/zstd/bzip2 tools),
// checked against repomd's checksum, then the closure of the planned packages' requires over every
// package's provides (and the file paths primary.xml lists), as if installing into an empty root.
//
// The resolver is deliberately simple, compared with libsolv: x86_64 and noarch packages only; among the
// providers of a requirement it keeps one already chosen, else the package named like the requirement,
// else the newest (rpm version order); versioned requirements are checked against versioned provides;
// conflicts, obsoletes, weak dependencies and modularity are ignored; rich (boolean) dependencies take
// "and"/"with" as all, "or" as the first alternative that resolves, "unless"/"without" as their left side,
// and skip "if" conditions. rpmlib(...) requirements are the rpm tool's own and are ignored. A file
// requirement that no package's primary.xml file list has (it may be in filelists.xml, not read) is noted
// on the requiring artifact (meta.warnings); any other unresolved requirement is a Missing entry.
// Package signatures are not checked here; each .rpm is checked against primary.xml's sha256.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { Artifact, FetchContext, FetchResult, Missing, PlannedArtifact } from '../types.ts';
import { getBytes, mapLimit } from './http.ts';
import { cachedDigest, downloadCached, failureReason, isNotFound } from './cache.ts';
import { unescapeEntities } from './markup.ts';

/** The architectures a rocky9 x86_64 node installs. */
export const RPM_ARCHES: readonly string[] = ['x86_64', 'noarch'];

export interface RpmDepEntry {
  name: string;
  /** EQ, LT, LE, GT, GE; absent for an unversioned dependency. */
  flags?: string;
  epoch?: string;
  ver?: string;
  rel?: string;
}

export interface RepoPackage {
  name: string;
  arch: string;
  epoch: string;
  version: string;
  release: string;
  /** location href, relative to the repository (or to xmlBase). */
  href: string;
  xmlBase?: string;
  checksumType: string;
  checksum: string;
  size: number;
  provides: RpmDepEntry[];
  requires: RpmDepEntry[];
  /** The file paths primary.xml lists (createrepo puts /etc/*, *bin/* and /usr/lib/sendmail there). */
  files: string[];
}

export const xmlUnescape = (s: string): string => unescapeEntities(s);

function attrs(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of s.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out.set(m[1]!, xmlUnescape(m[2] ?? m[3] ?? ''));
  return out;
}

function depList(block: string, tag: string): RpmDepEntry[] {
  const m = new RegExp(`<rpm:${tag}>([\\s\\S]*?)</rpm:${tag}>`).exec(block);
  if (!m) return [];
  const out: RpmDepEntry[] = [];
  for (const e of m[1]!.matchAll(/<rpm:entry\b([^>]*?)\/?>/g)) {
    const a = attrs(e[1]!);
    const name = a.get('name');
    if (!name) continue;
    const d: RpmDepEntry = { name };
    const flags = a.get('flags');
    if (flags) {
      d.flags = flags;
      d.epoch = a.get('epoch') ?? '0';
      d.ver = a.get('ver') ?? '';
      const rel = a.get('rel');
      if (rel !== undefined) d.rel = rel;
    }
    out.push(d);
  }
  return out;
}

/** repomd.xml → the primary metadata's location and checksum. */
export function parseRepomd(xml: string): { href: string; xmlBase?: string; checksumType: string; checksum: string } | undefined {
  for (const m of xml.matchAll(/<data\b([^>]*)>([\s\S]*?)<\/data>/g)) {
    if (attrs(m[1]!).get('type') !== 'primary') continue;
    const body = m[2]!;
    const loc = /<location\b([^>]*?)\/?>/.exec(body);
    const ck = /<checksum\b([^>]*)>([^<]*)<\/checksum>/.exec(body);
    const la = loc ? attrs(loc[1]!) : undefined;
    const href = la?.get('href');
    if (!href || !ck) return undefined;
    const base = la?.get('xml:base');
    return { href, ...(base ? { xmlBase: base } : {}), checksumType: attrs(ck[1]!).get('type') ?? 'sha256', checksum: ck[2]!.trim().toLowerCase() };
  }
  return undefined;
}

/** primary.xml → its packages (only what resolving and downloading needs). */
export function parsePrimaryXml(xml: string): RepoPackage[] {
  const out: RepoPackage[] = [];
  for (const m of xml.matchAll(/<package\b[^>]*>([\s\S]*?)<\/package>/g)) {
    const b = m[1]!;
    const name = /<name>([^<]*)<\/name>/.exec(b)?.[1];
    const arch = /<arch>([^<]*)<\/arch>/.exec(b)?.[1];
    const ver = /<version\b([^>]*?)\/?>/.exec(b);
    const ck = /<checksum\b([^>]*)>([^<]*)<\/checksum>/.exec(b);
    const loc = /<location\b([^>]*?)\/?>/.exec(b);
    if (!name || !arch || !ver || !ck || !loc) continue;
    const va = attrs(ver[1]!);
    const la = attrs(loc[1]!);
    const href = la.get('href');
    if (!href) continue;
    const size = /<size\b([^>]*?)\/?>/.exec(b);
    const p: RepoPackage = {
      name: xmlUnescape(name),
      arch: xmlUnescape(arch),
      epoch: va.get('epoch') || '0',
      version: va.get('ver') ?? '',
      release: va.get('rel') ?? '',
      href,
      checksumType: attrs(ck[1]!).get('type') ?? 'sha256',
      checksum: ck[2]!.trim().toLowerCase(),
      size: Number(size ? attrs(size[1]!).get('package') : 0) || 0,
      provides: depList(b, 'provides'),
      requires: depList(b, 'requires'),
      files: [...b.matchAll(/<file\b[^>]*>([^<]*)<\/file>/g)].map((f) => xmlUnescape(f[1]!)),
    };
    const base = la.get('xml:base');
    if (base) p.xmlBase = base;
    out.push(p);
  }
  return out;
}

const isAlnum = (c: string | undefined) => c !== undefined && /[A-Za-z0-9]/.test(c);
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isAlpha = (c: string | undefined) => c !== undefined && /[A-Za-z]/.test(c);

/** rpm's rpmvercmp: -1, 0 or 1 (with "~" sorting before anything and "^" after the base version). */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a[i]) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !isAlnum(b[j]) && b[j] !== '~' && b[j] !== '^') j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;
    const num = isDigit(a[i]);
    const test = num ? isDigit : isAlpha;
    let ie = i;
    let je = j;
    while (ie < a.length && test(a[ie])) ie++;
    while (je < b.length && test(b[je])) je++;
    if (je === j) return num ? 1 : -1;
    let x = a.slice(i, ie);
    let y = b.slice(j, je);
    if (num) {
      x = x.replace(/^0+/, '');
      y = y.replace(/^0+/, '');
      if (x.length !== y.length) return x.length > y.length ? 1 : -1;
    }
    if (x !== y) return x < y ? -1 : 1;
    i = ie;
    j = je;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

interface Evr {
  epoch?: string;
  ver: string;
  rel?: string;
}

/** Compare epoch:version-release; a release is compared only when both sides have one. */
export function compareEvr(a: Evr, b: Evr): number {
  const ea = Number(a.epoch || 0);
  const eb = Number(b.epoch || 0);
  if (ea !== eb) return ea < eb ? -1 : 1;
  const v = rpmvercmp(a.ver, b.ver);
  if (v !== 0 || !a.rel || !b.rel) return v;
  return rpmvercmp(a.rel, b.rel);
}

/** Parse "[epoch:]version[-release]". */
export function parseEvr(s: string): Evr {
  const m = /^(?:(\d+):)?([^-]*)(?:-(.*))?$/.exec(s)!;
  return { ...(m[1] ? { epoch: m[1] } : {}), ver: m[2]!, ...(m[3] ? { rel: m[3] } : {}) };
}

/** Does a provide satisfy a requirement (same name assumed)? Unversioned on either side → yes. */
export function satisfies(provide: RpmDepEntry, require: RpmDepEntry): boolean {
  if (!require.flags || !provide.flags) return true;
  // A provide other than "= EVR" is a range; taken as satisfying (rare in practice).
  if (provide.flags !== 'EQ') return true;
  const c = compareEvr({ epoch: provide.epoch, ver: provide.ver ?? '', rel: provide.rel }, { epoch: require.epoch, ver: require.ver ?? '', rel: require.rel });
  switch (require.flags) {
    case 'EQ':
      return c === 0;
    case 'LT':
      return c < 0;
    case 'LE':
      return c <= 0;
    case 'GT':
      return c > 0;
    case 'GE':
      return c >= 0;
    default:
      return true;
  }
}

const FLAG_OF: Record<string, string> = { '=': 'EQ', '==': 'EQ', '<': 'LT', '<=': 'LE', '>': 'GT', '>=': 'GE' };

/** A rich (boolean) dependency, "(a >= 1 or (b with c))". */
export type RichDep = { dep: RpmDepEntry } | { op: string; parts: RichDep[] };

/** Parse a rich dependency string; undefined when it is not one or is malformed. */
export function parseRichDep(s: string): RichDep | undefined {
  const tokens = s.match(/\(|\)|[^\s()]+/g) ?? [];
  let pos = 0;
  const OPS = new Set(['and', 'or', 'if', 'else', 'unless', 'with', 'without']);
  const term = (): RichDep | undefined => {
    const t = tokens[pos];
    if (t === '(') {
      pos++;
      const parts: RichDep[] = [];
      let op: string | undefined;
      for (;;) {
        const p = term();
        if (!p) return undefined;
        parts.push(p);
        const next = tokens[pos++];
        if (next === ')') break;
        if (!next || !OPS.has(next)) return undefined;
        if (op && op !== next && !(op === 'if' && next === 'else') && !(op === 'unless' && next === 'else')) return undefined;
        op = op ?? next;
      }
      return op ? { op, parts } : parts[0];
    }
    if (!t || t === ')' || OPS.has(t)) return undefined;
    pos++;
    const cmp = tokens[pos];
    if (cmp && FLAG_OF[cmp] && tokens[pos + 1] && tokens[pos + 1] !== ')') {
      const evr = parseEvr(tokens[pos + 1]!);
      pos += 2;
      return { dep: { name: t, flags: FLAG_OF[cmp]!, epoch: evr.epoch ?? '0', ver: evr.ver, ...(evr.rel ? { rel: evr.rel } : {}) } };
    }
    return { dep: { name: t } };
  };
  if (!s.startsWith('(')) return undefined;
  const r = term();
  return r && pos === tokens.length ? r : undefined;
}

export const pkgKey = (p: RepoPackage) => `${p.name}-${p.epoch}:${p.version}-${p.release}.${p.arch}`;
export const pkgVersion = (p: RepoPackage) => `${p.epoch !== '0' ? `${p.epoch}:` : ''}${p.version}-${p.release}`;
const newerFirst = (a: RepoPackage, b: RepoPackage) =>
  -compareEvr({ epoch: a.epoch, ver: a.version, rel: a.release }, { epoch: b.epoch, ver: b.version, rel: b.release }) || (a.arch === b.arch ? 0 : a.arch === 'x86_64' ? -1 : 1);

export interface Closure {
  /** Every package to fetch, in the order they were added. */
  packages: RepoPackage[];
  /** pkgKey → the planned names whose closure includes it. */
  requiredBy: Map<string, string[]>;
  /** pkgKey → unresolved file requirements (see the file comment). */
  warnings: Map<string, string[]>;
  /** Planned names not found, and requirements nothing provides. */
  missing: { name: string; version?: string; reason: string }[];
}

/**
 * The dependency closure of the planned packages over one combined package list (pure). A planned name is
 * a package name (newest, or the one matching `version` as "[epoch:]version[-release]"), else a capability
 * some package provides, else "name-version[-release]".
 */
export function resolveClosure(all: readonly RepoPackage[], planned: readonly { name: string; version?: string }[], arches: readonly string[] = RPM_ARCHES): Closure {
  const pkgs = all.filter((p) => arches.includes(p.arch));
  const byName = new Map<string, RepoPackage[]>();
  const providers = new Map<string, { pkg: RepoPackage; prov: RpmDepEntry }[]>();
  const fileOwners = new Map<string, RepoPackage[]>();
  const push = <K, V>(m: Map<K, V[]>, k: K, v: V) => {
    const l = m.get(k);
    if (l) l.push(v);
    else m.set(k, [v]);
  };
  for (const p of pkgs) {
    push(byName, p.name, p);
    // rpm adds "name = EVR" to every package's provides; add it in case the metadata lacks it.
    push(providers, p.name, { pkg: p, prov: { name: p.name, flags: 'EQ', epoch: p.epoch, ver: p.version, rel: p.release } });
    for (const d of p.provides) if (d.name !== p.name || d.flags !== 'EQ') push(providers, d.name, { pkg: p, prov: d });
    for (const f of p.files) push(fileOwners, f, p);
  }
  for (const l of byName.values()) l.sort(newerFirst);

  const chosen = new Map<string, RepoPackage>();
  const edges = new Map<string, Set<string>>();
  const warnings = new Map<string, string[]>();
  const missing: Closure['missing'] = [];
  const missingSeen = new Set<string>();

  const candidatesFor = (req: RpmDepEntry): RepoPackage[] => {
    const c = (providers.get(req.name) ?? []).filter((x) => satisfies(x.prov, req)).map((x) => x.pkg);
    if (req.name.startsWith('/')) c.push(...(fileOwners.get(req.name) ?? []));
    return [...new Set(c)];
  };
  const pick = (req: RpmDepEntry): RepoPackage | undefined => {
    const c = candidatesFor(req);
    if (c.length === 0) return undefined;
    const inClosure = c.filter((p) => chosen.has(pkgKey(p)));
    if (inClosure.length > 0) return inClosure.sort(newerFirst)[0];
    const named = c.filter((p) => p.name === req.name);
    if (named.length > 0) return named.sort(newerFirst)[0];
    // Otherwise the newest, then the shortest name (as libsolv tends to), then by name.
    return [...c].sort((a, b) => newerFirst(a, b) || a.name.length - b.name.length || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0];
  };
  /** The simple requirements a rich dependency needs, or undefined when it cannot be met. */
  const richNeeds = (r: RichDep): RpmDepEntry[] | undefined => {
    if ('dep' in r) return candidatesFor(r.dep).length > 0 || r.dep.name.startsWith('rpmlib(') ? [r.dep] : undefined;
    switch (r.op) {
      case 'and':
      case 'with': {
        const out: RpmDepEntry[] = [];
        for (const p of r.parts) {
          const n = richNeeds(p);
          if (!n) return undefined;
          out.push(...n);
        }
        return out;
      }
      case 'or':
        for (const p of r.parts) {
          const n = richNeeds(p);
          if (n) return n;
        }
        return undefined;
      case 'unless':
      case 'without':
        return r.parts[0] ? richNeeds(r.parts[0]) : [];
      default:
        // "if": only needed when the condition is installed; not followed.
        return [];
    }
  };

  const queue: RepoPackage[] = [];
  const add = (p: RepoPackage, from?: RepoPackage) => {
    const k = pkgKey(p);
    if (from) {
      const e = edges.get(pkgKey(from)) ?? new Set<string>();
      e.add(k);
      edges.set(pkgKey(from), e);
    }
    if (chosen.has(k)) return;
    chosen.set(k, p);
    queue.push(p);
  };
  const notFound = (name: string, reason: string, version?: string) => {
    if (missingSeen.has(`${name}\0${version ?? ''}`)) return;
    missingSeen.add(`${name}\0${version ?? ''}`);
    missing.push({ name, ...(version ? { version } : {}), reason });
  };

  const roots = new Map<string, string>();
  for (const item of planned) {
    let p: RepoPackage | undefined;
    const want = item.version ? parseEvr(item.version) : undefined;
    const matches = (q: RepoPackage) => !want || compareEvr({ epoch: q.epoch, ver: q.version, rel: q.release }, { ...want, epoch: want.epoch ?? q.epoch }) === 0;
    p = byName.get(item.name)?.find(matches);
    if (!p && !item.version) p = pick({ name: item.name });
    if (!p && !item.version) {
      // "name-version" or "name-version-release"
      for (const m of [/^(.+)-([^-]+)-([^-]+)$/.exec(item.name), /^(.+)-([^-]+)$/.exec(item.name)]) {
        if (!m) continue;
        const evr: Evr = { ver: m[2]!, ...(m[3] ? { rel: m[3] } : {}) };
        p = byName.get(m[1]!)?.find((q) => compareEvr({ epoch: q.epoch, ver: q.version, rel: q.release }, { ...evr, epoch: q.epoch }) === 0);
        if (p) break;
      }
    }
    if (!p) {
      const versions = byName.get(item.name)?.map(pkgVersion);
      notFound(item.name, versions ? `no version ${item.version} of "${item.name}" in the repositories (they have ${versions.join(', ')})` : `no package "${item.name}" in the repositories`, item.version);
      continue;
    }
    roots.set(pkgKey(p), item.name);
    add(p);
  }

  for (let qi = 0; qi < queue.length; qi++) {
    const p = queue[qi]!;
    for (const req of p.requires) {
      if (req.name.startsWith('rpmlib(')) continue;
      let needs: RpmDepEntry[] = [req];
      if (req.name.startsWith('(')) {
        const rich = parseRichDep(req.name);
        const n = rich ? richNeeds(rich) : undefined;
        if (!n) {
          notFound(req.name, `unresolved dependency "${req.name}" of ${p.name}`);
          continue;
        }
        needs = n;
      }
      for (const d of needs) {
        if (d.name.startsWith('rpmlib(')) continue;
        const q = pick(d);
        if (q) {
          add(q, p);
          continue;
        }
        const text = d.flags ? `${d.name} ${Object.keys(FLAG_OF).find((k) => FLAG_OF[k] === d.flags) ?? d.flags} ${d.epoch && d.epoch !== '0' ? `${d.epoch}:` : ''}${d.ver}${d.rel ? `-${d.rel}` : ''}` : d.name;
        if (d.name.startsWith('/')) {
          const w = warnings.get(pkgKey(p)) ?? [];
          if (!w.includes(d.name)) w.push(d.name);
          warnings.set(pkgKey(p), w);
        } else {
          notFound(d.name, `unresolved dependency "${text}" of ${p.name}`);
        }
      }
    }
  }

  // requiredBy: which planned names reach each package.
  const requiredBy = new Map<string, string[]>();
  for (const [rootKey, name] of roots) {
    const seen = new Set<string>([rootKey]);
    const stack = [rootKey];
    while (stack.length > 0) {
      const k = stack.pop()!;
      for (const n of edges.get(k) ?? []) if (!seen.has(n)) (seen.add(n), stack.push(n));
    }
    for (const k of seen) {
      const l = requiredBy.get(k) ?? [];
      if (!l.includes(name)) l.push(name);
      requiredBy.set(k, l);
    }
  }
  return { packages: [...chosen.values()], requiredBy, warnings, missing };
}

/** Decompress repodata by its file name: .gz natively; .xz, .zst and .bz2 with the xz, zstd and bzip2 tools. */
export async function decompressRepodata(name: string, data: Buffer): Promise<Buffer> {
  if (name.endsWith('.gz')) return gunzipSync(data);
  const tool = name.endsWith('.xz') ? 'xz' : name.endsWith('.zst') ? 'zstd' : name.endsWith('.bz2') ? 'bzip2' : undefined;
  if (!tool) return data;
  return new Promise((resolve, reject) => {
    const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => reject(new Error(`${name}: cannot run ${tool} to decompress it (${e.message})`)));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${name}: ${tool} -dc failed: ${Buffer.concat(err).toString().trim()}`))));
    child.stdin.on('error', () => undefined);
    child.stdin.end(data);
  });
}

const dirUrl = (u: string) => (u.endsWith('/') ? u : `${u}/`);

/** One repository's packages, with the base URL their hrefs are relative to. */
async function loadRepo(baseurl: string, signal?: AbortSignal): Promise<{ pkgs: RepoPackage[]; base: string }> {
  const opts = signal ? { signal } : {};
  const base = dirUrl(baseurl);
  const repomd = (await getBytes(new URL('repodata/repomd.xml', base).href, { ...opts, maxBytes: 16 << 20 })).body.toString('utf8');
  const primary = parseRepomd(repomd);
  if (!primary) throw new Error('repomd.xml lists no primary metadata');
  const url = new URL(primary.href, primary.xmlBase ? dirUrl(primary.xmlBase) : base).href;
  const data = (await getBytes(url, { ...opts, maxBytes: 512 << 20 })).body;
  let sum: string;
  try {
    sum = createHash(primary.checksumType === 'sha' ? 'sha1' : primary.checksumType).update(data).digest('hex');
  } catch {
    throw new Error(`repomd.xml uses checksum type "${primary.checksumType}", which cannot be checked`);
  }
  if (sum !== primary.checksum) throw new Error(`${primary.href}: ${primary.checksumType} ${sum} does not match repomd.xml's ${primary.checksum}`);
  return { pkgs: parsePrimaryXml((await decompressRepodata(primary.href, data)).toString('utf8')), base };
}

/**
 * Fetch planned RPMs (kind 'rpm', os 'rocky9') and their dependency closure from ctx.sources.yum. One
 * Artifact per .rpm: name = package, version = [epoch:]version-release, blob role 'rpm', meta {filename,
 * os, arch, repo, requiredBy (comma-separated planned names), warnings? (unresolved file requirements)}.
 */
export async function fetchRpms(ctx: FetchContext, items: readonly PlannedArtifact[]): Promise<FetchResult> {
  const result: FetchResult = { artifacts: [], missing: [], downloadedBytes: 0, skippedBytes: 0 };
  const planned: PlannedArtifact[] = [];
  for (const i of items) {
    if (i.kind !== 'rpm') continue;
    if (i.os !== undefined && i.os !== 'rocky9') result.missing.push({ kind: 'rpm', name: i.name, reason: `RPMs are fetched for rocky9 hosts, not ${i.os}` });
    else planned.push(i);
  }
  if (planned.length === 0) return result;
  const missAll = (reason: string) => {
    for (const i of planned) result.missing.push({ kind: 'rpm', name: i.name, ...(i.version ? { version: i.version } : {}), reason });
    return result;
  };
  if (ctx.sources.yum.length === 0) return missAll('no YUM repositories in bundle.sources.yum');

  const origin = new Map<RepoPackage, { repo: string; base: string }>();
  const all: RepoPackage[] = [];
  for (const repo of ctx.sources.yum) {
    try {
      const { pkgs, base } = await loadRepo(repo.baseurl, ctx.signal);
      for (const p of pkgs) origin.set(p, { repo: repo.name, base: p.xmlBase ? dirUrl(p.xmlBase) : base });
      all.push(...pkgs);
    } catch (e) {
      const why = isNotFound(e) ? 'no repodata/repomd.xml (404)' : failureReason(e, ctx);
      return missAll(`YUM repository "${repo.name}" (${repo.baseurl}) could not be read: ${why}`);
    }
  }

  const closure = resolveClosure(all, planned.map((i) => ({ name: i.name, ...(i.version ? { version: i.version } : {}) })));
  for (const m of closure.missing) result.missing.push({ kind: 'rpm', ...m });

  const one = async (p: RepoPackage): Promise<Artifact | Missing> => {
    const o = origin.get(p)!;
    const url = new URL(p.href, o.base).href;
    const key = pkgKey(p);
    const filename = decodeURIComponent(p.href.split('/').pop() ?? p.href);
    const meta: Record<string, string> = { filename, os: 'rocky9', arch: p.arch, repo: o.repo, requiredBy: (closure.requiredBy.get(key) ?? []).join(',') };
    const w = closure.warnings.get(key);
    if (w) meta.warnings = `unresolved file requirements (not in primary.xml): ${w.join(', ')}`;
    const art = (digest: string, size: number): Artifact => ({ kind: 'rpm', name: p.name, version: pkgVersion(p), blobs: [{ role: 'rpm', digest, size }], meta });
    const sha256 = p.checksumType === 'sha256' ? `sha256:${p.checksum}` : undefined;
    try {
      if (ctx.dryRun) {
        const st = sha256 ? await ctx.store.stat(sha256) : await cachedDigest(ctx, url);
        if (st) result.skippedBytes += st.size;
        return art(st?.digest ?? sha256 ?? '', st?.size ?? p.size);
      }
      const r = await downloadCached(ctx, url, { label: filename, size: p.size, ...(sha256 ? { expectedDigest: sha256 } : {}) });
      if (!sha256) {
        // Another checksum type (sha1, sha512…): check the stored bytes against it.
        const h = createHash(p.checksumType === 'sha' ? 'sha1' : p.checksumType);
        const s = await ctx.store.open(r.digest);
        if (!s) throw new Error(`${filename}: not in the store after download`);
        for await (const c of s) h.update(c as Buffer);
        if (h.digest('hex') !== p.checksum) {
          await ctx.store.delete(r.digest);
          throw new Error(`${filename}: ${p.checksumType} does not match primary.xml`);
        }
      }
      if (r.downloaded) result.downloadedBytes += r.size;
      else result.skippedBytes += r.size;
      return art(r.digest, r.size);
    } catch (e) {
      return { kind: 'rpm', name: p.name, version: pkgVersion(p), reason: isNotFound(e) ? `${url}: 404, though primary.xml lists it` : failureReason(e, ctx) };
    }
  };
  for (const r of await mapLimit(closure.packages, ctx.concurrency, one)) {
    if ('blobs' in r) result.artifacts.push(r);
    else result.missing.push(r);
  }
  return result;
}
