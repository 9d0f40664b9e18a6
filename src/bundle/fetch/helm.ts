// Helm charts from classic chart repositories (bundle.sources.helm): <url>/index.yaml, the entry of the
// planned name and version, and its first URL (relative URLs are resolved against the repository URL),
// verified against the entry's sha256 digest. OCI chart registries are not handled here.
import { parse as parseYaml } from 'yaml';
import type { Artifact, FetchContext, FetchResult, Missing, PlannedArtifact } from '../types.ts';
import { getBytes, mapLimit } from './http.ts';
import { cachedDigest, downloadCached, failureReason, isNotFound } from './cache.ts';

/** The fields of a chart version in index.yaml that fetching needs. */
export interface ChartEntry {
  name: string;
  version: string;
  urls: string[];
  /** sha256 hex of the .tgz, when the index has it. */
  digest?: string;
}

/** Parse index.yaml: entries by chart name (malformed entries are skipped). Throws on YAML that is not an index. */
export function parseHelmIndex(text: string): Map<string, ChartEntry[]> {
  const doc = parseYaml(text) as unknown;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('index.yaml is not a mapping');
  const entries = (doc as { entries?: unknown }).entries;
  const out = new Map<string, ChartEntry[]>();
  if (entries === undefined || entries === null) return out;
  if (typeof entries !== 'object' || Array.isArray(entries)) throw new Error('index.yaml "entries" is not a mapping');
  for (const [name, list] of Object.entries(entries as Record<string, unknown>)) {
    if (!Array.isArray(list)) continue;
    const versions: ChartEntry[] = [];
    for (const e of list as unknown[]) {
      if (!e || typeof e !== 'object') continue;
      const r = e as Record<string, unknown>;
      const version = typeof r.version === 'string' ? r.version : typeof r.version === 'number' ? String(r.version) : undefined;
      const urls = Array.isArray(r.urls) ? r.urls.filter((u): u is string => typeof u === 'string') : [];
      if (!version || urls.length === 0) continue;
      versions.push({ name, version, urls, ...(typeof r.digest === 'string' && /^[0-9a-f]{64}$/i.test(r.digest) ? { digest: r.digest.toLowerCase() } : {}) });
    }
    out.set(name, versions);
  }
  return out;
}

/** The entry for name@version (also matching with or without a leading "v"), or why there is none. */
export function findChart(index: Map<string, ChartEntry[]>, name: string, version: string): ChartEntry | string {
  const list = index.get(name);
  if (!list) return `no chart "${name}" in the repository`;
  const bare = (v: string) => v.replace(/^v/, '');
  const e = list.find((x) => x.version === version) ?? list.find((x) => bare(x.version) === bare(version));
  if (e) return e;
  const have = list.map((x) => x.version);
  return `chart "${name}" has no version ${version} (the repository has ${have.length > 8 ? `${have.slice(0, 8).join(', ')}, …` : have.join(', ') || 'none'})`;
}

/** A chart URL from index.yaml, resolved against the repository URL (which is treated as a directory). */
export function chartUrl(repoUrl: string, u: string): string {
  return new URL(u, repoUrl.endsWith('/') ? repoUrl : `${repoUrl}/`).href;
}

/**
 * Fetch planned charts (kind 'chart'; repo = a name in ctx.sources.helm, name, exact version): one blob
 * per chart, role 'chart', meta {filename, repo}. Each repository's index.yaml is read once per call.
 */
export async function fetchCharts(ctx: FetchContext, items: readonly PlannedArtifact[]): Promise<FetchResult> {
  const result: FetchResult = { artifacts: [], missing: [], downloadedBytes: 0, skippedBytes: 0 };
  const mine = items.filter((i) => i.kind === 'chart');
  const indexes = new Map<string, Promise<Map<string, ChartEntry[]>>>();
  const indexOf = (url: string) => {
    let p = indexes.get(url);
    if (!p) {
      p = getBytes(chartUrl(url, 'index.yaml'), ctx.signal ? { signal: ctx.signal } : {}).then(({ body }) => parseHelmIndex(body.toString('utf8')));
      indexes.set(url, p);
    }
    return p;
  };
  const one = async (item: PlannedArtifact): Promise<Artifact | Missing> => {
    const missing = (reason: string): Missing => ({ kind: 'chart', name: item.name, ...(item.version ? { version: item.version } : {}), reason });
    const repo = ctx.sources.helm.find((h) => h.name === item.repo);
    if (!repo) return missing(`no Helm repository named "${item.repo ?? ''}" in bundle.sources.helm`);
    if (!item.version) return missing('no chart version given');
    let entry: ChartEntry | string;
    try {
      entry = findChart(await indexOf(repo.url), item.name, item.version);
    } catch (e) {
      if (isNotFound(e)) return missing(`${repo.url} has no index.yaml (404): not a chart repository`);
      return missing(`${repo.url}/index.yaml: ${failureReason(e, ctx)}`);
    }
    if (typeof entry === 'string') return missing(`${entry} at ${repo.url}`);
    const url = chartUrl(repo.url, entry.urls[0]!);
    const filename = decodeURIComponent(new URL(url).pathname.split('/').pop() || `${entry.name}-${entry.version}.tgz`);
    const meta = { filename, repo: repo.name };
    const expectedDigest = entry.digest ? `sha256:${entry.digest}` : undefined;
    try {
      if (ctx.dryRun) {
        const st = expectedDigest ? await ctx.store.stat(expectedDigest) : await cachedDigest(ctx, url);
        if (st) result.skippedBytes += st.size;
        return { kind: 'chart', name: item.name, version: entry.version, blobs: [{ role: 'chart', digest: st?.digest ?? expectedDigest ?? '', size: st?.size ?? 0 }], meta };
      }
      const r = await downloadCached(ctx, url, { label: `${item.name}-${entry.version}.tgz`, ...(expectedDigest ? { expectedDigest } : {}) });
      if (r.downloaded) result.downloadedBytes += r.size;
      else result.skippedBytes += r.size;
      return { kind: 'chart', name: item.name, version: entry.version, blobs: [{ role: 'chart', digest: r.digest, size: r.size }], meta };
    } catch (e) {
      if (isNotFound(e)) return missing(`${url}: 404, though index.yaml lists it`);
      return missing(failureReason(e, ctx));
    }
  };
  for (const r of await mapLimit(mine, ctx.concurrency, one)) {
    if ('blobs' in r) result.artifacts.push(r);
    else result.missing.push(r);
  }
  return result;
}
