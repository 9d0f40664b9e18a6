// YUM/DNF repository (createrepo's repodata format), generated natively: RPM headers are parsed in
// rpm.ts and primary/filelists/other.xml(.gz) + repomd.xml are pure functions of the package list.
// repomd.xml is signed (repodata/repomd.xml.asc) with the site key; the public key is at
// /yum/RPM-GPG-KEY-airlock. Layout: /yum/<repo>/repodata/..., /yum/<repo>/Packages/<l>/<nevra>.rpm.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import type { Store } from '../../store/types.ts';
import type { RepoHandler } from '../types.ts';
import { siteSigner, type SiteSigner } from './gpg.ts';
import { publishedHandler, publishPath, putAndPublish, readJsonMeta, withLock, writeJsonMeta } from './http.ts';
import { parseRpm, RpmError, type RpmDep, type RpmInfo } from './rpm.ts';

export const YUM_NS = 'yum';
export const YUM_KEY_PATH = 'RPM-GPG-KEY-airlock';
const RPM_TYPE = 'application/x-rpm';

export interface YumPackage {
  info: RpmInfo;
  /** Relative to the repo root: Packages/h/hello-1.0-1.noarch.rpm */
  location: string;
  /** sha256 of the .rpm (the store digest's hex). */
  checksum: string;
  size: number;
  /** Seconds since the epoch; createrepo uses the file's mtime. */
  fileTime: number;
}

export interface YumRepo {
  repo: string;
  packages: YumPackage[];
}

export function xmlEscape(s: string): string {
  // Drop characters XML 1.0 cannot carry, then escape.
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const esc = xmlEscape;
/** Text content: like libxml2 (what createrepo_c uses), quotes stay as they are. */
const text = (s: string) => xmlEscape(s).replace(/&quot;/g, '"');

/** createrepo's rule for which files go in primary.xml (the rest only in filelists.xml). */
export function isPrimaryFile(path: string): boolean {
  return path.startsWith('/etc/') || path === '/usr/lib/sendmail' || path.includes('bin/');
}

function depXml(tag: string, list: readonly RpmDep[]): string[] {
  if (list.length === 0) return [];
  const entries = list.map((d) => {
    let a = `<rpm:entry name="${esc(d.name)}"`;
    if (d.flags) {
      a += ` flags="${d.flags}" epoch="${esc(d.epoch ?? '0')}" ver="${esc(d.ver ?? '')}"`;
      if (d.rel !== undefined) a += ` rel="${esc(d.rel)}"`;
    }
    if (d.pre) a += ' pre="1"';
    return `      ${a}/>`;
  });
  return [`    <rpm:${tag}>`, ...entries, `    </rpm:${tag}>`];
}

const versionXml = (i: RpmInfo) => `<version epoch="${i.epoch}" ver="${esc(i.version)}" rel="${esc(i.release)}"/>`;

export function primaryXml(pkgs: readonly YumPackage[]): string {
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="${pkgs.length}">`,
  ];
  for (const p of sortPackages(pkgs)) {
    const i = p.info;
    out.push(
      '<package type="rpm">',
      `  <name>${text(i.name)}</name>`,
      `  <arch>${text(i.arch)}</arch>`,
      `  ${versionXml(i)}`,
      `  <checksum type="sha256" pkgid="YES">${p.checksum}</checksum>`,
      `  <summary>${text(i.summary)}</summary>`,
      `  <description>${text(i.description)}</description>`,
      `  <packager>${text(i.packager)}</packager>`,
      `  <url>${text(i.url)}</url>`,
      `  <time file="${p.fileTime}" build="${i.buildTime}"/>`,
      `  <size package="${p.size}" installed="${i.installedSize}" archive="${i.archiveSize}"/>`,
      `  <location href="${esc(p.location)}"/>`,
      '  <format>',
      `    <rpm:license>${text(i.license)}</rpm:license>`,
      `    <rpm:vendor>${text(i.vendor)}</rpm:vendor>`,
      `    <rpm:group>${text(i.group)}</rpm:group>`,
      `    <rpm:buildhost>${text(i.buildHost)}</rpm:buildhost>`,
      `    <rpm:sourcerpm>${text(i.sourceRpm)}</rpm:sourcerpm>`,
      `    <rpm:header-range start="${i.headerStart}" end="${i.headerEnd}"/>`,
      ...depXml('provides', i.provides),
      ...depXml('requires', i.requires),
      ...depXml('conflicts', i.conflicts),
      ...depXml('obsoletes', i.obsoletes),
      ...depXml('suggests', i.suggests),
      ...depXml('enhances', i.enhances),
      ...depXml('recommends', i.recommends),
      ...depXml('supplements', i.supplements),
      ...i.files.filter((f) => isPrimaryFile(f.path)).map((f) => `    <file${f.type ? ` type="${f.type}"` : ''}>${text(f.path)}</file>`),
      '  </format>',
      '</package>',
    );
  }
  out.push('</metadata>', '');
  return out.join('\n');
}

export function filelistsXml(pkgs: readonly YumPackage[]): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="${pkgs.length}">`];
  for (const p of sortPackages(pkgs)) {
    out.push(`<package pkgid="${p.checksum}" name="${esc(p.info.name)}" arch="${esc(p.info.arch)}">`, `  ${versionXml(p.info)}`);
    for (const f of p.info.files) out.push(`  <file${f.type ? ` type="${f.type}"` : ''}>${text(f.path)}</file>`);
    out.push('</package>');
  }
  out.push('</filelists>', '');
  return out.join('\n');
}

export function otherXml(pkgs: readonly YumPackage[]): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="${pkgs.length}">`];
  for (const p of sortPackages(pkgs)) {
    out.push(`<package pkgid="${p.checksum}" name="${esc(p.info.name)}" arch="${esc(p.info.arch)}">`, `  ${versionXml(p.info)}`);
    // Oldest first, as createrepo_c writes them (the header has the newest first).
    for (const c of [...p.info.changelogs].reverse()) out.push(`  <changelog author="${esc(c.author)}" date="${c.date}">${text(c.text)}</changelog>`);
    out.push('</package>');
  }
  out.push('</otherdata>', '');
  return out.join('\n');
}

function sortPackages(pkgs: readonly YumPackage[]): YumPackage[] {
  const k = (p: YumPackage) => `${p.info.name}\0${p.info.arch}\0${p.info.epoch}\0${p.info.version}\0${p.info.release}`;
  return [...pkgs].sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));
}

export interface RepodataFile {
  type: 'primary' | 'filelists' | 'other';
  /** repodata/<sha256>-<type>.xml.gz */
  location: string;
  data: Buffer;
  checksum: string;
  openChecksum: string;
  openSize: number;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The three compressed metadata files, each named by its checksum (unique_md_filenames). */
export function repodataFiles(pkgs: readonly YumPackage[]): RepodataFile[] {
  const make = (type: RepodataFile['type'], xml: string): RepodataFile => {
    const open = Buffer.from(xml);
    const data = gzipSync(open, { level: 9 });
    const checksum = sha256(data);
    return { type, location: `repodata/${checksum}-${type}.xml.gz`, data, checksum, openChecksum: sha256(open), openSize: open.length };
  };
  return [make('primary', primaryXml(pkgs)), make('filelists', filelistsXml(pkgs)), make('other', otherXml(pkgs))];
}

export function repomdXml(files: readonly RepodataFile[], revision: number): string {
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">',
    `  <revision>${revision}</revision>`,
  ];
  for (const f of files) {
    out.push(
      `  <data type="${f.type}">`,
      `    <checksum type="sha256">${f.checksum}</checksum>`,
      `    <open-checksum type="sha256">${f.openChecksum}</open-checksum>`,
      `    <location href="${f.location}"/>`,
      `    <timestamp>${revision}</timestamp>`,
      `    <size>${f.data.length}</size>`,
      `    <open-size>${f.openSize}</open-size>`,
      '  </data>',
    );
  }
  out.push('</repomd>', '');
  return out.join('\n');
}

export function rpmLocation(i: RpmInfo): string {
  return `Packages/${i.name[0]!.toLowerCase()}/${i.name}-${i.version}-${i.release}.${i.arch}.rpm`;
}

const repoKey = (repo: string) => `repos/${repo}.json`;

export interface ImportRpmOptions {
  /** Repository name: /yum/<repo>/ (e.g. "rocky9-kubernetes"). */
  repo: string;
  signer?: SiteSigner;
  /** repomd revision / timestamps and file times of new packages; default now. */
  now?: Date;
}

export class YumError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'YumError';
  }
}

/** Import one or more .rpm files into a repo and republish its repodata. */
export async function importRpm(store: Store, rpmPaths: string | readonly string[], opts: ImportRpmOptions): Promise<YumPackage[]> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(opts.repo)) throw new YumError(`repo "${opts.repo}" must be letters, digits, ".", "_" or "-"`);
  const now = opts.now ?? new Date();
  const added: YumPackage[] = [];
  for (const path of typeof rpmPaths === 'string' ? [rpmPaths] : rpmPaths) {
    const buf = await readFile(path);
    let info: RpmInfo;
    try {
      info = parseRpm(buf);
    } catch (e) {
      if (e instanceof RpmError) throw new YumError(`${path}: ${e.message}`);
      throw e;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9._+~^-]*$/.test(`${info.name}-${info.version}-${info.release}.${info.arch}`)) throw new YumError(`${path}: unusual package name/version`);
    const location = rpmLocation(info);
    const blob = await putAndPublish(store, YUM_NS, `${opts.repo}/${location}`, buf, RPM_TYPE, true);
    added.push({ info, location, checksum: blob.digest.slice(7), size: blob.size, fileTime: Math.floor(now.getTime() / 1000) });
  }
  await withLock(store, `yum:${opts.repo}`, async () => {
    const state: YumRepo = (await readJsonMeta<YumRepo>(store, YUM_NS, repoKey(opts.repo))) ?? { repo: opts.repo, packages: [] };
    for (const p of added) {
      state.packages = state.packages.filter((q) => q.location !== p.location);
      state.packages.push(p);
    }
    await writeJsonMeta(store, YUM_NS, repoKey(opts.repo), state);
    await publishRepo(store, state, opts.signer, now);
  });
  return added;
}

export async function publishRepo(store: Store, state: YumRepo, signer: SiteSigner | undefined, now: Date): Promise<void> {
  const own = signer ? undefined : await siteSigner(store.root);
  const s = signer ?? own!;
  try {
    const files = repodataFiles(state.packages);
    for (const f of files) await putAndPublish(store, YUM_NS, `${state.repo}/${f.location}`, f.data, 'application/gzip', true);
    const repomd = repomdXml(files, Math.floor(now.getTime() / 1000));
    const sig = await s.detachSign(repomd);
    const md = await store.put(Buffer.from(repomd));
    await putAndPublish(store, YUM_NS, `${state.repo}/repodata/repomd.xml.asc`, sig, 'application/pgp-signature');
    await publishPath(store, YUM_NS, `${state.repo}/repodata/repomd.xml`, { digest: md.digest, size: md.size, contentType: 'application/xml' });
    await putAndPublish(store, YUM_NS, YUM_KEY_PATH, s.publicKeyArmored, 'application/pgp-keys');
    await putAndPublish(store, YUM_NS, `${state.repo}/repodata/repomd.xml.key`, s.publicKeyArmored, 'application/pgp-keys');
  } finally {
    await own?.close();
  }
}

export function yumHandler(prefix = '/yum/'): RepoHandler {
  return publishedHandler(prefix, YUM_NS);
}
