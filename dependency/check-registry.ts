/**
 * Named check functions for the `check` manager. Only the name is stored with a job, so every
 * worker process must register the same functions under the same names before it starts.
 */
import { InvalidArgumentError } from '../lib/errors';
import { describe } from '../lib/validate';
import type { DependencyState } from './decision-states';

/** What a check function receives. */
export interface CheckContext {
  /** The name the check was registered under. */
  readonly name: string;
  /** The options stored with the job's dependency (a copy per call). */
  readonly options: Record<string, unknown>;
  /** The job's edges; all of them allowed the job to run before the check was called. */
  readonly edges: readonly string[];
  /** Time of the decision. */
  readonly now: Date;
}

/** A check's answer: a state, or a state with a reason for the job's record. */
export type CheckResult = DependencyState | { state: DependencyState; reason?: string };

/**
 * A user-defined dependency condition. Return `blocked` to be asked again later; a thrown
 * error makes the dependency `unresolved` (the job fails with the error's message).
 */
export type CheckFunction = (ctx: CheckContext) => Promise<CheckResult> | CheckResult;

/** Options of {@link CheckRegistry.register}. */
export interface RegisterCheckOptions {
  /** Replace a function already registered under the name instead of throwing. */
  replace?: boolean;
}

const CHECK_NAME = /^[^\u0000$][^\u0000]{0,199}$/;

/** Validates a check name: 1-200 characters, no NUL, not starting with `$`. */
export function checkCheckName(name: unknown): string {
  if (typeof name !== 'string' || !CHECK_NAME.test(name)) {
    throw new InvalidArgumentError(
      `invalid check name ${describe(name)}: use 1-200 characters, not starting with $`,
    );
  }
  return name;
}

/** A table of named check functions. */
export class CheckRegistry {
  readonly #checks = new Map<string, CheckFunction>();

  /**
   * Registers `fn` under `name`. Registering the same function again is a no-op (so a module
   * imported twice does no harm); a different function needs `{ replace: true }`.
   * @throws InvalidArgumentError for a bad name, a non-function, or a clash.
   */
  register(name: string, fn: CheckFunction, options: RegisterCheckOptions = {}): void {
    checkCheckName(name);
    if (typeof fn !== 'function')
      throw new InvalidArgumentError(`check ${describe(name)}: not a function`);
    const existing = this.#checks.get(name);
    if (existing !== undefined && existing !== fn && options.replace !== true) {
      throw new InvalidArgumentError(
        `a different check is already registered as ${describe(name)}`,
      );
    }
    this.#checks.set(name, fn);
  }

  /** Removes a check; returns whether one was registered. */
  unregister(name: string): boolean {
    return this.#checks.delete(name);
  }

  /** The function registered under `name`, if any. */
  get(name: string): CheckFunction | undefined {
    return this.#checks.get(name);
  }

  /** Whether a function is registered under `name`. */
  has(name: string): boolean {
    return this.#checks.has(name);
  }

  /** Registered names, in registration order. */
  names(): string[] {
    return [...this.#checks.keys()];
  }
}

/** The registry queues use unless given another. */
export const defaultCheckRegistry = new CheckRegistry();

/** Registers a check function, in {@link defaultCheckRegistry} unless another registry is given. */
export function registerCheck(
  name: string,
  fn: CheckFunction,
  registry: CheckRegistry = defaultCheckRegistry,
  options: RegisterCheckOptions = {},
): void {
  registry.register(name, fn, options);
}
