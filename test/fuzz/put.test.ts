/**
 * `put` and `putMany` with hostile input, property-based, against both stores: random payloads,
 * values no document can hold (functions, symbols, BigInt, NaN, invalid dates, Maps), circular
 * objects, payloads over MongoDB's 16 MB limit, invalid IDs, queue names and options, dates out
 * of range. Each input is stored, or rejected with a typed error (a DroverError with a code) that
 * leaves the store unchanged; nothing crashes and nothing throws an untyped error.
 * Failures print fast-check's seed; FUZZ_SEED=<seed> replays it.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  InvalidArgumentError,
  PayloadTooLargeError,
  QueueGroup,
  type JobOptions,
  type Queue,
  type QueueOptions,
} from '../../lib';
import type { Backend } from '../support/backends';
import { FuzzPayloadJob } from '../support/chaos-jobs';
import { BACKENDS, buried, fcParams, fuzzSummary, typedOrOk, unstorable } from './fuzz';

const MB = 1024 * 1024;

for (const [name, makeBackend] of BACKENDS) {
  describe(`fuzz: put and putMany (${name})`, function () {
    this.timeout(60_000);
    const tag = `put/${name}`;
    let backend: Backend;
    let group: QueueGroup;
    let queue: Queue;
    let n = 0;
    const id = () => `f${++n}`;
    const size = async () => (await queue.stats()).total;

    before(async () => {
      backend = makeBackend();
      await backend.reset();
      group = backend.group();
      queue = await group.get('fuzz');
    });
    after(async () => {
      await backend.close();
      console.log(fuzzSummary(tag));
    });

    it('stores or rejects (typed) any payload, and reads back what it stored', async () => {
      const anything = fc.anything({
        maxDepth: 3,
        withBigInt: true,
        withBoxedValues: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withNullPrototype: true,
        withObjectString: true,
        withTypedArray: true,
        withSparseArray: true,
      });
      await fc.assert(
        fc.asyncProperty(anything, async (data) => {
          const job = FuzzPayloadJob.create({ data }, { id: id() });
          const outcome = await typedOrOk(`${tag} payload`, () => queue.put(job), { size });
          if (outcome === 'ok') {
            const back = await queue.get(job.id);
            assert.ok(back instanceof FuzzPayloadJob, 'a stored job loads as its class');
          }
        }),
        fcParams(150),
      );
    });

    it('rejects values no document can hold with InvalidArgumentError, storing nothing', async () => {
      await fc.assert(
        fc.asyncProperty(buried(unstorable), async (data) => {
          const job = FuzzPayloadJob.create({ data }, { id: id() });
          const outcome = await typedOrOk(`${tag} unstorable`, () => queue.put(job), {
            size,
            allowed: [InvalidArgumentError],
          });
          assert.equal(outcome, 'rejected');
        }),
        fcParams(100),
      );
    });

    it('rejects reserved keys ($-prefixed, NUL) in payloads', async () => {
      const key = fc.oneof(
        fc.string({ maxLength: 8 }).map((s) => `$${s}`),
        fc.string({ maxLength: 8 }).map((s) => `a\u0000${s}`),
      );
      await fc.assert(
        fc.asyncProperty(buried(key.map((k) => ({ [k]: 1 }))), async (data) => {
          const job = FuzzPayloadJob.create({ data }, { id: id() });
          const outcome = await typedOrOk(`${tag} reserved key`, () => queue.put(job), {
            size,
            allowed: [InvalidArgumentError],
          });
          assert.equal(outcome, 'rejected');
        }),
        fcParams(50),
      );
    });

    it('rejects circular payloads', async () => {
      const shapes = fc.constantFrom<() => unknown>(
        () => {
          const o: Record<string, unknown> = { a: 1 };
          o.self = o;
          return o;
        },
        () => {
          const a: unknown[] = [1];
          a.push(a);
          return a;
        },
        () => {
          const x: Record<string, unknown> = {};
          const y = { x: [x] };
          x.y = { deeper: y };
          return { x };
        },
      );
      await fc.assert(
        fc.asyncProperty(shapes, fc.jsonValue({ maxDepth: 1 }), async (make, json) => {
          const job = FuzzPayloadJob.create({ data: [json, make()] }, { id: id() });
          const outcome = await typedOrOk(`${tag} circular`, () => queue.put(job), {
            size,
            allowed: [InvalidArgumentError],
          });
          assert.equal(outcome, 'rejected');
        }),
        fcParams(20),
      );
    });

    it('rejects payloads over the document limit, alone or in a batch, storing none', async () => {
      for (const bytes of [15.5 * MB, 17 * MB]) {
        const huge = FuzzPayloadJob.create({ data: 'x'.repeat(bytes) }, { id: id() });
        await typedOrOk(`${tag} huge`, () => queue.put(huge), {
          size,
          allowed: [PayloadTooLargeError],
        });
        const small = FuzzPayloadJob.create({ data: 'ok' }, { id: id() });
        const outcome = await typedOrOk(`${tag} huge`, () => queue.putMany([small, huge]), {
          size,
          allowed: [PayloadTooLargeError],
        });
        assert.equal(outcome, 'rejected');
      }
      // Under the limit one by one but over 16 MB together: stored (the insert is split).
      const big = Array.from({ length: 5 }, () =>
        FuzzPayloadJob.create({ data: 'y'.repeat(4 * MB) }, { id: id() }),
      );
      const before = await size();
      await queue.putMany(big);
      assert.equal(await size(), before + 5);
    });

    it('stores or rejects (typed) any job ID', async () => {
      const ids = fc.oneof(
        fc.string({ maxLength: 210 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.anything({ maxDepth: 1 }),
        fc.constantFrom('', '#', 'a#1', '$x', '.', '..', 'a'.repeat(200), 'a'.repeat(201)),
      );
      await fc.assert(
        fc.asyncProperty(ids, async (jobId) => {
          const job = FuzzPayloadJob.create({ data: 1 });
          job.id = jobId as string;
          job.retryInfo.baseJobId = '';
          await typedOrOk(`${tag} job ID`, () => queue.put(job), { size });
        }),
        fcParams(150),
      );
    });

    it('opens or rejects (typed) any queue name, with any queue options', async () => {
      const names = fc.oneof(
        fc.string({ maxLength: 110 }),
        fc.anything({ maxDepth: 1 }),
        fc.constantFrom('', 'a/b', 'a b', '$q', 'q'.repeat(100), 'q'.repeat(101)),
      );
      await fc.assert(
        fc.asyncProperty(names, async (queueName) => {
          await typedOrOk(`${tag} queue name`, async () => {
            const q = await group.get(queueName as string);
            await q.put(FuzzPayloadJob.create({ data: 1 }, { id: id() }));
          });
        }),
        fcParams(100),
      );
    });

    it('opens or rejects (typed) a queue with any numeric options', async () => {
      const ms = fc.oneof(
        { arbitrary: fc.integer({ min: 1, max: 60_000 }), weight: 4 },
        { arbitrary: fc.double(), weight: 1 },
        { arbitrary: fc.constantFrom(0, -1, 0.5, 1e12, NaN, Infinity), weight: 1 },
      );
      const options = fc.record(
        {
          workers: ms,
          lockTimeoutMs: ms,
          heartbeatMs: ms,
          pollMinMs: ms,
          pollMaxMs: ms,
          drainTimeoutMs: ms,
          reclaimEveryMs: ms,
          excludeTypes: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(options, async (opts) => {
          await typedOrOk(`${tag} queue options`, async () => {
            const q = await group.get(`opts-${++n}`, opts as QueueOptions);
            await q.close();
          });
        }),
        fcParams(100),
      );
    });

    // Regression (lib/queue/queue-options.ts resolveQueueOptions): only the numbers used to be checked;
    // `excludeTypes`, `registry`, `logger` and `now` of the wrong type failed later with a
    // TypeError.
    it('rejects queue options of the wrong type with a typed error', async () => {
      const wrong = fc.anything({ maxDepth: 1 });
      const options = fc.record(
        {
          workers: wrong,
          lockTimeoutMs: wrong,
          excludeTypes: wrong,
          registry: wrong,
          logger: wrong,
          now: wrong,
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(options, async (opts) => {
          await typedOrOk(`${tag} queue options of the wrong type`, async () => {
            const q = await group.get(`wrong-${++n}`, opts as QueueOptions);
            await q.put(FuzzPayloadJob.create({ data: 1 }, { id: id() }));
            await q.close();
          });
        }),
        fcParams(100),
      );
    });

    it('stores or rejects (typed) any job options, dates out of range included', async () => {
      const number = fc.oneof(
        { arbitrary: fc.integer({ min: 1, max: 1_000 }), weight: 4 },
        { arbitrary: fc.double(), weight: 1 },
        { arbitrary: fc.constantFrom(0, -1, 1e12, 2 ** 53, NaN, Infinity, -Infinity), weight: 1 },
      );
      const date = fc.oneof(
        {
          arbitrary: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01') }),
          weight: 4,
        },
        fc.date({ noInvalidDate: false }),
        fc.constantFrom(
          new Date(-8.64e15),
          new Date(8.64e15),
          new Date('1969-12-31'),
          new Date('+010000-01-01'),
        ),
      );
      const scope = fc.oneof(
        { arbitrary: fc.string({ minLength: 1, maxLength: 20 }), weight: 4 },
        fc.string({ maxLength: 300 }),
        fc.constantFrom('$s', 'a\u0000b', ''),
      );
      const options = fc.record(
        {
          priority: number,
          waitUntil: date,
          delayMs: number,
          dispatchBy: date,
          maxTimeMs: number,
          maxAttempts: number,
          retryable: fc.boolean(),
          scopes: fc.array(scope, { maxLength: 3 }),
          enqueueScopes: fc.array(scope, { maxLength: 3 }),
          concurrency: fc.record({ key: scope, limit: number }),
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(options, async (opts) => {
          await typedOrOk(
            `${tag} job options`,
            () =>
              queue.put(FuzzPayloadJob.create({ data: 1 }, { ...(opts as JobOptions), id: id() })),
            { size },
          );
        }),
        fcParams(150),
      );
    });

    // Regression (lib/job/base-job.ts BaseJob.applyOptions): `scopes`, `enqueueScopes` and `dependency`
    // used to be read before they were checked: a non-array or a dependency without `edges`
    // failed with a TypeError instead of an InvalidArgumentError.
    it('rejects job options of the wrong type with a typed error', async () => {
      const options = fc.record(
        {
          priority: fc.anything({ maxDepth: 1 }),
          waitUntil: fc.anything({ maxDepth: 1 }),
          dispatchBy: fc.anything({ maxDepth: 1 }),
          maxTimeMs: fc.anything({ maxDepth: 1 }),
          maxAttempts: fc.anything({ maxDepth: 1 }),
          scopes: fc.anything({ maxDepth: 1 }),
          enqueueScopes: fc.anything({ maxDepth: 1 }),
          concurrency: fc.anything({ maxDepth: 1 }),
          dependency: fc.anything({ maxDepth: 2 }),
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(options, async (opts) => {
          await typedOrOk(
            `${tag} options of the wrong type`,
            () =>
              queue.put(FuzzPayloadJob.create({ data: 1 }, { ...(opts as JobOptions), id: id() })),
            { size },
          );
        }),
        fcParams(100),
      );
    });
  });
}
