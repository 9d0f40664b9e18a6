// Bundles: plan from the site, create on the connected side, verify, load on the admin host, diff.
export type { Artifact, ArtifactBlob, ArtifactKind, BundlePlan, Fetcher, FetchContext, FetchResult, Missing, PlannedArtifact, Progress } from './types.ts';
export { ARTIFACT_KINDS } from './types.ts';
export { bundlePlan, formatBundlePlan, withoutRegistry } from './plan.ts';
export { INDEX_FILE, SIG_FILE, PART_FILE, parseIndex, parseSize, serializeIndex, signIndex, checkSignature, generateSigningKey, parseSigningKey, fingerprintOf, type BundleIndex, type BundleSignature, type SigningKey, type PartManifest } from './format.ts';
export { loadOrCreateSigningKey, KeyFileError } from './keyfile.ts';
export { createBundle, resolveBundle, type CreateOptions, type CreateResult } from './create.ts';
export { layoutParts, writeParts } from './parts.ts';
export { openBundle, BundleOpenError } from './source.ts';
export { verifyBundle, completeness, type BundleCheck, type BundleProblem, type BundleProblemCode, type VerifyOptions } from './verify.ts';
export { loadBundle, publish, type LoadOptions, type LoadResult } from './load.ts';
export { diffIndexes, writeIncremental, type BundleDiff } from './diff.ts';
export { defaultFetchers } from './fetch/index.ts';
