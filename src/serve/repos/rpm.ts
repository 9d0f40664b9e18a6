// RPM package headers (lead, signature header, header; the payload is never read). Pure: bytes in,
// the fields createrepo puts in primary/filelists/other out.
export class RpmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpmError';
  }
}

const T = {
  NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, SUMMARY: 1004, DESCRIPTION: 1005, BUILDTIME: 1006, BUILDHOST: 1007,
  SIZE: 1009, VENDOR: 1011, LICENSE: 1014, PACKAGER: 1015, GROUP: 1016, URL: 1020, ARCH: 1022, FILEMODES: 1030, FILEFLAGS: 1037,
  SOURCERPM: 1044, ARCHIVESIZE: 1046, PROVIDENAME: 1047, REQUIREFLAGS: 1048, REQUIRENAME: 1049, REQUIREVERSION: 1050,
  CONFLICTFLAGS: 1053, CONFLICTNAME: 1054, CONFLICTVERSION: 1055, CHANGELOGTIME: 1080, CHANGELOGNAME: 1081, CHANGELOGTEXT: 1082,
  OBSOLETENAME: 1090, PROVIDEFLAGS: 1112, PROVIDEVERSION: 1113, OBSOLETEFLAGS: 1114, OBSOLETEVERSION: 1115,
  DIRINDEXES: 1116, BASENAMES: 1117, DIRNAMES: 1118, SOURCEPACKAGE: 1106, LONGSIZE: 5009,
  RECOMMENDNAME: 5046, RECOMMENDVERSION: 5047, RECOMMENDFLAGS: 5048, SUGGESTNAME: 5049, SUGGESTVERSION: 5050, SUGGESTFLAGS: 5051,
  SUPPLEMENTNAME: 5052, SUPPLEMENTVERSION: 5053, SUPPLEMENTFLAGS: 5054, ENHANCENAME: 5055, ENHANCEVERSION: 5056, ENHANCEFLAGS: 5057,
} as const;
const SIG_PAYLOADSIZE = 1007;
const SIG_LONGARCHIVESIZE = 271;

type Value = string | string[] | number[] | bigint[] | Buffer;

interface Header {
  tags: Map<number, Value>;
  /** Byte offset just past this header structure. */
  end: number;
}

function readHeader(buf: Buffer, start: number): Header {
  if (start + 16 > buf.length || buf.readUInt32BE(start) !== 0x8eade801) throw new RpmError(`no RPM header magic at offset ${start}`);
  const nindex = buf.readUInt32BE(start + 8);
  const hsize = buf.readUInt32BE(start + 12);
  const indexStart = start + 16;
  const storeStart = indexStart + nindex * 16;
  const end = storeStart + hsize;
  if (nindex > 100000 || end > buf.length) throw new RpmError('RPM header overruns the file');
  const tags = new Map<number, Value>();
  const cstr = (off: number): [string, number] => {
    const z = buf.indexOf(0, off);
    if (z < 0 || z >= end) throw new RpmError('unterminated string in RPM header');
    return [buf.subarray(off, z).toString('utf8'), z + 1];
  };
  for (let i = 0; i < nindex; i++) {
    const e = indexStart + i * 16;
    const tag = buf.readUInt32BE(e);
    const type = buf.readUInt32BE(e + 4);
    const off = storeStart + buf.readInt32BE(e + 8);
    const count = buf.readUInt32BE(e + 12);
    if (off < storeStart || off > end) throw new RpmError(`RPM tag ${tag} points outside the header`);
    switch (type) {
      case 3: // INT16
        tags.set(tag, Array.from({ length: count }, (_, k) => buf.readUInt16BE(off + k * 2)));
        break;
      case 4: // INT32
        tags.set(tag, Array.from({ length: count }, (_, k) => buf.readUInt32BE(off + k * 4)));
        break;
      case 5: // INT64
        tags.set(tag, Array.from({ length: count }, (_, k) => buf.readBigUInt64BE(off + k * 8)));
        break;
      case 6: // STRING
        tags.set(tag, cstr(off)[0]);
        break;
      case 8: // STRING_ARRAY
      case 9: {
        // I18NSTRING: the first (default locale) entry is what createrepo uses
        const out: string[] = [];
        let p = off;
        for (let k = 0; k < count; k++) {
          const [s, next] = cstr(p);
          out.push(s);
          p = next;
        }
        tags.set(tag, type === 9 ? out[0] ?? '' : out);
        break;
      }
      case 7: // BIN
        tags.set(tag, buf.subarray(off, off + count));
        break;
      default:
        break; // CHAR / INT8 / NULL: nothing createrepo needs
    }
  }
  return { tags, end };
}

export interface RpmDep {
  name: string;
  flags?: 'EQ' | 'LT' | 'GT' | 'LE' | 'GE';
  epoch?: string;
  ver?: string;
  rel?: string;
  pre?: boolean;
}

export interface RpmFile {
  path: string;
  type?: 'dir' | 'ghost';
}

export interface RpmChangelog {
  author: string;
  date: number;
  text: string;
}

export interface RpmInfo {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
  summary: string;
  description: string;
  packager: string;
  url: string;
  buildTime: number;
  buildHost: string;
  vendor: string;
  license: string;
  group: string;
  sourceRpm: string;
  installedSize: number;
  archiveSize: number;
  headerStart: number;
  headerEnd: number;
  provides: RpmDep[];
  requires: RpmDep[];
  conflicts: RpmDep[];
  obsoletes: RpmDep[];
  recommends: RpmDep[];
  suggests: RpmDep[];
  supplements: RpmDep[];
  enhances: RpmDep[];
  files: RpmFile[];
  changelogs: RpmChangelog[];
}

const SENSE_LESS = 2;
const SENSE_GREATER = 4;
const SENSE_EQUAL = 8;
const SENSE_PREREQ = 64;
const SENSE_SCRIPT_PRE = 1 << 9;
const SENSE_SCRIPT_POST = 1 << 10;
const SENSE_RPMLIB = 1 << 24;

function flagName(f: number): RpmDep['flags'] {
  switch (f & (SENSE_LESS | SENSE_GREATER | SENSE_EQUAL)) {
    case SENSE_EQUAL:
      return 'EQ';
    case SENSE_LESS:
      return 'LT';
    case SENSE_GREATER:
      return 'GT';
    case SENSE_LESS | SENSE_EQUAL:
      return 'LE';
    case SENSE_GREATER | SENSE_EQUAL:
      return 'GE';
    default:
      return undefined;
  }
}

/** "1:2.3-4" → epoch/ver/rel (createrepo defaults the epoch to "0"). */
export function splitEvr(evr: string): { epoch: string; ver: string; rel?: string } {
  let rest = evr;
  let epoch = '0';
  const c = rest.indexOf(':');
  if (c >= 0 && /^\d*$/.test(rest.slice(0, c))) {
    epoch = rest.slice(0, c) || '0';
    rest = rest.slice(c + 1);
  }
  const d = rest.lastIndexOf('-');
  return d >= 0 ? { epoch, ver: rest.slice(0, d), rel: rest.slice(d + 1) } : { epoch, ver: rest };
}

function deps(tags: Map<number, Value>, nameTag: number, flagTag: number, verTag: number, kind: 'requires' | 'other'): RpmDep[] {
  const names = (tags.get(nameTag) as string[] | undefined) ?? [];
  const flags = (tags.get(flagTag) as number[] | undefined) ?? [];
  const vers = (tags.get(verTag) as string[] | undefined) ?? [];
  const out: RpmDep[] = [];
  const seen = new Set<string>();
  names.forEach((name, i) => {
    const f = flags[i] ?? 0;
    if (kind === 'requires' && (f & SENSE_RPMLIB || name.startsWith('rpmlib('))) return;
    const d: RpmDep = { name };
    const fl = flagName(f);
    const v = vers[i] ?? '';
    if (fl && v) {
      d.flags = fl;
      Object.assign(d, splitEvr(v));
    }
    if (kind === 'requires' && f & (SENSE_PREREQ | SENSE_SCRIPT_PRE | SENSE_SCRIPT_POST)) d.pre = true;
    const key = JSON.stringify(d);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(d);
  });
  return out;
}

const str = (tags: Map<number, Value>, t: number) => {
  const v = tags.get(t);
  return typeof v === 'string' ? v : '';
};
const num = (tags: Map<number, Value>, t: number): number | undefined => {
  const v = tags.get(t);
  if (Array.isArray(v) && v.length) return Number(v[0]);
  return undefined;
};

/** Parse an .rpm's headers. */
export function parseRpm(buf: Buffer): RpmInfo {
  if (buf.length < 96 || buf.readUInt32BE(0) !== 0xedabeedb) throw new RpmError('not an RPM package (no lead magic)');
  const sig = readHeader(buf, 96);
  const headerStart = sig.end + ((8 - (sig.end % 8)) % 8);
  const h = readHeader(buf, headerStart);
  const t = h.tags;
  if (t.has(T.SOURCEPACKAGE) || !t.has(T.SOURCERPM)) throw new RpmError('source RPMs are not served by the yum repository');

  const dirs = (t.get(T.DIRNAMES) as string[] | undefined) ?? [];
  const bases = (t.get(T.BASENAMES) as string[] | undefined) ?? [];
  const idx = (t.get(T.DIRINDEXES) as number[] | undefined) ?? [];
  const modes = (t.get(T.FILEMODES) as number[] | undefined) ?? [];
  const fflags = (t.get(T.FILEFLAGS) as number[] | undefined) ?? [];
  const files: RpmFile[] = bases.map((b, i) => {
    const f: RpmFile = { path: `${dirs[idx[i] ?? 0] ?? ''}${b}` };
    if (((fflags[i] ?? 0) & (1 << 6)) !== 0) f.type = 'ghost';
    else if (((modes[i] ?? 0) & 0o170000) === 0o040000) f.type = 'dir';
    return f;
  });

  const clTimes = (t.get(T.CHANGELOGTIME) as number[] | undefined) ?? [];
  const clNames = (t.get(T.CHANGELOGNAME) as string[] | undefined) ?? [];
  const clTexts = (t.get(T.CHANGELOGTEXT) as string[] | undefined) ?? [];
  const changelogs = clTimes.map((date, i) => ({ date, author: clNames[i] ?? '', text: clTexts[i] ?? '' }));

  // Like createrepo_c: drop requires the package satisfies itself (same name/flags/version as one of its
  // provides, or one of its own files).
  const provides = deps(t, T.PROVIDENAME, T.PROVIDEFLAGS, T.PROVIDEVERSION, 'other');
  const own = new Set(provides.map((p) => `${p.name}\0${p.flags ?? ''}\0${p.epoch ?? ''}:${p.ver ?? ''}-${p.rel ?? ''}`));
  const fileSet = new Set(files.map((f) => f.path));
  const requires = deps(t, T.REQUIRENAME, T.REQUIREFLAGS, T.REQUIREVERSION, 'requires').filter(
    (r) => !own.has(`${r.name}\0${r.flags ?? ''}\0${r.epoch ?? ''}:${r.ver ?? ''}-${r.rel ?? ''}`) && !fileSet.has(r.name),
  );
  const longSize = t.get(T.LONGSIZE) as bigint[] | undefined;
  const sigArchive = (sig.tags.get(SIG_LONGARCHIVESIZE) as bigint[] | undefined)?.[0] ?? num(sig.tags, SIG_PAYLOADSIZE);
  return {
    name: str(t, T.NAME),
    epoch: num(t, T.EPOCH) ?? 0,
    version: str(t, T.VERSION),
    release: str(t, T.RELEASE),
    arch: str(t, T.ARCH),
    summary: str(t, T.SUMMARY),
    description: str(t, T.DESCRIPTION),
    packager: str(t, T.PACKAGER),
    url: str(t, T.URL),
    buildTime: num(t, T.BUILDTIME) ?? 0,
    buildHost: str(t, T.BUILDHOST),
    vendor: str(t, T.VENDOR),
    license: str(t, T.LICENSE),
    group: str(t, T.GROUP),
    sourceRpm: str(t, T.SOURCERPM),
    installedSize: longSize?.[0] !== undefined ? Number(longSize[0]) : num(t, T.SIZE) ?? 0,
    archiveSize: sigArchive !== undefined ? Number(sigArchive) : num(t, T.ARCHIVESIZE) ?? 0,
    headerStart,
    headerEnd: h.end,
    provides,
    requires,
    conflicts: deps(t, T.CONFLICTNAME, T.CONFLICTFLAGS, T.CONFLICTVERSION, 'other'),
    obsoletes: deps(t, T.OBSOLETENAME, T.OBSOLETEFLAGS, T.OBSOLETEVERSION, 'other'),
    recommends: deps(t, T.RECOMMENDNAME, T.RECOMMENDFLAGS, T.RECOMMENDVERSION, 'other'),
    suggests: deps(t, T.SUGGESTNAME, T.SUGGESTFLAGS, T.SUGGESTVERSION, 'other'),
    supplements: deps(t, T.SUPPLEMENTNAME, T.SUPPLEMENTFLAGS, T.SUPPLEMENTVERSION, 'other'),
    enhances: deps(t, T.ENHANCENAME, T.ENHANCEFLAGS, T.ENHANCEVERSION, 'other'),
    files,
    changelogs,
  };
}
