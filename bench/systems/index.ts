/** The systems under test, by name. */
import { agendaDriver } from './agenda';
import { bullmqDriver } from './bullmq';
import { droverDriver } from './drover';
import type { SystemDriver, SystemName } from './types';

export const DRIVERS: Record<SystemName, SystemDriver> = {
  drover: droverDriver,
  agenda: agendaDriver,
  bullmq: bullmqDriver,
};

export * from './types';
