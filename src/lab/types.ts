// Public types of the lab machinery.

export interface LabFile {
  /** Absolute path inside the host. */
  path: string;
  content: string;
  /** Octal, default "0644". Owner is always root. */
  mode?: string;
}

export interface LabInterface {
  /** In-host name, e.g. "enp0s9" (at most 15 characters). */
  name: string;
  /** A LabSpec network name. */
  network: string;
}

export interface LabHost {
  name: string;
  interfaces: LabInterface[];
  /** Written into the host's overlay before boot. */
  files: LabFile[];
}

export interface LabRoute {
  to: string;
  via: string;
}

export interface LabSpec {
  /** Unique short prefix [a-z0-9]{2,6}; every resource name starts with it. */
  prefix: string;
  /** Absolute directory owned by this lab: state.json, ssh key, overlays, logs. */
  stateDir: string;
  /** One Linux bridge per network, in the switch namespace `${prefix}-sw`. */
  networks: { name: string }[];
  hosts: LabHost[];
  /** A plain network namespace `${prefix}-bastion` on one network, where operator SSH sessions run. */
  bastion: { network: string; address: string; routes?: LabRoute[] };
  /** Extra Debian packages for the base image. */
  imagePackages: string[];
  /** Where cached base images live, e.g. /var/cache/airlock/images. */
  imageDir: string;
}

export interface LabProgressEvent {
  host?: string;
  phase: string;
  detail?: string;
}

export type LabProgress = (event: LabProgressEvent) => void;

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
}

/** A finished command: the transports' RunResult (exit code 128+N when killed by signal N, 124 on our timeout). */
export type { RunResult as ExecResult } from '../transport/types.ts';

export interface LabHostInterfaceState {
  name: string;
  network: string;
  /** The other end of the veth pair, in the switch namespace, attached to `bridge`. */
  peer: string;
  bridge: string;
}

export interface LabHostState {
  name: string;
  /** Network namespace (/run/netns/NAME). */
  netns: string;
  /** systemd-nspawn machine name. */
  machine: string;
  /** PID of the systemd-nspawn process. */
  pid?: number;
  /** PID (in our PID namespace) of the container's init (its PID 1). */
  leaderPid?: number;
  /** Merged overlay: the host's root file system as seen from the machine. */
  root: string;
  upper: string;
  work: string;
  /** systemd-nspawn's lock file for this root (left behind only if nspawn is SIGKILLed). */
  nspawnLock?: string;
  /** systemd-nspawn's output (the container console). */
  log: string;
  interfaces: LabHostInterfaceState[];
  /** Result of `systemctl is-system-running --wait` at the end of labUp ("running", "degraded"). */
  systemState?: string;
}

/** Everything labUp creates, recorded before (or as) it is created, so labDown can undo a crashed up. */
export interface LabResources {
  netns: string[];
  links: { netns: string; name: string; kind: 'bridge' | 'veth' }[];
  mounts: string[];
  processes: { host: string; pid: number; machine: string; netns: string }[];
  /** Per-container cgroup directories (absent in state files written before they existed). */
  cgroups?: string[];
}

export interface LabState {
  version: 1;
  prefix: string;
  stateDir: string;
  phase: 'starting' | 'up' | 'failed';
  error?: string;
  startedAt: string;
  /** Image root used as the overlay lower dir. */
  image?: string;
  switch: { netns: string; bridges: { network: string; bridge: string }[] };
  hosts: LabHostState[];
  bastion: {
    netns: string;
    network: string;
    address: string;
    routes: LabRoute[];
    /** Interface name inside the bastion namespace, and its peer on the bridge. */
    interface: string;
    peer: string;
  };
  sshKey: { privateKeyPath: string; publicKeyPath: string; publicKey: string };
  resources: LabResources;
}

export interface LabHostStatus {
  name: string;
  netns: string;
  netnsExists: boolean;
  pid?: number;
  /** The recorded systemd-nspawn PID is alive and still is our systemd-nspawn. */
  pidAlive: boolean;
  leaderPid?: number;
  /** `systemctl is-system-running` inside the container, when it is up. */
  systemState?: string;
  /** IPv4 addresses on the host's interfaces (CIDR). */
  addresses: string[];
  /**
   * sshd answered (SSH banner) on port 22: probed from the bastion when the host has an address on
   * the bastion's network, else on the host's own loopback.
   */
  ssh: { reachable: boolean; address?: string; from: 'bastion' | 'host-loopback' | 'none' };
  /** Processes in the host's network namespace and their summed proportional set size. */
  processes: number;
  pssKiB: number;
}

export interface LabStatus {
  prefix: string;
  stateDir: string;
  phase: LabState['phase'] | 'absent';
  switchNetnsExists: boolean;
  bastion: { netns: string; exists: boolean };
  hosts: LabHostStatus[];
  /** Mounts still present under stateDir. */
  mounts: string[];
}
