import 'reflect-metadata';
import pino from 'pino';
import { BaseJob, JobType, QueueGroup } from '../../lib';

@JobType('prof-job')
class ProfJob extends BaseJob {
  seq = 0;
  async run(): Promise<void> {}
}

async function main(): Promise<void> {
  const n = Number(process.env.N ?? 20000);
  const warm = 2000;
  const group = QueueGroup.inMemory({ logger: pino({ level: 'silent' }), retry: { retryBackoff: 0 } });
  const q = await group.get('p', { workers: 64 });
  let done = 0;
  let t0 = process.cpuUsage();
  let w0 = Date.now();
  const finished = new Promise<void>((resolve) => {
    q.on('completed', () => {
      done++;
      if (done === warm) { t0 = process.cpuUsage(); w0 = Date.now(); }
      if (done === warm + n) resolve();
    });
  });
  for (let i = 0; i < warm + n; i += 1000) {
    await q.putMany(Array.from({ length: 1000 }, (_, k) => ProfJob.create({ seq: i + k }, { id: `j${i + k}` })));
  }
  const p0 = process.cpuUsage();
  void p0;
  await q.start();
  await finished;
  const c = process.cpuUsage(t0);
  console.log(`run: ${((c.user + c.system) / n).toFixed(1)} µs/job, ${(n / ((Date.now() - w0) / 1000)).toFixed(0)} jobs/s`);
  // single puts
  const pc = process.cpuUsage();
  for (let i = 0; i < 2000; i++) await q.put(ProfJob.create({ seq: i }, { id: `s${i}` }));
  const pu = process.cpuUsage(pc);
  console.log(`put: ${((pu.user + pu.system) / 2000).toFixed(1)} µs/put`);
  await group.close({ drainTimeoutMs: 1000 });
}
main().catch((e) => { console.error(e); process.exit(1); });
