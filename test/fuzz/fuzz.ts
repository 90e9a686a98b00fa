/**
 * Shared helpers of the fuzz tests: the backends they run against, the check that an action
 * either succeeds or fails with a typed error (leaving the store unchanged), run counters for the
 * summary, and the generators of hostile values.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DroverError } from '../../lib';
import { memoryBackend, mongoBackend } from '../support/backends';

/** Both stores; fuzz suites that touch a store run against each. */
export const BACKENDS = [
  ['memory', memoryBackend],
  ['mongodb', mongoBackend],
] as const;

/** The suite's seed: CI runs are repeatable; `FUZZ_SEED=<n>` replays, `FUZZ_SEED=random` explores. */
export const FUZZ_SEED_DEFAULT = 20261122;

/** fast-check settings: moderate run counts (the suite stays fast) and the seed above. */
export function fcParams(numRuns: number): fc.Parameters<unknown> {
  const given = process.env.FUZZ_SEED;
  const seed =
    given === 'random' ? undefined : given === undefined ? FUZZ_SEED_DEFAULT : Number(given);
  return { numRuns, seed, verbose: 1 };
}

/** Runs and outcomes per property, printed once at the end of the fuzz files. */
export const fuzzCounts = new Map<string, { runs: number; ok: number; rejected: number }>();

export function count(name: string, outcome: 'ok' | 'rejected'): void {
  const c = fuzzCounts.get(name) ?? { runs: 0, ok: 0, rejected: 0 };
  c.runs += 1;
  c[outcome] += 1;
  fuzzCounts.set(name, c);
}

/** One line per property whose name starts with `prefix`: runs, successes, typed rejections. */
export function fuzzSummary(prefix: string): string {
  const mine = [...fuzzCounts].filter(([k]) => k.startsWith(prefix));
  const total = mine.reduce((n, [, c]) => n + c.runs, 0);
  return [
    `      ${prefix}: ${total} generated inputs`,
    ...mine.map(
      ([k, c]) => `        ${k}: ${c.runs} (${c.ok} accepted, ${c.rejected} typed rejections)`,
    ),
  ].join('\n');
}

/** Describes any thrown value for an assertion message. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.constructor.name}: ${err.message.slice(0, 300)}`;
  return `non-Error thrown: ${String(err)}`;
}

/**
 * Runs `action`: it must succeed, or throw a DroverError with a DROVER_ code (of one of `allowed`
 * classes when given) and leave `size()` unchanged. Returns which happened.
 */
export async function typedOrOk(
  name: string,
  action: () => Promise<unknown> | unknown,
  options: {
    size?: () => Promise<number>;
    allowed?: (abstract new (...a: never[]) => Error)[];
  } = {},
): Promise<'ok' | 'rejected'> {
  const before = options.size ? await options.size() : 0;
  try {
    await action();
    count(name, 'ok');
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof DroverError, `untyped error: ${describeError(err)}`);
    assert.match(err.code, /^DROVER_[A-Z_]+$/);
    assert.ok(err.message.length > 0, 'the error says what is wrong');
    if (options.allowed) {
      assert.ok(
        options.allowed.some((cls) => err instanceof cls),
        `unexpected error class ${describeError(err)}`,
      );
    }
    if (options.size) assert.equal(await options.size(), before, 'nothing written on error');
    count(name, 'rejected');
    return 'rejected';
  }
}

/** Values no payload may hold: functions, symbols, BigInt, non-finite numbers, invalid dates... */
export const unstorable: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(() => 1),
  fc.constant(function named() {}),
  fc.string().map((s) => Symbol(s)),
  fc.bigInt(),
  fc.constantFrom(NaN, Infinity, -Infinity),
  fc.constant(new Date(NaN)),
  fc.constant(new Map([[1, 2]])),
  fc.constant(new Set([1])),
);

/** `bad` buried at a random depth inside otherwise plain JSON. */
export function buried(bad: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc
    .tuple(fc.jsonValue({ maxDepth: 2 }), fc.nat(3), bad, fc.string({ maxLength: 8 }))
    .map(([json, depth, value, key]) => {
      let v: unknown = value;
      for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { [`k${key}`]: v, json } : [json, v];
      return v;
    });
}

/** Operator-shaped inputs: objects with `$` keys, `$`-prefixed and JSON-looking strings. */
export const operatorLike: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    { $ne: null },
    { $gt: '' },
    { $regex: '.*' },
    { $where: 'sleep(1000)' },
    { $exists: true },
    { $in: ['a', 'b'] },
    { $nin: [] },
    ['a', 'b'],
    '{"$ne": null}',
    '{"$gt": ""}',
    '$where',
    '$ne',
    '.*',
    '^',
    '',
  ),
  fc.dictionary(
    fc.string({ minLength: 1, maxLength: 6 }).map((s) => `$${s}`),
    fc.jsonValue({ maxDepth: 1 }),
    // As parsed from JSON or a query: objects with a prototype.
    { minKeys: 1, maxKeys: 2, noNullPrototype: true },
  ),
  fc.string({ maxLength: 12 }).map((s) => `$${s}`),
);
