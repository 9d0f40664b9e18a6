// OCI images from upstream registries (distribution API v2) into the bundle's store: the manifest (or
// index, then the selected platforms' manifests) byte for byte, then config and layers, streamed and
// verified by digest. Anonymous bearer tokens are fetched when a registry asks for them.
//
// Per image: index (if any) → manifest(s) → config + layers. Blobs are shared across images of one run:
// a digest is downloaded once (an in-flight map), and not at all when the store already has it.
// Every HTTP request (manifest, token, blob) holds one of ctx.concurrency slots.
import { DIGEST_RE, digestOf, isStoreError, isValidName, isValidTag, MT, OciError, parseManifest, type Descriptor } from '../../store/index.ts';
import { MAX_MANIFEST_BYTES } from '../../store/oci.ts';
import type { Artifact, ArtifactBlob, FetchContext, Fetcher, FetchResult, Missing, PlannedArtifact } from '../types.ts';
import { downloadToStore, FetchError, getBytes, mapLimit, type DownloadResult } from './http.ts';

/** The platforms an image index is narrowed to ("os/arch" or "os/arch/variant"). */
export const DEFAULT_PLATFORMS: readonly string[] = ['linux/amd64'];

/** Media types asked for, best first; schema 1 is not among them (and refused if sent anyway). */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(', ');
const SCHEMA1_TYPES = new Set(['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws']);
const KNOWN_TYPES = new Set<string>([MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest]);
/** The unauthenticated request that fetches a 401's challenge: answered at once by any registry. */
const PROBE_TIMEOUT_MS = 30_000;

// ---- references ---------------------------------------------------------------------------------

export interface ImageRef {
  /** "docker.io", "registry.k8s.io", "localhost:5000" */
  registry: string;
  /** "calico/node", "library/nginx" */
  repository: string;
  /** absent only when the reference names a digest alone */
  tag?: string;
  digest?: string;
}

/**
 * Parse "registry/repo/path:tag", "registry/repo@sha256:…" or "registry/repo:tag@sha256:…". A first
 * component without "." or ":" (and not "localhost") is a Docker Hub path; Docker Hub's one-component
 * names get "library/"; neither tag nor digest means "latest". Throws Error on a malformed reference.
 */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw new Error(`invalid image reference ${JSON.stringify(ref)}: the digest is not sha256:<64 hex>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw new Error(`invalid image reference ${JSON.stringify(ref)}: bad tag ${JSON.stringify(tag)}`);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first.toLowerCase();
    parts.shift();
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  let repository = parts.join('/');
  if (registry === 'docker.io' && parts.length === 1) repository = `library/${repository}`;
  if (!isValidName(repository)) throw new Error(`invalid image reference ${JSON.stringify(ref)}: bad repository ${JSON.stringify(repository)}`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The API base URL for a registry: the configured override, else https://<host> (Docker Hub: registry-1.docker.io). */
export function registryBaseUrl(registry: string, overrides: Readonly<Record<string, string>>): string {
  const o = overrides[registry];
  if (o) return o.replace(/\/+$/, '');
  return `https://${registry === 'docker.io' ? 'registry-1.docker.io' : registry}`;
}

// ---- auth challenges ----------------------------------------------------------------------------

export interface Challenge {
  /** lower case: "bearer", "basic" */
  scheme: string;
  params: Record<string, string>;
}

/** Parse a WWW-Authenticate header (the first challenge): `Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/gy;
  const body = m[2] ?? '';
  let p: RegExpExecArray | null;
  while ((p = re.exec(body)) !== null && p[0] !== '') {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** The platform of an index entry as "os/arch[/variant]", or undefined when it has none. */
export function platformOf(d: Descriptor): string | undefined {
  const p = d.platform;
  if (typeof p !== 'object' || p === null) return undefined;
  const { os, architecture, variant } = p as Record<string, unknown>;
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return typeof variant === 'string' && variant !== '' ? `${os}/${architecture}/${variant}` : `${os}/${architecture}`;
}

/** Does an index entry match a wanted platform? "linux/arm64" matches any arm64 variant; "linux/arm/v7" only v7. */
export function platformMatches(d: Descriptor, wanted: string): boolean {
  const have = platformOf(d);
  if (!have) return false;
  const w = wanted.split('/');
  const h = have.split('/');
  return w[0] === h[0] && w[1] === h[1] && (w[2] === undefined || w[2] === h[2]);
}

// ---- the fetcher --------------------------------------------------------------------------------

/** A reason the artifact is Missing (not a bug): becomes Missing.reason. */
class Unavailable extends Error {
  override readonly name = 'Unavailable';
}

/** At most n tasks at once; a freed slot is handed straight to the next waiter. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const acquire = (): Promise<void> => {
    if (active < n) {
      active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  return async (fn) => {
    await acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  };
}

interface FetchedManifest {
  body: Buffer;
  digest: string;
  mediaType: string;
  kind: 'image' | 'index';
  blobs: Descriptor[];
  children: Descriptor[];
}

/** One run's shared state: the context, the request slots, byte counters, in-flight blobs, tokens. */
class Run {
  downloadedBytes = 0;
  skippedBytes = 0;
  readonly slot: <T>(fn: () => Promise<T>) => Promise<T>;
  private readonly blobs = new Map<string, Promise<DownloadResult>>();
  /** "<base> <repository>" → Authorization header value (a pending promise while a token is fetched) */
  private readonly auth = new Map<string, Promise<string>>();

  constructor(readonly ctx: FetchContext) {
    this.slot = limiter(Math.max(1, ctx.concurrency));
  }

  /** The run's abort signal as request options. */
  private http(): { signal?: AbortSignal } {
    return this.ctx.signal ? { signal: this.ctx.signal } : {};
  }

  /** Run a request with the repository's Authorization (if any); on 401 authenticate once and retry. */
  private async withAuth<T>(registry: string, base: string, repo: string, url: string, fn: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    const key = `${base} ${repo}`;
    const current = this.auth.get(key);
    const header = current ? await current : undefined;
    try {
      return await fn(header ? { Authorization: header } : {});
    } catch (e) {
      if (!(e instanceof FetchError && e.status === 401)) throw e;
    }
    let fresh = this.auth.get(key);
    if (fresh === current) {
      fresh = this.authenticate(registry, repo, url);
      this.auth.set(key, fresh);
      const mine = fresh;
      mine.catch(() => {
        if (this.auth.get(key) === mine) this.auth.delete(key);
      });
    }
    const h = await fresh!;
    try {
      return await fn({ Authorization: h });
    } catch (e) {
      if (e instanceof FetchError && e.status === 401) {
        throw new Unavailable(`${registry}: access to ${repo} denied with an anonymous token (the repository may not exist, or it needs credentials)`);
      }
      throw e;
    }
  }

  /** Ask url without credentials for its challenge, then get an anonymous bearer token for it. */
  private async authenticate(registry: string, repo: string, url: string): Promise<string> {
    const limit = AbortSignal.timeout(PROBE_TIMEOUT_MS);
    const signal = this.ctx.signal ? AbortSignal.any([this.ctx.signal, limit]) : limit;
    let probe: Response;
    try {
      probe = await this.slot(() => fetch(url, { method: 'GET', headers: { Accept: MANIFEST_ACCEPT }, signal, redirect: 'follow' }));
      await probe.body?.cancel().catch(() => undefined);
    } catch (e) {
      if (this.ctx.signal?.aborted) throw e;
      throw new Unavailable(`${registry}: GET ${url} (for its auth challenge): ${e instanceof Error ? e.message : String(e)}`);
    }
    const raw = probe.headers.get('www-authenticate');
    const ch = raw ? parseChallenge(raw) : undefined;
    if (probe.status !== 401 || !ch) {
      throw new Unavailable(`${registry}: ${url} answered HTTP ${probe.status}${raw ? '' : ' without a WWW-Authenticate challenge'}`);
    }
    if (ch.scheme === 'basic') throw new Unavailable(`${registry}: requires credentials (HTTP Basic auth) and none are configured`);
    if (ch.scheme !== 'bearer') throw new Unavailable(`${registry}: unsupported auth scheme ${JSON.stringify(ch.scheme)}`);
    const realm = ch.params.realm;
    if (!realm || !/^https?:\/\//i.test(realm)) throw new Unavailable(`${registry}: bearer challenge without an http(s) realm`);
    const q = new URL(realm);
    if (ch.params.service) q.searchParams.set('service', ch.params.service);
    q.searchParams.set('scope', ch.params.scope ?? `repository:${repo}:pull`);
    let doc: unknown;
    try {
      const { body } = await this.slot(() => getBytes(q.toString(), { ...this.http(), maxBytes: 1024 * 1024 }));
      doc = JSON.parse(body.toString('utf8'));
    } catch (e) {
      if (e instanceof FetchError || e instanceof SyntaxError) throw new Unavailable(`${registry}: no anonymous token from ${q.origin}${q.pathname}: ${e.message}`);
      throw e;
    }
    const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
    const token = typeof d.token === 'string' && d.token ? d.token : typeof d.access_token === 'string' ? d.access_token : '';
    if (!token) throw new Unavailable(`${registry}: the token service ${q.origin}${q.pathname} gave no token`);
    return `Bearer ${token}`;
  }

  /**
   * A manifest by tag or digest. With a known digest the store's copy is used when it has one. Bytes are
   * verified against the digest asked for and Docker-Content-Digest; stored unless dryRun.
   */
  async manifest(registry: string, base: string, repo: string, reference: string, expectedDigest?: string): Promise<FetchedManifest> {
    const shown = `${repo}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
    let body: Buffer | undefined;
    let contentType: string | undefined;
    let headerDigest: string | undefined;
    let fromStore = false;
    if (expectedDigest && (await this.ctx.store.has(expectedDigest))) {
      const s = await this.ctx.store.open(expectedDigest);
      if (s) {
        const chunks: Buffer[] = [];
        for await (const c of s) chunks.push(Buffer.from(c as Buffer));
        body = Buffer.concat(chunks);
        fromStore = true;
      }
    }
    if (!body) {
      const url = `${base}/v2/${repo}/manifests/${reference}`;
      try {
        const res = await this.withAuth(registry, base, repo, url, (headers) =>
          this.slot(() => getBytes(url, { ...this.http(), headers: { ...headers, Accept: MANIFEST_ACCEPT }, maxBytes: MAX_MANIFEST_BYTES })),
        );
        body = res.body;
        contentType = res.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
        headerDigest = res.headers.get('docker-content-digest')?.trim();
      } catch (e) {
        if (e instanceof FetchError && e.status === 404) throw new Unavailable(`${registry}: manifest unknown for ${shown}`);
        if (e instanceof FetchError && e.status === 403) throw new Unavailable(`${registry}: access to ${shown} denied (HTTP 403)`);
        if (e instanceof FetchError && e.message.includes('larger than')) throw new Unavailable(`${registry}: manifest for ${shown} is larger than ${MAX_MANIFEST_BYTES} bytes`);
        throw e;
      }
    }
    if (contentType && SCHEMA1_TYPES.has(contentType)) throw new Unavailable(`${registry}: ${shown} has a schema 1 manifest: schema 1 not supported`);
    const digest = digestOf(body);
    if (expectedDigest && digest !== expectedDigest) throw new Unavailable(`${registry}: manifest for ${shown} has digest ${digest}, expected ${expectedDigest}`);
    if (headerDigest && DIGEST_RE.test(headerDigest) && headerDigest !== digest) {
      throw new Unavailable(`${registry}: manifest for ${shown} has digest ${digest} but the registry says ${headerDigest}`);
    }
    let parsed: ReturnType<typeof parseManifest>;
    try {
      parsed = parseManifest(body, contentType && KNOWN_TYPES.has(contentType) ? contentType : undefined);
    } catch (e) {
      if (!(e instanceof OciError)) throw e;
      const schema1 = /schemaVersion 2/.test(e.message) && /"schemaVersion"\s*:\s*1\b/.test(body.toString('utf8'));
      throw new Unavailable(schema1 ? `${registry}: ${shown} has a schema 1 manifest: schema 1 not supported` : `${registry}: invalid manifest for ${shown}: ${e.message}`);
    }
    if (!this.ctx.dryRun && !fromStore) {
      const put = await this.ctx.store.put(body, { expectedDigest: digest });
      if (put.created) this.downloadedBytes += body.length;
      else this.skippedBytes += body.length;
    } else if (fromStore) {
      this.skippedBytes += body.length;
    }
    return { body, digest, mediaType: parsed.mediaType, kind: parsed.kind, blobs: parsed.blobs, children: parsed.children };
  }

  /** Download one blob into the store, once per run whichever images share it. */
  async blob(registry: string, base: string, repo: string, d: Descriptor, onBytes: (n: number) => void): Promise<void> {
    const shared = this.blobs.get(d.digest);
    if (shared) {
      try {
        await shared;
        return;
      } catch {
        // the other image's download failed (maybe its repository lacks the blob): try from this one
      }
    }
    const url = `${base}/v2/${repo}/blobs/${d.digest}`;
    const p = this.withAuth(registry, base, repo, url, (headers) =>
      this.slot(() =>
        downloadToStore(this.ctx.store, url, {
          ...this.http(),
          headers,
          expectedDigest: d.digest,
          progress: { bytes: (n) => (onBytes(n), this.ctx.progress?.bytes?.(n)) },
        }),
      ),
    );
    if (!shared) this.blobs.set(d.digest, p);
    let r: DownloadResult;
    try {
      r = await p;
    } catch (e) {
      if (e instanceof FetchError && e.status === 404) throw new Unavailable(`${registry}: blob unknown ${d.digest} in ${repo}`);
      if (e instanceof FetchError && isStoreError(e.cause) && e.cause.code === 'digest-mismatch') {
        throw new Unavailable(`${registry}: blob ${d.digest} of ${repo}: ${e.cause.message}`);
      }
      throw e;
    }
    if (r.downloaded) this.downloadedBytes += r.size;
    else this.skippedBytes += r.size;
  }
}

/** Resolve one image (manifests) and unless dryRun download its blobs. */
async function fetchImage(run: Run, item: PlannedArtifact, platforms: readonly string[]): Promise<Artifact> {
  let ref: ImageRef;
  try {
    ref = parseImageRef(item.name);
  } catch (e) {
    throw new Unavailable((e as Error).message);
  }
  const { registry, repository: repo } = ref;
  const base = registryBaseUrl(registry, run.ctx.sources.registries);
  const top = await run.manifest(registry, base, repo, ref.digest ?? ref.tag ?? 'latest', ref.digest);
  const blobs: ArtifactBlob[] = [];
  const add = (digest: string, size: number, role: string) => {
    if (!blobs.some((b) => b.digest === digest)) blobs.push({ digest, size, role });
  };
  const images: FetchedManifest[] = [];
  if (top.kind === 'index') {
    add(top.digest, top.body.length, 'index');
    const chosen = top.children.filter((c) => platforms.some((p) => platformMatches(c, p)));
    if (chosen.length === 0) {
      const has = [...new Set(top.children.map((c) => platformOf(c) ?? 'unknown'))].join(', ');
      throw new Unavailable(`${registry}: no ${platforms.join(' or ')} image in ${repo}:${ref.tag ?? ref.digest} (it has ${has || 'no platforms'})`);
    }
    for (const child of await Promise.all(chosen.map((c) => run.manifest(registry, base, repo, c.digest, c.digest)))) {
      if (child.kind !== 'image') throw new Unavailable(`${registry}: ${repo}: nested image indexes are not supported`);
      images.push(child);
    }
  } else {
    images.push(top);
  }
  const toFetch: Descriptor[] = []; // configs and layers
  for (const m of images) {
    add(m.digest, m.body.length, 'manifest');
    m.blobs.forEach((d, i) => {
      if (!blobs.some((b) => b.digest === d.digest)) toFetch.push(d);
      add(d.digest, d.size, i === 0 ? 'config' : 'layer');
    });
  }
  const total = toFetch.reduce((n, d) => n + d.size, 0);
  run.ctx.progress?.start?.(item.name, total);
  let moved = 0;
  if (run.ctx.dryRun) {
    for (const d of toFetch) if (await run.ctx.store.has(d.digest)) run.skippedBytes += d.size;
  } else {
    const settled = await Promise.allSettled(toFetch.map((d) => run.blob(registry, base, repo, d, (n) => (moved += n))));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }
  run.ctx.progress?.done?.(item.name, moved === 0);
  return {
    kind: 'image',
    name: item.name,
    version: ref.tag ?? ref.digest ?? top.digest,
    blobs,
    meta: { digest: top.digest, mediaType: top.mediaType, ref: item.name, targets: (item.targets ?? []).join(',') },
  };
}

/** What a failure says as a Missing reason; undefined when it is a bug (or a cancel) to be thrown. */
function missingReason(e: unknown, item: PlannedArtifact, signal?: AbortSignal): string | undefined {
  if (signal?.aborted) return undefined;
  if (e instanceof Unavailable) return e.message;
  if (e instanceof FetchError) {
    let registry = '';
    try {
      registry = `${parseImageRef(item.name).registry}: `;
    } catch {
      /* the reason stands without it */
    }
    return `${registry}${e.message}`;
  }
  return undefined;
}

/** An image fetcher narrowing indexes to `platforms` (default linux/amd64). */
export function makeImageFetcher(opts: { platforms?: readonly string[] } = {}): Fetcher {
  const platforms = opts.platforms ?? DEFAULT_PLATFORMS;
  return async (ctx, items) => {
    const run = new Run(ctx);
    const images = items.filter((i) => i.kind === 'image');
    const artifacts: Artifact[] = [];
    const missing: Missing[] = [];
    await mapLimit(images, Math.max(1, ctx.concurrency), async (item) => {
      try {
        artifacts.push(await fetchImage(run, item, platforms));
      } catch (e) {
        const reason = missingReason(e, item, ctx.signal);
        if (reason === undefined) throw e;
        let version: string | undefined;
        try {
          const r = parseImageRef(item.name);
          version = r.tag ?? r.digest;
        } catch {
          /* no version to report */
        }
        missing.push({ kind: 'image', name: item.name, ...(version ? { version } : {}), reason });
      }
    });
    // input order, whatever order the downloads finished in
    const order = new Map(images.map((it, i) => [it.name, i]));
    const byPlan = <T extends { name: string }>(a: T, b: T) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0);
    const result: FetchResult = { artifacts: artifacts.sort(byPlan), missing: missing.sort(byPlan), downloadedBytes: run.downloadedBytes, skippedBytes: run.skippedBytes };
    return result;
  };
}

/** Images for linux/amd64: the fetcher `airlock bundle create` uses. */
export const fetchImages: Fetcher = makeImageFetcher();
