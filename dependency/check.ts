/**
 * A dependency decided by a user function, looked up by name in the context's `CheckRegistry`
 * once the edges allow the job to run. Stored as `{ name, options }`.
 */
import type { DependencyContext, DependencyDecision } from './manager';
import { isDependencyState } from './manager';
import { EdgeDependency, type EdgeOptions } from './base';
import { checkCheckName, type CheckResult } from './check-registry';
import { copyPlainData } from './validate';
import { describe } from '../lib/validate';

/** Options of a {@link CheckDependency}. */
export interface CheckDependencyOptions extends EdgeOptions {
  /** Settings handed to the check function; plain data, stored with the job. */
  options?: Record<string, unknown>;
}

/** Runs the check function registered under `name`. */
export class CheckDependency extends EdgeDependency {
  /** Stored type name. */
  static readonly TYPE = 'check';
  readonly type = CheckDependency.TYPE;
  /** Name of the check function. */
  readonly name: string;
  readonly #options: Record<string, unknown>;

  constructor(name: string, options: CheckDependencyOptions = {}) {
    super(options);
    this.name = checkCheckName(name);
    this.#options = copyPlainData(options.options ?? {}, `check ${this.name}`);
  }

  /** The options handed to the check function (a copy). */
  options(): Record<string, unknown> {
    return structuredClone(this.#options);
  }

  protected async ownState(ctx: DependencyContext): Promise<DependencyDecision> {
    const fn = ctx.checks.get(this.name);
    if (fn === undefined) {
      return {
        state: 'unresolved',
        reason: `no check named "${this.name}" is registered in this process`,
      };
    }
    let result: CheckResult;
    try {
      result = await fn({
        name: this.name,
        options: this.options(),
        edges: this.edges(),
        now: ctx.now,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { state: 'unresolved', reason: `check "${this.name}" threw: ${message}` };
    }
    return normalize(this.name, result);
  }

  protected storedOptions(): Record<string, unknown> {
    return { name: this.name, options: this.options() };
  }
}

/** Vets what a user function returned; plain JavaScript callers can return anything. */
function normalize(name: string, result: unknown): DependencyDecision {
  if (isDependencyState(result)) return { state: result };
  if (
    typeof result === 'object' &&
    result !== null &&
    'state' in result &&
    isDependencyState(result.state)
  ) {
    const reason =
      'reason' in result && typeof result.reason === 'string' ? result.reason : undefined;
    return reason === undefined ? { state: result.state } : { state: result.state, reason };
  }
  return {
    state: 'unresolved',
    reason: `check "${name}" returned an invalid state: ${describe(result)}`,
  };
}
