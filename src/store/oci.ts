// The OCI registry's metadata over a Store: which blobs and manifests each repository holds, its tags,
// and the referrers of each subject. Shared by the HTTP registry (src/serve/registry.ts) and the image
// importers (src/store/import.ts). Manifests themselves are stored as blobs, byte for byte.
//
// Meta namespace "oci", keys (repository components never start with "_", so these cannot collide):
//   <repo>/_repo                             marker: the repository exists
//   <repo>/_blobs/<hex>                      the repository holds blob sha256:<hex>
//   <repo>/_manifests/<hex>                  ManifestRecord JSON
//   <repo>/_tags/<tag>                       "sha256:<hex>"
//   <repo>/_referrers/<subject-hex>/<hex>    referrer descriptor JSON
import { readFile } from 'node:fs/promises';
import { digestOf, DIGEST_RE, ANY_DIGEST_RE } from './digest.ts';
import type { Store } from './types.ts';

export const OCI_NS = 'oci';
export const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** distribution's limit on a repository name */
export const MAX_NAME_LENGTH = 255;
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;
const IMAGE_TYPES = new Set<string>([MT.ociManifest, MT.dockerManifest]);
const INDEX_TYPES = new Set<string>([MT.ociIndex, MT.dockerList]);

export const isValidName = (name: string): boolean => name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
export const isValidTag = (tag: string): boolean => TAG_RE.test(tag);

export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID';

/** A distribution-spec error: code, HTTP status, and optional detail (all safe to show to clients). */
export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  /** more errors of the same response (e.g. one MANIFEST_BLOB_UNKNOWN per missing blob) */
  readonly more: { code: OciErrorCode; message: string; detail?: unknown }[];
  constructor(code: OciErrorCode, status: number, message: string, detail?: unknown, more: OciError['more'] = []) {
    super(message);
    this.name = 'OciError';
    this.code = code;
    this.status = status;
    this.detail = detail;
    this.more = more;
  }
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

export interface ManifestRecord {
  mediaType: string;
  size: number;
  /** digest of the manifest's `subject`, if any */
  subject?: string;
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  /** blobs (config, layers) an image manifest needs */
  blobs: Descriptor[];
  /** manifests an index lists */
  children: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const invalid = (message: string, detail?: unknown) => new OciError('MANIFEST_INVALID', 400, message, detail);

function parseDescriptor(v: unknown, where: string): Descriptor {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${where} is not a descriptor object`);
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw invalid(`${where}.mediaType is missing`);
  if (typeof d.digest !== 'string' || !ANY_DIGEST_RE.test(d.digest)) throw invalid(`${where}.digest is not a digest`);
  if (!DIGEST_RE.test(d.digest)) throw new OciError('UNSUPPORTED', 400, `${where}.digest: only sha256 digests are supported`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(`${where}.size is not a non-negative integer`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (typeof d.artifactType === 'string') out.artifactType = d.artifactType;
  if (Array.isArray(d.urls) && d.urls.every((u) => typeof u === 'string')) out.urls = d.urls as string[];
  if (d.annotations !== undefined) out.annotations = parseAnnotations(d.annotations, `${where}.annotations`);
  if (d.platform !== undefined) out.platform = d.platform;
  return out;
}

function parseAnnotations(v: unknown, where: string): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${where} is not an object`);
  for (const [k, val] of Object.entries(v)) if (typeof val !== 'string') throw invalid(`${where}.${k} is not a string`);
  return v as Record<string, string>;
}

/** Parse and check a manifest's bytes. `contentType` is the request's Content-Type (parameters ignored). */
export function parseManifest(body: Buffer, contentType?: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('manifest is not a JSON object');
  const m = doc as Record<string, unknown>;
  if (m.schemaVersion !== 2) throw invalid('only schemaVersion 2 manifests are supported');
  const ct = contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
  if (m.mediaType !== undefined && typeof m.mediaType !== 'string') throw invalid('mediaType is not a string');
  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  if (declared && ct && ct !== declared && ct !== 'application/octet-stream') {
    throw invalid(`Content-Type ${ct} does not match the manifest's mediaType ${declared}`);
  }
  let mediaType = declared ?? (ct && ct !== 'application/octet-stream' ? ct : undefined);
  if (!mediaType) mediaType = Array.isArray(m.manifests) ? MT.ociIndex : MT.ociManifest;
  const out: ParsedManifest = { mediaType, kind: 'image', blobs: [], children: [] };
  if (IMAGE_TYPES.has(mediaType)) {
    out.blobs.push(parseDescriptor(m.config, 'config'));
    if (!Array.isArray(m.layers)) throw invalid('layers is not an array');
    m.layers.forEach((l, i) => out.blobs.push(parseDescriptor(l, `layers[${i}]`)));
  } else if (INDEX_TYPES.has(mediaType)) {
    out.kind = 'index';
    if (!Array.isArray(m.manifests)) throw invalid('manifests is not an array');
    m.manifests.forEach((d, i) => out.children.push(parseDescriptor(d, `manifests[${i}]`)));
  } else {
    throw invalid(`unsupported manifest media type ${mediaType}`);
  }
  if (m.subject !== undefined) out.subject = parseDescriptor(m.subject, 'subject');
  if (m.artifactType !== undefined) {
    if (typeof m.artifactType !== 'string') throw invalid('artifactType is not a string');
    out.artifactType = m.artifactType;
  }
  if (m.annotations !== undefined) out.annotations = parseAnnotations(m.annotations, 'annotations');
  return out;
}

/** Case-insensitive lexical order, ties broken bytewise: the order of tags/list and `last`. */
export const tagOrder = (a: string, b: string): number => {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  return la < lb ? -1 : la > lb ? 1 : a < b ? -1 : a > b ? 1 : 0;
};

const hex = (digest: string) => digest.slice(7);

export class OciMeta {
  constructor(readonly store: Store) {}

  private k(repo: string, ...rest: string[]): string {
    return [repo, ...rest].join('/');
  }

  async repoExists(repo: string): Promise<boolean> {
    return (await this.store.readMeta(OCI_NS, this.k(repo, '_repo'))) !== undefined;
  }
  private async markRepo(repo: string): Promise<void> {
    if (!(await this.repoExists(repo))) await this.store.writeMeta(OCI_NS, this.k(repo, '_repo'), new Date().toISOString());
  }
  async listRepos(): Promise<string[]> {
    const keys = await this.store.listMeta(OCI_NS);
    return keys.filter((k) => k.endsWith('/_repo')).map((k) => k.slice(0, -'/_repo'.length)).sort();
  }

  async linkBlob(repo: string, digest: string): Promise<void> {
    await this.markRepo(repo);
    if (!(await this.hasBlob(repo, digest))) await this.store.writeMeta(OCI_NS, this.k(repo, '_blobs', hex(digest)), '');
  }
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    return (await this.store.readMeta(OCI_NS, this.k(repo, '_blobs', hex(digest)))) !== undefined;
  }
  unlinkBlob(repo: string, digest: string): Promise<boolean> {
    return this.store.deleteMeta(OCI_NS, this.k(repo, '_blobs', hex(digest)));
  }

  async getManifest(repo: string, digest: string): Promise<ManifestRecord | undefined> {
    const raw = await this.store.readMeta(OCI_NS, this.k(repo, '_manifests', hex(digest)));
    if (!raw) return undefined;
    try {
      const r = JSON.parse(raw.toString('utf8')) as ManifestRecord;
      return typeof r.mediaType === 'string' && typeof r.size === 'number' ? r : undefined;
    } catch {
      return undefined;
    }
  }

  async getTag(repo: string, tag: string): Promise<string | undefined> {
    const raw = await this.store.readMeta(OCI_NS, this.k(repo, '_tags', tag));
    const d = raw?.toString('utf8').trim();
    return d && DIGEST_RE.test(d) ? d : undefined;
  }
  async setTag(repo: string, tag: string, digest: string): Promise<void> {
    await this.markRepo(repo);
    await this.store.writeMeta(OCI_NS, this.k(repo, '_tags', tag), digest);
  }
  deleteTag(repo: string, tag: string): Promise<boolean> {
    return this.store.deleteMeta(OCI_NS, this.k(repo, '_tags', tag));
  }
  async listTags(repo: string): Promise<string[]> {
    const prefix = this.k(repo, '_tags/');
    return (await this.store.listMeta(OCI_NS, prefix)).map((k) => k.slice(prefix.length)).sort(tagOrder);
  }

  async listReferrers(repo: string, subject: string): Promise<Descriptor[]> {
    const prefix = this.k(repo, '_referrers', hex(subject)) + '/';
    const out: Descriptor[] = [];
    for (const key of await this.store.listMeta(OCI_NS, prefix)) {
      const raw = await this.store.readMeta(OCI_NS, key);
      if (!raw) continue;
      try {
        out.push(JSON.parse(raw.toString('utf8')) as Descriptor);
      } catch {
        /* skip a damaged entry */
      }
    }
    return out;
  }

  /**
   * Store a manifest's bytes and register it in `repo` (optionally under `tag`). Referenced blobs must
   * be in the store (MANIFEST_BLOB_UNKNOWN otherwise); they are linked into the repository.
   */
  async putManifest(
    repo: string,
    body: Buffer,
    /** partialIndex: an index may name child manifests that are not here (other platforms, left out of a bundle). */
    opts: { contentType?: string; tag?: string; expectedDigest?: string; partialIndex?: boolean } = {},
  ): Promise<{ digest: string; mediaType: string; subject?: string }> {
    if (body.length > MAX_MANIFEST_BYTES) throw new OciError('SIZE_INVALID', 413, `manifest larger than ${MAX_MANIFEST_BYTES} bytes`);
    const parsed = parseManifest(body, opts.contentType);
    const digest = digestOf(body);
    if (opts.expectedDigest !== undefined && opts.expectedDigest !== digest) {
      throw new OciError('DIGEST_INVALID', 400, 'manifest digest does not match the reference', { expected: opts.expectedDigest, actual: digest });
    }
    const missing: string[] = [];
    for (const d of parsed.blobs) {
      if (d.urls && d.urls.length > 0) continue; // foreign layer: not expected in the registry
      if (!(await this.store.has(d.digest))) missing.push(d.digest);
    }
    const childRecords: { d: Descriptor; exists: boolean }[] = [];
    for (const d of parsed.children) {
      const exists = (await this.getManifest(repo, d.digest)) !== undefined;
      const stored = exists || (await this.store.has(d.digest));
      if (!stored) {
        if (!opts.partialIndex) missing.push(d.digest);
        continue;
      }
      childRecords.push({ d, exists });
    }
    if (missing.length > 0) {
      const [first, ...rest] = missing;
      throw new OciError(
        'MANIFEST_BLOB_UNKNOWN',
        400,
        'manifest references a manifest or blob unknown to registry',
        { digest: first },
        rest.map((d) => ({ code: 'MANIFEST_BLOB_UNKNOWN' as const, message: 'manifest references a manifest or blob unknown to registry', detail: { digest: d } })),
      );
    }
    await this.store.put(body, { expectedDigest: digest });
    await this.markRepo(repo);
    for (const d of parsed.blobs) if (!d.urls || d.urls.length === 0) await this.linkBlob(repo, d.digest);
    for (const { d, exists } of childRecords) {
      if (exists) continue;
      await this.writeRecord(repo, d.digest, { mediaType: d.mediaType, size: d.size });
      // A child stored earlier (another repository, a bundle) joins this repository with its blobs.
      const path = this.store.blobPath(d.digest);
      const bytes = await readFile(path).catch(() => undefined);
      if (!bytes) continue;
      let child: ParsedManifest;
      try {
        child = parseManifest(bytes, d.mediaType);
      } catch {
        continue; // not ours to judge here: the index names it, a pull of it reports what is wrong
      }
      for (const b of child.blobs) if ((!b.urls || b.urls.length === 0) && (await this.store.has(b.digest))) await this.linkBlob(repo, b.digest);
    }
    const record: ManifestRecord = { mediaType: parsed.mediaType, size: body.length };
    if (parsed.subject) record.subject = parsed.subject.digest;
    await this.writeRecord(repo, digest, record);
    if (parsed.subject) {
      const desc: Descriptor = { mediaType: parsed.mediaType, digest, size: body.length };
      const artifactType = parsed.artifactType ?? (parsed.kind === 'image' ? parsed.blobs[0]?.mediaType : undefined);
      if (artifactType) desc.artifactType = artifactType;
      if (parsed.annotations) desc.annotations = parsed.annotations;
      await this.store.writeMeta(OCI_NS, this.k(repo, '_referrers', hex(parsed.subject.digest), hex(digest)), JSON.stringify(desc));
    }
    if (opts.tag !== undefined) await this.setTag(repo, opts.tag, digest);
    return { digest, mediaType: parsed.mediaType, ...(parsed.subject ? { subject: parsed.subject.digest } : {}) };
  }

  private writeRecord(repo: string, digest: string, r: ManifestRecord): Promise<void> {
    return this.store.writeMeta(OCI_NS, this.k(repo, '_manifests', hex(digest)), JSON.stringify(r));
  }

  /** Remove a manifest from `repo`: its record, its referrer entry and every tag pointing at it. */
  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    const rec = await this.getManifest(repo, digest);
    if (!rec) return false;
    for (const tag of await this.listTags(repo)) {
      if ((await this.getTag(repo, tag)) === digest) await this.deleteTag(repo, tag);
    }
    if (rec.subject && DIGEST_RE.test(rec.subject)) {
      await this.store.deleteMeta(OCI_NS, this.k(repo, '_referrers', hex(rec.subject), hex(digest)));
    }
    return this.store.deleteMeta(OCI_NS, this.k(repo, '_manifests', hex(digest)));
  }
}
