/**
 * A job whose run leaves a payload the registry refuses to store (a non-finite number here; an
 * oversized or circular result likewise): `finish()` builds the outcome's payload with
 * `registry.toDocument`, which throws, so no outcome is written and the attempt stays running
 * under a pool that dropped it. Once its lock expires the reclaimer puts it back to pending and it
 * runs again, until `maxLockLosses` fails it as a worker-killing poison pill. A bad result must
 * end the attempt once (failed, with the payload error), never re-run the job. Both backends.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { BadResultJob, badResultRuns } from '../support/races';

function badOutcome(makeBackend: () => Backend): void {
  let backend: Backend;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    badResultRuns.length = 0;
  });
  after(async () => backend.close());

  it('a result that cannot be stored ends the attempt once instead of re-running it', async () => {
    const q = await backend.group().get('bad-outcome');
    q.on('error', () => undefined);
    await q.put(BadResultJob.create({}, { id: 'bo-1' }));
    await q.start();
    const doc = await q.waitFor('bo-1', { timeoutMs: 20_000 });
    const codes = doc.status.errors.map((e) => e.code);
    assert.deepEqual(
      badResultRuns,
      ['bo-1'],
      `ran ${badResultRuns.length} times; ended ${doc.state} with errors ${codes.join(', ')}`,
    );
    assert.equal(doc.state, 'failed');
    assert.ok(!codes.includes('DROVER_LOCK_LOST'), `no worker died, yet: ${codes.join(', ')}`);
  });
}

describe('review: unstorable outcome (memory)', () => badOutcome(memoryBackend));
describe('review: unstorable outcome (mongodb)', () => badOutcome(mongoBackend));
