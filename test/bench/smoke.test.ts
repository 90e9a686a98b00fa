/**
 * Smoke run of the benchmark (`node dist/bench/main.js --smoke`) so it cannot rot: tiny N, one
 * process, C in {1, 4} (and the lean workload's one warm worker at C=64), every system available
 * here (BullMQ only with a redis-server, Agenda only with its MongoDB backend installed). It checks
 * that the outputs exist and carry figures, never how fast anything is.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchResults, ThroughputResult } from '../../bench/results';
import { findRedisServer } from '../../bench/redis-server';
import { testUri } from '../support/server';

const MAIN = path.join(__dirname, '..', '..', 'bench', 'main.js');
/**
 * The bench bounds itself by this budget (a backstop, not a figure under test): generous, since
 * a server with durable writes (DocumentDB: about 10 ms a write here) takes minutes where the
 * in-memory stand-in takes seconds.
 */
const BENCH_TIMEOUT_S = 300;

function runBench(out: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, '--smoke', '--out', out, '--timeout', String(BENCH_TIMEOUT_S)],
      {
        env: { ...process.env, MONGODB_URI: testUri(), LOG_LEVEL: 'silent' },
        // The bench bounds itself; this is the backstop (SIGTERM lets it clean up).
        timeout: (BENCH_TIMEOUT_S + 5) * 1000,
        killSignal: 'SIGTERM',
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function checkThroughput(r: ThroughputResult): void {
  const label = `${r.system} P=${r.procs} C=${r.conc}`;
  for (const key of ['jobsPerSec', 'roundTripsPerJob', 'cpuUsPerJob', 'peakRssMiB'] as const) {
    assert.ok(Number.isFinite(r[key]) && r[key] > 0, `${label}: ${key} = ${r[key]}`);
  }
  if (!r.timedOut) {
    const failing = Math.round(r.n * r.failShare);
    assert.equal(r.completed, r.n - failing, `${label}: completed`);
    assert.equal(r.failed, failing, `${label}: failed`);
  }
}

describe('benchmark smoke run', function () {
  this.timeout((BENCH_TIMEOUT_S + 10) * 1000);
  let out = '';

  before(() => {
    out = mkdtempSync(path.join(os.tmpdir(), 'drover-bench-smoke-'));
  });
  after(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('writes a JSON file, a Markdown table and an SVG chart with figures for each system', async () => {
    const { code, stdout, stderr } = await runBench(out);
    assert.equal(code, 0, `bench exited ${code}:\n${stderr.slice(-3000)}`);
    assert.match(stdout, /## Burn-down/);

    const results = JSON.parse(readFileSync(path.join(out, 'latest.json'), 'utf8')) as BenchResults;
    assert.equal(results.meta.complete, true);
    // The smoke preset runs on one MongoDB server (MONGODB_URI here), and names every server.
    const servers = results.meta.servers.map((s) => s.id);
    assert.deepEqual(
      servers.filter((id) => id !== 'redis'),
      ['default'],
    );
    for (const r of [...results.burn, ...results.enqueue, ...results.latency, ...results.mixed]) {
      assert.ok(servers.includes(r.server), `${r.system}: unknown server ${r.server}`);
    }
    const skipped = results.skipped.map((s) => s.system);
    assert.ok(!skipped.includes('drover'), 'drover is never skipped');
    if (findRedisServer()) assert.ok(!skipped.includes('bullmq'), 'bullmq runs where redis is');
    for (const s of results.skipped) assert.ok(s.reason.length > 0);
    const systems = results.options.systems.filter((s) => !skipped.includes(s));

    for (const system of systems) {
      for (const conc of [1, 4]) {
        const r = results.burn.find((b) => b.system === system && b.procs === 1 && b.conc === conc);
        assert.ok(r, `burn-down ${system} C=${conc}`);
        checkThroughput(r);
      }
      const mixed = results.mixed.find((m) => m.system === system);
      assert.ok(mixed, `mixed ${system}`);
      checkThroughput(mixed);
      for (const mode of ['single', 'bulk'] as const) {
        const e = results.enqueue.find((x) => x.system === system && x.mode === mode);
        assert.ok(e && e.jobsPerSec > 0 && e.roundTripsPerJob > 0, `enqueue ${system} ${mode}`);
      }
      for (const where of ['same-process', 'cross-process'] as const) {
        const l = results.latency.find((x) => x.system === system && x.where === where);
        assert.ok(l && l.samples > 0 && Number.isFinite(l.p50Ms), `latency ${system} ${where}`);
      }
    }

    // The lean workload: CPU per job everywhere, bytes through the proxy, index keys on MongoDB.
    const lean = results.lean ?? [];
    const leanLanes = systems.map((s) => [s, s === 'bullmq' ? 'redis' : 'default']);
    for (const [system, server] of [...leanLanes, ['drover', 'memory']]) {
      for (const phase of ['burn', 'put'] as const) {
        const r = lean.find((x) => x.system === system && x.server === server && x.phase === phase);
        const label = `lean ${phase} ${system} on ${server}`;
        assert.ok(r && r.jobs > 0, label);
        // A competitor that stalls (Agenda, now and then) is reported, not waited for; drover
        // never may.
        if (system === 'drover' || !r.stalled) assert.deepEqual(r.errors, [], label);
        assert.ok(Number.isFinite(r.cpuUsPerJob) && r.cpuUsPerJob > 0, `${label}: CPU`);
        if (server !== 'memory') {
          assert.ok((r.bytesUpPerJob ?? 0) > 0 && (r.bytesDownPerJob ?? 0) > 0, `${label}: bytes`);
        }
      }
    }
    for (const system of systems.filter((s) => s !== 'bullmq')) {
      const k = (results.indexKeys ?? []).find((x) => x.system === system);
      assert.ok(k && k.putKeysPerJob > 0 && k.runKeysPerJob > 0, `index keys ${system}`);
      assert.deepEqual(k.mismatches, [], `index keys ${system}: the replay matches`);
    }

    const md = readFileSync(path.join(out, 'latest.md'), 'utf8');
    for (const heading of [
      '## Burn-down',
      '## Enqueue',
      '## Put-to-start latency',
      '## Mixed',
      '## Lean hot path',
      '### Index keys written per job',
    ]) {
      assert.ok(md.includes(heading), heading);
    }
    const svg = readFileSync(path.join(out, 'throughput.svg'), 'utf8');
    assert.match(svg, /^<svg /);
    assert.ok((svg.match(/<polyline /g) ?? []).length >= systems.length);
  });
});
