// Debian packages for debian12 hosts, resolved by apt itself: a private apt state under <workDir>/apt (lists,
// caches, and an EMPTY dpkg status, so the closure is what an empty root needs — or, with
// bundle.sources.aptBaseStatus, a node's own dpkg status, so what the nodes have is left out), with this machine's apt
// configuration, trust and sources (/etc/apt) by default, or bundle.sources.apt written into a private
// sources directory. `apt-get update` runs once per process and state directory; then
// `apt-get install --print-uris` gives the closure with each .deb's URL, size and SHA256
// (Acquire::ForceHash=SHA256 makes apt print that hash rather than MD5).
//
// The .debs are downloaded with `apt-get download` (apt's own transports, proxies and auth.conf, the hash
// checked against the signed index) into <workDir>/apt/debs, then put into the store with the expected
// digest and removed. A .deb already in the store is not downloaded again.
//
// Architecture: amd64 (the nodes'), whatever this machine's is.
import { spawn } from 'node:child_process';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Artifact, FetchContext, FetchResult, Missing, PlannedArtifact } from '../types.ts';
import { failureReason } from './cache.ts';

export const DEB_ARCH = 'amd64';

/** One line of `apt-get install --print-uris`. */
export interface AptUri {
  url: string;
  /** apt's archive file name, "name_version_arch.deb" with ":" as "%3a" (what `apt-get download` writes). */
  filename: string;
  size: number;
  /** "sha256:<hex>" when apt printed a SHA256 hash. */
  digest?: string;
  package: string;
  version: string;
  arch: string;
  /** The pool file name (the URL's last segment, decoded), e.g. "hello_2.10-3_amd64.deb". */
  poolFilename: string;
}

/** Parse `apt-get install --print-uris -qq` output: `'URL' filename size HASH:hex` lines (others ignored). */
export function parsePrintUris(out: string): AptUri[] {
  const uris: AptUri[] = [];
  for (const line of out.split('\n')) {
    const m = /^'([^']+)'\s+(\S+)\s+(\d+)\s+(\S+)\s*$/.exec(line.trim());
    if (!m) continue;
    const url = m[1]!;
    const filename = m[2]!;
    const hash = m[4]!;
    const parts = /^([^_]+)_([^_]+)_([^_]+)\.deb$/.exec(filename);
    if (!parts) continue;
    const h = /^SHA256:([0-9a-f]{64})$/i.exec(hash);
    let pool = url.split('/').pop() ?? filename;
    try {
      pool = decodeURIComponent(pool);
    } catch {
      /* keep it encoded */
    }
    uris.push({
      url,
      filename,
      size: Number(m[3]),
      ...(h ? { digest: `sha256:${h[1]!.toLowerCase()}` } : {}),
      package: parts[1]!,
      version: decodeURIComponent(parts[2]!),
      arch: parts[3]!,
      poolFilename: pool,
    });
  }
  return uris;
}

/** apt's error lines ("E: ...") from its stderr, joined; or the last line when there are none. */
export function aptErrors(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const e = lines.filter((l) => l.startsWith('E: '));
  return (e.length > 0 ? e : lines.slice(-1)).join('; ') || 'apt-get failed';
}

/**
 * sources.apt entries as files for a private Dir::Etc::SourceParts: deb822 stanzas (an entry with a
 * "Types:" field) into airlock.sources, one-line entries ("deb ...") into airlock.list.
 */
export function aptSourceFiles(entries: readonly string[]): { list: string; sources: string } {
  const list: string[] = [];
  const stanzas: string[] = [];
  for (const e of entries) {
    if (/^\s*Types\s*:/im.test(e)) stanzas.push(e.trim());
    else for (const l of e.split('\n')) if (l.trim() !== '' && !l.trim().startsWith('#')) list.push(l.trim());
  }
  return { list: list.length > 0 ? `${list.join('\n')}\n` : '', sources: stanzas.length > 0 ? `${stanzas.join('\n\n')}\n` : '' };
}

/** The private apt state's directory, and the -o options that point apt at it. */
export function aptConfigArgs(workDir: string, customSources: boolean): string[] {
  const d = join(workDir, 'apt');
  const args = [
    `Dir::State=${d}/state`,
    `Dir::State::Lists=${d}/state/lists`,
    `Dir::State::status=${d}/status`,
    `Dir::State::extended_states=${d}/state/extended_states`,
    `Dir::Cache=${d}/cache`,
    `Dir::Cache::archives=${d}/cache/archives`,
    `Dir::Cache::pkgcache=${d}/cache/pkgcache.bin`,
    `Dir::Cache::srcpkgcache=${d}/cache/srcpkgcache.bin`,
    `APT::Architecture=${DEB_ARCH}`,
    `APT::Architectures=${DEB_ARCH}`,
    'Acquire::ForceHash=SHA256',
    'Acquire::Languages=none',
    'APT::Install-Recommends=false',
  ];
  if (customSources) args.push(`Dir::Etc::SourceList=${d}/etc/sources.list`, `Dir::Etc::SourceParts=${d}/etc/sources.list.d`);
  // As root apt drops to _apt for downloads, which cannot enter a private work dir (mode 0700).
  if (process.getuid?.() === 0) args.push('APT::Sandbox::User=root');
  return args.flatMap((a) => ['-o', a]);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string; signal?: AbortSignal } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** `apt-get update` done (or under way) per state directory and sources, in this process. */
const updates = new Map<string, Promise<void>>();

async function prepareAndUpdate(ctx: FetchContext): Promise<string[]> {
  const d = join(ctx.workDir, 'apt');
  const custom = ctx.sources.apt !== undefined;
  const args = aptConfigArgs(ctx.workDir, custom);
  const key = `${d}\0${JSON.stringify(ctx.sources.apt ?? null)}\0${ctx.sources.aptBaseStatus ?? ''}`;
  let p = updates.get(key);
  if (!p) {
    p = (async () => {
      for (const sub of ['state/lists/partial', 'cache/archives/partial', 'etc/sources.list.d', 'debs']) await fsp.mkdir(join(d, sub), { recursive: true });
      if (ctx.sources.aptBaseStatus) {
        await fsp.copyFile(ctx.sources.aptBaseStatus, join(d, 'status')).catch((e: NodeJS.ErrnoException) => {
          throw new Error(`bundle.sources.aptBaseStatus ${ctx.sources.aptBaseStatus}: ${e.code ?? e.message}`);
        });
      } else await fsp.writeFile(join(d, 'status'), '');
      if (custom) {
        const f = aptSourceFiles(ctx.sources.apt ?? []);
        await fsp.writeFile(join(d, 'etc/sources.list'), '');
        const parts = join(d, 'etc/sources.list.d');
        for (const old of await fsp.readdir(parts)) await fsp.rm(join(parts, old), { force: true });
        if (f.list) await fsp.writeFile(join(parts, 'airlock.list'), f.list);
        if (f.sources) await fsp.writeFile(join(parts, 'airlock.sources'), f.sources);
      } else {
        await seedLists(join(d, 'state/lists'));
      }
      const r = await run('apt-get', [...args, '-qq', 'update'], ctx.signal ? { signal: ctx.signal } : {});
      if (r.code !== 0) throw new Error(`apt-get update failed: ${aptErrors(r.stderr)}`);
    })();
    updates.set(key, p);
    p.catch(() => updates.delete(key));
  }
  await p;
  return args;
}

/**
 * With this machine's own sources, start from its package lists (when the private ones are empty), so
 * `apt-get update` fetches only what changed. apt checks them against the signed Release files anyway.
 */
async function seedLists(dest: string): Promise<void> {
  const have = await fsp.readdir(dest).catch(() => [] as string[]);
  if (have.some((f) => /_(In)?Release$/.test(f))) return;
  const r = await run('apt-config', ['shell', 'L', 'Dir::State::lists/d']);
  const src = /^L='([^']*)'/m.exec(r.stdout)?.[1];
  if (r.code !== 0 || !src) return;
  const files = await fsp.readdir(src).catch(() => [] as string[]);
  for (const f of files) {
    if (f === 'lock' || f === 'partial' || f === 'auxfiles') continue;
    const st = await fsp.stat(join(src, f)).catch(() => undefined);
    if (st?.isFile()) await fsp.copyFile(join(src, f), join(dest, f)).catch(() => undefined);
  }
}

/** The apt spec of a planned deb: "name" or "name=version" (from item.version or already in the name). */
export function debSpec(item: PlannedArtifact): { name: string; spec: string; version?: string } {
  const [name = item.name, inline] = item.name.split('=', 2);
  const version = item.version ?? inline;
  return { name, spec: version ? `${name}=${version}` : name, ...(version ? { version } : {}) };
}

async function printUris(args: readonly string[], specs: readonly string[], signal?: AbortSignal): Promise<{ ok: true; uris: AptUri[] } | { ok: false; reason: string }> {
  const r = await run('apt-get', [...args, 'install', '--print-uris', '-qq', '-y', '--no-install-recommends', ...specs], signal ? { signal } : {});
  if (r.code !== 0) return { ok: false, reason: aptErrors(r.stderr) };
  return { ok: true, uris: parsePrintUris(r.stdout) };
}

/**
 * Fetch planned Debian packages (kind 'deb', os 'debian12'; name "pkg" or "pkg=version") and their
 * dependency closure (Depends/Pre-Depends, no Recommends) as apt resolves it for an empty system. One
 * Artifact per .deb: name = package, version, blob role 'deb', meta {filename (pool basename), os, arch,
 * requiredBy (comma-separated planned names whose own closure has it)}. What apt cannot find or install →
 * Missing with apt's message ("E: Unable to locate package kubelet").
 *
 * The planned packages are resolved together; when there are several, each is also resolved alone (about
 * a quarter of a second each), which tells which of them apt fails on and which planned names need each
 * .deb. If the combined resolution fails, the packages apt can resolve alone are resolved together again;
 * should that fail too (conflicting packages), the union of their separate closures is taken.
 */
export async function fetchDebs(ctx: FetchContext, items: readonly PlannedArtifact[]): Promise<FetchResult> {
  const result: FetchResult = { artifacts: [], missing: [], downloadedBytes: 0, skippedBytes: 0 };
  const planned: { item: PlannedArtifact; name: string; spec: string; version?: string }[] = [];
  for (const i of items) {
    if (i.kind !== 'deb') continue;
    const s = debSpec(i);
    if (i.os !== undefined && i.os !== 'debian12') result.missing.push({ kind: 'deb', name: s.name, reason: `Debian packages are fetched for debian12 hosts, not ${i.os}` });
    else planned.push({ item: i, ...s });
  }
  if (planned.length === 0) return result;
  const miss = (p: (typeof planned)[number], reason: string): Missing => ({ kind: 'deb', name: p.name, ...(p.version ? { version: p.version } : {}), reason });

  let args: string[];
  try {
    args = await prepareAndUpdate(ctx);
  } catch (e) {
    const reason = failureReason(e, ctx);
    for (const p of planned) result.missing.push(miss(p, reason));
    return result;
  }

  // Resolve.
  const combined = await printUris(args, planned.map((p) => p.spec), ctx.signal);
  const alone = new Map<string, AptUri[]>();
  let closure: AptUri[] = [];
  if (combined.ok && planned.length === 1) {
    closure = combined.uris;
    alone.set(planned[0]!.name, combined.uris);
  } else if (!combined.ok && planned.length === 1) {
    result.missing.push(miss(planned[0]!, combined.reason));
    return result;
  } else {
    const good: typeof planned = [];
    for (const p of planned) {
      const r = await printUris(args, [p.spec], ctx.signal);
      if (r.ok) {
        alone.set(p.name, r.uris);
        good.push(p);
      } else {
        result.missing.push(miss(p, r.reason));
      }
    }
    if (combined.ok) closure = combined.uris;
    else if (good.length > 0) {
      const again = good.length === planned.length ? combined : await printUris(args, good.map((p) => p.spec), ctx.signal);
      if (again.ok) closure = again.uris;
      else {
        const byFile = new Map<string, AptUri>();
        for (const l of alone.values()) for (const u of l) byFile.set(u.filename, u);
        closure = [...byFile.values()];
      }
    }
  }

  const requiredBy = (u: AptUri): string => {
    const names = [...alone].filter(([, l]) => l.some((x) => x.package === u.package)).map(([n]) => n);
    return (names.length > 0 ? names : [...alone.keys()]).join(',');
  };
  const artifactOf = (u: AptUri, digest: string, size: number): Artifact => ({
    kind: 'deb',
    name: u.package,
    version: u.version,
    blobs: [{ role: 'deb', digest, size }],
    meta: { filename: u.poolFilename, os: 'debian12', arch: u.arch, requiredBy: requiredBy(u) },
  });

  // Which .debs the store lacks.
  const need: AptUri[] = [];
  for (const u of closure) {
    const st = u.digest ? await ctx.store.stat(u.digest) : undefined;
    if (st) {
      result.skippedBytes += st.size;
      ctx.progress?.done?.(u.poolFilename, true);
      result.artifacts.push(artifactOf(u, st.digest, st.size));
    } else if (ctx.dryRun) {
      result.artifacts.push(artifactOf(u, u.digest ?? '', u.size));
    } else {
      need.push(u);
    }
  }
  if (ctx.dryRun || need.length === 0) return result;

  // Download with apt, in batches (progress per batch), into the private debs directory.
  const dir = join(ctx.workDir, 'apt', 'debs');
  await fsp.mkdir(dir, { recursive: true });
  const BATCH = 32;
  for (let i = 0; i < need.length; i += BATCH) {
    const batch = need.slice(i, i + BATCH);
    for (const u of batch) ctx.progress?.start?.(u.poolFilename, u.size);
    const r = await run('apt-get', [...args, '-qq', 'download', ...batch.map((u) => `${u.package}:${u.arch}=${u.version}`)], { cwd: dir, ...(ctx.signal ? { signal: ctx.signal } : {}) });
    for (const u of batch) {
      const file = join(dir, u.filename);
      try {
        await fsp.access(file);
      } catch {
        result.missing.push({ kind: 'deb', name: u.package, version: u.version, reason: `apt-get download failed: ${aptErrors(r.stderr)}` });
        continue;
      }
      try {
        const info = await ctx.store.put(createReadStream(file), u.digest ? { expectedDigest: u.digest } : {});
        ctx.progress?.bytes?.(info.size);
        ctx.progress?.done?.(u.poolFilename, false);
        result.downloadedBytes += info.size;
        result.artifacts.push(artifactOf(u, info.digest, info.size));
      } catch (e) {
        result.missing.push({ kind: 'deb', name: u.package, version: u.version, reason: `${u.filename}: ${failureReason(e, ctx)}` });
      } finally {
        await fsp.rm(file, { force: true });
      }
    }
  }
  return result;
}
