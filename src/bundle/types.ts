// A bundle: everything the offline side needs, carried over the air gap.
//
// Words used throughout:
//   PlannedArtifact  what the site needs (pure, from site.yaml): `airlock bundle plan`
//   Resolution       a planned artifact looked up at its source, before anything is downloaded
//   Artifact         a fetched artifact as recorded in the signed bundle index: its blobs by sha256
import type { Os } from '../schema.ts';

export type ArtifactKind = 'image' | 'deb' | 'rpm' | 'python' | 'chart' | 'gomod' | 'file';
export const ARTIFACT_KINDS: readonly ArtifactKind[] = ['image', 'deb', 'rpm', 'python', 'chart', 'gomod', 'file'];

export interface PlannedArtifact {
  kind: ArtifactKind;
  /**
   * image: the upstream reference with registry, "docker.io/calico/node:v3.28.2";
   * deb/rpm: the package name (dependencies are added when resolved); python/chart: the project/chart
   * name; gomod: the module path; file: the file name under /files/.
   */
  name: string;
  /** Exact version when the site pins one (python, chart, gomod; deb "=version"). */
  version?: string;
  /** deb/rpm: the host OS the package is for. */
  os?: Os;
  /** chart: the repository name from bundle.sources.helm. */
  repo?: string;
  /** file: where it is downloaded from, and its sha256 (hex). */
  url?: string;
  sha256?: string;
  /** image: where the nodes pull it on the site's mirror (repository path and tag, no host), like "k8s/pause:3.9". */
  targets?: string[];
  /** Why it is in the bundle, for people: "kubeadm v1.30.4", "bundle.python", "node packages (cp1, w1)". */
  reason: string;
}

export interface BundlePlan {
  site: string;
  artifacts: PlannedArtifact[];
  /** Things the plan knows it cannot cover (e.g. a Kubernetes version not in the image table). */
  warnings: string[];
}

/** One blob of an artifact, with what it is to that artifact. */
export interface ArtifactBlob {
  digest: string;
  size: number;
  /** image: index | manifest | config | layer; deb | rpm | wheel | sdist | chart | info | mod | zip | file */
  role: string;
}

/** A fetched artifact as recorded in the bundle index. */
export interface Artifact {
  kind: ArtifactKind;
  /** The planned name (image: upstream reference; deb: package name, dependencies included as their own artifacts). */
  name: string;
  version: string;
  blobs: ArtifactBlob[];
  /**
   * What loading needs, per kind: image {digest, mediaType, targets (comma-separated repo:tag)};
   * deb {filename, os}; rpm {filename, os}; python {filename, requiresPython?}; chart {filename};
   * gomod {module, version}; file {name}.
   */
  meta: Record<string, string>;
}

/** A planned artifact that its source does not have (or could not be asked about). */
export interface Missing {
  kind: ArtifactKind;
  name: string;
  version?: string;
  reason: string;
}

/** Progress callbacks for long work. */
export interface Progress {
  /** A new stage of the work, for people ("resolving 12 artifacts"). */
  phase?(text: string): void;
  /** How many bytes the whole job will move, once known. */
  total?(bytes: number): void;
  /** An artifact (or blob) started: total bytes when known. */
  start?(label: string, total?: number): void;
  /** Bytes moved for the current work. */
  bytes?(n: number): void;
  done?(label: string, skipped: boolean): void;
}

/** What every fetcher gets (the connected side). */
export interface FetchContext {
  /** Where blobs go: the bundle's own content-addressed store. */
  store: import('../store/index.ts').Store;
  sources: import('../schema.ts').BundleSources;
  /** Scratch space for tools (apt state, dnf cache); on the store's filesystem; the fetcher may create sub-directories. */
  workDir: string;
  /** Parallel downloads (default 4). */
  concurrency: number;
  /** Look up each artifact and its closure without downloading blobs (small metadata documents may be read). */
  dryRun: boolean;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface FetchResult {
  /** dryRun: blobs are listed with their sizes (digests where the source says them) but nothing is stored. */
  artifacts: Artifact[];
  missing: Missing[];
  /** Bytes downloaded by this run, and bytes already in the store (skipped). */
  downloadedBytes: number;
  skippedBytes: number;
}

/** One kind's fetcher: looks up (and unless dryRun downloads) the planned artifacts of its kind. */
export type Fetcher = (ctx: FetchContext, items: readonly PlannedArtifact[]) => Promise<FetchResult>;
