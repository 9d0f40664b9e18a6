// site.yaml text → a validated Site, or one AirlockError listing every problem with file:line:col.
import type { z } from 'zod';
import { errors, type Problem } from './errors.ts';
import { parseCidr } from './net.ts';
import { Site } from './schema.ts';
import { formatPath, parseSource, type PathSegment, type Source } from './source.ts';
import { closest } from './suggest.ts';

export interface LoadedSite {
  site: Site;
  source: Source;
}

/** Parse and validate a site. Pure: the caller reads the file. */
export function loadSite(text: string, file = 'site.yaml'): LoadedSite {
  const source = parseSource(text, file);
  if (source.data === null || typeof source.data !== 'object' || Array.isArray(source.data)) {
    throw errors.schema(file, [
      {
        location: source.locate([]),
        path: '',
        message: 'the document is not a mapping',
        expected: 'a Site: apiVersion, kind, metadata, networks, hosts, services, cluster',
        hint: 'start from examples/seed/site.yaml',
      },
    ]);
  }
  const parsed = Site.safeParse(source.data);
  if (!parsed.success) throw errors.schema(file, parsed.error.issues.flatMap((i) => describeIssue(i, source)));
  const refProblems = checkReferences(parsed.data, source);
  if (refProblems.length > 0) throw errors.schema(file, refProblems);
  return { site: parsed.data, source };
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

type Issue = z.core.$ZodIssue;

function describeIssue(issue: Issue, source: Source): Problem[] {
  const path = issue.path.filter((p): p is PathSegment => typeof p !== 'symbol');
  const here = valueAt(source.data, path);
  const base = { location: source.locate(path), path: formatPath(path) };
  if (here === undefined && issue.code !== 'unrecognized_keys') {
    const expected = issue.code === 'invalid_value' ? `one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` : issue.code === 'invalid_type' ? issue.expected : issue.message;
    return [{ ...base, message: 'required field is missing', expected, hint: `add "${String(path.at(-1))}"` }];
  }
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const known = knownKeys(path, source.data);
        const guess = closest(key, known);
        return {
          location: source.locate([...path, key], 'key'),
          path: formatPath([...path, key]),
          message: `unknown field "${key}"`,
          expected: known.length ? `one of: ${known.join(', ')}` : undefined,
          hint: guess ? `did you mean "${guess}"?` : 'remove it, or check the indentation',
        };
      });
    case 'invalid_type':
      return [{ ...base, message: `expected ${issue.expected}, got ${Array.isArray(here) ? 'array' : here === null ? 'null' : typeof here} ${show(here)}`, expected: issue.expected }];
    case 'invalid_value':
      return [
        {
          ...base,
          message: `invalid value ${show(here)}`,
          expected: `one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
          hint: typeof here === 'string' ? hintValue(here, issue.values.map(String)) : undefined,
        },
      ];
    case 'too_small':
    case 'too_big':
    case 'invalid_format':
    case 'custom':
      return [{ ...base, message: `invalid value ${show(here)}`, expected: issue.message }];
    default:
      return [{ ...base, message: issue.message }];
  }
}

function hintValue(value: string, options: string[]): string | undefined {
  const g = closest(value, options);
  return g ? `did you mean "${g}"?` : undefined;
}

// --- schema walking, for "did you mean" on unknown fields ---

interface Def {
  type: string;
  shape?: Record<string, unknown>;
  element?: unknown;
  innerType?: unknown;
  in?: unknown;
}
const defOf = (s: unknown): Def | undefined => (s as { _zod?: { def?: Def } } | undefined)?._zod?.def;

function unwrap(s: unknown): unknown {
  let d = defOf(s);
  while (d && (d.innerType !== undefined || d.type === 'pipe')) {
    s = d.innerType ?? d.in;
    d = defOf(s);
  }
  return s;
}

function knownKeys(path: readonly PathSegment[], _data: unknown): string[] {
  let s: unknown = unwrap(Site);
  for (const seg of path) {
    const d = defOf(s);
    if (d?.type === 'object' && typeof seg === 'string') s = unwrap(d.shape?.[seg]);
    else if (d?.type === 'array' && typeof seg === 'number') s = unwrap(d.element);
    else return [];
  }
  const d = defOf(s);
  return d?.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}

// --- references between fields (unresolvable ones are invalid input, exit 2) ---

function checkReferences(site: Site, source: Source): Problem[] {
  const problems: Problem[] = [];
  const problem = (path: PathSegment[], message: string, expected: string, hint?: string) =>
    problems.push({ location: source.locate(path), path: formatPath(path), message, expected, hint });

  const networkNames = site.networks.map((n) => n.name);
  const seenNet = new Map<string, number>();
  site.networks.forEach((n, i) => {
    const first = seenNet.get(n.name);
    if (first !== undefined)
      problem(['networks', i, 'name'], `network "${n.name}" is defined twice (first at networks[${first}])`, 'unique network names', 'rename one of them');
    else seenNet.set(n.name, i);
  });
  const unknownNetwork = (path: PathSegment[], ref: string) =>
    problem(path, `no network named "${ref}"`, `one of: ${networkNames.join(', ')}`, closest(ref, networkNames) ? `did you mean "${closest(ref, networkNames)}"?` : 'add it to networks[]');

  site.hosts.forEach((h, hi) => {
    const seenIf = new Set<string>();
    h.interfaces.forEach((iface, ii) => {
      if (!seenNet.has(iface.network)) unknownNetwork(['hosts', hi, 'interfaces', ii, 'network'], iface.network);
      if (seenIf.has(iface.name))
        problem(['hosts', hi, 'interfaces', ii, 'name'], `interface "${iface.name}" is listed twice on host "${h.name}"`, 'unique interface names per host');
      seenIf.add(iface.name);
    });
  });

  const hostNames = site.hosts.map((h) => h.name);
  const hostRef = (path: PathSegment[], ref: string) => {
    const host = site.hosts.find((h) => h.name === ref);
    if (!host) {
      const g = closest(ref, hostNames);
      problem(path, `no host named "${ref}"`, `one of: ${hostNames.join(', ')}`, g ? `did you mean "${g}"?` : 'add it to hosts[]');
    }
    return host;
  };
  const netRefs = (path: PathSegment[], refs: string[], keywords: string[]) =>
    refs.forEach((r, i) => {
      if (keywords.includes(r) || seenNet.has(r) || parseCidr(r)) return;
      const g = closest(r, [...networkNames, ...keywords]);
      problem([...path, i], `"${r}" is neither a network name nor a CIDR`, `a network name (${networkNames.join(', ')}), a CIDR like "192.168.10.0/24"${keywords.length ? `, or ${keywords.join(' / ')}` : ''}`, g ? `did you mean "${g}"?` : undefined);
    });

  const gw = site.services.gateway;
  if (gw) {
    const host = hostRef(['services', 'gateway', 'host'], gw.host);
    for (const side of ['outside', 'inside'] as const) {
      if (host && !host.interfaces.some((i) => i.name === gw[side])) {
        const names = host.interfaces.map((i) => i.name);
        problem(['services', 'gateway', side], `host "${host.name}" has no interface "${gw[side]}"`, `one of: ${names.join(', ')}`, closest(gw[side], names) ? `did you mean "${closest(gw[side], names)}"?` : undefined);
      }
    }
  }
  const ntp = site.services.ntp;
  if (ntp) {
    hostRef(['services', 'ntp', 'server'], ntp.server);
    netRefs(['services', 'ntp', 'allow'], ntp.allow, ['all']);
  }
  const dns = site.services.dns;
  if (dns) {
    hostRef(['services', 'dns', 'server'], dns.server);
    netRefs(['services', 'dns', 'allowQuery'], dns.allowQuery, ['any', 'localhost', 'localnets']);
    netRefs(['services', 'dns', 'allowRecursion'], dns.allowRecursion, ['any', 'localhost', 'localnets']);
  }
  const mirrors = site.services.mirrors;
  if (mirrors) hostRef(['services', 'mirrors', 'host'], mirrors.host);
  return problems;
}
