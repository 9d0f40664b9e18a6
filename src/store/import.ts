// Import images into the store and register them in the registry metadata (so they can be pulled):
// from an OCI image layout directory, or from a docker-archive (`docker save` output, a plain tar, or
// gzipped). Every blob is verified against its digest on the way in.
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DIGEST_RE, digestOf } from './digest.ts';
import { tempName } from './fs-store.ts';
import { isValidName, isValidTag, MT, OciError, OciMeta, parseManifest, type Descriptor } from './oci.ts';
import { TarError, TarReader } from './tar.ts';
import { StoreError, type Store } from './types.ts';

export interface ImportOptions {
  /** destination repository, e.g. "library/busybox" */
  repo: string;
  /** destination tag */
  tag: string;
  /** which image of the source, when it holds several: an index.json "org.opencontainers.image.ref.name"
   * annotation, or a docker-archive RepoTag ("busybox:latest"). Default: the only image, or the one
   * named `tag`. */
  image?: string;
}

export interface ImportResult {
  repo: string;
  tag: string;
  /** digest of the tagged manifest (or index) */
  digest: string;
  mediaType: string;
  /** blobs (layers, configs, manifests) newly written to the store */
  blobsCreated: number;
  /** bytes of every blob the image references, stored or already present */
  bytes: number;
}

export class ImportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImportError';
  }
}

const REF_NAME = 'org.opencontainers.image.ref.name';
const MAX_JSON = 16 * 1024 * 1024;

/** Where an image's files come from: a directory or a tar. */
interface Source {
  describe: string;
  exists(path: string): Promise<boolean>;
  read(path: string): Promise<Buffer>;
  stream(path: string): NodeJS.ReadableStream;
  /** first bytes of a file (to sniff compression) */
  head(path: string, n: number): Promise<Buffer>;
}

function dirSource(dir: string): Source {
  return {
    describe: dir,
    exists: (p) => fsp.stat(join(dir, p)).then((s) => s.isFile(), () => false),
    read: async (p) => {
      const st = await fsp.stat(join(dir, p));
      if (st.size > MAX_JSON) throw new ImportError(`${p} in ${dir} is too large for a JSON document`);
      return fsp.readFile(join(dir, p));
    },
    stream: (p) => createReadStream(join(dir, p), { highWaterMark: 1 << 20 }),
    head: async (p, n) => {
      const fh = await fsp.open(join(dir, p), 'r');
      try {
        const buf = Buffer.alloc(n);
        const { bytesRead } = await fh.read(buf, 0, n, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    },
  };
}

function tarSource(tar: TarReader, describe: string): Source {
  return {
    describe,
    exists: async (p) => tar.file(p) !== undefined,
    read: (p) => tar.read(p, MAX_JSON),
    stream: (p) => tar.stream(p),
    head: (p, n) => tar.head(p, n),
  };
}

function checkDest(opts: ImportOptions): void {
  if (!isValidName(opts.repo)) throw new ImportError(`invalid repository name ${JSON.stringify(opts.repo)}`);
  if (!isValidTag(opts.tag)) throw new ImportError(`invalid tag ${JSON.stringify(opts.tag)}`);
}

const blobFile = (digest: string): string => {
  if (!DIGEST_RE.test(digest)) throw new ImportError(`unsupported or invalid digest ${JSON.stringify(digest)} (sha256 only)`);
  return `blobs/sha256/${digest.slice(7)}`;
};

function parseJson(buf: Buffer, what: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new ImportError(`${what} is not valid JSON`);
  }
}

class Importer {
  readonly meta: OciMeta;
  blobsCreated = 0;
  bytes = 0;
  constructor(
    readonly store: Store,
    readonly repo: string,
  ) {
    this.meta = new OciMeta(store);
  }

  /** Store a blob from the source (verified), unless the store already has it. */
  async blob(src: Source, d: Descriptor, path: string): Promise<void> {
    this.bytes += d.size;
    if (!(await this.store.has(d.digest))) {
      if (!(await src.exists(path))) throw new ImportError(`${src.describe}: blob ${d.digest} is missing (${path})`);
      const r = await this.store.put(src.stream(path), { expectedDigest: d.digest });
      if (r.size !== d.size) throw new ImportError(`${src.describe}: blob ${d.digest} has ${r.size} bytes, the descriptor says ${d.size}`);
      if (r.created) this.blobsCreated++;
    }
  }

  /** Copy a manifest (and, recursively, what it references) from an OCI layout; register it. */
  async manifest(src: Source, d: Descriptor, tag?: string): Promise<{ digest: string; mediaType: string }> {
    const body = await src.read(blobFile(d.digest));
    if (digestOf(body) !== d.digest) throw new ImportError(`${src.describe}: manifest ${d.digest} does not match its digest`);
    const parsed = parseManifest(body, d.mediaType);
    for (const b of parsed.blobs) {
      if (b.urls && b.urls.length > 0) continue;
      await this.blob(src, b, blobFile(b.digest));
    }
    for (const child of parsed.children) {
      if (!(await src.exists(blobFile(child.digest)))) {
        throw new ImportError(`${src.describe}: index ${d.digest} lists ${child.digest}, which the layout does not hold (copy it with all platforms)`);
      }
      await this.manifest(src, child);
    }
    this.bytes += body.length;
    if (!(await this.store.has(d.digest))) this.blobsCreated++;
    const r = await this.meta.putManifest(this.repo, body, { contentType: parsed.mediaType, ...(tag !== undefined ? { tag } : {}) });
    return { digest: r.digest, mediaType: r.mediaType };
  }
}

const wrap = (e: unknown, what: string): Error => {
  if (e instanceof ImportError) return e;
  if (e instanceof OciError || e instanceof StoreError || e instanceof TarError) return new ImportError(`${what}: ${e.message}`, { cause: e });
  if (e instanceof Error) return new ImportError(`${what}: ${e.message}`, { cause: e });
  return new ImportError(`${what}: ${String(e)}`);
};

async function importLayout(store: Store, src: Source, opts: ImportOptions): Promise<ImportResult> {
  const layout = parseJson(await src.read('oci-layout'), 'oci-layout') as { imageLayoutVersion?: unknown };
  if (typeof layout !== 'object' || layout === null || typeof layout.imageLayoutVersion !== 'string') {
    throw new ImportError(`${src.describe}: oci-layout has no imageLayoutVersion`);
  }
  const index = parseJson(await src.read('index.json'), 'index.json') as { manifests?: unknown };
  const list = Array.isArray(index?.manifests) ? (index.manifests as Descriptor[]) : [];
  if (list.length === 0) throw new ImportError(`${src.describe}: index.json lists no images`);
  const named = (n: string) => list.filter((m) => m?.annotations?.[REF_NAME] === n);
  let chosen: Descriptor | undefined;
  if (opts.image !== undefined) {
    chosen = named(opts.image)[0];
    if (!chosen) throw new ImportError(`${src.describe}: no image named ${JSON.stringify(opts.image)} (have: ${list.map((m) => m?.annotations?.[REF_NAME] ?? m?.digest).join(', ')})`);
  } else if (list.length === 1) {
    chosen = list[0];
  } else {
    chosen = named(opts.tag)[0];
    if (!chosen) throw new ImportError(`${src.describe}: holds ${list.length} images; choose one with image (have: ${list.map((m) => m?.annotations?.[REF_NAME] ?? m?.digest).join(', ')})`);
  }
  if (!chosen || typeof chosen.digest !== 'string' || typeof chosen.mediaType !== 'string') throw new ImportError(`${src.describe}: index.json entry is not a descriptor`);
  const imp = new Importer(store, opts.repo);
  const r = await imp.manifest(src, chosen, opts.tag);
  return { repo: opts.repo, tag: opts.tag, digest: r.digest, mediaType: r.mediaType, blobsCreated: imp.blobsCreated, bytes: imp.bytes };
}

/** Import one image of an OCI image layout directory as repo:tag. */
export async function importOciLayout(store: Store, dir: string, opts: ImportOptions): Promise<ImportResult> {
  checkDest(opts);
  try {
    return await importLayout(store, dirSource(dir), opts);
  } catch (e) {
    throw wrap(e, `importing ${dir}`);
  }
}

const layerMediaType = (head: Buffer): string => {
  if (head[0] === 0x1f && head[1] === 0x8b) return MT.ociLayerGzip;
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'application/vnd.oci.image.layer.v1.tar+zstd';
  return MT.ociLayerTar;
};

interface DockerManifestEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

async function importDockerManifest(store: Store, tar: TarReader, src: Source, opts: ImportOptions): Promise<ImportResult> {
  const entries = parseJson(await src.read('manifest.json'), 'manifest.json');
  if (!Array.isArray(entries) || entries.length === 0) throw new ImportError(`${src.describe}: manifest.json lists no images`);
  const list = entries as DockerManifestEntry[];
  const tagsOf = (e: DockerManifestEntry): string[] => (Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : []);
  let chosen: DockerManifestEntry | undefined;
  if (opts.image !== undefined) {
    chosen = list.find((e) => tagsOf(e).includes(opts.image as string));
    if (!chosen) throw new ImportError(`${src.describe}: no image tagged ${JSON.stringify(opts.image)} (have: ${list.flatMap(tagsOf).join(', ') || 'untagged images'})`);
  } else if (list.length === 1) {
    chosen = list[0];
  } else {
    chosen = list.find((e) => tagsOf(e).some((t) => t === `${opts.repo}:${opts.tag}` || t.endsWith(`/${opts.repo}:${opts.tag}`)));
    if (!chosen) throw new ImportError(`${src.describe}: holds ${list.length} images; choose one with image (have: ${list.flatMap(tagsOf).join(', ')})`);
  }
  if (!chosen || typeof chosen.Config !== 'string' || !Array.isArray(chosen.Layers) || !chosen.Layers.every((l) => typeof l === 'string')) {
    throw new ImportError(`${src.describe}: manifest.json entry has no Config/Layers`);
  }
  const imp = new Importer(store, opts.repo);
  const configBytes = await src.read(chosen.Config);
  const config = parseJson(configBytes, chosen.Config) as { rootfs?: { diff_ids?: unknown } };
  const diffIds = Array.isArray(config?.rootfs?.diff_ids) ? (config.rootfs.diff_ids as unknown[]) : undefined;
  const layerPaths = chosen.Layers as string[];
  if (diffIds && diffIds.length !== layerPaths.length) {
    throw new ImportError(`${src.describe}: the config lists ${diffIds.length} layers, manifest.json ${layerPaths.length}`);
  }
  const cfg = await store.put(configBytes);
  if (cfg.created) imp.blobsCreated++;
  imp.bytes += cfg.size;
  const layers: Descriptor[] = [];
  for (const [i, p] of layerPaths.entries()) {
    const ent = tar.file(p);
    if (!ent) throw new ImportError(`${src.describe}: layer ${p} is missing`);
    const mediaType = layerMediaType(await src.head(p, 4));
    const r = await store.put(src.stream(p));
    if (r.created) imp.blobsCreated++;
    imp.bytes += r.size;
    if (mediaType === MT.ociLayerTar && diffIds && diffIds[i] !== r.digest) {
      throw new ImportError(`${src.describe}: layer ${p} has digest ${r.digest}, the config's diff_id says ${String(diffIds[i])}`);
    }
    layers.push({ mediaType, digest: r.digest, size: r.size });
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size },
    layers,
  };
  const body = Buffer.from(JSON.stringify(manifest));
  if (!(await store.has(digestOf(body)))) imp.blobsCreated++;
  imp.bytes += body.length;
  const r = await imp.meta.putManifest(opts.repo, body, { contentType: MT.ociManifest, tag: opts.tag });
  return { repo: opts.repo, tag: opts.tag, digest: r.digest, mediaType: r.mediaType, blobsCreated: imp.blobsCreated, bytes: imp.bytes };
}

/**
 * Import one image of a docker-archive (`docker save`, optionally gzipped) as repo:tag. Archives that
 * also carry an OCI layout (Docker 25+) are imported through it, keeping the original manifest digest;
 * older ones get an OCI manifest built from manifest.json (layers kept as they are, uncompressed).
 */
export async function importDockerArchive(store: Store, tarPath: string, opts: ImportOptions): Promise<ImportResult> {
  checkDest(opts);
  let unpacked: string | undefined;
  try {
    let path = tarPath;
    const fh = await fsp.open(tarPath, 'r');
    const magic = Buffer.alloc(2);
    try {
      await fh.read(magic, 0, 2, 0);
    } finally {
      await fh.close();
    }
    if (magic[0] === 0x1f && magic[1] === 0x8b) {
      unpacked = tempName(store.root, 'put');
      await pipeline(createReadStream(tarPath), createGunzip(), createWriteStream(unpacked, { flags: 'wx' }));
      path = unpacked;
    }
    const tar = await TarReader.open(path);
    const src = tarSource(tar, tarPath);
    if ((await src.exists('oci-layout')) && (await src.exists('index.json'))) {
      return await importLayout(store, src, opts);
    }
    if (!(await src.exists('manifest.json'))) throw new ImportError(`${tarPath}: not a docker-archive (no manifest.json)`);
    return await importDockerManifest(store, tar, src, opts);
  } catch (e) {
    throw wrap(e, `importing ${tarPath}`);
  } finally {
    if (unpacked) await fsp.unlink(unpacked).catch(() => undefined);
  }
}
