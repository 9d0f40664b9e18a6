// The content-addressed store's public shape. One store holds every mirror's content (OCI blobs and
// manifests, APT/YUM/PyPI/Helm/Go/files); repos keep their small documents (indexes, tags) in `meta`.

export interface BlobInfo {
  /** "sha256:<64 lowercase hex>" */
  digest: string;
  size: number;
}

export interface Store {
  readonly root: string;
  /** Stream in, hashing while writing a temp file in root/tmp; fsync; rename to root/blobs/sha256/<hex>.
   * Concurrent puts of the same content are safe. With expectedDigest, a mismatch throws
   * StoreError('digest-mismatch') and nothing is stored. */
  put(
    input: NodeJS.ReadableStream | Buffer | string,
    opts?: { expectedDigest?: string },
  ): Promise<BlobInfo & { created: boolean }>;
  has(digest: string): Promise<boolean>;
  stat(digest: string): Promise<BlobInfo | undefined>;
  /** Absolute path of a stored blob (for fs.createReadStream / sendfile-like serving); throws
   * StoreError('invalid-digest') for a malformed digest, never a path outside root. */
  blobPath(digest: string): string;
  /** A stream of the blob (or of bytes start..end inclusive), or undefined when it is absent. */
  open(digest: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream | undefined>;
  delete(digest: string): Promise<boolean>;
  /** Small named JSON/text documents (indexes, tags, catalogs) stored atomically under root/meta/<ns>/<key>;
   * keys validated (no "..", no absolute, [A-Za-z0-9._/@+-] only). */
  readMeta(ns: string, key: string): Promise<Buffer | undefined>;
  writeMeta(ns: string, key: string, data: Buffer | string): Promise<void>;
  listMeta(ns: string, prefix?: string): Promise<string[]>;
  deleteMeta(ns: string, key: string): Promise<boolean>;
  /** Re-hash every blob; report corrupt ones (and temp files left by crashes, which it removes). */
  verify(opts?: {
    onProgress?: (done: number, total: number) => void;
    /** upload sessions idle longer than this are removed too (default 24 h) */
    uploadMaxIdleMs?: number;
  }): Promise<{ ok: number; corrupt: string[]; removedTemp: number }>;
}

export type StoreErrorCode = 'digest-mismatch' | 'invalid-digest' | 'invalid-key' | 'io';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

export const isStoreError = (e: unknown): e is StoreError => e instanceof StoreError;
