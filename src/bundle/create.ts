// `airlock bundle create`: fetch every planned artifact into the bundle's own content-addressed store
// (blobs/sha256 of an OCI image layout), then write the signed index. Re-running skips what is there.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from '../store/index.ts';
import { MT } from '../store/oci.ts';
import type { Site } from '../schema.ts';
import { bundlePlan } from './plan.ts';
import { INDEX_FILE, SIG_FILE, serializeIndex, signIndex, type BundleIndex, type SigningKey } from './format.ts';
import { writeFileAtomic } from './fsutil.ts';
import { writeParts } from './parts.ts';
import type { Artifact, ArtifactKind, BundlePlan, Fetcher, FetchResult, Missing, PlannedArtifact, Progress } from './types.ts';

export interface CreateOptions {
  /** The bundle directory (created; an OCI image layout plus the signed index). */
  out: string;
  key: SigningKey;
  /** One fetcher per kind (the real ones by default; tests may pass their own). */
  fetchers: Partial<Record<ArtifactKind, Fetcher>>;
  concurrency?: number;
  /** Resolve only: what would be fetched, what is missing; nothing downloaded, nothing written but scratch. */
  dryRun?: boolean;
  /** Write the bundle even when some artifacts are missing (they are listed in the index). */
  allowMissing?: boolean;
  /** Also write parts of at most this many bytes into partsDir (default `<out>.parts`). */
  split?: number;
  partsDir?: string;
  progress?: Progress;
  signal?: AbortSignal;
  now?: Date;
}

export interface CreateResult {
  plan: BundlePlan;
  artifacts: Artifact[];
  missing: Missing[];
  /** Whether the bundle (index + signature) was written. */
  written: boolean;
  downloadedBytes: number;
  skippedBytes: number;
  /** Sum of every artifact's blob sizes, and of the distinct blobs actually stored. */
  logicalBytes: number;
  storedBytes: number;
  blobs: number;
  fingerprint: string;
  parts: string[];
}

async function fetchAll(store: Store, site: Site, plan: BundlePlan, opts: Pick<CreateOptions, 'fetchers' | 'concurrency' | 'progress' | 'signal'>, workDir: string, dryRun: boolean): Promise<FetchResult> {
  const byKind = new Map<ArtifactKind, PlannedArtifact[]>();
  for (const a of plan.artifacts) byKind.set(a.kind, [...(byKind.get(a.kind) ?? []), a]);
  const results = await Promise.all(
    [...byKind].map(async ([kind, items]): Promise<FetchResult> => {
      const fetcher = opts.fetchers[kind];
      if (!fetcher) return { artifacts: [], missing: items.map((i) => ({ kind, name: i.name, ...(i.version ? { version: i.version } : {}), reason: `no fetcher for ${kind}` })), downloadedBytes: 0, skippedBytes: 0 };
      await fsp.mkdir(join(workDir, kind), { recursive: true });
      return fetcher(
        { store, sources: site.bundle.sources, workDir: join(workDir, kind), concurrency: opts.concurrency ?? 4, dryRun, ...(opts.progress ? { progress: opts.progress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) },
        items,
      );
    }),
  );
  return {
    artifacts: results.flatMap((r) => r.artifacts),
    missing: results.flatMap((r) => r.missing),
    downloadedBytes: results.reduce((n, r) => n + r.downloadedBytes, 0),
    skippedBytes: results.reduce((n, r) => n + r.skippedBytes, 0),
  };
}

/** The OCI image layout's index.json: one entry per image, named by its upstream reference. */
export function ociLayoutIndex(artifacts: readonly Artifact[]): string {
  const manifests = artifacts
    .filter((a) => a.kind === 'image' && a.meta.digest)
    .map((a) => {
      const top = a.blobs.find((b) => b.digest === a.meta.digest);
      return {
        mediaType: a.meta.mediaType ?? MT.ociManifest,
        digest: a.meta.digest!,
        size: top?.size ?? 0,
        annotations: { 'org.opencontainers.image.ref.name': a.name },
      };
    });
  return `${JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests }, null, 1)}\n`;
}

/**
 * Write a bundle directory's top files: the OCI layout (oci-layout, index.json), the index and its
 * signature. The old signature goes first: a crash in between leaves an index that fails to verify, never
 * one that verifies against an older signature.
 */
export async function writeSignedIndex(dir: string, index: BundleIndex, key: SigningKey): Promise<{ indexBytes: Buffer; sigBytes: Buffer }> {
  const indexBytes = serializeIndex(index);
  const sigBytes = Buffer.from(`${JSON.stringify(signIndex(indexBytes, key), null, 1)}\n`);
  await writeFileAtomic(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n');
  await writeFileAtomic(join(dir, 'index.json'), ociLayoutIndex(index.artifacts));
  await fsp.rm(join(dir, SIG_FILE), { force: true });
  await writeFileAtomic(join(dir, INDEX_FILE), indexBytes);
  await writeFileAtomic(join(dir, SIG_FILE), sigBytes);
  return { indexBytes, sigBytes };
}

/** Distinct blobs of the artifacts, sorted by digest. */
export function distinctBlobs(artifacts: readonly Artifact[]): { digest: string; size: number }[] {
  const m = new Map<string, number>();
  for (const a of artifacts) for (const b of a.blobs) m.set(b.digest, b.size);
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([digest, size]) => ({ digest, size }));
}

const logicalBytes = (arts: readonly Artifact[]) => arts.reduce((n, a) => n + a.blobs.reduce((m, b) => m + b.size, 0), 0);

/** `bundle plan --resolve`: every planned artifact looked up at its source (closures, sizes, what is missing); nothing downloaded. */
export async function resolveBundle(site: Site, opts: Pick<CreateOptions, 'fetchers' | 'concurrency' | 'progress' | 'signal'> & { workDir: string }): Promise<Omit<CreateResult, 'fingerprint' | 'parts' | 'written' | 'downloadedBytes' | 'skippedBytes'>> {
  const plan = bundlePlan(site);
  const store = await openStore(join(opts.workDir, 'store'));
  const r = await fetchAll(store, site, plan, opts, join(opts.workDir, 'work'), true);
  const blobs = distinctBlobs(r.artifacts);
  return { plan, artifacts: r.artifacts, missing: r.missing, logicalBytes: logicalBytes(r.artifacts), storedBytes: blobs.reduce((n, b) => n + b.size, 0), blobs: blobs.length };
}

export async function createBundle(site: Site, opts: CreateOptions): Promise<CreateResult> {
  const plan = bundlePlan(site);
  await fsp.mkdir(opts.out, { recursive: true });
  const store = await openStore(opts.out);
  const workDir = join(opts.out, 'tmp', 'work');
  const base = { plan, fingerprint: opts.key.fingerprint, parts: [] as string[] };

  // 1. Resolve everything first: what is missing is reported before anything is downloaded.
  opts.progress?.phase?.(`resolving ${plan.artifacts.length} planned artifact(s) at their sources`);
  const resolved = await fetchAll(store, site, plan, opts, workDir, true);
  if (opts.dryRun || (resolved.missing.length > 0 && !opts.allowMissing)) {
    const blobs = distinctBlobs(resolved.artifacts);
    return { ...base, artifacts: resolved.artifacts, missing: resolved.missing, written: false, downloadedBytes: 0, skippedBytes: 0, logicalBytes: logicalBytes(resolved.artifacts), storedBytes: blobs.reduce((n, b) => n + b.size, 0), blobs: blobs.length };
  }

  // 2. Fetch (skipping what the store has), then write the layout and the signed index.
  let todo = 0;
  for (const b of distinctBlobs(resolved.artifacts)) if (!b.digest || (await store.stat(b.digest))?.size !== b.size) todo += b.size;
  opts.progress?.phase?.(`fetching ${(todo / 1048576).toFixed(1)} MiB not yet in ${opts.out}`);
  opts.progress?.total?.(todo);
  const got = await fetchAll(store, site, plan, opts, workDir, false);
  const blobs = distinctBlobs(got.artifacts);
  for (const b of blobs) {
    const st = await store.stat(b.digest);
    if (!st || st.size !== b.size) throw new Error(`internal: blob ${b.digest} of the index is not in the bundle store`);
  }
  const index: BundleIndex = {
    apiVersion: 'airlock/v1',
    kind: 'BundleIndex',
    site: site.metadata.name,
    created: (opts.now ?? new Date()).toISOString(),
    artifacts: got.artifacts,
    blobs,
    missing: got.missing,
  };
  const { indexBytes, sigBytes } = await writeSignedIndex(opts.out, index, opts.key);
  await fsp.rm(join(opts.out, 'tmp'), { recursive: true, force: true });
  // Blobs of an earlier run that this index no longer names would only make the bundle bigger.
  const keep = new Set(blobs.map((b) => b.digest.slice(7)));
  for (const hex of await fsp.readdir(join(opts.out, 'blobs', 'sha256'))) if (!keep.has(hex)) await fsp.rm(join(opts.out, 'blobs', 'sha256', hex), { force: true });
  if (opts.split) {
    opts.progress?.phase?.(`writing parts of at most ${opts.split} bytes`);
    opts.progress?.total?.(blobs.reduce((n, b) => n + b.size, 0));
  }
  const parts = opts.split ? await writeParts(opts.out, indexBytes, sigBytes, index, opts.split, opts.partsDir ?? `${opts.out.replace(/\/+$/, '')}.parts`, opts.progress) : [];
  return {
    ...base,
    parts,
    artifacts: got.artifacts,
    missing: got.missing,
    written: true,
    downloadedBytes: got.downloadedBytes,
    skippedBytes: got.skippedBytes,
    logicalBytes: logicalBytes(got.artifacts),
    storedBytes: blobs.reduce((n, b) => n + b.size, 0),
    blobs: blobs.length,
  };
}
