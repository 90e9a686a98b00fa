/**
 * A fleet benchmark process, forked by bench/fleet.ts: serves `queues` queues of one system and
 * sits idle. Parent -> worker: { kind: 'mark' } starts a measured window (meter reset);
 * { kind: 'report' } asks for the figures since the mark; the close message of
 * test/support/fork.ts closes it. Worker -> parent: 'ready', 'started' (a job began, with the
 * epoch time), 'report'.
 */
import type { CloseMessage } from '../test/support/fork';
import { epochMs, meter, meterRedis, type MeterSnapshot } from './meter';
import { FLEET_SYSTEMS } from './fleet-systems';
import type { SystemName, Target } from './systems/types';

export const FLEET_WORKER_ENV = 'DROVER_FLEET_WORKER';

export interface FleetWorkerConfig {
  system: SystemName;
  target: Target;
  queues: number;
}

export type ToFleetWorker = { kind: 'mark' } | { kind: 'report' } | CloseMessage;
export type FromFleetWorker =
  | { kind: 'ready' }
  | { kind: 'started'; seq: number; at: number }
  | { kind: 'report'; metrics: MeterSnapshot };

function send(msg: FromFleetWorker): void {
  if (process.connected) process.send?.(msg);
}

async function main(): Promise<void> {
  const raw = process.env[FLEET_WORKER_ENV];
  if (!raw || !process.send) throw new Error('fleet worker: fork me with an IPC channel');
  process.once('disconnect', () => process.exit(0));
  const config = JSON.parse(raw) as FleetWorkerConfig;
  if (config.system === 'bullmq') meterRedis();
  const node = await FLEET_SYSTEMS[config.system].node(config.target, config.queues, (seq) =>
    send({ kind: 'started', seq, at: epochMs() }),
  );
  process.on('message', (msg: ToFleetWorker) => {
    if (msg.kind === 'mark') meter.reset();
    else if (msg.kind === 'report') send({ kind: 'report', metrics: meter.snapshot() });
    else if (msg.kind === 'close') {
      const timer = setTimeout(() => process.exit(3), msg.drainTimeoutMs ?? 10_000);
      void node.close().finally(() => {
        clearTimeout(timer);
        process.exit(0);
      });
    }
  });
  send({ kind: 'ready' });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`fleet worker ${process.pid}: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
