import 'reflect-metadata';
import pino from 'pino';
import { MongoClient } from 'mongodb';
import { BSON } from 'bson';
import { BaseJob, JobType, QueueGroup } from '../../lib';

@JobType('bench-job')
class BenchJob extends BaseJob {
  seq = 0;
  fail = false;
  async run(): Promise<void> {}
}

async function main(): Promise<void> {
  const client = new MongoClient(process.env.URI!, { monitorCommands: true });
  await client.connect();
  const db = 'cmddump';
  await client.db(db).dropDatabase();
  const group = await QueueGroup.connect({ client, db, logger: pino({ level: 'silent' }) });
  const q = await group.get('dump', { workers: 64 });
  await q.putMany(Array.from({ length: 64 }, (_, i) => BenchJob.create({ seq: i }, { id: `j${i}`, maxAttempts: 3 })));
  let on = true;
  const sizes: Record<string, number[]> = {};
  client.on('commandStarted', (e) => {
    if (!on) return;
    const size = BSON.calculateObjectSize(e.command);
    (sizes[e.commandName] ??= []).push(size);
    if (process.env.SHOW && ['update', 'find', 'findAndModify'].includes(e.commandName)) console.log('>>', e.commandName, size, JSON.stringify(e.command).slice(0, 1500));
  });
  client.on('commandSucceeded', (e) => {
    if (!on) return;
    const size = BSON.calculateObjectSize(e.reply as object);
    (sizes['reply:' + e.commandName] ??= []).push(size);
    if (process.env.SHOW && ['find'].includes(e.commandName)) console.log('<<', e.commandName, size, JSON.stringify(e.reply).slice(0, 1200));
  });
  await q.runDue();
  on = false;
  for (const [k, v] of Object.entries(sizes)) console.log(k.padEnd(24), v.length, v.reduce((a, b) => a + b, 0));
  await group.close();
  await client.close();
}
main().catch((e) => { console.error(e); process.exit(1); });
