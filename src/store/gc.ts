// Garbage collection of the content-addressed store (`airlock store gc`): mark every blob a live meta
// document references, then sweep the blobs that nobody references and that are older than a grace period.
//
// Mark — the roots are the meta documents of every namespace this module knows (and it refuses to run when
// it meets one it does not know: a reference it cannot see would be a blob wrongly deleted):
//
//   oci     (src/store/oci.ts, OciMeta)
//     <repo>/_repo                         marker, references nothing
//     <repo>/_blobs/<hex>                  a blob linked to the repository (pushed, mounted, or a manifest's
//                                          config/layer): referenced, even when no manifest names it yet
//     <repo>/_manifests/<hex>              ManifestRecord JSON: the manifest blob itself, its `subject`, and
//                                          everything the manifest's bytes reference (below)
//     <repo>/_tags/<tag>                   "sha256:<hex>": the tagged manifest
//     <repo>/_referrers/<subject>/<hex>    referrer descriptor JSON: the referrer manifest and its subject
//   Manifest bytes are read from the store and every "sha256:<hex>" string in them is marked (config,
//   layers, `manifests` of an index, `subject`, `blobs` of artifact manifests, anything else); descriptors
//   of manifests (an index's `manifests`, `subject`, any descriptor with a manifest media type) are
//   followed transitively, so the layers of an index's child manifests are kept even where the child has
//   no record and no links of its own.
//
//   apt, yum, pypi, helm, go, files   (src/serve/repos/*.ts; the published-path table in http.ts)
//     paths/<sha256 of the URL path>       PathRecord JSON {path, digest?, gone?, ...}: the served blob. This
//                                          covers pool .debs, dists indexes (and their by-hash copies),
//                                          Release/InRelease/Release.gpg, keyrings; .rpms, repodata/*.xml.gz,
//                                          repomd.xml(.asc/.key), RPM-GPG-KEY; PyPI files, .metadata, simple/
//                                          index.html/json; Helm charts and index.yaml; Go .info/.mod/.zip,
//                                          @v/list, @latest; /files/ entries. Tombstones (gone) reference nothing.
//     apt  suites/<suite>.json             AptSuite: packages[].sha256 (the .deb blobs)
//     yum  repos/<repo>.json               YumRepo: packages[].checksum (the .rpm blobs)
//     pypi projects/<project>.json         PypiProject: files[].sha256 and files[].metadataSha256
//     helm index.json                      {entries[]}: entries[].digest (the chart .tgz blobs)
//     go   modules/<hex>.json              GoModuleState: no digests (its blobs are in paths/ records)
//   Besides the fields named above, every string in these JSON documents that is a digest ("sha256:<hex>")
//   or a bare sha256 hex is marked, so a field added later is still covered.
//
//   fetch   urls/<hex>.json                the bundle fetchers' URL → digest cache (src/bundle/fetch/cache.ts):
//                                          its digest (kept: a cache hit is only as good as the blob)
//   bundle  loaded/<hex>                   bundle-load markers (src/bundle/load.ts): reference nothing
//   bundle  pending/<hex>.json             {digests: [...]}: a load waiting for more parts; its blobs are kept
//
// A document that cannot be parsed, a key of a shape listed nowhere above, or a namespace not listed above
// makes collectGarbage throw GcError before anything is removed. So does a recorded manifest whose bytes
// are damaged (their sha256 no longer matches): what it referenced is unknown.
//
// Sweep — every file under root/blobs/sha256/ that is not marked and whose age (now − the later of its
// mtime and ctime) is at least graceMs is removed. The grace period (default 1 hour) is what protects work
// in flight: a concurrent push or import that has stored its blobs but not yet written the manifest, link
// or index record that references them. A new blob's ctime is when it was linked/renamed into place (also
// for an upload session committed after a long idle time). Caveat: a put of content that is already stored
// does not touch the existing file, so an old unreferenced blob that an import is about to reference again
// is not protected by the grace period; OCI manifests fail loudly in that case (MANIFEST_BLOB_UNKNOWN).
// Each candidate is stat()ed again right before it is unlinked, so a blob touched meanwhile is kept.
//
// Never touched: root/tmp (temp files, upload sessions — `store verify` cleans those), root/meta (except
// OCI blob links, with pruneLinks only), the signing key, and files in blobs/sha256 whose names are not 64
// lowercase hex digits.
//
// A bundle directory (airlock bundle create) is also a store, but its references live in
// airlock-bundle.json / index.json, not in meta: collectGarbage refuses to run on one.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DIGEST_RE, digestOf } from './digest.ts';
import { MAX_MANIFEST_BYTES, OCI_NS } from './oci.ts';
import type { Store } from './types.ts';

export const DEFAULT_GC_GRACE_MS = 3600 * 1000;

export interface GcOptions {
  /** List what would be removed (and unlinked) without removing anything. */
  dryRun?: boolean;
  /** Unreferenced blobs younger than this are kept (default 1 hour). */
  graceMs?: number;
  /** The clock for ages (default: now). */
  now?: Date;
  /**
   * Also remove OCI blob links (<repo>/_blobs/<hex>) that no manifest of their repository references and
   * that are older than graceMs: what is left linked after a manifest is deleted, or by a push whose
   * manifest never came. Without it (the default) every link is a reference, so deleting a manifest frees
   * none of its layers until they are unlinked (DELETE /v2/<name>/blobs/<digest>). Best run while no
   * push is in flight: a manifest pushed between the mark and the sweep that names a blob whose only
   * link was pruned is caught only if its link is back by the time that blob's turn comes.
   */
  pruneLinks?: boolean;
}

export interface GcResult {
  /** Blobs left in place: referenced, or unreferenced but younger than the grace period. */
  kept: number;
  keptBytes: number;
  /** Digests removed (dryRun: that would be removed), sorted. */
  removed: string[];
  removedBytes: number;
  /** With pruneLinks: "<repo>@<digest>" links removed (dryRun: that would be removed), sorted. */
  unlinked: string[];
}

/** GC refused to run, or stopped before removing anything: the message says which document or why. */
export class GcError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GcError';
  }
}

const HEX_RE = /^[a-f0-9]{64}$/;
const META_NAMESPACES = ['oci', 'apt', 'yum', 'pypi', 'helm', 'go', 'files', 'fetch', 'bundle'] as const;
const REPO_NAMESPACES = new Set(['apt', 'yum', 'pypi', 'helm', 'go', 'files']);
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.artifact.manifest.v1+json',
]);
/** Files at the top of a bundle directory (src/bundle/format.ts INDEX_FILE, and the OCI layout). */
const BUNDLE_MARKERS = ['airlock-bundle.json', 'oci-layout'];

const errCode = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every string in a JSON value, depth first. */
function* jsonStrings(v: unknown): Generator<string> {
  if (typeof v === 'string') yield v;
  else if (Array.isArray(v)) for (const x of v) yield* jsonStrings(x);
  else if (isObject(v)) for (const x of Object.values(v)) yield* jsonStrings(x);
}

/** Descriptors of manifests inside a manifest: `manifests[]`, `subject`, and any descriptor with a manifest media type. */
function* manifestDescriptors(v: unknown, parentKey = ''): Generator<string> {
  if (Array.isArray(v)) {
    for (const x of v) yield* manifestDescriptors(x, parentKey);
    return;
  }
  if (!isObject(v)) return;
  if (typeof v.digest === 'string' && DIGEST_RE.test(v.digest)) {
    if (parentKey === 'manifests' || parentKey === 'subject' || (typeof v.mediaType === 'string' && MANIFEST_TYPES.has(v.mediaType))) yield v.digest;
  }
  for (const [k, x] of Object.entries(v)) yield* manifestDescriptors(x, k);
}

interface ParsedBlob {
  /** every "sha256:<hex>" string of the manifest */
  refs: string[];
  /** descriptors of manifests (children, subject) to read in turn */
  follow: string[];
  notJson: boolean;
}

interface RepoRefs {
  /** manifests the repository holds (records, tag targets, referrers): their bytes must be JSON */
  roots: Set<string>;
  /** subjects named by records and referrer entries (may be absent, or not a manifest) */
  subjects: Set<string>;
  /** hex of every _blobs link */
  links: Set<string>;
}

class Marker {
  readonly marked = new Set<string>();
  /** manifest digest → digests its bytes reference directly, and manifests to follow */
  private readonly parsed = new Map<string, ParsedBlob>();
  readonly repos = new Map<string, RepoRefs>();

  constructor(private readonly store: Store) {}

  mark(digest: string): void {
    this.marked.add(digest);
  }

  repo(name: string): RepoRefs {
    let r = this.repos.get(name);
    if (!r) this.repos.set(name, (r = { roots: new Set(), subjects: new Set(), links: new Set() }));
    return r;
  }

  /** Mark every digest-like string of a JSON document (a digest, or a bare sha256 hex). */
  markStrings(doc: unknown): void {
    for (const s of jsonStrings(doc)) {
      if (DIGEST_RE.test(s)) this.mark(s);
      else if (HEX_RE.test(s)) this.mark(`sha256:${s}`);
    }
  }

  /**
   * What a manifest's bytes reference. `recorded`: a manifest the registry holds a record, tag or referrer
   * entry for, so its bytes must be JSON. Others (an index's children, subjects) may be anything, or absent.
   */
  private async parse(digest: string, recorded: boolean, where: string): Promise<{ refs: string[]; follow: string[] }> {
    let p = this.parsed.get(digest);
    if (!p) {
      p = await this.read(digest, where);
      this.parsed.set(digest, p);
    }
    if (p.notJson && recorded) throw new GcError(`manifest ${digest} (${where}) is not JSON; nothing was removed`);
    return p;
  }

  private async read(digest: string, where: string): Promise<ParsedBlob> {
    const none: ParsedBlob = { refs: [], follow: [], notJson: false };
    const st = await this.store.stat(digest);
    // Absent (nothing of it to keep, nothing it names can be known) or too big to be a manifest.
    if (!st || st.size > MAX_MANIFEST_BYTES) return none;
    let body: Buffer;
    try {
      body = await fsp.readFile(this.store.blobPath(digest));
    } catch (e) {
      if (errCode(e) === 'ENOENT') return none;
      throw new GcError(`reading manifest ${digest} (${where}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (digestOf(body) !== digest) {
      throw new GcError(`manifest ${digest} (${where}) is damaged in the store (its content no longer has that digest): run \`airlock store verify\`; nothing was removed`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return { ...none, notJson: true };
    }
    return { refs: [...jsonStrings(doc)].filter((s) => DIGEST_RE.test(s)), follow: [...manifestDescriptors(doc)], notJson: false };
  }

  /**
   * Every digest reachable from a repository's manifests (themselves included), following child and
   * subject manifests transitively. `recorded` roots must parse; `others` (subjects) may be anything.
   */
  async closure(recorded: Iterable<string>, others: Iterable<string>, where: string): Promise<Set<string>> {
    const reach = new Set<string>();
    const visited = new Set<string>();
    // Breadth first, recorded roots first: a digest is judged strictly when it is recorded anywhere.
    const queue: { digest: string; recorded: boolean }[] = [
      ...[...recorded].map((digest) => ({ digest, recorded: true })),
      ...[...others].map((digest) => ({ digest, recorded: false })),
    ];
    for (let i = 0; i < queue.length; i++) {
      const { digest, recorded: strict } = queue[i]!;
      if (visited.has(digest)) continue;
      visited.add(digest);
      reach.add(digest);
      const { refs, follow } = await this.parse(digest, strict, where);
      for (const r of refs) reach.add(r);
      for (const f of follow) if (!visited.has(f)) queue.push({ digest: f, recorded: false });
    }
    return reach;
  }
}

const bad = (ns: string, key: string, why: string) => new GcError(`meta document ${ns}/${key}: ${why}; nothing was removed`);

function parseJson(ns: string, key: string, raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw bad(ns, key, 'is not valid JSON');
  }
}

function needHex(ns: string, key: string, v: unknown, field: string, optional = false): string | undefined {
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || !HEX_RE.test(v)) throw bad(ns, key, `${field} is not a sha256 hex digest`);
  return `sha256:${v}`;
}

function needArray(ns: string, key: string, doc: unknown, field: string): unknown[] {
  if (!isObject(doc) || !Array.isArray(doc[field])) throw bad(ns, key, `expected an object with a "${field}" array`);
  return doc[field] as unknown[];
}

/** The references of one document of a repo namespace (apt, yum, pypi, helm, go, files). */
function markRepoDoc(m: Marker, ns: string, key: string, raw: Buffer): void {
  let kind: string | undefined;
  if (/^paths\/[a-f0-9]{64}$/.test(key)) kind = 'path';
  else if (ns === 'apt' && /^suites\/[^/]+\.json$/.test(key)) kind = 'apt-suite';
  else if (ns === 'yum' && /^repos\/[^/]+\.json$/.test(key)) kind = 'yum-repo';
  else if (ns === 'pypi' && /^projects\/[^/]+\.json$/.test(key)) kind = 'pypi-project';
  else if (ns === 'helm' && key === 'index.json') kind = 'helm-index';
  else if (ns === 'go' && /^modules\/[a-f0-9]{64}\.json$/.test(key)) kind = 'go-module';
  if (!kind) throw bad(ns, key, 'unknown document (src/store/gc.ts does not know what it references)');
  const doc = parseJson(ns, key, raw);
  switch (kind) {
    case 'path': {
      if (!isObject(doc) || typeof doc.path !== 'string') throw bad(ns, key, 'not a published-path record');
      if (doc.digest !== undefined) {
        if (typeof doc.digest !== 'string' || !DIGEST_RE.test(doc.digest)) throw bad(ns, key, 'digest is not a sha256 digest');
        m.mark(doc.digest);
      }
      // No digest: a tombstone (gone), references nothing.
      break;
    }
    case 'apt-suite':
      for (const p of needArray(ns, key, doc, 'packages')) m.mark(needHex(ns, key, isObject(p) ? p.sha256 : undefined, 'packages[].sha256')!);
      break;
    case 'yum-repo':
      for (const p of needArray(ns, key, doc, 'packages')) m.mark(needHex(ns, key, isObject(p) ? p.checksum : undefined, 'packages[].checksum')!);
      break;
    case 'pypi-project':
      for (const f of needArray(ns, key, doc, 'files')) {
        if (!isObject(f)) throw bad(ns, key, 'files[] entry is not an object');
        m.mark(needHex(ns, key, f.sha256, 'files[].sha256')!);
        const md = needHex(ns, key, f.metadataSha256, 'files[].metadataSha256', true);
        if (md) m.mark(md);
      }
      break;
    case 'helm-index':
      for (const e of needArray(ns, key, doc, 'entries')) m.mark(needHex(ns, key, isObject(e) ? e.digest : undefined, 'entries[].digest')!);
      break;
    case 'go-module':
      if (!isObject(doc) || typeof doc.module !== 'string' || !isObject(doc.versions)) throw bad(ns, key, 'not a Go module state');
      break;
  }
  m.markStrings(doc);
}

const OCI_KEY_RE = /^(.+?)\/_(repo|blobs|manifests|tags|referrers)(?:\/(.+))?$/;

/** The references of one document of the "oci" namespace (see src/store/oci.ts for the key layout). */
function markOciDoc(m: Marker, key: string, raw: Buffer): void {
  const k = OCI_KEY_RE.exec(key);
  if (!k) throw bad(OCI_NS, key, 'unknown document (src/store/gc.ts does not know what it references)');
  const [, repoName, kind, rest] = k as unknown as [string, string, string, string | undefined];
  const repo = m.repo(repoName);
  const unknown = () => bad(OCI_NS, key, 'unknown document (src/store/gc.ts does not know what it references)');
  switch (kind) {
    case 'repo':
      if (rest !== undefined) throw unknown();
      return;
    case 'blobs':
      if (rest === undefined || !HEX_RE.test(rest)) throw unknown();
      repo.links.add(rest);
      return;
    case 'manifests': {
      if (rest === undefined || !HEX_RE.test(rest)) throw unknown();
      const rec = parseJson(OCI_NS, key, raw);
      if (!isObject(rec) || typeof rec.mediaType !== 'string' || typeof rec.size !== 'number') throw bad(OCI_NS, key, 'not a manifest record');
      if (rec.subject !== undefined) {
        if (typeof rec.subject !== 'string' || !DIGEST_RE.test(rec.subject)) throw bad(OCI_NS, key, 'subject is not a sha256 digest');
        repo.subjects.add(rec.subject);
      }
      repo.roots.add(`sha256:${rest}`);
      return;
    }
    case 'tags': {
      if (rest === undefined) throw unknown();
      const d = raw.toString('utf8').trim();
      if (!DIGEST_RE.test(d)) throw bad(OCI_NS, key, 'a tag that does not hold a sha256 digest');
      repo.roots.add(d);
      return;
    }
    case 'referrers': {
      const r = rest === undefined ? undefined : /^([a-f0-9]{64})\/([a-f0-9]{64})$/.exec(rest);
      if (!r) throw unknown();
      const desc = parseJson(OCI_NS, key, raw);
      if (!isObject(desc)) throw bad(OCI_NS, key, 'not a descriptor');
      if (desc.digest !== undefined && (typeof desc.digest !== 'string' || !DIGEST_RE.test(desc.digest))) throw bad(OCI_NS, key, 'digest is not a sha256 digest');
      repo.roots.add(`sha256:${r[2]}`);
      repo.subjects.add(`sha256:${r[1]}`);
      if (typeof desc.digest === 'string') repo.roots.add(desc.digest);
      return;
    }
  }
  throw unknown();
}

async function readNamespaces(store: Store): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(join(store.root, 'meta'), { withFileTypes: true });
  } catch (e) {
    if (errCode(e) === 'ENOENT') return [];
    throw new GcError(`listing ${join(store.root, 'meta')}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const known = new Set<string>(META_NAMESPACES);
  const out: string[] = [];
  for (const ent of entries) {
    if (!ent.isDirectory()) continue; // not a namespace: no Store API reaches it
    if (!known.has(ent.name)) {
      throw new GcError(`meta namespace "${ent.name}" is unknown to the garbage collector (src/store/gc.ts): it may reference blobs, so nothing was removed`);
    }
    out.push(ent.name);
  }
  return out.sort();
}

/**
 * Remove the blobs no live document references (see the header of this file for what counts as a
 * reference), when older than `graceMs` (default 1 hour, by mtime/ctime). The grace period protects a
 * concurrent push or import that has stored its blobs but not yet written its manifest, link or index;
 * with graceMs 0, run it only while nothing writes to the store. With `dryRun` nothing is removed.
 * Throws GcError (before removing anything) on a meta document it cannot parse or does not know.
 */
export async function collectGarbage(store: Store, opts: GcOptions = {}): Promise<GcResult> {
  const graceMs = opts.graceMs ?? DEFAULT_GC_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new GcError(`graceMs must be a non-negative number (got ${graceMs})`);
  const now = (opts.now ?? new Date()).getTime();
  for (const f of BUNDLE_MARKERS) {
    const there = await fsp.stat(join(store.root, f)).then(() => true, () => false);
    if (there) throw new GcError(`${store.root} is a bundle directory (it has ${f}), not a mirror store: its blobs are referenced by the bundle index, so nothing was removed`);
  }

  // ---- mark ----
  const m = new Marker(store);
  for (const ns of await readNamespaces(store)) {
    for (const key of await store.listMeta(ns)) {
      if (ns === 'bundle') {
        if (/^loaded\/[a-f0-9]{64}$/.test(key)) continue;
        if (!/^pending\/[a-f0-9]{64}\.json$/.test(key)) throw bad(ns, key, 'unknown document (src/store/gc.ts does not know what it references)');
        // A bundle load waiting for more parts: the blobs it has copied are not published yet.
        const raw = await store.readMeta(ns, key);
        if (raw === undefined) continue;
        const doc = parseJson(ns, key, raw);
        if (!isObject(doc) || !Array.isArray(doc.digests) || !doc.digests.every((d) => typeof d === 'string' && DIGEST_RE.test(d))) throw bad(ns, key, 'not a pending-load record');
        for (const d of doc.digests as string[]) m.mark(d);
        continue;
      }
      const raw = await store.readMeta(ns, key);
      if (raw === undefined) continue; // deleted meanwhile: references nothing any more
      if (ns === OCI_NS) markOciDoc(m, key, raw);
      else if (REPO_NAMESPACES.has(ns)) markRepoDoc(m, ns, key, raw);
      else if (ns === 'fetch') {
        if (!/^urls\/[a-f0-9]{64}\.json$/.test(key)) throw bad(ns, key, 'unknown document (src/store/gc.ts does not know what it references)');
        const doc = parseJson(ns, key, raw);
        if (!isObject(doc) || typeof doc.digest !== 'string' || !DIGEST_RE.test(doc.digest)) throw bad(ns, key, 'not a URL → digest record');
        m.mark(doc.digest);
      }
    }
  }

  const unlinked: string[] = [];
  const linkPath = (repo: string, hex: string) => join(store.root, 'meta', OCI_NS, ...repo.split('/'), '_blobs', hex);
  for (const [name, repo] of [...m.repos].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const reach = await m.closure(repo.roots, repo.subjects, `repository ${name}`);
    for (const d of reach) m.mark(d);
    for (const hex of repo.links) {
      const digest = `sha256:${hex}`;
      if (opts.pruneLinks && !reach.has(digest)) {
        const st = await fsp.stat(linkPath(name, hex)).catch(() => undefined);
        const age = st ? now - Math.max(st.mtimeMs, st.ctimeMs) : Infinity;
        if (age >= graceMs) {
          unlinked.push(`${name}@${digest}`);
          continue;
        }
      }
      m.mark(digest);
    }
  }

  // ---- sweep ----
  const blobDir = join(store.root, 'blobs', 'sha256');
  let names: string[];
  try {
    names = (await fsp.readdir(blobDir)).sort();
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw new GcError(`listing ${blobDir}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    names = [];
  }
  const ageOf = (st: { mtimeMs: number; ctimeMs: number }) => now - Math.max(st.mtimeMs, st.ctimeMs);
  const result: GcResult = { kept: 0, keptBytes: 0, removed: [], removedBytes: 0, unlinked: unlinked.sort() };

  /** digest → repositories whose link to it was pruned */
  const relinked = new Map<string, string[]>();
  for (const link of unlinked) {
    const at = link.lastIndexOf('@');
    const digest = link.slice(at + 1);
    relinked.set(digest, [...(relinked.get(digest) ?? []), link.slice(0, at)]);
  }
  const anyLink = async (repos: string[], hex: string): Promise<boolean> => {
    for (const r of repos) if ((await store.readMeta(OCI_NS, `${r}/_blobs/${hex}`)) !== undefined) return true;
    return false;
  };
  if (!opts.dryRun) {
    for (const link of unlinked) {
      const at = link.lastIndexOf('@');
      await store.deleteMeta(OCI_NS, `${link.slice(0, at)}/_blobs/${link.slice(at + 1 + 'sha256:'.length)}`);
    }
  }
  for (const hex of names) {
    if (!HEX_RE.test(hex)) continue; // not a blob name: `store verify` reports it
    const digest = `sha256:${hex}`;
    const path = join(blobDir, hex);
    const st = await fsp.stat(path).catch(() => undefined);
    if (!st || !st.isFile()) continue;
    if (m.marked.has(digest) || ageOf(st) < graceMs) {
      result.kept++;
      result.keptBytes += st.size;
      continue;
    }
    if (!opts.dryRun) {
      // Look again right before removing: a blob written (or re-put) since the listing is kept.
      const again = await fsp.stat(path).catch(() => undefined);
      if (!again) continue;
      if (ageOf(again) < graceMs) {
        result.kept++;
        result.keptBytes += again.size;
        continue;
      }
      // A pruned link may have been written again since (a manifest naming the blob was pushed).
      if (relinked.has(digest) && (await anyLink(relinked.get(digest)!, hex))) {
        result.kept++;
        result.keptBytes += again.size;
        continue;
      }
      const gone = await store.delete(digest);
      if (!gone) continue;
    }
    result.removed.push(digest);
    result.removedBytes += st.size;
  }
  return result;
}
