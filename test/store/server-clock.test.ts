/**
 * The server's clock as a process reads it (lib/store/mongo/server-clock.ts): `localTime` in each
 * form a server gives it (a Date on MongoDB and mongo-java-server, an Int64 of milliseconds on
 * DocumentDB: a number, a Long or a bigint after the driver's decoding), and a reading of the
 * harness's server, which runs on this machine: its time and this process's agree within the
 * reading's error. (The clock-skew process test covers clocks that do not agree.)
 */
import assert from 'node:assert/strict';
import { Long, MongoClient } from 'mongodb';
import { localTimeMs, ServerClock } from '../../lib/store/mongo/server-clock';
import { testUri, uniqueDbName } from '../support/server';

describe('server clock', () => {
  it('reads localTime as a Date, a number, a Long or a bigint', () => {
    const ms = 1_796_000_000_123;
    assert.equal(localTimeMs(new Date(ms)), ms);
    assert.equal(localTimeMs(ms), ms);
    assert.equal(localTimeMs(Long.fromNumber(ms)), ms);
    assert.equal(localTimeMs(BigInt(ms)), ms);
    assert.equal(localTimeMs(undefined), undefined);
    assert.equal(localTimeMs('2026-01-01'), undefined);
    assert.equal(localTimeMs(Number.NaN), undefined);
  });

  it("reads the server's time within half a round trip", async () => {
    const client = await MongoClient.connect(testUri());
    try {
      const clock = new ServerClock(client.db(uniqueDbName('clock')));
      assert.equal(clock.errorMs, Infinity, 'no reading yet');
      await clock.ready();
      assert.equal(clock.source, 'server', 'the server gave its time');
      assert.ok(clock.errorMs < 1_000, `error bound ${clock.errorMs} ms`);
      // One machine: the server's clock is this process's, to within the reading's error.
      const before = Date.now();
      const read = clock.now().getTime();
      const after = Date.now();
      assert.ok(
        read >= before - clock.errorMs - 1 && read <= after + clock.errorMs + 1,
        `read ${read - before} ms from this process's clock (error ${clock.errorMs} ms)`,
      );
      // The same function every time: pools sharing a clock can tell.
      assert.equal(clock.now, clock.now);
    } finally {
      await client.close();
    }
  });
});
