/** The pools' interruptible sleep: wakes end sleeps, a wake is never lost, long sleeps hold. */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Wakeable } from '../../lib/timers/sleep';

/** Resolves with whether `p` settled within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), delay(ms).then(() => false)]);
}

describe('Wakeable', () => {
  it('ends every current sleep at once on wake', async () => {
    const w = new Wakeable();
    const sleeps = [w.sleep(60_000), w.sleep(60_000)];
    w.wake();
    assert.equal(await settlesWithin(Promise.all(sleeps), 1_000), true);
  });

  it('keeps a wake that came while nobody slept for the next sleep, once', async () => {
    const w = new Wakeable();
    w.wake();
    assert.equal(await settlesWithin(w.sleep(60_000), 1_000), true, 'the kept wake');
    const next = w.sleep(60_000);
    assert.equal(await settlesWithin(next, 50), false, 'the wake was used up');
    w.wake();
    await next;
  });

  it('holds a sleep longer than a Node timer can (no overflow to 1 ms)', async () => {
    const w = new Wakeable();
    const long = w.sleep(30 * 24 * 3_600_000);
    assert.equal(await settlesWithin(long, 50), false);
    w.wake();
    await long;
  });
});
