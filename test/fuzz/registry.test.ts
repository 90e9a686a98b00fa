/**
 * The registry with hostile documents, property-based (no store involved): `fromDocument` on
 * random values and on valid documents corrupted at random paths either loads a job or throws a
 * typed error (MalformedJobError, UnknownJobTypeError, JobVersionError); a job it loads can be
 * serialized again (or is rejected with a typed error). Never a TypeError: the runner quarantines
 * what fails to load, and an untyped error would name no reason.
 * Failures print fast-check's seed; FUZZ_SEED=<seed> replays it.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { defaultRegistry, type JobDocument } from '../../lib';
import { FuzzPayloadJob } from '../support/chaos-jobs';
import { fcParams, fuzzSummary, typedOrOk } from './fuzz';

const tag = 'registry';

/** A valid stored document of a FuzzPayloadJob. */
function validDocument(data: unknown = { n: 1 }): JobDocument {
  const job = FuzzPayloadJob.create(
    { data },
    { id: 'doc-1', scopes: ['s'], concurrency: { key: 'k', limit: 2 } },
  );
  return defaultRegistry.toDocument(job, 'q', new Date());
}

/** Every path of a document (objects and arrays, not inside Dates). */
function paths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || value instanceof Date) return [prefix];
  const out: string[][] = prefix.length > 0 ? [prefix] : [];
  for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

/** Sets (or, for `undefined`, deletes) the value at `path`. */
function corrupt(doc: JobDocument, path: string[], value: unknown): void {
  let at = doc as unknown as Record<string, unknown>;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
  const last = path[path.length - 1];
  if (value === undefined) delete at[last];
  else at[last] = value;
}

/** Values a stored document can hold (BSON gives plain objects, never null prototypes). */
const hostile = fc.oneof(
  fc.constant(undefined),
  fc.anything({ maxDepth: 2, withDate: true }),
  fc.constantFrom<unknown>(null, '', 'x', -1, 1.5, 99, NaN, [], {}, new Date(NaN), 'unknown-type'),
);

describe('fuzz: the registry with hostile documents', function () {
  this.timeout(30_000);
  after(() => console.log(fuzzSummary(tag)));

  it('loads or rejects (typed) any object given as a document', async () => {
    // What a collection can hold: objects, with any fields.
    const docs = fc.oneof(
      fc.object({ maxDepth: 3, withDate: true }),
      fc.dictionary(
        fc.constantFrom('_id', 'type', 'state', 'payload', 'status', 'timeInfo', 'retryInfo'),
        fc.anything({ maxDepth: 2 }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(docs, async (doc) => {
        await typedOrOk(`${tag} random value`, () =>
          defaultRegistry.fromDocument(doc as unknown as JobDocument),
        );
      }),
      fcParams(300),
    );
  });

  it('loads or rejects (typed) a valid document corrupted at random paths, and saves what it loads', async () => {
    const all = paths(validDocument());
    const corruption = fc.array(fc.tuple(fc.constantFrom(...all), hostile), {
      minLength: 1,
      maxLength: 3,
    });
    await fc.assert(
      fc.asyncProperty(corruption, fc.anything({ maxDepth: 2 }), async (changes, data) => {
        let doc: JobDocument;
        try {
          doc = validDocument(data);
        } catch {
          // A payload put would reject (covered by put.test.ts): no document to corrupt.
          fc.pre(false);
          return;
        }
        for (const [path, value] of changes) {
          try {
            corrupt(doc, path, value);
          } catch {
            // An earlier change removed the parent of this path: nothing to corrupt.
          }
        }
        const loaded = await typedOrOk(`${tag} corrupted document`, () =>
          defaultRegistry.fromDocument(doc),
        );
        if (loaded === 'ok') {
          const job = defaultRegistry.fromDocument(doc);
          await typedOrOk(`${tag} corrupted document saved again`, () =>
            defaultRegistry.toDocument(job, 'q', new Date()),
          );
        }
      }),
      fcParams(400),
    );
  });

  // Regression (lib/job/registry.ts checkShape): the message was built with String(raw._id), which
  // throws a TypeError for an object without a prototype.
  it('rejects an _id that cannot be printed with a typed error', () => {
    const doc = validDocument();
    corrupt(doc, ['_id'], Object.create(null));
    assert.throws(() => defaultRegistry.fromDocument(doc), { code: 'DROVER_MALFORMED_JOB' });
  });

  it('names the reason: unknown type, future version, missing fields', () => {
    const unknown = validDocument();
    unknown.type.name = 'no-such-type';
    assert.throws(() => defaultRegistry.fromDocument(unknown), {
      code: 'DROVER_UNKNOWN_JOB_TYPE',
      message: /no-such-type/,
    });
    const future = validDocument();
    future.type.version = 99;
    assert.throws(() => defaultRegistry.fromDocument(future), {
      code: 'DROVER_JOB_VERSION',
      message: /99/,
    });
    const missing = validDocument();
    corrupt(missing, ['status'], undefined);
    assert.throws(() => defaultRegistry.fromDocument(missing), {
      code: 'DROVER_MALFORMED_JOB',
      message: /status/,
    });
  });
});
