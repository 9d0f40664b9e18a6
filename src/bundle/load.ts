// `airlock bundle load` on the admin host: check the signature, copy every blob into the mirror's store
// (hashing on the way), and only when every blob is there and intact, publish the artifacts into the
// served repos (registry, APT, YUM, PyPI, Helm, GOPROXY, files). Blobs land in the store as plain
// content-addressed data, so a killed or partial load (parts still to come) resumes where it stopped
// and nothing is published from a damaged bundle.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isStoreError, OciMeta, type Store } from '../store/index.ts';
import { importChart, importDeb, importGoModule, importPython, importRpm, publishStoredFile } from '../serve/repos/index.ts';
import { artifactLabel, blobOwners, sha256Hex, type BundleIndex } from './format.ts';
import { blobStream, type BundleSource, type PieceLocation } from './source.ts';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { withoutRegistry } from './plan.ts';
import { completeness, forEachBlob, openVerified, pieceProblem, type BundleCheck, type BundleProblem, type VerifyOptions } from './verify.ts';
import type { Artifact } from './types.ts';

export interface LoadOptions extends VerifyOptions {
  /** APT suite and component the .debs are published in (default bookworm/main: Debian 12). */
  suite?: string;
  component?: string;
  /** YUM repo the .rpms are published in (default rocky9). */
  yumRepo?: string;
  /** Load a bundle whose signer nothing pins (default: refused). */
  allowUnpinned?: boolean;
}

export interface LoadResult extends BundleCheck {
  /** Blobs copied into the store by this run, and blobs it already had. */
  imported: number;
  importedBytes: number;
  present: number;
  published: boolean;
  /** The store had already loaded this exact bundle: nothing to do. */
  alreadyLoaded: boolean;
}

const INTEGRITY: ReadonlySet<BundleProblem['code']> = new Set(['signature', 'part', 'missing-part', 'missing-blob', 'corrupt-blob']);
const LOADED_NS = 'bundle';

export async function loadBundle(paths: readonly string[], store: Store, opts: LoadOptions = {}): Promise<LoadResult> {
  const { src, check } = await openVerified(paths, opts);
  const result: LoadResult = { ...check, imported: 0, importedBytes: 0, present: 0, published: false, alreadyLoaded: false };
  if (!src || !check.index) return result;
  if (!check.pinned && !opts.allowUnpinned) return result; // the 'unpinned' problem says what to do
  const index = check.index;
  const indexSha = sha256Hex(src.indexBytes);
  const marker = `loaded/${indexSha}`;
  const loadedBefore = (await store.readMeta(LOADED_NS, marker)) !== undefined;

  // Until publish, the copied blobs are referenced by nothing but this record (`store gc` keeps them).
  const pending = `pending/${indexSha}.json`;
  if (!loadedBefore) await store.writeMeta(LOADED_NS, pending, `${JSON.stringify({ site: index.site, digests: [...new Set(index.artifacts.flatMap((a) => a.blobs.map((b) => b.digest)))] })}\n`);
  const have = async (digest: string) => (await store.stat(digest)) !== undefined;
  // Pieces of blobs cut across parts that earlier loads kept: parts may arrive one at a time, in any order.
  const staging = join(store.root, 'staging', indexSha);
  await addStagedPieces(src, index, staging);
  await forEachBlob(src, index, result, { ...opts, have }, async (b, pieces) => {
    const st = await store.stat(b.digest);
    if (st && st.size === b.size) {
      result.present++;
      opts.progress?.bytes?.(b.size);
      return undefined;
    }
    try {
      await store.put(blobStream(pieces, { consumerChecksDigest: true }), { expectedDigest: b.digest });
    } catch (e) {
      const bad = pieceProblem(b.digest, e);
      if (bad) return bad;
      if (isStoreError(e) && e.code === 'digest-mismatch') return { code: 'corrupt-blob', where: pieces[0]!.part, message: `${b.digest} is corrupt: ${e.message}` };
      throw e;
    }
    result.imported++;
    result.importedBytes += b.size;
    opts.progress?.bytes?.(b.size);
    return undefined;
  });
  result.problems.push(...completeness(index, opts.plan));
  if (result.problems.some((p) => INTEGRITY.has(p.code))) {
    result.problems.push(...(await stagePieces(src, index, store, staging)));
    return result;
  }
  await fsp.rm(staging, { recursive: true, force: true });

  if (loadedBefore) {
    await store.deleteMeta(LOADED_NS, pending); // left by a crash between the marker and its removal
    result.alreadyLoaded = true;
    result.published = true;
    return result;
  }
  await publish(store, index, opts);
  await store.writeMeta(LOADED_NS, marker, `${JSON.stringify({ site: index.site, created: index.created, loaded: new Date().toISOString() })}\n`);
  await store.deleteMeta(LOADED_NS, pending);
  result.published = true;
  return result;
}

/** "k8s/pause:3.9" → { repo: "k8s/pause", tag: "3.9" }. */
function splitTarget(t: string): { repo: string; tag: string } {
  const at = t.lastIndexOf(':');
  return { repo: t.slice(0, at), tag: t.slice(at + 1) };
}

async function publishImage(store: Store, meta: OciMeta, a: Artifact): Promise<void> {
  const targets = (a.meta.targets ? a.meta.targets.split(',').filter(Boolean) : []).concat(a.meta.targets ? [] : [withoutRegistry(a.name)]);
  const top = a.meta.digest!;
  const children = a.blobs.filter((b) => b.role === 'manifest' && b.digest !== top);
  for (const t of targets) {
    const { repo, tag } = splitTarget(t);
    for (const c of children) await meta.putManifest(repo, await readBlob(store, c.digest), { expectedDigest: c.digest });
    await meta.putManifest(repo, await readBlob(store, top), { ...(a.meta.mediaType ? { contentType: a.meta.mediaType } : {}), tag, expectedDigest: top, partialIndex: true });
  }
}

async function readBlob(store: Store, digest: string): Promise<Buffer> {
  return fsp.readFile(store.blobPath(digest));
}

/** Publish every artifact of the index into the served repos (idempotent). */
export async function publish(store: Store, index: BundleIndex, opts: Pick<LoadOptions, 'suite' | 'component' | 'yumRepo'> = {}): Promise<void> {
  const meta = new OciMeta(store);
  const links = join(store.root, 'tmp', `bundle-load-${process.pid}`);
  await fsp.rm(links, { recursive: true, force: true });
  await fsp.mkdir(links, { recursive: true });
  // The repo importers take file paths and use the file name: name each blob by its artifact's file name.
  let n = 0;
  const named = async (digest: string, filename: string): Promise<string> => {
    const dir = join(links, String(n++));
    await fsp.mkdir(dir);
    const p = join(dir, filename);
    await fsp.symlink(store.blobPath(digest), p);
    return p;
  };
  const blobOf = (a: Artifact, role: string) => {
    const b = a.blobs.find((x) => x.role === role);
    if (!b) throw new Error(`${artifactLabel(a)}: no ${role} blob in the index`);
    return b.digest;
  };
  try {
    const debs: string[] = [];
    const rpms: string[] = [];
    for (const a of index.artifacts) {
      switch (a.kind) {
        case 'image':
          await publishImage(store, meta, a);
          break;
        case 'deb':
          debs.push(await named(blobOf(a, 'deb'), a.meta.filename ?? `${a.name}.deb`));
          break;
        case 'rpm':
          rpms.push(await named(blobOf(a, 'rpm'), a.meta.filename ?? `${a.name}.rpm`));
          break;
        case 'python': {
          const b = a.blobs.find((x) => x.role === 'wheel' || x.role === 'sdist');
          if (!b) throw new Error(`${artifactLabel(a)}: no wheel or sdist blob in the index`);
          await importPython(store, await named(b.digest, a.meta.filename ?? a.name));
          break;
        }
        case 'chart':
          await importChart(store, await named(blobOf(a, 'chart'), a.meta.filename ?? `${a.name}-${a.version}.tgz`));
          break;
        case 'gomod': {
          const info = JSON.parse((await readBlob(store, blobOf(a, 'info'))).toString('utf8')) as { Time?: string };
          await importGoModule(store, { module: a.meta.module ?? a.name, version: a.meta.version ?? a.version, zip: store.blobPath(blobOf(a, 'zip')), mod: store.blobPath(blobOf(a, 'mod')), info: info.Time ? { Time: info.Time } : {} });
          break;
        }
        case 'file':
          await publishStoredFile(store, blobOf(a, 'file'), { name: a.meta.name ?? a.name });
          break;
      }
    }
    if (debs.length) await importDeb(store, debs, { suite: opts.suite ?? 'bookworm', component: opts.component ?? 'main' });
    if (rpms.length) await importRpm(store, rpms, { repo: opts.yumRepo ?? 'rocky9' });
  } finally {
    await fsp.rm(links, { recursive: true, force: true });
  }
}

// ---- staged pieces: <store>/staging/<index sha256>/<hex>.<offset>.<length>.<piece sha256> ----

const STAGED_RE = /^([a-f0-9]{64})\.(\d+)\.(\d+)\.([a-f0-9]{64})$/;

/** Add the pieces earlier loads kept to what this load was given (the given ones win). */
async function addStagedPieces(src: BundleSource, index: BundleIndex, dir: string): Promise<void> {
  const sizes = new Map(index.blobs.map((b) => [b.digest, b.size]));
  for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
    const m = STAGED_RE.exec(f);
    if (!m) continue;
    const digest = `sha256:${m[1]}`;
    const size = sizes.get(digest);
    if (size === undefined) continue;
    const offset = Number(m[2]);
    const l = src.pieces.get(digest) ?? [];
    if (l.some((p) => p.offset === offset)) continue;
    l.push({ digest, offset, length: Number(m[3]), size, sha256: m[4]!, file: f, path: join(dir, f), part: `${dir} (kept from an earlier load)` });
    l.sort((a, b) => a.offset - b.offset);
    src.pieces.set(digest, l);
  }
}

/**
 * Keep the given pieces of blobs this load could not complete (the other pieces are in parts still to
 * come), each checked against its part.json hash on the way. A damaged piece is reported, not kept.
 */
async function stagePieces(src: BundleSource, index: BundleIndex, store: Store, dir: string): Promise<BundleProblem[]> {
  const problems: BundleProblem[] = [];
  const owners = blobOwners(index);
  for (const b of index.blobs) {
    if ((await store.stat(b.digest))?.size === b.size) continue;
    const given = (src.pieces.get(b.digest) ?? []).filter((p: PieceLocation) => !p.path.startsWith(dir));
    for (const p of given) {
      if (p.offset === 0 && p.length === b.size) continue; // a whole blob: it went into the store, or was damaged
      await fsp.mkdir(dir, { recursive: true });
      const name = `${b.digest.slice(7)}.${p.offset}.${p.length}.${p.sha256}`;
      const dest = join(dir, name);
      if (await fsp.stat(dest).then(() => true, () => false)) continue;
      const h = createHash('sha256');
      const tap = new Transform({
        transform(c: Buffer, _e, cb) {
          h.update(c);
          cb(null, c);
        },
      });
      const tmp = `${dest}.tmp`;
      await pipeline(createReadStream(p.path), tap, (await fsp.open(tmp, 'w')).createWriteStream());
      if (h.digest('hex') !== p.sha256) {
        await fsp.rm(tmp, { force: true });
        problems.push({ code: 'corrupt-blob', digest: b.digest, artifacts: owners.get(b.digest) ?? [], where: p.part, message: `${b.digest}: the piece at ${p.offset} in ${p.part} is corrupt` });
        continue;
      }
      await fsp.rename(tmp, dest);
    }
  }
  return problems;
}
