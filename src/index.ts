// airlock's public library surface. The CLI imports only from here.
export { loadSite, type LoadedSite } from './load.ts';
export { check, CHECKS, type CheckId, type CheckResult, type Finding, type Severity } from './check.ts';
export { render, type HostRender, type Rendered, type RenderedFile, type RenderOptions } from './render/index.ts';
export { formatPlan, type Plan, type Step, type FileStep, type CommandStep, type AssertStep, type ServiceStep } from './plan.ts';
export { topology, type Topology } from './topology.ts';
export { AirlockError, ErrorCodes, errors, formatLocation, formatProblem, isAirlockError, type Location, type Problem } from './errors.ts';
export { readSite, writeRendered } from './io.ts';
export { applyPlan, applySite, type ApplyOptions, type HostApplyResult, type StepOutcome } from './apply.ts';
export { verifyProbes, runProbes, OUTSIDER, type Probe, type ProbeResult, type VerifyOptions, type VerifyReport, type TransportFor } from './verify.ts';
export { formatVerifyTerminal, topologySvg, verifyHtml } from './report.ts';
export { labLayout, labPrefix, LabLayoutError, type LabLayout } from './labsite.ts';
export { findRehearsal, labStateDir, rehearsalDown, rehearsalTransports, rehearsalUp, DEFAULT_STATE_ROOT, type Rehearsal } from './rehearse.ts';
export { hostCommand, labStatus, LabError, isLabError, type LabProgressEvent } from './lab/index.ts';
export { sshTransport, TransportError, type Transport } from './transport/index.ts';
export type { Site, Host, Network, Interface, Cluster } from './schema.ts';
export { ipamPlan, formatIpamPlan, type IpamPlan } from './cluster/ipam.ts';
export { siteImages, mirrorRegistry, KUBE_IMAGES, type ImageList, type ImageRef } from './cluster/images.ts';
export { calicoInstallation, calicoPoolManifest, calicoNodeEnv } from './cluster/calico.ts';
