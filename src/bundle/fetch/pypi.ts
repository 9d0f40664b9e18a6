// Python distributions from a "simple" index (bundle.sources.pypi): the project page as PEP 691 JSON when the
// index offers it, else PEP 503 HTML; the files of the pinned version; downloads verified by the index's sha256.
//
// Which files: the nodes are Debian 12 (CPython 3.11, glibc 2.36) on x86_64, so for each pinned version one
// file is taken: a pure wheel (py3-none-any) if there is one; else the best CPython 3.11 manylinux x86_64
// wheel (cp311 ABI before abi3, newest glibc ≤ 2.36 first); else the sdist (.tar.gz before .zip).
// Dependencies of Python packages are NOT resolved: the site pins the complete list (bundle.python).
import type { Artifact, FetchContext, FetchResult, Missing, PlannedArtifact } from '../types.ts';
import { FetchError, mapLimit, request } from './http.ts';
import { cachedDigest, downloadCached, failureReason, isNotFound } from './cache.ts';
import { unescapeEntities } from './markup.ts';

const PEP691_JSON = 'application/vnd.pypi.simple.v1+json';
/** What we ask for: JSON first, then either HTML flavour (as pip does). */
export const PYPI_ACCEPT = `${PEP691_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01`;

/** One file of a project page, whichever format it came in. */
export interface IndexFile {
  filename: string;
  /** Absolute download URL, without the #fragment. */
  url: string;
  /** sha256 hex, when the index gives it. */
  sha256?: string;
  /** Bytes, when the index gives it (PEP 700). */
  size?: number;
  requiresPython?: string;
}

/** PEP 503: runs of "-", "_", "." become one "-", lower case. */
export function normalizeProject(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/**
 * A version string in a comparable form (a light PEP 440 normalisation): lower case, no leading "v", no
 * trailing ".0" release components, the usual pre/post/dev spellings and separators unified.
 */
export function canonicalVersion(v: string): string {
  const [pub = '', ...local] = v.trim().toLowerCase().replace(/^v/, '').split('+');
  let s = pub;
  const m = /^(\d+(?:\.\d+)*)(.*)$/.exec(s);
  if (m) {
    const release = m[1]!.split('.').map((x) => String(Number(x)));
    while (release.length > 1 && release.at(-1) === '0') release.pop();
    s = release.join('.') + m[2]!;
  }
  s = s
    .replace(/[-_.]?(alpha|a)[-_.]?(?=\d|$)/g, 'a')
    .replace(/[-_.]?(beta|b)[-_.]?(?=\d|$)/g, 'b')
    .replace(/[-_.]?(rc|c|pre|preview)[-_.]?(?=\d|$)/g, 'rc')
    .replace(/[-_.]?(post|rev|r)[-_.]?(?=\d|$)/g, '.post')
    .replace(/[-_.]?dev[-_.]?(?=\d|$)/g, '.dev');
  return local.length > 0 ? `${s}+${local.join('+').replace(/[-_]/g, '.')}` : s;
}

const resolveUrl = (href: string, base: string): { url: string; fragment: string } => {
  const u = new URL(href, base);
  const fragment = u.hash.replace(/^#/, '');
  u.hash = '';
  return { url: u.href, fragment };
};

const sha256From = (fragment: string): string | undefined => /(?:^|&)sha256=([0-9a-fA-F]{64})(?:&|$)/.exec(fragment)?.[1]?.toLowerCase();

/** PEP 691 project JSON → files (URLs resolved against the page URL). */
export function parseProjectJson(text: string, pageUrl: string): IndexFile[] {
  const doc = JSON.parse(text) as { files?: unknown };
  if (!Array.isArray(doc.files)) throw new Error('PEP 691 project JSON without "files"');
  const out: IndexFile[] = [];
  for (const f of doc.files as unknown[]) {
    if (!f || typeof f !== 'object') continue;
    const r = f as { filename?: unknown; url?: unknown; hashes?: unknown; size?: unknown; 'requires-python'?: unknown };
    if (typeof r.filename !== 'string' || typeof r.url !== 'string') continue;
    const { url, fragment } = resolveUrl(r.url, pageUrl);
    const hashes = r.hashes && typeof r.hashes === 'object' ? (r.hashes as Record<string, unknown>) : {};
    const sha = typeof hashes.sha256 === 'string' && /^[0-9a-fA-F]{64}$/.test(hashes.sha256) ? hashes.sha256.toLowerCase() : sha256From(fragment);
    const file: IndexFile = { filename: r.filename, url };
    if (sha) file.sha256 = sha;
    if (typeof r.size === 'number' && Number.isSafeInteger(r.size) && r.size >= 0) file.size = r.size;
    if (typeof r['requires-python'] === 'string' && r['requires-python'] !== '') file.requiresPython = r['requires-python'];
    out.push(file);
  }
  return out;
}

export const htmlUnescape = (s: string): string => unescapeEntities(s, { ignoreCase: true });

/** PEP 503 project HTML → files: each <a href>, its text as the file name, #sha256= and data-requires-python. */
export function parseProjectHtml(html: string, pageUrl: string): IndexFile[] {
  const out: IndexFile[] = [];
  for (const m of html.matchAll(/<a\b([^>]*)>([\s\S]*?)<\/a\s*>/gi)) {
    const attrs = new Map<string, string>();
    for (const a of m[1]!.matchAll(/([A-Za-z_:][-A-Za-z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
      attrs.set(a[1]!.toLowerCase(), htmlUnescape(a[2] ?? a[3] ?? a[4] ?? ''));
    }
    const href = attrs.get('href');
    if (!href) continue;
    const { url, fragment } = resolveUrl(href, pageUrl);
    const text = htmlUnescape(m[2]!.replace(/<[^>]*>/g, '')).trim();
    const filename = text || decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
    if (!filename) continue;
    const file: IndexFile = { filename, url };
    const sha = sha256From(fragment);
    if (sha) file.sha256 = sha;
    const rp = attrs.get('data-requires-python');
    if (rp) file.requiresPython = rp;
    out.push(file);
  }
  return out;
}

export interface WheelName {
  name: string;
  version: string;
  pythons: string[];
  abis: string[];
  platforms: string[];
}

/** name-version[-build]-python-abi-platform.whl, each tag set split on "." (compressed tag sets). */
export function parseWheelName(filename: string): WheelName | undefined {
  const m = /^([^-]+)-([^-]+)(?:-\d[^-]*)?-([^-]+)-([^-]+)-([^-]+)\.whl$/.exec(filename);
  if (!m) return undefined;
  return { name: m[1]!, version: m[2]!, pythons: m[3]!.split('.'), abis: m[4]!.split('.'), platforms: m[5]!.split('.') };
}

/** An sdist's version, given the (normalised) project it belongs to; undefined when it is not that project's sdist. */
export function sdistVersion(filename: string, project: string): string | undefined {
  const m = /^(.+)\.(tar\.gz|zip|tar\.bz2|tgz|tar\.xz)$/.exec(filename);
  if (!m) return undefined;
  const stem = m[1]!;
  // Old sdists have "-" inside the name: the split is where the prefix normalises to the project name.
  for (let i = stem.indexOf('-'); i > 0; i = stem.indexOf('-', i + 1)) {
    if (normalizeProject(stem.slice(0, i)) === project) return stem.slice(i + 1);
  }
  return undefined;
}

/** Debian 12: glibc 2.36, CPython 3.11. */
const TARGET_GLIBC = 36;
const TARGET_MINOR = 11;

const isPureWheel = (w: WheelName) =>
  w.pythons.some((p) => {
    const m = /^py3(\d*)$/.exec(p);
    return m !== null && (m[1] === '' || Number(m[1]) <= TARGET_MINOR);
  }) &&
  w.abis.includes('none') &&
  w.platforms.includes('any');

/** The newest glibc this manylinux tag needs, when it is an x86_64 manylinux tag; else undefined. */
function manylinuxGlibc(platform: string): number | undefined {
  const legacy: Record<string, number> = { manylinux1_x86_64: 5, manylinux2010_x86_64: 12, manylinux2014_x86_64: 17 };
  if (legacy[platform] !== undefined) return legacy[platform];
  const m = /^manylinux_2_(\d+)_x86_64$/.exec(platform);
  return m ? Number(m[1]) : undefined;
}

/** A CPython 3.11 / glibc 2.36 / x86_64 wheel's preference (higher is better), or undefined if it does not fit. */
export function binaryWheelScore(w: WheelName): number | undefined {
  const glibc = Math.max(-1, ...w.platforms.map((p) => manylinuxGlibc(p) ?? -1));
  if (glibc < 0 || glibc > TARGET_GLIBC) return undefined;
  let abiScore = -1;
  for (const py of w.pythons) {
    const cp = /^cp3(\d+)$/.exec(py);
    if (cp && Number(cp[1]) === TARGET_MINOR && w.abis.includes(`cp3${TARGET_MINOR}`)) abiScore = Math.max(abiScore, 3);
    if (cp && Number(cp[1]) <= TARGET_MINOR && w.abis.includes('abi3')) abiScore = Math.max(abiScore, 2);
    if ((py === 'py3' || py === `py3${TARGET_MINOR}` || py === `cp3${TARGET_MINOR}`) && w.abis.includes('none')) abiScore = Math.max(abiScore, 1);
  }
  return abiScore < 0 ? undefined : abiScore * 100 + glibc;
}

/**
 * The file(s) to fetch for project@version from a project page (see the file comment for the rule), or
 * a reason why there is none.
 */
export function selectFiles(files: readonly IndexFile[], project: string, version: string): IndexFile[] | string {
  const want = canonicalVersion(version);
  const norm = normalizeProject(project);
  const ofVersion = files.filter((f) => {
    const w = parseWheelName(f.filename);
    if (w) return normalizeProject(w.name) === norm && canonicalVersion(w.version) === want;
    const v = sdistVersion(f.filename, norm);
    return v !== undefined && canonicalVersion(v) === want;
  });
  if (ofVersion.length === 0) {
    const versions = new Set<string>();
    for (const f of files) {
      const v = parseWheelName(f.filename)?.version ?? sdistVersion(f.filename, norm);
      if (v) versions.add(v);
    }
    const list = [...versions];
    return `no files for version ${version} (the index has ${list.length === 0 ? 'none' : list.length > 10 ? `${list.slice(-10).join(', ')} and ${list.length - 10} more` : list.join(', ')})`;
  }
  const pure = ofVersion.find((f) => {
    const w = parseWheelName(f.filename);
    return w !== undefined && isPureWheel(w);
  });
  if (pure) return [pure];
  let best: { f: IndexFile; score: number } | undefined;
  for (const f of ofVersion) {
    const w = parseWheelName(f.filename);
    const score = w && binaryWheelScore(w);
    if (score !== undefined && (!best || score > best.score)) best = { f, score };
  }
  if (best) return [best.f];
  const sdist = ofVersion.find((f) => f.filename.endsWith('.tar.gz')) ?? ofVersion.find((f) => !f.filename.endsWith('.whl'));
  if (sdist) return [sdist];
  return `no file of version ${version} fits Debian 12 x86_64 / CPython 3.11 (the index has ${ofVersion.map((f) => f.filename).join(', ')})`;
}

/** The project page's files: PEP 691 JSON when the index answers with it, else PEP 503 HTML. */
export async function readProjectPage(indexUrl: string, project: string, signal?: AbortSignal): Promise<IndexFile[]> {
  const page = `${indexUrl.replace(/\/*$/, '/')}${encodeURIComponent(normalizeProject(project))}/`;
  const res = await request(page, { headers: { Accept: PYPI_ACCEPT }, ...(signal ? { signal } : {}) });
  const text = await res.text();
  // Relative URLs are relative to where the page finally came from (after redirects).
  const base = res.url || page;
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === PEP691_JSON || type === 'application/vnd.pypi.simple.latest+json') return parseProjectJson(text, base);
  return parseProjectHtml(text, base);
}

/**
 * Fetch planned Python distributions (kind 'python'; name, exact version) from ctx.sources.pypi: one file
 * per item (see above), role 'wheel' or 'sdist', meta {filename, requiresPython?}. Dependencies are not
 * resolved. A project or version the index does not have → Missing.
 */
export async function fetchPython(ctx: FetchContext, items: readonly PlannedArtifact[]): Promise<FetchResult> {
  const result: FetchResult = { artifacts: [], missing: [], downloadedBytes: 0, skippedBytes: 0 };
  const mine = items.filter((i) => i.kind === 'python');
  const index = ctx.sources.pypi;
  const one = async (item: PlannedArtifact): Promise<Artifact[] | Missing> => {
    const missing = (reason: string): Missing => ({ kind: 'python', name: item.name, ...(item.version ? { version: item.version } : {}), reason });
    if (!item.version) return missing('no version given (Python distributions are pinned: "name==version")');
    let files: IndexFile[];
    try {
      files = await readProjectPage(index, item.name, ctx.signal);
    } catch (e) {
      if (isNotFound(e)) return missing(`${index} has no project "${normalizeProject(item.name)}"`);
      return missing(`${index}: ${failureReason(e, ctx)}`);
    }
    const chosen = selectFiles(files, item.name, item.version);
    if (typeof chosen === 'string') return missing(chosen);
    const out: Artifact[] = [];
    for (const f of chosen) {
      const role = f.filename.endsWith('.whl') ? 'wheel' : 'sdist';
      const meta: Record<string, string> = { filename: f.filename };
      if (f.requiresPython) meta.requiresPython = f.requiresPython;
      const expectedDigest = f.sha256 ? `sha256:${f.sha256}` : undefined;
      try {
        if (ctx.dryRun) {
          const st = expectedDigest ? await ctx.store.stat(expectedDigest) : await cachedDigest(ctx, f.url);
          if (st) result.skippedBytes += st.size;
          out.push({ kind: 'python', name: item.name, version: item.version, blobs: [{ role, digest: st?.digest ?? expectedDigest ?? '', size: st?.size ?? f.size ?? 0 }], meta });
          continue;
        }
        const r = await downloadCached(ctx, f.url, { label: f.filename, ...(expectedDigest ? { expectedDigest } : {}), ...(f.size !== undefined ? { size: f.size } : {}) });
        if (r.downloaded) result.downloadedBytes += r.size;
        else result.skippedBytes += r.size;
        out.push({ kind: 'python', name: item.name, version: item.version, blobs: [{ role, digest: r.digest, size: r.size }], meta });
      } catch (e) {
        if (e instanceof FetchError && isNotFound(e)) return missing(`${f.url}: ${e.status}, though the project page lists it`);
        return missing(`${f.filename}: ${failureReason(e, ctx)}`);
      }
    }
    return out;
  };
  for (const r of await mapLimit(mine, ctx.concurrency, one)) {
    if (Array.isArray(r)) result.artifacts.push(...r);
    else result.missing.push(r);
  }
  return result;
}
