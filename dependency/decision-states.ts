/** The answers a dependency manager can give, in a leaf module (no imports). */
/**
 * Every answer a manager can give (amboy semantics):
 * - `ready`: the job may run now;
 * - `passed`: the job's work is already done; it is marked completed without running;
 * - `blocked`: not yet; ask again later (e.g. an edge job is still running);
 * - `unresolved`: can never be satisfied (an edge failed or does not exist); the job fails.
 */
export const DEPENDENCY_STATES = ['ready', 'passed', 'blocked', 'unresolved'] as const;
/** One of {@link DEPENDENCY_STATES}. */
export type DependencyState = (typeof DEPENDENCY_STATES)[number];

/** True when `value` is a {@link DependencyState}; used to vet what user check functions return. */
export function isDependencyState(value: unknown): value is DependencyState {
  return typeof value === 'string' && (DEPENDENCY_STATES as readonly string[]).includes(value);
}
