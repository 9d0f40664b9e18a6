// A port of the OCI distribution-spec conformance suite (github.com/opencontainers/distribution-spec,
// directory conformance/) to node:test, run against our registry (`airlock serve`, src/serve/registry.ts)
// started in-process on 127.0.0.1. The upstream suite is Go (ginkgo + gomega + the reggie client) and
// cannot be built here; this file reproduces its requests, setup data and accepted status codes.
//
// Upstream sources ported (each file at the newest stored version of that file, read from the repo):
//   conformance/00_conformance_suite_test.go  81bb239e0c8eebab51ad43171bf99fc1a39fea6e
//   conformance/setup.go                      b5f09ebe541c65857e8721d51a7a3d0e2f1d8749
//   conformance/image.go                      3ec8a56d897bb89d482b41d4aac6ba01519f55f2
//   conformance/01_pull_test.go               47008ca930b575b3f1cd422414c00d3b0752a7cb
//   conformance/02_push_test.go               11b8e3fba7d2d7329513d0cff53058243c334858
//   conformance/03_discovery_test.go          b5f09ebe541c65857e8721d51a7a3d0e2f1d8749
//   conformance/04_management_test.go         3c7a4ac8186fe1307bac6857bfdb48fc190ed57f
// (the v1.1 layout: four workflows Pull, Push, Content Discovery, Content Management; the later
// upstream restructuring into 01_base_api_route_test.go … 09_blob_delete_test.go is not ported.)
//
// Environment as the upstream suite would see it (setup.go):
//   OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1
//   OCI_NAMESPACE=conformance/test, OCI_CROSSMOUNT_NAMESPACE unset (→ "conformance-<uuid>"),
//   OCI_DELETE_MANIFEST_BEFORE_BLOBS unset (→ true), OCI_AUTOMATIC_CROSSMOUNT=1 (our registry mounts a
//   blob it already stores when `from` is absent, so the "enabled" variant is the one that applies),
//   OCI_TAG_NAME / OCI_MANIFEST_DIGEST / OCI_BLOB_DIGEST / OCI_TAG_LIST unset (→ all setups run).
//
// Mapping (upstream ginkgo Context/Specify → describe/test here, same names, same order):
//   00_conformance_suite_test.go  Describe "OCI Distribution Conformance Tests"  → describe, same name
//   01_pull_test.go   Context "Pull" › Setup (6 specs), Pull blobs (4), Pull manifests (8),
//                     Error codes (1), Teardown (5: manifest[0], manifest[1], config[0], config[1], layer)
//   02_push_test.go   Context "Push" › Setup (0), Blob Upload Streamed (2), Blob Upload Monolithic (8),
//                     Blob Upload Chunked (6), Cross-Repository Blob Mount (6), Manifest Upload (4),
//                     Teardown (3)
//   03_discovery_test.go  Context "Content Discovery" › Setup (5), listing tags (3), listing references (4),
//                     Teardown (4: manifests first, since deleteManifestBeforeBlobs)
//   04_management_test.go Context "Content Management" › Setup (4), Manifest delete (4), Blob delete (2),
//                     Teardown (0)
//   Specs that upstream skips in this environment are registered and skipped the same way (RunOnlyIf /
//   RunOnlyIfNot → t.skip): "Get tag name from environment", "Populate registry with test tags (no push)",
//   "Cross-mounting without from, and automatic content discovery disabled should return a 202", and,
//   depending on the mount answer, one of the two specs after "POST request to mount another
//   repository's blob should return 201 or 202". The deleteManifestBeforeBlobs=false teardown variants
//   are ported behind the same constant and so, like upstream by default, not registered.
//
// Differences from upstream, and what is not ported:
//   - The HTML/JUnit reporters (reporter.go, ReportAfterSuite) and OCI_DEBUG HTTP logging: not ported,
//     node:test reports. Upstream Warn() is t.diagnostic('WARNING: …').
//   - randomBlob() uses Go's math/rand seeded with the ginkgo seed; here the 42-byte blobs are
//     crypto-random. Upstream only needs them unique and of that size.
//   - Auth (OCI_USERNAME/OCI_PASSWORD/OCI_AUTH_SCOPE, reggie's token flow) and TLS: not ported; the
//     server runs without users (anonymous writes), plain HTTP on 127.0.0.1.
//   - reggie/resty/Go net/http sends whatever Content-Length the body has (a Content-Length set with
//     SetHeader is overridden by the body's length); fetch does the same, so SetHeader("Content-Length")
//     is kept in the code for fidelity but the body decides the header. A GET with a body (the
//     "400 response body…" spec) is not expressible with fetch; that one request goes through node:http.
//   - Upstream quirk kept as is: "GET start of tag is set by `last` query parameter" asserts on the tag
//     list of the *first* response (tagList is not reassigned after the second request).
//   - Upstream's numWorkflows is `1 << iota` = 16 (not 4): 16 configs and 16 manifests are generated, the
//     suite uses indices 0..4. Kept.
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore, type Store } from '../src/store/index.ts';
import { serve, type RunningServer } from '../src/serve/index.ts';

// ---- setup.go: constants and environment -------------------------------------------------------

const pull = 1 << 0;
const push = 1 << 1;
const contentDiscovery = 1 << 2;
const contentManagement = 1 << 3;
const numWorkflows = 1 << 4;

const BLOB_UNKNOWN = 0;
const BLOB_UPLOAD_INVALID = 1;
const BLOB_UPLOAD_UNKNOWN = 2;
const DIGEST_INVALID = 3;
const MANIFEST_BLOB_UNKNOWN = 4;
const MANIFEST_INVALID = 5;
const MANIFEST_UNKNOWN = 6;
const MANIFEST_UNVERIFIED = 7;
const NAME_INVALID = 8;
const NAME_UNKNOWN = 9;
const SIZE_INVALID = 10;
const TAG_INVALID = 11;
const UNAUTHORIZED = 12;
const DENIED = 13;
const UNSUPPORTED = 14;

const errorCodes: string[] = [];
errorCodes[BLOB_UNKNOWN] = 'BLOB_UNKNOWN';
errorCodes[BLOB_UPLOAD_INVALID] = 'BLOB_UPLOAD_INVALID';
errorCodes[BLOB_UPLOAD_UNKNOWN] = 'BLOB_UPLOAD_UNKNOWN';
errorCodes[DIGEST_INVALID] = 'DIGEST_INVALID';
errorCodes[MANIFEST_BLOB_UNKNOWN] = 'MANIFEST_BLOB_UNKNOWN';
errorCodes[MANIFEST_INVALID] = 'MANIFEST_INVALID';
errorCodes[MANIFEST_UNKNOWN] = 'MANIFEST_UNKNOWN';
errorCodes[MANIFEST_UNVERIFIED] = 'MANIFEST_UNVERIFIED';
errorCodes[NAME_INVALID] = 'NAME_INVALID';
errorCodes[NAME_UNKNOWN] = 'NAME_UNKNOWN';
errorCodes[SIZE_INVALID] = 'SIZE_INVALID';
errorCodes[TAG_INVALID] = 'TAG_INVALID';
errorCodes[UNAUTHORIZED] = 'UNAUTHORIZED';
errorCodes[DENIED] = 'DENIED';
errorCodes[UNSUPPORTED] = 'UNSUPPORTED';

const emptyLayerTestTag = 'emptylayer';
const testTagName = 'tagtest0';

const titlePull = 'Pull';
const titlePush = 'Push';
const titleContentDiscovery = 'Content Discovery';
const titleContentManagement = 'Content Management';

// echo 'you bothered to find out what was in here. Congratulations!' > test.txt; tar czvf test.tar.gz test.txt
const layerBase64String =
  'H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0' +
  'WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD' +
  'jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA';

const artifactTypeFilter = 'artifactType';

// The environment (see the header comment): every workflow on, every setup run.
const testsToRun = pull | push | contentDiscovery | contentManagement;
const namespace = 'conformance/test';
const crossmountNamespace = `conformance-${randomUUID()}`;
const runPullSetup = true;
const runPushSetup = true;
const runContentDiscoverySetup = true;
const runContentManagementSetup = true;
const deleteManifestBeforeBlobs = true;
const runAutomaticCrossmountTest = true;
const automaticCrossmountEnabled = true;

// ---- image.go: the JSON shapes, serialised like Go's json.MarshalIndent(v, "", "\t") ------------
// Field order is the Go struct order; `omitempty` fields are left out when empty; []byte fields are
// base64 strings; NewUnspecifiedField has no omitempty, so a nil one is `null`.

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: Buffer;
  artifactType?: string;
  newUnspecifiedField?: Buffer;
}
interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}
interface Index {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}
interface Image {
  author?: string;
  architecture: string;
  os: string;
  rootfs: { type: string; diff_ids: string[] };
}
type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

const sortedMap = (m: Record<string, string>): { [k: string]: JsonValue } =>
  Object.fromEntries(Object.keys(m).sort().map((k) => [k, m[k] as string]));

function descriptorJson(d: Descriptor): { [k: string]: JsonValue } {
  const o: { [k: string]: JsonValue } = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls && d.urls.length > 0) o.urls = d.urls;
  if (d.annotations && Object.keys(d.annotations).length > 0) o.annotations = sortedMap(d.annotations);
  if (d.data && d.data.length > 0) o.data = d.data.toString('base64');
  if (d.artifactType) o.artifactType = d.artifactType;
  o.newUnspecifiedField = d.newUnspecifiedField ? d.newUnspecifiedField.toString('base64') : null;
  return o;
}
function manifestJson(m: Manifest): Buffer {
  const o: { [k: string]: JsonValue } = { schemaVersion: m.schemaVersion };
  if (m.mediaType) o.mediaType = m.mediaType;
  if (m.artifactType) o.artifactType = m.artifactType;
  o.config = descriptorJson(m.config);
  o.layers = m.layers.map(descriptorJson);
  if (m.subject) o.subject = descriptorJson(m.subject);
  if (m.annotations && Object.keys(m.annotations).length > 0) o.annotations = sortedMap(m.annotations);
  return Buffer.from(JSON.stringify(o, null, '\t'));
}
function indexJson(x: Index): Buffer {
  const o: { [k: string]: JsonValue } = { schemaVersion: x.schemaVersion };
  if (x.mediaType) o.mediaType = x.mediaType;
  if (x.artifactType) o.artifactType = x.artifactType;
  o.manifests = x.manifests.map(descriptorJson);
  if (x.subject) o.subject = descriptorJson(x.subject);
  if (x.annotations && Object.keys(x.annotations).length > 0) o.annotations = sortedMap(x.annotations);
  return Buffer.from(JSON.stringify(o, null, '\t'));
}
function imageJson(i: Image): Buffer {
  const o: { [k: string]: JsonValue } = {};
  if (i.author) o.author = i.author;
  o.architecture = i.architecture;
  o.os = i.os;
  o.rootfs = { type: i.rootfs.type, diff_ids: i.rootfs.diff_ids };
  return Buffer.from(JSON.stringify(o, null, '\t'));
}

// ---- setup.go: init() ----------------------------------------------------------------------------

interface TestBlob {
  content: Buffer;
  contentLength: string;
  digest: string;
}
const fromBytes = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function randomString(n: number): string {
  const letters = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-';
  let s = '';
  for (let i = 0; i < n; i++) s += letters[randomInt(letters.length)];
  return s;
}
function randomBlob(size: number): { digest: string; blob: Buffer } {
  const blob = randomBytes(size);
  return { digest: fromBytes(blob), blob };
}

const configs: TestBlob[] = [];
for (let i = 0; i < numWorkflows; i++) {
  // a new author on each run gives each workflow a unique config digest
  const content = imageJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, author: randomString(16) });
  configs.push({ content, contentLength: String(content.length), digest: fromBytes(content) });
}
const cfg = (i: number): TestBlob => configs[i] as TestBlob;

const layerBlobData = Buffer.from(layerBase64String, 'base64');
const layerBlobDigest = fromBytes(layerBlobData);
const layerBlobContentLength = String(layerBlobData.length);
const layers: Descriptor[] = [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: layerBlobData.length, digest: layerBlobDigest }];

const manifests: TestBlob[] = [];
for (let i = 0; i < numWorkflows; i++) {
  const content = manifestJson({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: cfg(i).digest,
      size: cfg(i).content.length,
      data: cfg(i).content, // must be the config content
      newUnspecifiedField: Buffer.from('hello world'), // content doesn't matter
    },
    layers,
  });
  manifests.push({ content, contentLength: String(content.length), digest: fromBytes(content) });
}
const man = (i: number): TestBlob => manifests[i] as TestBlob;

// used in push test
const emptyLayerManifestContent = manifestJson({
  schemaVersion: 2,
  config: {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    digest: cfg(1).digest,
    size: cfg(1).content.length,
    data: cfg(1).content,
    newUnspecifiedField: Buffer.from('hello world'),
  },
  layers: [],
});
const emptyLayerManifestDigest = fromBytes(emptyLayerManifestContent);

const nonexistentManifest = '.INVALID_MANIFEST_NAME';
const invalidManifestContent = Buffer.from('blablabla');

const { digest: testBlobADigest, blob: testBlobA } = randomBlob(42);

let testBlobB: Buffer = Buffer.alloc(0);
let testBlobBDigest = '';
let testBlobBChunk1: Buffer = Buffer.alloc(0);
let testBlobBChunk1Length = '';
let testBlobBChunk2: Buffer = Buffer.alloc(0);
let testBlobBChunk2Length = '';
let testBlobBChunk1Range = '';
let testBlobBChunk2Range = '';
function setupChunkedBlob(size: number): void {
  const r = randomBlob(size);
  testBlobB = r.blob;
  testBlobBDigest = r.digest;
  const half = Math.floor(size / 2) + 1;
  testBlobBChunk1 = testBlobB.subarray(0, half);
  testBlobBChunk1Length = String(testBlobBChunk1.length);
  testBlobBChunk1Range = `0-${testBlobBChunk1.length - 1}`;
  testBlobBChunk2 = testBlobB.subarray(half);
  testBlobBChunk2Length = String(testBlobBChunk2.length);
  testBlobBChunk2Range = `${testBlobBChunk1.length}-${testBlobB.length - 1}`;
}
setupChunkedBlob(42);

// used in referrers test (artifacts with Subject field set)
const emptyJSONBlob = Buffer.from('{}');
const emptyJSONDescriptor: Descriptor = { mediaType: 'application/vnd.oci.empty.v1+json', size: emptyJSONBlob.length, digest: fromBytes(emptyJSONBlob) };

const testRefBlobA = Buffer.from('NHL Peanut Butter on my NHL bagel');
const testRefBlobALength = String(testRefBlobA.length);
const testRefBlobADigest = fromBytes(testRefBlobA);
const testRefArtifactTypeA = 'application/vnd.nhl.peanut.butter.bagel';

const testRefBlobB = Buffer.from('NBA Strawberry Jam on my NBA croissant');
const testRefBlobBLength = String(testRefBlobB.length);
const testRefBlobBDigest = fromBytes(testRefBlobB);
const testRefArtifactTypeB = 'application/vnd.nba.strawberry.jam.croissant';

const testAnnotationKey = 'org.opencontainers.conformance.test';
const testAnnotationValues = new Map<string, string>();

const subjectOf = (i: number): Descriptor => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', size: man(i).content.length, digest: fromBytes(man(i).content) });

// artifact with Subject ref using config.MediaType = artifactType
const refsManifestAConfigArtifactContent = manifestJson({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: testRefArtifactTypeA, size: testRefBlobA.length, digest: fromBytes(testRefBlobA) },
  subject: subjectOf(4),
  layers: [emptyJSONDescriptor],
  annotations: { [testAnnotationKey]: 'test config a' },
});
const refsManifestAConfigArtifactDigest = fromBytes(refsManifestAConfigArtifactContent);
testAnnotationValues.set(refsManifestAConfigArtifactDigest, 'test config a');

const refsManifestBConfigArtifactContent = manifestJson({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: testRefArtifactTypeB, size: testRefBlobB.length, digest: fromBytes(testRefBlobB) },
  subject: subjectOf(4),
  layers: [emptyJSONDescriptor],
  annotations: { [testAnnotationKey]: 'test config b' },
});
const refsManifestBConfigArtifactDigest = fromBytes(refsManifestBConfigArtifactContent);
testAnnotationValues.set(refsManifestBConfigArtifactDigest, 'test config b');

// artifact with Subject ref using ArtifactType, config.MediaType = emptyJSON
const refsManifestALayerArtifactContent = manifestJson({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: testRefArtifactTypeA,
  config: emptyJSONDescriptor,
  subject: subjectOf(4),
  layers: [{ mediaType: testRefArtifactTypeA, size: testRefBlobA.length, digest: fromBytes(testRefBlobA) }],
  annotations: { [testAnnotationKey]: 'test layer a' },
});
const refsManifestALayerArtifactDigest = fromBytes(refsManifestALayerArtifactContent);
testAnnotationValues.set(refsManifestALayerArtifactDigest, 'test layer a');

const refsManifestBLayerArtifactContent = manifestJson({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: testRefArtifactTypeB,
  config: emptyJSONDescriptor,
  subject: subjectOf(4),
  layers: [{ mediaType: testRefArtifactTypeB, size: testRefBlobB.length, digest: fromBytes(testRefBlobB) }],
  annotations: { [testAnnotationKey]: 'test layer b' },
});
const refsManifestBLayerArtifactDigest = fromBytes(refsManifestBLayerArtifactContent);
testAnnotationValues.set(refsManifestBLayerArtifactDigest, 'test layer b');

// ManifestCLayerArtifact is the same as B but based on a subject that has not been pushed
const refsManifestCLayerArtifactContent = manifestJson({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: testRefArtifactTypeB,
  config: emptyJSONDescriptor,
  subject: subjectOf(3),
  layers: [{ mediaType: testRefArtifactTypeB, size: testRefBlobB.length, digest: fromBytes(testRefBlobB) }],
});
const refsManifestCLayerArtifactDigest = fromBytes(refsManifestCLayerArtifactContent);

const testRefArtifactTypeIndex = 'application/vnd.food.stand';
const refsIndexArtifactContent = indexJson({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  artifactType: testRefArtifactTypeIndex,
  manifests: [
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: refsManifestAConfigArtifactContent.length, digest: fromBytes(refsManifestAConfigArtifactContent) },
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: refsManifestALayerArtifactContent.length, digest: fromBytes(refsManifestALayerArtifactContent) },
  ],
  subject: subjectOf(4),
  annotations: { [testAnnotationKey]: 'test index' },
});
const refsIndexArtifactDigest = fromBytes(refsIndexArtifactContent);
testAnnotationValues.set(refsIndexArtifactDigest, 'test index');

const dummyDigest = fromBytes('hello world');

// ---- a reggie-like client over fetch -------------------------------------------------------------

let baseUrl = '';

interface ErrorInfo {
  code: string;
  message?: string;
  detail?: unknown;
}
class RegResponse {
  constructor(
    readonly status: number,
    private readonly headers: Headers,
    readonly body: Buffer,
  ) {}
  statusCode(): number {
    return this.status;
  }
  header(name: string): string {
    return this.headers.get(name) ?? '';
  }
  /** the path (and query) of the Location header, as reggie's GetRelativeLocation */
  getRelativeLocation(): string {
    const loc = this.header('Location');
    try {
      const u = new URL(loc, 'http://relative.invalid');
      return u.pathname + u.search;
    } catch {
      return '';
    }
  }
  getAbsoluteLocation(): string {
    return this.header('Location');
  }
  errors(): ErrorInfo[] {
    const doc = JSON.parse(this.body.toString('utf8')) as { errors?: ErrorInfo[] };
    return doc.errors ?? [];
  }
}

class RegRequest {
  private readonly query: [string, string][] = [];
  private readonly headers: Record<string, string> = { 'User-Agent': 'distribution-spec-conformance-tests' };
  private body: Buffer | undefined;
  constructor(
    readonly method: string,
    private readonly path: string,
  ) {}
  setQueryParam(k: string, v: string): this {
    this.query.push([k, v]);
    return this;
  }
  setHeader(k: string, v: string): this {
    this.headers[k] = v;
    return this;
  }
  setBody(b: Buffer): this {
    this.body = b;
    return this;
  }
  url(): URL {
    const u = new URL(baseUrl + this.path);
    for (const [k, v] of this.query) u.searchParams.set(k, v);
    return u;
  }
  async do(): Promise<RegResponse> {
    // The body decides Content-Length (as with Go's net/http); a header set by hand is not sent.
    const headers = Object.fromEntries(Object.entries(this.headers).filter(([k]) => k.toLowerCase() !== 'content-length'));
    if (this.body !== undefined && (this.method === 'GET' || this.method === 'HEAD')) return this.viaNodeHttp(headers, this.body);
    const res = await fetch(this.url(), { method: this.method, headers, ...(this.body !== undefined ? { body: new Uint8Array(this.body) } : {}) });
    return new RegResponse(res.status, res.headers, Buffer.from(await res.arrayBuffer()));
  }
  /** fetch refuses a GET with a body; Go sends it, so this one goes over node:http. */
  private viaNodeHttp(headers: Record<string, string>, body: Buffer): Promise<RegResponse> {
    const u = this.url();
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: u.hostname, port: Number(u.port), method: this.method, path: u.pathname + u.search, headers: { ...headers, 'Content-Length': String(body.length) }, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
            resolve(new RegResponse(res.statusCode ?? 0, h, Buffer.concat(chunks)));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

const client = {
  defaultName: namespace,
  newRequest(method: string, path: string, opts: { name?: string; reference?: string; digest?: string } = {}): RegRequest {
    let p = path.replaceAll('<name>', opts.name ?? namespace);
    if (opts.reference !== undefined) p = p.replaceAll('<reference>', opts.reference);
    if (opts.digest !== undefined) p = p.replaceAll('<digest>', opts.digest);
    return new RegRequest(method, p);
  },
  do(req: RegRequest): Promise<RegResponse> {
    return req.do();
  },
};

interface TagList {
  name: string;
  tags: string[];
}
function getTagList(resp: RegResponse): string[] {
  try {
    const tl = JSON.parse(resp.body.toString('utf8')) as Partial<TagList>;
    return Array.isArray(tl.tags) ? tl.tags : [];
  } catch {
    return [];
  }
}
interface IndexDoc {
  manifests?: { digest: string; annotations?: Record<string, string> }[];
}
const parseIndex = (resp: RegResponse): Required<IndexDoc> => {
  const doc = JSON.parse(resp.body.toString('utf8')) as IndexDoc;
  return { manifests: doc.manifests ?? [] };
};

// ---- gomega-ish matchers and ginkgo skips --------------------------------------------------------

const is2xx = (s: number): boolean => s >= 200 && s < 300;
function expect2xx(resp: RegResponse): void {
  assert.ok(is2xx(resp.status), `expected a 2xx status, got ${resp.status}: ${resp.body.toString('utf8').slice(0, 500)}`);
}
/** SatisfyAny(2xx, extra...) */
function expect2xxOr(resp: RegResponse, ...others: number[]): void {
  assert.ok(is2xx(resp.status) || others.includes(resp.status), `expected 2xx or one of ${others.join('/')}, got ${resp.status}: ${resp.body.toString('utf8').slice(0, 500)}`);
}
function expectOneOf(resp: RegResponse, ...statuses: number[]): void {
  assert.ok(statuses.includes(resp.status), `expected one of ${statuses.join('/')}, got ${resp.status}: ${resp.body.toString('utf8').slice(0, 500)}`);
}
function expectStatus(resp: RegResponse, status: number): void {
  assert.equal(resp.status, status, `expected ${status}, got ${resp.status}: ${resp.body.toString('utf8').slice(0, 500)}`);
}

const skipReport = 'you have skipped this test; if this is an error, check your environment variable settings';
/** SkipIfDisabled: true when the spec was skipped (the caller returns). */
function skipIfDisabled(t: TestContext, workflow: number): boolean {
  if ((workflow & testsToRun) > 0) return false;
  t.skip(skipReport);
  return true;
}
function runOnlyIf(t: TestContext, v: boolean): boolean {
  if (v) return false;
  t.skip('you have skipped this test.');
  return true;
}
const runOnlyIfNot = (t: TestContext, v: boolean): boolean => runOnlyIf(t, !v);
const warn = (t: TestContext, message: string): void => t.diagnostic(`WARNING: ${message}`);

const StatusOK = 200;
const StatusCreated = 201;
const StatusAccepted = 202;
const StatusNoContent = 204;
const StatusBadRequest = 400;
const StatusNotFound = 404;
const StatusMethodNotAllowed = 405;
const StatusRequestedRangeNotSatisfiable = 416;

/** POST an upload session, then PUT the blob monolithically to its Location (the suite's setup step). */
async function populateBlob(content: Buffer, digest: string, contentLength: string): Promise<void> {
  let req = client.newRequest('POST', '/v2/<name>/blobs/uploads/');
  let resp = await client.do(req);
  req = client
    .newRequest('PUT', resp.getRelativeLocation())
    .setQueryParam('digest', digest)
    .setHeader('Content-Type', 'application/octet-stream')
    .setHeader('Content-Length', contentLength)
    .setBody(content);
  resp = await client.do(req);
  expect2xx(resp);
}
async function populateManifest(reference: string, content: Buffer, contentType = 'application/vnd.oci.image.manifest.v1+json'): Promise<RegResponse> {
  const req = client.newRequest('PUT', '/v2/<name>/manifests/<reference>', { reference }).setHeader('Content-Type', contentType).setBody(content);
  const resp = await client.do(req);
  expect2xx(resp);
  return resp;
}

// ---- the server ------------------------------------------------------------------------------------

let dir = '';
let store: Store;
let server: RunningServer;

before(async () => {
  assert.equal(emptyJSONDescriptor.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  dir = await mkdtemp(join(tmpdir(), 'airlock-oci-conformance-'));
  store = await openStore(join(dir, 'store'));
  server = await serve({ store, host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }) });
  baseUrl = server.url;
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

// ---- 00_conformance_suite_test.go ------------------------------------------------------------------

describe('OCI Distribution Conformance Tests', () => {
  test01Pull();
  test02Push();
  test03ContentDiscovery();
  test04ContentManagement();
});

// ---- 01_pull_test.go -------------------------------------------------------------------------------

function test01Pull(): void {
  describe(titlePull, () => {
    let tag = '';

    describe('Setup', () => {
      test('Populate registry with test blob', async (t) => {
        if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
        await populateBlob(cfg(0).content, cfg(0).digest, cfg(0).contentLength);
      });

      test('Populate registry with test blob', async (t) => {
        if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
        await populateBlob(cfg(1).content, cfg(1).digest, cfg(1).contentLength);
      });

      test('Populate registry with test layer', async (t) => {
        if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
        await populateBlob(layerBlobData, layerBlobDigest, layerBlobContentLength);
      });

      test('Populate registry with test manifest', async (t) => {
        if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
        tag = testTagName;
        await populateManifest(tag, man(0).content);
      });

      test('Populate registry with test manifest', async (t) => {
        if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
        await populateManifest(man(1).digest, man(1).content);
      });

      test('Get tag name from environment', (t) => {
        if (skipIfDisabled(t, pull) || runOnlyIfNot(t, runPullSetup)) return;
        const tmp = process.env.OCI_TAG_NAME;
        if (tmp) tag = tmp;
      });
    });

    describe('Pull blobs', () => {
      test('HEAD request to nonexistent blob should result in 404 response', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const resp = await client.do(client.newRequest('HEAD', '/v2/<name>/blobs/<digest>', { digest: dummyDigest }));
        expectStatus(resp, StatusNotFound);
      });

      test('HEAD request to existing blob should yield 200', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const resp = await client.do(client.newRequest('HEAD', '/v2/<name>/blobs/<digest>', { digest: cfg(0).digest }));
        expectStatus(resp, StatusOK);
        const h = resp.header('Docker-Content-Digest');
        if (h !== '') assert.equal(h, cfg(0).digest);
      });

      test('GET nonexistent blob should result in 404 response', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: dummyDigest }));
        expectStatus(resp, StatusNotFound);
      });

      test('GET request to existing blob URL should yield 200', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: cfg(0).digest }));
        expectStatus(resp, StatusOK);
      });
    });

    describe('Pull manifests', () => {
      test('HEAD request to nonexistent manifest should return 404', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const resp = await client.do(client.newRequest('HEAD', '/v2/<name>/manifests/<reference>', { reference: nonexistentManifest }));
        expectStatus(resp, StatusNotFound);
      });

      test('HEAD request to manifest[0] path (digest) should yield 200 response', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const req = client.newRequest('HEAD', '/v2/<name>/manifests/<digest>', { digest: man(0).digest }).setHeader('Accept', 'application/vnd.oci.image.manifest.v1+json');
        const resp = await client.do(req);
        expectStatus(resp, StatusOK);
        const h = resp.header('Docker-Content-Digest');
        if (h !== '') assert.equal(h, man(0).digest);
      });

      test('HEAD request to manifest[1] path (digest) should yield 200 response', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const req = client.newRequest('HEAD', '/v2/<name>/manifests/<digest>', { digest: man(1).digest }).setHeader('Accept', 'application/vnd.oci.image.manifest.v1+json');
        const resp = await client.do(req);
        expectStatus(resp, StatusOK);
        const h = resp.header('Docker-Content-Digest');
        if (h !== '') assert.equal(h, man(1).digest);
      });

      test('HEAD request to manifest path (tag) should yield 200 response', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        assert.notEqual(tag, '');
        const req = client.newRequest('HEAD', '/v2/<name>/manifests/<reference>', { reference: tag }).setHeader('Accept', 'application/vnd.oci.image.manifest.v1+json');
        const resp = await client.do(req);
        expectStatus(resp, StatusOK);
        const h = resp.header('Docker-Content-Digest');
        if (h !== '') assert.equal(h, man(0).digest);
      });

      test('GET nonexistent manifest should return 404', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/manifests/<reference>', { reference: nonexistentManifest }));
        expectStatus(resp, StatusNotFound);
      });

      test('GET request to manifest[0] path (digest) should yield 200 response', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const req = client.newRequest('GET', '/v2/<name>/manifests/<digest>', { digest: man(0).digest }).setHeader('Accept', 'application/vnd.oci.image.manifest.v1+json');
        expectStatus(await client.do(req), StatusOK);
      });

      test('GET request to manifest[1] path (digest) should yield 200 response', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const req = client.newRequest('GET', '/v2/<name>/manifests/<digest>', { digest: man(1).digest }).setHeader('Accept', 'application/vnd.oci.image.manifest.v1+json');
        expectStatus(await client.do(req), StatusOK);
      });

      test('GET request to manifest path (tag) should yield 200 response', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        assert.notEqual(tag, '');
        const req = client.newRequest('GET', '/v2/<name>/manifests/<reference>', { reference: tag }).setHeader('Accept', 'application/vnd.oci.image.manifest.v1+json');
        expectStatus(await client.do(req), StatusOK);
      });
    });

    describe('Error codes', () => {
      test('400 response body should contain OCI-conforming JSON message', async (t) => {
        if (skipIfDisabled(t, pull)) return;
        const req = client
          .newRequest('GET', '/v2/<name>/manifests/<reference>', { reference: 'sha256:totallywrong' })
          .setHeader('Content-Type', 'application/vnd.oci.image.manifest.v1+json')
          .setBody(invalidManifestContent);
        const resp = await client.do(req);
        expectOneOf(resp, StatusBadRequest, StatusNotFound);
        if (resp.status === StatusBadRequest) {
          const errorResponses = resp.errors();
          assert.ok(errorResponses.length > 0);
          assert.ok(errorCodes.includes((errorResponses[0] as ErrorInfo).code), `unexpected error code ${(errorResponses[0] as ErrorInfo).code}`);
        }
      });
    });

    describe('Teardown', () => {
      if (deleteManifestBeforeBlobs) {
        test('Delete manifest[0] created in setup', async (t) => {
          if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
          const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: man(0).digest }));
          expect2xxOr(resp, StatusMethodNotAllowed);
        });
        test('Delete manifest[1] created in setup', async (t) => {
          if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
          const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: man(1).digest }));
          expect2xxOr(resp, StatusMethodNotAllowed);
        });
      }

      test('Delete config[0] blob created in setup', async (t) => {
        if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
        const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: cfg(0).digest }));
        expect2xxOr(resp, StatusNotFound, StatusMethodNotAllowed);
      });
      test('Delete config[1] blob created in setup', async (t) => {
        if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
        const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: cfg(1).digest }));
        expect2xxOr(resp, StatusNotFound, StatusMethodNotAllowed);
      });

      test('Delete layer blob created in setup', async (t) => {
        if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
        const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest }));
        expect2xxOr(resp, StatusNotFound, StatusMethodNotAllowed);
      });

      if (!deleteManifestBeforeBlobs) {
        test('Delete manifest[0] created in setup', async (t) => {
          if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
          const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: man(0).digest }));
          expect2xxOr(resp, StatusMethodNotAllowed);
        });
        test('Delete manifest[1] created in setup', async (t) => {
          if (skipIfDisabled(t, pull) || runOnlyIf(t, runPullSetup)) return;
          const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: man(1).digest }));
          expect2xxOr(resp, StatusMethodNotAllowed);
        });
      }
    });
  });
}

// ---- 02_push_test.go -------------------------------------------------------------------------------

function test02Push(): void {
  describe(titlePush, () => {
    let lastResponse: RegResponse | undefined;
    let prevResponse: RegResponse | undefined;
    let emptyLayerManifestRef = '';
    const last = (): RegResponse => {
      assert.ok(lastResponse, 'no previous response');
      return lastResponse;
    };

    describe('Setup', () => {
      // No setup required at this time for push tests
    });

    describe('Blob Upload Streamed', () => {
      test('PATCH request with blob in body should yield 202 response', async (t) => {
        if (skipIfDisabled(t, push)) return;
        let req = client.newRequest('POST', '/v2/<name>/blobs/uploads/');
        let resp = await client.do(req);
        const location = resp.header('Location');
        assert.notEqual(location, '');

        req = client.newRequest('PATCH', resp.getRelativeLocation()).setHeader('Content-Type', 'application/octet-stream').setBody(testBlobA);
        resp = await client.do(req);
        expectStatus(resp, StatusAccepted);
        lastResponse = resp;
      });

      test('PUT request to session URL with digest should yield 201 response', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const req = client
          .newRequest('PUT', last().getRelativeLocation())
          .setQueryParam('digest', testBlobADigest)
          .setHeader('Content-Type', 'application/octet-stream')
          .setHeader('Content-Length', String(testBlobA.length));
        const resp = await client.do(req);
        expectStatus(resp, StatusCreated);
        assert.notEqual(resp.header('Location'), '');
      });
    });

    describe('Blob Upload Monolithic', () => {
      test('GET nonexistent blob should result in 404 response', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: dummyDigest }));
        expectStatus(resp, StatusNotFound);
      });

      test('POST request with digest and blob should yield a 201 or 202', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const req = client
          .newRequest('POST', '/v2/<name>/blobs/uploads/')
          .setHeader('Content-Length', cfg(1).contentLength)
          .setHeader('Content-Type', 'application/octet-stream')
          .setQueryParam('digest', cfg(1).digest)
          .setBody(cfg(1).content);
        const resp = await client.do(req);
        assert.notEqual(resp.header('Location'), '');
        expectOneOf(resp, StatusCreated, StatusAccepted);
        lastResponse = resp;
      });

      test('GET request to blob URL from prior request should yield 200 or 404 based on response code', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const prior = last();
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: cfg(1).digest }));
        if (prior.status === StatusAccepted) expectStatus(resp, StatusNotFound);
        else expectStatus(resp, StatusOK);
      });

      test('POST request should yield a session ID', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const resp = await client.do(client.newRequest('POST', '/v2/<name>/blobs/uploads/'));
        expectStatus(resp, StatusAccepted);
        lastResponse = resp;
      });

      test('PUT upload of a blob should yield a 201 Response', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const req = client
          .newRequest('PUT', last().getRelativeLocation())
          .setHeader('Content-Length', cfg(1).contentLength)
          .setHeader('Content-Type', 'application/octet-stream')
          .setQueryParam('digest', cfg(1).digest)
          .setBody(cfg(1).content);
        const resp = await client.do(req);
        assert.notEqual(resp.header('Location'), '');
        expectStatus(resp, StatusCreated);
      });

      test('GET request to existing blob should yield 200 response', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: cfg(1).digest }));
        expectStatus(resp, StatusOK);
      });

      test('PUT upload of a layer blob should yield a 201 Response', async (t) => {
        if (skipIfDisabled(t, push)) return;
        let resp = await client.do(client.newRequest('POST', '/v2/<name>/blobs/uploads/'));
        const req = client
          .newRequest('PUT', resp.getRelativeLocation())
          .setHeader('Content-Length', layerBlobContentLength)
          .setHeader('Content-Type', 'application/octet-stream')
          .setQueryParam('digest', layerBlobDigest)
          .setBody(layerBlobData);
        resp = await client.do(req);
        assert.notEqual(resp.header('Location'), '');
        expectStatus(resp, StatusCreated);
      });

      test('GET request to existing layer should yield 200 response', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest }));
        expectStatus(resp, StatusOK);
      });
    });

    describe('Blob Upload Chunked', () => {
      test('Out-of-order blob upload should return 416', async (t) => {
        if (skipIfDisabled(t, push)) return;
        let resp = await client.do(client.newRequest('POST', '/v2/<name>/blobs/uploads/').setHeader('Content-Length', '0'));
        assert.notEqual(resp.header('Location'), '');

        // rebuild chunked blob if min size is above our chunk size
        const minSizeStr = resp.header('OCI-Chunk-Min-Length');
        if (minSizeStr !== '') {
          const minSize = Number(minSizeStr);
          assert.ok(Number.isInteger(minSize), `OCI-Chunk-Min-Length ${minSizeStr}`);
          if (minSize > testBlobBChunk1.length) setupChunkedBlob(minSize * 2 - 2);
        }

        const req = client
          .newRequest('PATCH', resp.getRelativeLocation())
          .setHeader('Content-Type', 'application/octet-stream')
          .setHeader('Content-Length', testBlobBChunk2Length)
          .setHeader('Content-Range', testBlobBChunk2Range)
          .setBody(testBlobBChunk2);
        resp = await client.do(req);
        expectStatus(resp, StatusRequestedRangeNotSatisfiable);
      });

      test('PATCH request with first chunk should return 202', async (t) => {
        if (skipIfDisabled(t, push)) return;
        let resp = await client.do(client.newRequest('POST', '/v2/<name>/blobs/uploads/').setHeader('Content-Length', '0'));
        assert.notEqual(resp.header('Location'), '');
        prevResponse = resp;
        const req = client
          .newRequest('PATCH', resp.getRelativeLocation())
          .setHeader('Content-Type', 'application/octet-stream')
          .setHeader('Content-Length', testBlobBChunk1Length)
          .setHeader('Content-Range', testBlobBChunk1Range)
          .setBody(testBlobBChunk1);
        resp = await client.do(req);
        expectStatus(resp, StatusAccepted);
        assert.equal(resp.header('Range'), testBlobBChunk1Range);
        lastResponse = resp;
      });

      test('Retry previous blob chunk should return 416', async (t) => {
        if (skipIfDisabled(t, push)) return;
        assert.ok(prevResponse);
        const req = client
          .newRequest('PATCH', prevResponse.getRelativeLocation())
          .setHeader('Content-Type', 'application/octet-stream')
          .setHeader('Content-Length', testBlobBChunk1Length)
          .setHeader('Content-Range', testBlobBChunk1Range)
          .setBody(testBlobBChunk1);
        const resp = await client.do(req);
        expectStatus(resp, StatusRequestedRangeNotSatisfiable);
      });

      test('Get on stale blob upload should return 204 with a range and location', async (t) => {
        if (skipIfDisabled(t, push)) return;
        assert.ok(prevResponse);
        const resp = await client.do(client.newRequest('GET', prevResponse.getRelativeLocation()));
        expectStatus(resp, StatusNoContent);
        assert.notEqual(resp.header('Location'), '');
        assert.equal(resp.header('Range'), testBlobBChunk1Range);
        lastResponse = resp;
      });

      test('PATCH request with second chunk should return 202', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const req = client
          .newRequest('PATCH', last().getRelativeLocation())
          .setHeader('Content-Length', testBlobBChunk2Length)
          .setHeader('Content-Range', testBlobBChunk2Range)
          .setHeader('Content-Type', 'application/octet-stream')
          .setBody(testBlobBChunk2);
        const resp = await client.do(req);
        const location = resp.header('Location');
        expectStatus(resp, StatusAccepted);
        assert.notEqual(location, '');
        lastResponse = resp;
      });

      test('PUT request with digest should return 201', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const req = client
          .newRequest('PUT', last().getRelativeLocation())
          .setHeader('Content-Length', '0')
          .setHeader('Content-Type', 'application/octet-stream')
          .setQueryParam('digest', testBlobBDigest);
        const resp = await client.do(req);
        expectStatus(resp, StatusCreated);
        assert.notEqual(resp.header('Location'), '');
      });
    });

    describe('Cross-Repository Blob Mount', () => {
      test('Cross-mounting of a blob without the from argument should yield session id', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const req = client.newRequest('POST', '/v2/<name>/blobs/uploads/', { name: crossmountNamespace }).setQueryParam('mount', dummyDigest);
        const resp = await client.do(req);
        expectStatus(resp, StatusAccepted);
        assert.notEqual(resp.getAbsoluteLocation(), '');
      });

      test("POST request to mount another repository's blob should return 201 or 202", async (t) => {
        if (skipIfDisabled(t, push)) return;
        const req = client
          .newRequest('POST', '/v2/<name>/blobs/uploads/', { name: crossmountNamespace })
          .setQueryParam('mount', testBlobADigest)
          .setQueryParam('from', client.defaultName);
        const resp = await client.do(req);
        expectOneOf(resp, StatusCreated, StatusAccepted);
        lastResponse = resp;
      });

      test('GET request to test digest within cross-mount namespace should return 200', async (t) => {
        if (skipIfDisabled(t, push) || runOnlyIf(t, last().status === StatusCreated)) return;
        assert.equal(last().getRelativeLocation(), `/v2/${crossmountNamespace}/blobs/${testBlobADigest}`);
        const resp = await client.do(client.newRequest('GET', last().getRelativeLocation()));
        expectStatus(resp, StatusOK);
      });

      test('Cross-mounting of nonexistent blob should yield session id', (t) => {
        if (skipIfDisabled(t, push) || runOnlyIf(t, last().status === StatusAccepted)) return;
        assert.ok(last().getRelativeLocation().startsWith(`/v2/${crossmountNamespace}/blobs/uploads/`));
      });

      test('Cross-mounting without from, and automatic content discovery enabled should return a 201', async (t) => {
        if (
          skipIfDisabled(t, push) ||
          runOnlyIf(t, runAutomaticCrossmountTest) ||
          runOnlyIf(t, last().status === StatusCreated) ||
          runOnlyIf(t, automaticCrossmountEnabled)
        )
          return;
        const req = client.newRequest('POST', '/v2/<name>/blobs/uploads/', { name: crossmountNamespace }).setQueryParam('mount', testBlobADigest);
        expectStatus(await client.do(req), StatusCreated);
      });

      test('Cross-mounting without from, and automatic content discovery disabled should return a 202', async (t) => {
        if (
          skipIfDisabled(t, push) ||
          runOnlyIf(t, runAutomaticCrossmountTest) ||
          runOnlyIf(t, last().status === StatusCreated) ||
          runOnlyIfNot(t, automaticCrossmountEnabled)
        )
          return;
        const req = client.newRequest('POST', '/v2/<name>/blobs/uploads/', { name: crossmountNamespace }).setQueryParam('mount', testBlobADigest);
        expectStatus(await client.do(req), StatusAccepted);
      });
    });

    describe('Manifest Upload', () => {
      test('GET nonexistent manifest should return 404', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/manifests/<reference>', { reference: nonexistentManifest }));
        expectStatus(resp, StatusNotFound);
      });

      test('PUT should accept a manifest upload', async (t) => {
        if (skipIfDisabled(t, push)) return;
        for (let i = 0; i < 4; i++) {
          const tag = `test${i}`;
          const req = client
            .newRequest('PUT', '/v2/<name>/manifests/<reference>', { reference: tag })
            .setHeader('Content-Type', 'application/vnd.oci.image.manifest.v1+json')
            .setBody(man(1).content);
          const resp = await client.do(req);
          assert.notEqual(resp.header('Location'), '');
          expectStatus(resp, StatusCreated);
        }
      });

      test('Registry should accept a manifest upload with no layers', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const req = client
          .newRequest('PUT', '/v2/<name>/manifests/<reference>', { reference: emptyLayerTestTag })
          .setHeader('Content-Type', 'application/vnd.oci.image.manifest.v1+json')
          .setBody(emptyLayerManifestContent);
        const resp = await client.do(req);
        if (resp.status === StatusCreated) {
          const location = resp.header('Location');
          emptyLayerManifestRef = location;
          assert.notEqual(location, '');
          expectStatus(resp, StatusCreated);
        } else {
          warn(t, 'image manifest with no layers is not supported');
        }
      });

      test('GET request to manifest URL (digest) should yield 200 response', async (t) => {
        if (skipIfDisabled(t, push)) return;
        const req = client.newRequest('GET', '/v2/<name>/manifests/<digest>', { digest: man(1).digest }).setHeader('Accept', 'application/vnd.oci.image.manifest.v1+json');
        expectStatus(await client.do(req), StatusOK);
      });
    });

    describe('Teardown', () => {
      const deleteManifests = async (): Promise<void> => {
        let resp = await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: man(1).digest }));
        expect2xxOr(resp, StatusMethodNotAllowed);
        if (emptyLayerManifestRef !== '') {
          resp = await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: emptyLayerManifestDigest }));
          expect2xxOr(resp, StatusMethodNotAllowed);
        }
      };

      if (deleteManifestBeforeBlobs) {
        test('Delete manifest created in tests', async (t) => {
          if (skipIfDisabled(t, push) || runOnlyIf(t, runPushSetup)) return;
          await deleteManifests();
        });
      }

      test('Delete config blob created in tests', async (t) => {
        if (skipIfDisabled(t, push) || runOnlyIf(t, runPushSetup)) return;
        const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: cfg(1).digest }));
        expect2xxOr(resp, StatusNotFound, StatusMethodNotAllowed);
      });

      test('Delete layer blob created in setup', async (t) => {
        if (skipIfDisabled(t, push) || runOnlyIf(t, runPushSetup)) return;
        const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest }));
        expect2xxOr(resp, StatusNotFound, StatusMethodNotAllowed);
      });

      if (!deleteManifestBeforeBlobs) {
        test('Delete manifest created in tests', async (t) => {
          if (skipIfDisabled(t, push) || runOnlyIf(t, runPushSetup)) return;
          await deleteManifests();
        });
      }
    });
  });
}

// ---- 03_discovery_test.go --------------------------------------------------------------------------

function test03ContentDiscovery(): void {
  describe(titleContentDiscovery, () => {
    let numTags = 4;
    let tagList: string[] = [];

    describe('Setup', () => {
      test('Populate registry with test blob', async (t) => {
        if (skipIfDisabled(t, contentDiscovery) || runOnlyIf(t, runContentDiscoverySetup)) return;
        await populateBlob(cfg(2).content, cfg(2).digest, cfg(2).contentLength);
      });

      test('Populate registry with test layer', async (t) => {
        if (skipIfDisabled(t, contentDiscovery) || runOnlyIf(t, runContentDiscoverySetup)) return;
        await populateBlob(layerBlobData, layerBlobDigest, layerBlobContentLength);
      });

      test('Populate registry with test tags', async (t) => {
        if (skipIfDisabled(t, contentDiscovery) || runOnlyIf(t, runContentDiscoverySetup)) return;
        for (let i = 0; i < numTags; i++) {
          const tag = `test${i}`;
          tagList.push(tag);
          await populateManifest(tag, man(2).content);
        }
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list'));
        tagList = getTagList(resp);
      });

      test('Populate registry with test tags (no push)', (t) => {
        if (skipIfDisabled(t, contentDiscovery) || runOnlyIfNot(t, runContentDiscoverySetup)) return;
        tagList = (process.env.OCI_TAG_LIST ?? '').split(',');
      });

      test('References setup', async (t) => {
        if (skipIfDisabled(t, contentDiscovery) || runOnlyIf(t, runContentDiscoverySetup)) return;

        // Populate registry with empty JSON blob
        // validate expected empty JSON blob digest
        assert.equal(emptyJSONDescriptor.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
        await populateBlob(emptyJSONBlob, emptyJSONDescriptor.digest, String(emptyJSONDescriptor.size));

        // Populate registry with reference blob before the image manifest is pushed
        await populateBlob(testRefBlobA, testRefBlobADigest, testRefBlobALength);

        // Populate registry with test references manifest (config.MediaType = artifactType)
        let resp = await populateManifest(refsManifestAConfigArtifactDigest, refsManifestAConfigArtifactContent);
        assert.equal(resp.header('OCI-Subject'), man(4).digest);

        // Populate registry with test references manifest (ArtifactType, config.MediaType = emptyJSON)
        resp = await populateManifest(refsManifestALayerArtifactDigest, refsManifestALayerArtifactContent);
        assert.equal(resp.header('OCI-Subject'), man(4).digest);

        // Populate registry with test index manifest
        resp = await populateManifest(refsIndexArtifactDigest, refsIndexArtifactContent, 'application/vnd.oci.image.index.v1+json');
        assert.equal(resp.header('OCI-Subject'), man(4).digest);

        // Populate registry with test blob
        await populateBlob(cfg(4).content, cfg(4).digest, cfg(4).contentLength);

        // Populate registry with test layer
        await populateBlob(layerBlobData, layerBlobDigest, layerBlobContentLength);

        // Populate registry with test manifest
        await populateManifest(testTagName, man(4).content);

        // Populate registry with reference blob after the image manifest is pushed
        await populateBlob(testRefBlobB, testRefBlobBDigest, testRefBlobBLength);

        // Populate registry with test references manifest (config.MediaType = artifactType)
        resp = await populateManifest(refsManifestBConfigArtifactDigest, refsManifestBConfigArtifactContent);
        assert.equal(resp.header('OCI-Subject'), man(4).digest);

        // Populate registry with test references manifest (ArtifactType, config.MediaType = emptyJSON)
        resp = await populateManifest(refsManifestBLayerArtifactDigest, refsManifestBLayerArtifactContent);
        assert.equal(resp.header('OCI-Subject'), man(4).digest);

        // Populate registry with test references manifest to a non-existent subject
        resp = await populateManifest(refsManifestCLayerArtifactDigest, refsManifestCLayerArtifactContent);
        assert.equal(resp.header('OCI-Subject'), man(3).digest);
      });
    });

    describe('Test content discovery endpoints (listing tags)', () => {
      test('GET request to list tags should yield 200 response', async (t) => {
        if (skipIfDisabled(t, contentDiscovery)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list'));
        expectStatus(resp, StatusOK);
        tagList = getTagList(resp);
        numTags = tagList.length;
      });

      test('GET number of tags should be limitable by `n` query parameter', async (t) => {
        if (skipIfDisabled(t, contentDiscovery)) return;
        const numResults = Math.trunc(numTags / 2);
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list').setQueryParam('n', String(numResults)));
        expectStatus(resp, StatusOK);
        tagList = getTagList(resp);
        assert.equal(tagList.length, numResults);
      });

      test('GET start of tag is set by `last` query parameter', async (t) => {
        if (skipIfDisabled(t, contentDiscovery)) return;
        const numResults = Math.trunc(numTags / 2);
        let resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list').setQueryParam('n', String(numResults)));
        tagList = getTagList(resp);
        const lastTag = tagList[numResults - 1];
        assert.ok(lastTag !== undefined, `tag list too short: ${JSON.stringify(tagList)}`); // Go would panic here
        resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list').setQueryParam('n', String(numResults)).setQueryParam('last', lastTag));
        expectStatus(resp, StatusOK);
        assert.ok(tagList.length <= numResults);
        assert.ok(tagList.includes(lastTag));
      });
    });

    describe('Test content discovery endpoints (listing references)', () => {
      test('GET request to nonexistent blob should result in empty 200 response', async (t) => {
        if (skipIfDisabled(t, contentDiscovery)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: dummyDigest }));
        expectStatus(resp, StatusOK);
        assert.equal(resp.header('Content-Type'), 'application/vnd.oci.image.index.v1+json');
        const index = parseIndex(resp);
        assert.equal(index.manifests.length, 0);
      });

      test('GET request to existing blob should yield 200', async (t) => {
        if (skipIfDisabled(t, contentDiscovery)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: man(4).digest }));
        expectStatus(resp, StatusOK);
        assert.equal(resp.header('Content-Type'), 'application/vnd.oci.image.index.v1+json');
        const index = parseIndex(resp);
        assert.equal(index.manifests.length, 5);
        assert.notEqual(index.manifests[0]?.digest, index.manifests[1]?.digest);
        for (const m of index.manifests) {
          assert.equal(Object.keys(m.annotations ?? {}).length, 1);
          assert.equal(m.annotations?.[testAnnotationKey], testAnnotationValues.get(m.digest));
        }
      });

      test('GET request to existing blob with filter should yield 200', async (t) => {
        if (skipIfDisabled(t, contentDiscovery)) return;
        const req = client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: man(4).digest }).setQueryParam('artifactType', testRefArtifactTypeA);
        const resp = await client.do(req);
        expectStatus(resp, StatusOK);
        assert.equal(resp.header('Content-Type'), 'application/vnd.oci.image.index.v1+json');
        const index = parseIndex(resp);

        // also check resp header "OCI-Filters-Applied: artifactType" denoting that an artifactType filter was applied
        if (resp.header('OCI-Filters-Applied') !== '') {
          assert.equal(index.manifests.length, 2);
          assert.equal(resp.header('OCI-Filters-Applied'), artifactTypeFilter);
          for (const m of index.manifests) {
            assert.equal(Object.keys(m.annotations ?? {}).length, 1);
            assert.equal(m.annotations?.[testAnnotationKey], testAnnotationValues.get(m.digest));
          }
        } else {
          assert.equal(index.manifests.length, 5);
          for (const m of index.manifests) {
            assert.equal(Object.keys(m.annotations ?? {}).length, 1);
            assert.equal(m.annotations?.[testAnnotationKey], testAnnotationValues.get(m.digest));
          }
          warn(t, 'filtering by artifact-type is not implemented');
        }
      });

      test('GET request to missing manifest should yield 200', async (t) => {
        if (skipIfDisabled(t, contentDiscovery)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: man(3).digest }));
        expectStatus(resp, StatusOK);
        assert.equal(resp.header('Content-Type'), 'application/vnd.oci.image.index.v1+json');
        const index = parseIndex(resp);
        assert.equal(index.manifests.length, 1);
        assert.equal(index.manifests[0]?.digest, refsManifestCLayerArtifactDigest);
      });
    });

    describe('Teardown', () => {
      const deleteCreatedManifests = async (): Promise<void> => {
        const references = [
          refsIndexArtifactDigest,
          man(2).digest,
          man(4).digest,
          refsManifestAConfigArtifactDigest,
          refsManifestALayerArtifactDigest,
          testTagName,
          refsManifestBConfigArtifactDigest,
          refsManifestBLayerArtifactDigest,
          refsManifestCLayerArtifactDigest,
        ];
        for (const ref of references) {
          const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: ref }));
          expect2xxOr(resp, StatusMethodNotAllowed, StatusNotFound);
        }
      };

      if (deleteManifestBeforeBlobs) {
        test('Delete created manifest & associated tags', async (t) => {
          if (skipIfDisabled(t, contentDiscovery) || runOnlyIf(t, runContentDiscoverySetup)) return;
          await deleteCreatedManifests();
        });
      }

      test('Delete config blob created in tests', async (t) => {
        if (skipIfDisabled(t, contentDiscovery) || runOnlyIf(t, runContentDiscoverySetup)) return;
        const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: cfg(2).digest }));
        expect2xxOr(resp, StatusMethodNotAllowed);
      });

      test('Delete layer blob created in setup', async (t) => {
        if (skipIfDisabled(t, contentDiscovery) || runOnlyIf(t, runContentDiscoverySetup)) return;
        const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest }));
        expect2xxOr(resp, StatusMethodNotAllowed);
      });

      if (!deleteManifestBeforeBlobs) {
        test('Delete created manifest & associated tags', async (t) => {
          if (skipIfDisabled(t, contentDiscovery) || runOnlyIf(t, runContentDiscoverySetup)) return;
          await deleteCreatedManifests();
        });
      }

      test('References teardown', async (t) => {
        if (skipIfDisabled(t, contentDiscovery) || runOnlyIf(t, runContentDiscoverySetup)) return;

        const deleteReq = async (req: RegRequest): Promise<void> => {
          const resp = await client.do(req);
          expect2xxOr(resp, StatusMethodNotAllowed, StatusNotFound);
        };
        const deleteReferenceManifests = async (): Promise<void> => {
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsIndexArtifactDigest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsManifestAConfigArtifactDigest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsManifestALayerArtifactDigest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: man(4).digest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsManifestBConfigArtifactDigest }));
          await deleteReq(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: refsManifestBLayerArtifactDigest }));
        };

        if (deleteManifestBeforeBlobs) await deleteReferenceManifests();

        // Delete config blob created in setup
        await deleteReq(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: cfg(4).digest }));

        // Delete reference blob created in setup
        await deleteReq(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: testRefBlobADigest }));
        await deleteReq(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: testRefBlobBDigest }));

        // Delete empty JSON blob created in setup
        await deleteReq(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: emptyJSONDescriptor.digest }));

        // Delete manifest created in setup
        if (!deleteManifestBeforeBlobs) await deleteReferenceManifests();
      });
    });
  });
}

// ---- 04_management_test.go -------------------------------------------------------------------------

function test04ContentManagement(): void {
  describe(titleContentManagement, () => {
    const defaultTagName = 'tagtest0';
    let tagToDelete = '';
    let numTags = 0;
    let blobDeleteAllowed = true;

    describe('Setup', () => {
      test('Populate registry with test config blob', async (t) => {
        if (skipIfDisabled(t, contentManagement) || runOnlyIf(t, runContentManagementSetup)) return;
        await populateBlob(cfg(3).content, cfg(3).digest, cfg(3).contentLength);
      });

      test('Populate registry with test layer', async (t) => {
        if (skipIfDisabled(t, contentManagement) || runOnlyIf(t, runContentManagementSetup)) return;
        await populateBlob(layerBlobData, layerBlobDigest, layerBlobContentLength);
      });

      test('Populate registry with test tag', async (t) => {
        if (skipIfDisabled(t, contentManagement) || runOnlyIf(t, runContentManagementSetup)) return;
        tagToDelete = defaultTagName;
        await populateManifest(tagToDelete, man(3).content);
      });

      test('Check how many tags there are before anything gets deleted', async (t) => {
        if (skipIfDisabled(t, contentManagement) || runOnlyIf(t, runContentManagementSetup)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list'));
        expectStatus(resp, StatusOK);
        const tagList = JSON.parse(resp.body.toString('utf8')) as Partial<TagList>;
        numTags = (tagList.tags ?? []).length;
      });
    });

    describe('Manifest delete', () => {
      test('DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)', async (t) => {
        if (skipIfDisabled(t, contentManagement)) return;
        const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: tagToDelete }));
        expectOneOf(resp, StatusBadRequest, StatusAccepted, StatusMethodNotAllowed);
        if (resp.status === StatusBadRequest) {
          const errorResponses = resp.errors();
          assert.ok(errorResponses.length > 0);
          assert.equal(errorResponses[0]?.code, errorCodes[UNSUPPORTED]);
        }
      });

      test('DELETE request to manifest (digest) should yield 202 response unless already deleted', async (t) => {
        if (skipIfDisabled(t, contentManagement)) return;
        const resp = await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest: man(3).digest }));
        // In the case that the previous request was accepted, this may or may not fail (which is ok)
        expectOneOf(resp, StatusAccepted, StatusNotFound);
      });

      test('GET request to deleted manifest URL should yield 404 response, unless delete is disallowed', async (t) => {
        if (skipIfDisabled(t, contentManagement)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/manifests/<digest>', { digest: man(3).digest }));
        expectOneOf(resp, StatusNotFound, StatusOK);
      });

      test('GET request to tags list should reflect manifest deletion', async (t) => {
        if (skipIfDisabled(t, contentManagement)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list'));
        expectStatus(resp, StatusOK);
        const tagList = JSON.parse(resp.body.toString('utf8')) as Partial<TagList>;
        assert.ok((tagList.tags ?? []).length < numTags, `tags ${JSON.stringify(tagList.tags)} (before: ${numTags})`);
      });
    });

    describe('Blob delete', () => {
      test('DELETE request to blob URL should yield 202 response', async (t) => {
        if (skipIfDisabled(t, contentManagement) || runOnlyIf(t, runContentManagementSetup)) return;
        // config blob
        let resp = await client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: cfg(3).digest }));
        expectOneOf(resp, StatusAccepted, StatusNotFound, StatusMethodNotAllowed);
        // layer blob
        resp = await client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest }));
        expectOneOf(resp, StatusAccepted, StatusNotFound, StatusMethodNotAllowed);
        if (resp.status === StatusMethodNotAllowed) blobDeleteAllowed = false;
      });

      test('GET request to deleted blob URL should yield 404 response', async (t) => {
        if (skipIfDisabled(t, contentManagement) || runOnlyIf(t, runContentManagementSetup) || runOnlyIf(t, blobDeleteAllowed)) return;
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: cfg(3).digest }));
        expectStatus(resp, StatusNotFound);
      });
    });

    describe('Teardown', () => {
      // TODO: delete blob+tag?
      // No teardown required at this time for content management tests
    });
  });
}
