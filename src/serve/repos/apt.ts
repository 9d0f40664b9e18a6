// APT repository (Debian archive format): pool/ files by digest, dists/<suite>/ with Packages(.gz) per
// component and architecture, a Release listing every index with MD5Sum/SHA256 and sizes,
// `Acquire-By-Hash: yes` (by-hash/SHA256/<hex> = the store digest), and InRelease / Release.gpg signed
// with the site key. Index generation is pure; importDeb is the edge (reads the .deb, writes the store).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import type { Store } from '../../store/types.ts';
import type { RepoHandler } from '../types.ts';
import { ArchiveError, decompress, readAr, readTar } from './archive.ts';
import { siteSigner, type SiteSigner } from './gpg.ts';
import { publishedHandler, publishPath, putAndPublish, readJsonMeta, withLock, writeJsonMeta } from './http.ts';

export const APT_NS = 'apt';
export const APT_KEYRING_ASC = 'airlock-archive-keyring.asc';
export const APT_KEYRING_GPG = 'airlock-archive-keyring.gpg';
const DEB_TYPE = 'application/vnd.debian.binary-package';
const TEXT = 'text/plain; charset=utf-8';

/** One control-file field, in file order; multi-line values keep their continuation lines ("\n ..."). */
export type ControlField = [name: string, value: string];

export interface AptPackage {
  component: string;
  /** The package's control stanza (DEBIAN/control), in order. */
  control: ControlField[];
  package: string;
  version: string;
  architecture: string;
  /** Pool path, relative to the repository root: pool/main/h/hello/hello_1.0_amd64.deb */
  filename: string;
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
}

export interface AptSuite {
  suite: string;
  codename: string;
  /** Architectures always published (even with only arch "all" packages); default ["amd64"]. */
  architectures: string[];
  packages: AptPackage[];
}

export interface AptIndexFile {
  /** Relative to dists/<suite>/, e.g. "main/binary-amd64/Packages.gz". */
  path: string;
  data: Buffer;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9.+_~-]{0,99}$/;

export class AptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AptError';
  }
}

/** Parse one deb822 stanza (a DEBIAN/control file). */
export function parseControl(text: string): ControlField[] {
  const out: ControlField[] = [];
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    if (line.trim() === '' && out.length) break;
    if (line.startsWith('#')) continue;
    if (/^[ \t]/.test(line)) {
      const last = out[out.length - 1];
      if (!last) throw new AptError('control file starts with a continuation line');
      last[1] += `\n${line}`;
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) {
      if (line.trim() === '') continue;
      throw new AptError(`control file line is not "Field: value": ${JSON.stringify(line.slice(0, 80))}`);
    }
    out.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  return out;
}

export function controlValue(fields: readonly ControlField[], name: string): string | undefined {
  const f = fields.find(([k]) => k.toLowerCase() === name.toLowerCase());
  return f?.[1];
}

/** pool/<component>/<prefix>/<source>/<package>_<version without epoch>_<arch>.deb (Debian's layout). */
export function debPoolPath(component: string, control: readonly ControlField[]): string {
  const pkg = controlValue(control, 'Package')!;
  const version = controlValue(control, 'Version')!.replace(/^\d+:/, '');
  const arch = controlValue(control, 'Architecture')!;
  const source = (controlValue(control, 'Source') ?? pkg).split(/\s/)[0]!;
  const prefix = source.startsWith('lib') && source.length > 3 ? source.slice(0, 4) : source[0]!;
  return `pool/${component}/${prefix}/${source}/${pkg}_${version}_${arch}.deb`;
}

const INDEX_FIELDS = new Set(['filename', 'size', 'md5sum', 'sha1', 'sha256']);

/** A Packages file: each package's control stanza plus Filename, Size and hashes; sorted by name, version, arch. */
export function packagesIndex(pkgs: readonly AptPackage[]): string {
  const sorted = [...pkgs].sort((a, b) => cmp(a.package, b.package) || cmp(a.version, b.version) || cmp(a.architecture, b.architecture));
  return sorted
    .map((p) => {
      const lines = p.control.filter(([k]) => !INDEX_FIELDS.has(k.toLowerCase())).map(([k, v]) => `${k}: ${v}`);
      lines.push(`Filename: ${p.filename}`, `Size: ${p.size}`, `MD5sum: ${p.md5}`, `SHA1: ${p.sha1}`, `SHA256: ${p.sha256}`);
      return `${lines.join('\n')}\n`;
    })
    .join('\n');
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function suiteArchitectures(suite: AptSuite): string[] {
  const set = new Set(suite.architectures);
  for (const p of suite.packages) if (p.architecture !== 'all') set.add(p.architecture);
  if (set.size === 0) set.add('amd64');
  return [...set].sort();
}

export function suiteComponents(suite: AptSuite): string[] {
  const set = new Set(suite.packages.map((p) => p.component));
  if (set.size === 0) set.add('main');
  return [...set].sort();
}

/** Every index under dists/<suite>/: <component>/binary-<arch>/Packages and Packages.gz (arch "all" packages in every arch). */
export function aptIndexes(suite: AptSuite): AptIndexFile[] {
  const out: AptIndexFile[] = [];
  for (const component of suiteComponents(suite)) {
    for (const arch of suiteArchitectures(suite)) {
      const pkgs = suite.packages.filter((p) => p.component === component && (p.architecture === arch || p.architecture === 'all'));
      const text = Buffer.from(packagesIndex(pkgs));
      out.push({ path: `${component}/binary-${arch}/Packages`, data: text });
      out.push({ path: `${component}/binary-${arch}/Packages.gz`, data: gzipSync(text, { level: 9 }) });
    }
  }
  return out;
}

/** RFC 2822 date in UTC, as Debian's Release files have it: "Sat, 23 Nov 2024 13:05:00 UTC". */
export function releaseDate(d: Date): string {
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

export interface ReleaseInput {
  suite: string;
  codename: string;
  date: Date;
  architectures: string[];
  components: string[];
  files: readonly AptIndexFile[];
  origin?: string;
  label?: string;
  description?: string;
}

/** The Release file (unsigned). */
export function releaseFile(r: ReleaseInput): string {
  const width = Math.max(...r.files.map((f) => String(f.data.length).length), 1);
  const hashLines = (algo: 'md5' | 'sha256') =>
    r.files.map((f) => ` ${createHash(algo).update(f.data).digest('hex')} ${String(f.data.length).padStart(width)} ${f.path}`);
  return [
    `Origin: ${r.origin ?? 'airlock'}`,
    `Label: ${r.label ?? 'airlock'}`,
    `Suite: ${r.suite}`,
    `Codename: ${r.codename}`,
    `Date: ${releaseDate(r.date)}`,
    `Architectures: ${r.architectures.join(' ')}`,
    `Components: ${r.components.join(' ')}`,
    `Description: ${r.description ?? 'airlock site mirror'}`,
    'Acquire-By-Hash: yes',
    'MD5Sum:',
    ...hashLines('md5'),
    'SHA256:',
    ...hashLines('sha256'),
    '',
  ].join('\n');
}

/** Parse a .deb (ar: debian-binary, control.tar.{gz,xz,zst}, data.tar.*) and return its control stanza. */
export async function debControl(deb: Buffer): Promise<ControlField[]> {
  const members = readAr(deb);
  const version = members.find((m) => m.name === 'debian-binary');
  if (!version || !version.data.toString('latin1').startsWith('2.')) throw new AptError('not a Debian binary package (debian-binary is missing or not 2.x)');
  const ctl = members.find((m) => /^control\.tar(\.(gz|xz|zst))?$/.test(m.name));
  if (!ctl) throw new AptError('no control.tar member in the .deb');
  const tar = readTar(await decompress(ctl.data));
  const control = tar.find((e) => e.name === 'control' && e.type === 'file');
  if (!control) throw new AptError('control.tar has no ./control');
  const fields = parseControl(control.data.toString('utf8'));
  for (const f of ['Package', 'Version', 'Architecture']) {
    const v = controlValue(fields, f);
    if (!v) throw new AptError(`control has no ${f} field`);
    if (f !== 'Version' && !NAME_RE.test(v)) throw new AptError(`control ${f} "${v}" is not a valid name`);
  }
  if (!/^[0-9A-Za-z.+~:-]+$/.test(controlValue(fields, 'Version')!)) throw new AptError(`control Version "${controlValue(fields, 'Version')}" is not valid`);
  return fields;
}

const suiteKey = (suite: string) => `suites/${suite}.json`;

function checkName(kind: string, v: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)) throw new AptError(`${kind} "${v}" must be letters, digits, ".", "_" or "-"`);
}

export interface ImportDebOptions {
  suite: string;
  component: string;
  /** Codename in Release; default = suite. */
  codename?: string;
  /** Architectures to publish even without packages of that arch; default ["amd64"] for a new suite. */
  architectures?: string[];
  /** Signer to use; default: the store's site key (created on first use). */
  signer?: SiteSigner;
  /** Release Date; default now. */
  now?: Date;
}

/** Import one or more .deb files into a suite/component and republish the suite. */
export async function importDeb(store: Store, debPaths: string | readonly string[], opts: ImportDebOptions): Promise<AptPackage[]> {
  checkName('suite', opts.suite);
  checkName('component', opts.component);
  const added: AptPackage[] = [];
  for (const path of typeof debPaths === 'string' ? [debPaths] : debPaths) {
    const deb = await readFile(path);
    let control: ControlField[];
    try {
      control = await debControl(deb);
    } catch (e) {
      if (e instanceof AptError || e instanceof ArchiveError) throw new AptError(`${path}: ${e.message}`);
      throw e;
    }
    const filename = debPoolPath(opts.component, control);
    const info = await putAndPublish(store, APT_NS, filename, deb, DEB_TYPE, true);
    added.push({
      component: opts.component,
      control,
      package: controlValue(control, 'Package')!,
      version: controlValue(control, 'Version')!,
      architecture: controlValue(control, 'Architecture')!,
      filename,
      size: info.size,
      md5: createHash('md5').update(deb).digest('hex'),
      sha1: createHash('sha1').update(deb).digest('hex'),
      sha256: info.digest.replace(/^sha256:/, ''),
    });
  }
  await withLock(store, `apt:${opts.suite}`, async () => {
    const suite: AptSuite = (await readJsonMeta<AptSuite>(store, APT_NS, suiteKey(opts.suite))) ?? {
      suite: opts.suite,
      codename: opts.codename ?? opts.suite,
      architectures: opts.architectures ?? ['amd64'],
      packages: [],
    };
    if (opts.codename) suite.codename = opts.codename;
    if (opts.architectures) suite.architectures = [...new Set([...suite.architectures, ...opts.architectures])];
    for (const p of added) {
      suite.packages = suite.packages.filter((q) => !(q.package === p.package && q.version === p.version && q.architecture === p.architecture));
      suite.packages.push(p);
    }
    await writeJsonMeta(store, APT_NS, suiteKey(opts.suite), suite);
    await publishSuite(store, suite, opts.signer, opts.now ?? new Date());
  });
  return added;
}

/** Regenerate and sign dists/<suite>/ from the suite's state; by-hash copies stay for older Releases. */
export async function publishSuite(store: Store, suite: AptSuite, signer: SiteSigner | undefined, now: Date): Promise<void> {
  const own = signer ? undefined : await siteSigner(store.root);
  const s = signer ?? own!;
  try {
    const files = aptIndexes(suite);
    const base = `dists/${suite.suite}`;
    for (const f of files) {
      const type = f.path.endsWith('.gz') ? 'application/gzip' : TEXT;
      const info = await putAndPublish(store, APT_NS, `${base}/${f.path}`, f.data, type);
      const dir = f.path.slice(0, f.path.lastIndexOf('/'));
      await publishPath(store, APT_NS, `${base}/${dir}/by-hash/SHA256/${info.digest.slice(7)}`, { digest: info.digest, size: info.size, contentType: type, immutable: true });
    }
    const release = releaseFile({
      suite: suite.suite,
      codename: suite.codename,
      date: now,
      architectures: suiteArchitectures(suite),
      components: suiteComponents(suite),
      files,
    });
    // Sign first, publish after: a client never sees a Release without its signatures.
    const inRelease = await s.clearsign(release);
    const releaseGpg = await s.detachSign(release);
    await putAndPublish(store, APT_NS, `${base}/Release`, release, TEXT);
    await putAndPublish(store, APT_NS, `${base}/Release.gpg`, releaseGpg, 'application/pgp-signature');
    await putAndPublish(store, APT_NS, `${base}/InRelease`, inRelease, TEXT);
    await putAndPublish(store, APT_NS, APT_KEYRING_ASC, s.publicKeyArmored, 'application/pgp-keys');
    await putAndPublish(store, APT_NS, APT_KEYRING_GPG, s.publicKeyBinary, 'application/pgp-keys');
  } finally {
    await own?.close();
  }
}

/** GET/HEAD /apt/...: pool files, dists indexes (also by-hash), the public keyring. */
export function aptHandler(prefix = '/apt/'): RepoHandler {
  return publishedHandler(prefix, APT_NS);
}
