/** Dependency managers: what a job waits for before it may run. */
export {
  DEPENDENCY_STATES,
  isDependencyState,
  type DependencyContext,
  type DependencyDecision,
  type DependencyManager,
  type DependencyState,
  type EdgeFailurePolicy,
  type EdgeState,
} from './manager';
export { classifyEdgeState, evaluateEdges, type EdgeOutcome } from './edges';
export { EdgeDependency, type EdgeOptions } from './base';
export { AlwaysDependency } from './always';
export { JobEdgesDependency, type JobEdgesOptions } from './job-edges';
export { CreatesFileDependency, type CreatesFileOptions } from './creates-file';
export { LocalFileDependency, type LocalFileOptions } from './local-file';
export { CheckDependency, type CheckDependencyOptions } from './check';
export {
  CheckRegistry,
  defaultCheckRegistry,
  registerCheck,
  type CheckContext,
  type CheckFunction,
  type CheckResult,
  type RegisterCheckOptions,
} from './check-registry';
export {
  DependencyType,
  afterJobs,
  always,
  check,
  createsFile,
  dependencyFromStored,
  localFile,
} from './factory';
export { DEFAULT_CYCLE_MAX_NODES, findCycle, type FindCycleOptions } from './cycle';
