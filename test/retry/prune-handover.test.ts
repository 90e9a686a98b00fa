/**
 * Management `prune` deletes finished attempts, `retrying` ones included. A `retrying` attempt
 * whose hand-over is unconfirmed (its `dueAt` is not HANDED_OVER_AT: the next attempt may not
 * exist; the retry monitor redoes it once `dueAt` passes) is the only record of a job that is
 * still to run. Deleting it loses the job: a crash after step 1 of a retry with a backoff, then a
 * prune before the backoff ends. Both backends.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { RetryHandler } from '../../lib/retry/retry-handler';
import { Management } from '../../lib/ops/management';
import { memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { makeDoc } from '../support/management-factory';

const MINUTE = 60_000;

function pruneHandover(makeBackend: () => Backend): void {
  let backend: Backend;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  it('prune keeps a retrying attempt whose next attempt was never inserted', async () => {
    const now = Date.now();
    const store = backend.store();
    // Step 1 of a retry with a one-hour backoff was written; the process died before step 2.
    const old = makeDoc({
      id: 'half',
      queue: 'ph',
      kind: 'fail',
      state: 'retrying',
      created: new Date(now - 30 * MINUTE),
      end: new Date(now - 20 * MINUTE),
      dueAt: new Date(now + 60 * MINUTE),
    });
    old.retryInfo.needsRetry = true;
    old.nextAttemptId = 'half#1';
    await store.jobInsert([old]);

    // An operator prunes what ended more than ten minutes ago.
    const res = await new Management(backend.stores()).prune({ olderThanMs: 10 * MINUTE });

    // When the backoff ends, the retry monitor looks for half-done hand-overs to finish.
    const inserted = await new RetryHandler(store).monitor.runOnce(
      'ph',
      new Date(now + 61 * MINUTE),
    );
    const latest = await store.jobGetLatest('half');
    assert.ok(
      latest !== null,
      `prune deleted ${res.changed} attempt(s) and the job is gone (monitor inserted ${inserted})`,
    );
    assert.equal(latest._id, 'half#1');
    assert.equal(latest.state, 'pending');
  });
}

describe('review: prune and half-done hand-overs (memory)', () => pruneHandover(memoryBackend));
describe('review: prune and half-done hand-overs (mongodb)', () => pruneHandover(mongoBackend));
