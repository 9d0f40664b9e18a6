// airlock's public library surface. The CLI imports only from here.
export { loadSite, type LoadedSite } from './load.ts';
export { check, CHECKS, type CheckId, type CheckResult, type Finding, type Severity } from './check.ts';
export { render, type HostRender, type Rendered, type RenderedFile, type RenderOptions } from './render/index.ts';
export { formatPlan, type Plan, type Step, type FileStep, type CommandStep, type AssertStep, type ServiceStep } from './plan.ts';
export { topology, type Topology } from './topology.ts';
export { AirlockError, ErrorCodes, errors, formatLocation, formatProblem, isAirlockError, type Location, type Problem } from './errors.ts';
export { readSite, writeRendered } from './io.ts';
export type { Site, Host, Network, Interface, Cluster } from './schema.ts';
