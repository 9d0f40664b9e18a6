// The content-addressed store, its OCI registry metadata and the image importers.
export { StoreError, isStoreError, type BlobInfo, type Store, type StoreErrorCode } from './types.ts';
export { openStore } from './fs-store.ts';
export { isDigest, digestOf, DIGEST_RE } from './digest.ts';
export { OciMeta, OciError, isValidName, isValidTag, parseManifest, MT, type Descriptor, type ManifestRecord, type OciErrorCode } from './oci.ts';
export { Uploads, UploadError, type UploadSession } from './uploads.ts';
export { importOciLayout, importDockerArchive, ImportError, type ImportOptions, type ImportResult } from './import.ts';
export { collectGarbage, GcError, DEFAULT_GC_GRACE_MS, type GcOptions, type GcResult } from './gc.ts';
