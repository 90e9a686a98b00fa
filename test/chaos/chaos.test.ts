/**
 * The short chaos run of the suite (`npm run chaos` is the full one): 300 jobs burnt down by 3
 * worker processes while 3 are killed with SIGKILL (and replaced) and the database connection is
 * cut twice. Every invariant of the full run is asserted; on failure the seed and the findings
 * are in the message, and `npm run chaos -- --jobs 300 --workers 3 --kills 3 --cuts 2 --seed N`
 * replays the same mix and schedule. The seed is fixed so that CI runs one known plan (timings
 * still vary); `CHAOS_SEED=<n>` runs another, `CHAOS_SEED=random` explores.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { CHAOS_DEFAULTS, formatReport, runChaos, type ChaosReport } from '../../chaos/run';
import { testUri } from '../support/server';

const CHAOS_SEED_DEFAULT = 20261122;

function chaosSeed(): number {
  const given = process.env.CHAOS_SEED;
  if (given === 'random') return Math.floor(Math.random() * 2 ** 31);
  return given === undefined ? CHAOS_SEED_DEFAULT : Number(given);
}

describe('chaos: 300 jobs, 3 worker processes, 3 kills, 2 connection cuts', function () {
  this.timeout(150_000);
  let report: ChaosReport;
  const log: string[] = [];

  before(async function () {
    this.timeout(150_000);
    report = await runChaos({
      ...CHAOS_DEFAULTS,
      uri: testUri(),
      jobs: 300,
      workers: 3,
      slots: 6,
      kills: 3,
      cuts: 2,
      seconds: 80,
      seed: chaosSeed(),
      log: (line) => log.push(line),
    });
  });

  const why = () => `\n${[...log, ...formatReport(report)].join('\n')}`;

  it('finishes within its time bound, with every kill and cut done', function () {
    assert.ok(report.finished, `not finished${why()}`);
    assert.equal(report.kills, 3, why());
    assert.equal(report.cuts, 2, why());
  });

  it('loses no job, and each ends as planned', function () {
    assert.deepEqual(report.findings.lost, [], why());
    assert.deepEqual(report.findings.unexpected, [], why());
  });

  it('records no completion twice, and none without a run', function () {
    assert.deepEqual(report.findings.duplicatedCompletions, [], why());
    assert.deepEqual(report.findings.unauditedCompletions, [], why());
  });

  it('never runs two jobs of one scope, or one job twice, at the same time', function () {
    assert.deepEqual(report.findings.scopeOverlaps, [], why());
    assert.deepEqual(report.findings.concurrentRuns, [], why());
  });

  it('never starts a dependent before its edges completed', function () {
    assert.deepEqual(report.findings.dependencyViolations, [], why());
  });

  it('leaves no job stuck in progress, and no worker crashed', function () {
    assert.deepEqual(report.findings.stuck, [], why());
    assert.deepEqual(report.crashed, [], why());
  });
});
