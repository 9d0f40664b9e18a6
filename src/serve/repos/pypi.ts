// PyPI "simple" repository: PEP 503 HTML and PEP 691 JSON (api-version 1.1, PEP 700) chosen by the
// Accept header, sha256 in every file URL, data-requires-python, PEP 503 name normalisation (redirects
// to the normalised name), and the wheel's METADATA served separately (PEP 658, named per PEP 714).
// Layout: /pypi/simple/, /pypi/simple/<project>/, /pypi/packages/<project>/<file>[.metadata].
import { basename } from 'node:path';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from '../../store/types.ts';
import { HttpError, type RepoHandler } from '../types.ts';
import { ArchiveError, parseEmailHeaders, readTar, zipEntries, zipRead } from './archive.ts';
import { lookupPath, putAndPublish, readJsonMeta, redirect, sendBlob, sendPublished, withLock, writeJsonMeta, readOnlyHandler } from './http.ts';

export const PYPI_NS = 'pypi';
export const PYPI_JSON = 'application/vnd.pypi.simple.v1+json';
export const PYPI_HTML = 'application/vnd.pypi.simple.v1+html';
const API_VERSION = '1.1';

export class PypiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PypiError';
  }
}

/** PEP 503: runs of "-", "_", "." become one "-", lower case. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

export interface PypiFile {
  filename: string;
  version: string;
  sha256: string;
  size: number;
  requiresPython?: string;
  /** sha256 of the wheel's METADATA, served at <file URL>.metadata (PEP 658/714). */
  metadataSha256?: string;
  /** ISO 8601, no fraction: "2024-11-23T13:05:00Z". */
  uploadTime?: string;
}

export interface PypiProject {
  /** Normalised name. */
  name: string;
  files: PypiFile[];
}

export function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
}

/** Relative URL of a file from its project page (/pypi/simple/<p>/ → /pypi/packages/<p>/<file>). */
export function fileUrl(project: string, filename: string): string {
  return `../../packages/${encodeURIComponent(project)}/${encodeURIComponent(filename)}`;
}

function versionKey(v: string): (number | string)[] {
  return v.split(/[.+-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
}
function compareVersions(a: string, b: string): number {
  const x = versionKey(a);
  const y = versionKey(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === q) continue;
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (typeof p === 'number' && typeof q === 'number') return p - q;
    return String(p) < String(q) ? -1 : 1;
  }
  return 0;
}

function sortedFiles(p: PypiProject): PypiFile[] {
  return [...p.files].sort((a, b) => compareVersions(a.version, b.version) || (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
}

const HEAD = (title: string) => [
  '<!DOCTYPE html>',
  '<html>',
  '  <head>',
  `    <meta name="pypi:repository-version" content="${API_VERSION}">`,
  `    <title>${htmlEscape(title)}</title>`,
  '  </head>',
  '  <body>',
];

/** PEP 503 project page. */
export function projectHtml(p: PypiProject): string {
  const lines = [...HEAD(`Links for ${p.name}`), `    <h1>Links for ${htmlEscape(p.name)}</h1>`];
  for (const f of sortedFiles(p)) {
    let a = `<a href="${htmlEscape(`${fileUrl(p.name, f.filename)}#sha256=${f.sha256}`)}"`;
    if (f.requiresPython) a += ` data-requires-python="${htmlEscape(f.requiresPython)}"`;
    // PEP 714: data-core-metadata, plus the PEP 658 name for older pip (both must agree).
    if (f.metadataSha256) a += ` data-core-metadata="sha256=${f.metadataSha256}" data-dist-info-metadata="sha256=${f.metadataSha256}"`;
    lines.push(`    ${a}>${htmlEscape(f.filename)}</a><br>`);
  }
  lines.push('  </body>', '</html>', '');
  return lines.join('\n');
}

/** PEP 691 (+ PEP 700) project JSON. Never "dist-info-metadata" in JSON (PEP 714: it breaks old pip). */
export function projectJson(p: PypiProject): string {
  const files = sortedFiles(p).map((f) => ({
    filename: f.filename,
    url: fileUrl(p.name, f.filename),
    hashes: { sha256: f.sha256 },
    ...(f.requiresPython ? { 'requires-python': f.requiresPython } : {}),
    ...(f.metadataSha256 ? { 'core-metadata': { sha256: f.metadataSha256 } } : {}),
    size: f.size,
    ...(f.uploadTime ? { 'upload-time': f.uploadTime } : {}),
  }));
  const versions = [...new Set(p.files.map((f) => f.version))].sort(compareVersions);
  return `${JSON.stringify({ meta: { 'api-version': API_VERSION }, name: p.name, versions, files }, null, 1)}\n`;
}

export function rootHtml(projects: readonly string[]): string {
  const lines = [...HEAD('Simple index')];
  for (const n of [...projects].sort()) lines.push(`    <a href="${htmlEscape(encodeURIComponent(n))}/">${htmlEscape(n)}</a><br>`);
  lines.push('  </body>', '</html>', '');
  return lines.join('\n');
}

export function rootJson(projects: readonly string[]): string {
  return `${JSON.stringify({ meta: { 'api-version': API_VERSION }, projects: [...projects].sort().map((name) => ({ name })) }, null, 1)}\n`;
}

/**
 * PEP 691 content negotiation: the served type with the highest q the client accepts (ties: JSON, then
 * the versioned HTML, then text/html); undefined when none is acceptable (→ 406). No Accept → text/html.
 */
export function negotiate(accept: string | undefined): 'json' | 'v1html' | 'html' | undefined {
  if (!accept || accept.trim() === '') return 'html';
  const offers: { kind: 'json' | 'v1html' | 'html'; types: string[] }[] = [
    { kind: 'json', types: [PYPI_JSON, 'application/vnd.pypi.simple.latest+json'] },
    { kind: 'v1html', types: [PYPI_HTML, 'application/vnd.pypi.simple.latest+html'] },
    { kind: 'html', types: ['text/html'] },
  ];
  const ranges = accept.split(',').map((part) => {
    const [type, ...params] = part.trim().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return { type: (type ?? '').trim().toLowerCase(), q: q ? Number(q.slice(2)) : 1 };
  });
  let best: { kind: 'json' | 'v1html' | 'html'; q: number } | undefined;
  for (const o of offers) {
    let q = -1;
    for (const r of ranges) {
      const m = o.types.includes(r.type) || r.type === '*/*' || (r.type === 'application/*' && o.kind !== 'html') || (r.type === 'text/*' && o.kind === 'html');
      // Wildcards choose HTML (PEP 691: the default for clients that do not ask for JSON).
      const wild = r.type.includes('*');
      if (m && !(wild && o.kind !== 'html')) q = Math.max(q, Number.isFinite(r.q) ? r.q : 0);
    }
    if (q > 0 && (!best || q > best.q)) best = { kind: o.kind, q };
  }
  return best?.kind;
}

interface Dist {
  name: string;
  version: string;
  requiresPython?: string;
  metadata?: Buffer;
}

/** Name, version and Requires-Python of a wheel (from *.dist-info/METADATA) or an sdist (filename + PKG-INFO). */
export function inspectDist(filename: string, buf: Buffer): Dist {
  if (filename.endsWith('.whl')) {
    const m = /^([A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?)-([^-]+)(-\d[^-]*)?-([^-]+)-([^-]+)-([^-]+)\.whl$/.exec(filename);
    if (!m) throw new PypiError(`"${filename}" is not a wheel file name (name-version[-build]-python-abi-platform.whl)`);
    const entries = zipEntries(buf);
    const meta = entries.find((e) => /^[^/]+\.dist-info\/METADATA$/.test(e.name));
    if (!meta) throw new PypiError(`${filename}: no *.dist-info/METADATA in the wheel`);
    const metadata = zipRead(buf, meta);
    const h = parseEmailHeaders(metadata.toString('utf8'));
    const name = h.get('name')?.[0];
    const version = h.get('version')?.[0];
    if (!name || !version) throw new PypiError(`${filename}: METADATA has no Name or Version`);
    if (normalizeName(name) !== normalizeName(m[1]!)) throw new PypiError(`${filename}: METADATA names "${name}", the file name "${m[1]}"`);
    return { name, version, requiresPython: h.get('requires-python')?.[0], metadata };
  }
  const sm = /^(.+)-([^-]+)\.(tar\.gz|zip)$/.exec(filename);
  if (!sm) throw new PypiError(`"${filename}" is neither a wheel nor an sdist (.tar.gz / .zip)`);
  let pkgInfo: Buffer | undefined;
  if (sm[3] === 'tar.gz') {
    const entries = readTar(gunzipSync(buf));
    pkgInfo = entries.find((e) => e.type === 'file' && /^[^/]+\/PKG-INFO$/.test(e.name))?.data;
  } else {
    const e = zipEntries(buf).find((x) => /^[^/]+\/PKG-INFO$/.test(x.name));
    pkgInfo = e && zipRead(buf, e);
  }
  const h = pkgInfo ? parseEmailHeaders(pkgInfo.toString('utf8')) : new Map<string, string[]>();
  return { name: h.get('name')?.[0] ?? sm[1]!, version: h.get('version')?.[0] ?? sm[2]!, requiresPython: h.get('requires-python')?.[0] };
}

const projectKey = (n: string) => `projects/${n}.json`;
const isoSeconds = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;

/** Import a wheel or sdist; republish its project page and the root index. */
export async function importPython(store: Store, path: string, opts: { now?: Date } = {}): Promise<PypiFile & { project: string }> {
  const filename = basename(path);
  if (!/^[A-Za-z0-9][A-Za-z0-9._+!-]*$/.test(filename) || filename.length > 255) throw new PypiError(`"${filename}" is not a distribution file name`);
  const buf = await readFile(path);
  let dist: Dist;
  try {
    dist = inspectDist(filename, buf);
  } catch (e) {
    if (e instanceof ArchiveError) throw new PypiError(`${filename}: ${e.message}`);
    throw e;
  }
  const project = normalizeName(dist.name);
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(project)) throw new PypiError(`project name "${dist.name}" is not valid`);
  const info = await putAndPublish(store, PYPI_NS, `packages/${project}/${filename}`, buf, filename.endsWith('.whl') ? 'application/zip' : 'application/octet-stream', true);
  const file: PypiFile = {
    filename,
    version: dist.version,
    sha256: info.digest.slice(7),
    size: info.size,
    uploadTime: isoSeconds(opts.now ?? new Date()),
  };
  if (dist.requiresPython) file.requiresPython = dist.requiresPython;
  if (dist.metadata) {
    const m = await putAndPublish(store, PYPI_NS, `packages/${project}/${filename}.metadata`, dist.metadata, 'text/plain; charset=utf-8', true);
    file.metadataSha256 = m.digest.slice(7);
  }
  await withLock(store, 'pypi', async () => {
    const p: PypiProject = (await readJsonMeta<PypiProject>(store, PYPI_NS, projectKey(project))) ?? { name: project, files: [] };
    p.files = p.files.filter((f) => f.filename !== filename);
    p.files.push(file);
    await writeJsonMeta(store, PYPI_NS, projectKey(project), p);
    await putAndPublish(store, PYPI_NS, `simple/${project}/index.html`, projectHtml(p), 'text/html; charset=utf-8');
    await putAndPublish(store, PYPI_NS, `simple/${project}/index.json`, projectJson(p), PYPI_JSON);
    const projects = (await store.listMeta(PYPI_NS, 'projects/')).map((k) => k.replace(/^projects\//, '').replace(/\.json$/, ''));
    await putAndPublish(store, PYPI_NS, 'simple/index.html', rootHtml(projects), 'text/html; charset=utf-8');
    await putAndPublish(store, PYPI_NS, 'simple/index.json', rootJson(projects), PYPI_JSON);
  });
  return { ...file, project };
}

async function sendNegotiated(req: IncomingMessage, res: ServerResponse, store: Store, base: string): Promise<boolean> {
  const kind = negotiate(req.headers.accept);
  if (!kind) throw new HttpError(406, `acceptable: ${PYPI_JSON}, ${PYPI_HTML}, text/html`);
  const rec = await lookupPath(store, PYPI_NS, `${base}/index.${kind === 'json' ? 'json' : 'html'}`);
  if (!rec?.digest) return false;
  const contentType = kind === 'json' ? PYPI_JSON : kind === 'v1html' ? PYPI_HTML : 'text/html; charset=utf-8';
  await sendBlob(req, res, store, { digest: rec.digest, contentType }, { Vary: 'Accept' });
  return true;
}

export function pypiHandler(prefix = '/pypi/'): RepoHandler {
  return readOnlyHandler(prefix, async (req, res, store, segs) => {
    const [area, name, file, ...more] = segs;
    if (area === 'simple') {
      if (segs.length === 1) {
        redirect(res, `${prefix}simple/`);
        return true;
      }
      if (name === '' && segs.length === 2) {
        if (!(await sendNegotiated(req, res, store, 'simple'))) {
          // An empty mirror still answers with an empty index.
          const kind = negotiate(req.headers.accept);
          if (!kind) throw new HttpError(406, 'not acceptable');
          const body = kind === 'json' ? rootJson([]) : rootHtml([]);
          res.writeHead(200, { 'Content-Type': kind === 'json' ? PYPI_JSON : kind === 'v1html' ? PYPI_HTML : 'text/html; charset=utf-8', Vary: 'Accept' });
          res.end(req.method === 'HEAD' ? undefined : body);
        }
        return true;
      }
      if (name === undefined || name === '' || more.length > 0 || (file !== undefined && file !== '')) return false;
      const norm = normalizeName(name);
      if (norm !== name || file === undefined) {
        redirect(res, `${prefix}simple/${encodeURIComponent(norm)}/`);
        return true;
      }
      return sendNegotiated(req, res, store, `simple/${norm}`);
    }
    if (area === 'packages' && name && file && more.length === 0) return sendPublished(req, res, store, PYPI_NS, `packages/${name}/${file}`);
    return false;
  });
}
