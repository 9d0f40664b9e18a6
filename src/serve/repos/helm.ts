// Helm chart repository: /helm/index.yaml (apiVersion v1, entries by chart name, newest version first,
// each entry = the chart's Chart.yaml metadata + urls, created, digest) and /helm/charts/<name>-<version>.tgz.
// The entry fields are exactly those of Helm's repo.ChartVersion, since Helm loads index.yaml strictly.
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { Store } from '../../store/types.ts';
import { HttpError, type RepoHandler } from '../types.ts';
import { ArchiveError, readTar } from './archive.ts';
import { comparePrerelease, putAndPublish, readJsonMeta, sendPublished, withLock, writeJsonMeta, readOnlyHandler } from './http.ts';

export const HELM_NS = 'helm';

export class HelmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HelmError';
  }
}

/** Chart.yaml fields Helm's chart.Metadata knows (anything else would make Helm reject the index). */
export const CHART_FIELDS = [
  'name', 'home', 'sources', 'version', 'description', 'keywords', 'maintainers', 'icon', 'apiVersion',
  'condition', 'tags', 'appVersion', 'deprecated', 'annotations', 'kubeVersion', 'dependencies', 'type',
] as const;

export type ChartMetadata = Record<string, unknown> & { name: string; version: string; apiVersion?: string };

export interface HelmEntry {
  metadata: ChartMetadata;
  /** sha256 hex of the .tgz (as `helm repo index` writes it). */
  digest: string;
  /** RFC 3339. */
  created: string;
  /** Relative to the repository URL. */
  url: string;
}

/** Parse a semver-ish version for ordering (Helm sorts entries newest first; unparsable last). */
function semverParts(v: string): { nums: number[]; pre: string } | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v);
  if (!m) return undefined;
  return { nums: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)], pre: m[4] ?? '' };
}

export function compareSemver(a: string, b: string): number {
  const x = semverParts(a);
  const y = semverParts(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  for (let i = 0; i < 3; i++) if (x.nums[i] !== y.nums[i]) return x.nums[i]! - y.nums[i]!;
  if (x.pre === y.pre) return 0;
  if (!x.pre) return 1;
  if (!y.pre) return -1;
  return comparePrerelease(x.pre, y.pre);
}

/** index.yaml: keys sorted (as Helm's JSON-based YAML writer does), entries newest version first. */
export function helmIndexYaml(entries: readonly HelmEntry[], generated: string): string {
  const byName = new Map<string, HelmEntry[]>();
  for (const e of entries) byName.set(e.metadata.name, [...(byName.get(e.metadata.name) ?? []), e]);
  const out: Record<string, unknown[]> = {};
  for (const name of [...byName.keys()].sort()) {
    out[name] = byName
      .get(name)!
      .sort((a, b) => compareSemver(b.metadata.version, a.metadata.version))
      .map((e) => {
        const md: Record<string, unknown> = {};
        for (const k of CHART_FIELDS) if (e.metadata[k] !== undefined && e.metadata[k] !== null) md[k] = e.metadata[k];
        if (!md.apiVersion) md.apiVersion = 'v1';
        return { ...md, created: e.created, digest: e.digest, urls: [e.url] };
      });
  }
  // YAML 1.1 output: Helm reads index.yaml with a YAML 1.1 parser, so strings like "yes" or timestamps get quoted.
  return stringifyYaml({ apiVersion: 'v1', entries: out, generated }, { version: '1.1', sortMapEntries: true, lineWidth: 0 });
}

/** Chart.yaml of a packaged chart (<name>/Chart.yaml at the top of the .tgz). */
export function chartMetadata(tgz: Buffer): ChartMetadata {
  let entries;
  try {
    entries = readTar(gunzipSync(tgz));
  } catch (e) {
    throw new HelmError(`not a chart archive (.tgz): ${e instanceof Error ? e.message : String(e)}`);
  }
  const chartYaml = entries.find((e) => e.type === 'file' && /^[^/]+\/Chart\.yaml$/.test(e.name));
  if (!chartYaml) throw new HelmError('no <chart>/Chart.yaml in the archive');
  const md = parseYaml(chartYaml.data.toString('utf8')) as unknown;
  if (!md || typeof md !== 'object' || Array.isArray(md)) throw new HelmError('Chart.yaml is not a mapping');
  const m = md as Record<string, unknown>;
  if (typeof m.name !== 'string' || !/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/i.test(m.name)) throw new HelmError('Chart.yaml has no valid name');
  if (typeof m.version !== 'string' || !semverParts(m.version)) throw new HelmError(`Chart.yaml version ${JSON.stringify(m.version)} is not SemVer`);
  if (m.apiVersion !== undefined && m.apiVersion !== 'v1' && m.apiVersion !== 'v2') throw new HelmError(`Chart.yaml apiVersion ${JSON.stringify(m.apiVersion)} is not v1 or v2`);
  const out: ChartMetadata = { name: m.name, version: m.version };
  const extra: Record<string, unknown> = out;
  for (const k of CHART_FIELDS) if (k !== 'name' && k !== 'version' && m[k] !== undefined && m[k] !== null) extra[k] = m[k];
  if (out.appVersion !== undefined && typeof out.appVersion !== 'string') out.appVersion = String(out.appVersion);
  return out;
}

interface HelmState {
  entries: HelmEntry[];
}

/** RFC 3339 in UTC, as Go writes time.Time. */
const rfc3339 = (d: Date) => d.toISOString().replace(/\.000Z$/, 'Z');

/** Import a packaged chart; republish index.yaml. */
export async function importChart(store: Store, tgzPath: string, opts: { now?: Date } = {}): Promise<HelmEntry> {
  const tgz = await readFile(tgzPath);
  let md: ChartMetadata;
  try {
    md = chartMetadata(tgz);
  } catch (e) {
    if (e instanceof HelmError || e instanceof ArchiveError) throw new HelmError(`${tgzPath}: ${e.message}`);
    throw e;
  }
  const now = opts.now ?? new Date();
  const url = `charts/${md.name}-${md.version}.tgz`;
  const info = await putAndPublish(store, HELM_NS, url, tgz, 'application/gzip', true);
  const entry: HelmEntry = { metadata: md, digest: info.digest.slice(7), created: rfc3339(now), url };
  await withLock(store, 'helm', async () => {
    const state = (await readJsonMeta<HelmState>(store, HELM_NS, 'index.json')) ?? { entries: [] };
    state.entries = state.entries.filter((e) => !(e.metadata.name === md.name && e.metadata.version === md.version));
    state.entries.push(entry);
    await writeJsonMeta(store, HELM_NS, 'index.json', state);
    await putAndPublish(store, HELM_NS, 'index.yaml', helmIndexYaml(state.entries, rfc3339(now)), 'application/x-yaml');
  });
  return entry;
}

export function helmHandler(prefix = '/helm/'): RepoHandler {
  return readOnlyHandler(prefix, async (req, res, store, segs) => {
    const path = segs.join('/');
    if (path === 'index.yaml' && !(await sendPublished(req, res, store, HELM_NS, path))) {
      // An empty repository is still a repository.
      const body = helmIndexYaml([], rfc3339(new Date(0)));
      res.writeHead(200, { 'Content-Type': 'application/x-yaml', 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (path === 'index.yaml') return true;
    if (segs.length !== 2 || segs[0] !== 'charts' || !segs[1]!.endsWith('.tgz')) throw new HttpError(404, 'not found');
    return sendPublished(req, res, store, HELM_NS, path);
  });
}
