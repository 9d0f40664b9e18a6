// Lab machinery: boots the hosts of a site as real systemd containers (systemd-nspawn), each in its
// own network namespace, wired by veth pairs to bridges in a private "switch" namespace, with a
// bastion namespace for operator SSH. Nothing is attached to the machine's root namespace.
export type {
  ExecOptions,
  ExecResult,
  LabFile,
  LabHost,
  LabHostInterfaceState,
  LabHostState,
  LabHostStatus,
  LabInterface,
  LabProgress,
  LabProgressEvent,
  LabResources,
  LabRoute,
  LabSpec,
  LabState,
  LabStatus,
} from './types.ts';
export { LabError, isLabError } from './errors.ts';
export { ensureImage, BASE_PACKAGES, imageKey, imagePackageList, machineMirror } from './image.ts';
export type { EnsureImageOptions, ImageResult } from './image.ts';
export { labUp, LAB_PROGRAMS } from './up.ts';
export type { LabUpOptions } from './up.ts';
export { labDown } from './down.ts';
export type { LabDownOptions } from './down.ts';
export { labStatus } from './status.ts';
export { bastionCommand, bastionExec, hostCommand, hostExec, probeSsh, waitForSsh } from './hostexec.ts';
export type { LabCommand } from './hostexec.ts';
export { loadState } from './state.ts';
export { validateSpec } from './spec.ts';
