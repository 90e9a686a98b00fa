/**
 * Idle costs almost nothing, at any number of queues: one process serving 1,000 started queues
 * at the default options sends the database at most 2 commands per second while nothing is to do
 * (counted by the driver's command monitoring: every command, whoever sends it). A put in that
 * process still starts at once (the pool is woken, not polled), and a put made by another process
 * is found by the one poll of the process for all its queues.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { QueueGroup } from '../../lib';
import { initStores, mongoStores } from '../../lib/store/store-set';
import { eventually, testLogger } from '../support/backends';
import { NoopJob } from '../support/jobs';
import { freshDb, testUri } from '../support/server';

const QUEUES = 1_000;
/** Commands per second an idle process may send, whatever the number of its queues. */
const IDLE_COMMANDS_PER_S = 2;
const WINDOW_MS = 20_000;

describe('idle cost: 1,000 idle queues in one process', function () {
  this.timeout(180_000);
  const dbName = freshDb('idle_cost');
  let client: MongoClient;
  let other: MongoClient;
  let group: QueueGroup | undefined;
  const commands: CommandStartedEvent[] = [];

  before(async () => {
    client = new MongoClient(testUri(), { monitorCommands: true });
    client.on('commandStarted', (e) => commands.push(e));
    await client.connect();
    other = await MongoClient.connect(testUri());
  });

  after(async () => {
    await group?.close();
    await client?.close();
    await other?.close();
  });

  it('sends at most 2 commands/s at the defaults, and still runs what is put', async () => {
    const stores = mongoStores(client.db(dbName));
    await initStores(stores);
    // Defaults but the logger.
    group = new QueueGroup(stores, { logger: testLogger });
    const names = Array.from({ length: QUEUES }, (_, i) => `idle-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < QUEUES; i += 100) {
      await Promise.all(names.slice(i, i + 100).map(async (n) => (await group!.get(n)).start()));
    }
    // Past the start-up (the first polls back off to the idle period).
    await delay(3_000);
    commands.length = 0;
    await delay(WINDOW_MS);
    const seen = commands.splice(0);

    const perSecond = seen.length / (WINDOW_MS / 1000);
    const byName = new Map<string, number>();
    for (const c of seen) byName.set(c.commandName, (byName.get(c.commandName) ?? 0) + 1);
    console.log(`      ${perSecond.toFixed(2)} commands/s idle: ${JSON.stringify([...byName])}`);
    assert.ok(
      perSecond <= IDLE_COMMANDS_PER_S,
      `${perSecond.toFixed(2)} commands/s idle (${JSON.stringify([...byName])})`,
    );

    // A put here wakes its pool at once; a put by another process is found by the poll.
    const here = await group.get(names[500]);
    await here.put(NoopJob.create({}, { id: 'put-here' }));
    const elsewhere = new QueueGroup(mongoStores(other.db(dbName)), { logger: testLogger });
    try {
      await (await elsewhere.get(names[999])).put(NoopJob.create({}, { id: 'put-elsewhere' }));
    } finally {
      await elsewhere.close();
    }
    await eventually(
      'both jobs completed',
      async () =>
        (await here.getDocument('put-here'))?.state === 'completed' &&
        (await (await group!.get(names[999])).getDocument('put-elsewhere'))?.state === 'completed',
      15_000,
    );
  });
});
