/** Job classes of the scheduler tests. */
import 'reflect-metadata';
import { BaseJob, JobType } from '../../lib';

/** IDs of the scheduled jobs that ran in this process, in order. */
export const scheduledRuns: string[] = [];

/** A report a schedule produces; records its run. */
@JobType('test-scheduled-report')
export class ReportJob extends BaseJob {
  format = 'pdf';
  pages = 1;
  async run(): Promise<void> {
    scheduledRuns.push(this.id);
  }
}

/** A job class no registry knows, for the rejection tests. */
export class UnregisteredJob extends BaseJob {
  note = '';
  async run(): Promise<void> {}
}
