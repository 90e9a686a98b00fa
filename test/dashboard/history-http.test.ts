/**
 * The dashboard's history, bulk, job-type and workers endpoints over plain HTTP, against both
 * stores: history read from the rollups (and validated), bulk actions counted by GET and done
 * only by POST with the action token, on at most the count confirmed; a job type's fuse; the new
 * pages escaped and free of inline script; a job's result, log, stacks and quarantine reason.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { QueueGroup } from '../../lib';
import { startDashboard, type DashboardServer } from '../../lib/ops/dashboard';
import { Management } from '../../lib/ops/management';
import { memoryBackend, mongoBackend, testLogger, type Backend } from '../support/backends';
import { seedHistory } from '../support/history-seed';
import { makeDoc } from '../support/management-factory';

const XSS = '<script>alert(1)</script>';
const INJECTION = encodeURIComponent('{"$gt": ""}');

interface Reply {
  status: number;
  text: string;
}

function call(dash: DashboardServer, path: string, init: { method?: string; token?: string } = {}) {
  return new Promise<Reply>((resolve, reject) => {
    const headers = init.token ? { 'x-drover-token': init.token } : undefined;
    const req = request(
      new URL(path, dash.url),
      { method: init.method ?? 'GET', headers },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const json = <T>(r: Reply): T => JSON.parse(r.text) as T;

function historyHttp(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;
  let mgmt: Management;
  let dash: DashboardServer;
  let token: string;

  const states = async () =>
    (await mgmt.list({}, { limit: 1000, order: 'id' })).jobs.map((j) => [j._id, j.state]);

  before(async () => {
    backend = makeBackend();
    await backend.reset();
    group = backend.group();
    mgmt = new Management(group);
    await seedHistory(backend.stores().rollups, new Date(), [
      { queue: 'mail', type: 'send', perMinute: 5, failEvery: 4 },
      { queue: 'mail', type: 'bounce', perMinute: 1 },
    ]);
    const old = new Date(Date.now() - 3 * 86_400_000);
    const kept = makeDoc({ id: 'kept-1', queue: 'mail', kind: 'fail', state: 'failed' });
    kept.returnValue = { sent: 3, note: XSS };
    kept.status.log = [
      { at: new Date(), message: `connecting ${XSS}` },
      { at: new Date(), message: 'smtp said 451' },
    ];
    kept.status.errors = [
      {
        message: 'smtp 451',
        code: 'Error',
        at: new Date(),
        retryable: true,
        stack: `Error: smtp 451\n    at send (${XSS})`,
      } as never,
    ];
    const legacy = makeDoc({ id: 'legacy-1', queue: 'mail', state: 'quarantined' });
    legacy.quarantine = {
      code: 'DROVER_UNKNOWN_JOB_TYPE',
      reason: `no class ${XSS}`,
      at: new Date(),
    };
    await backend
      .store()
      .jobInsert([
        kept,
        legacy,
        makeDoc({ id: 'f-1', queue: 'mail', kind: 'fail', state: 'failed' }),
        makeDoc({ id: 'f-2', queue: 'mail', kind: 'fail', state: 'failed' }),
        makeDoc({ id: 'old-1', queue: 'mail', state: 'completed', created: old }),
        makeDoc({ id: 'old-2', queue: 'mail', state: 'completed', created: old }),
        makeDoc({ id: 'new-1', queue: 'mail', state: 'completed' }),
      ]);
    dash = await startDashboard({ management: mgmt, group, port: 0, logger: testLogger });
    const m = /<meta name="drover-token" content="([^"]+)">/.exec((await call(dash, '/')).text);
    assert.ok(m);
    token = m[1];
  });
  after(async () => {
    await dash?.close();
    await backend.close();
  });

  it('serves history from the rollups, validated, on pages without inline script', async () => {
    const api = json<{
      bucketMs: number;
      series: { queue: string; totals: { completed: number } }[];
    }>(await call(dash, '/api/history?window=1d&queue=mail'));
    const direct = await mgmt.history({ sinceMs: 86_400_000, queue: 'mail' });
    assert.equal(api.bucketMs, 15 * 60_000);
    assert.deepEqual(
      api.series.map((s) => s.totals.completed),
      direct.series.map((s) => s.totals.completed),
    );
    for (const bad of ['window=2h', `queue=${INJECTION}`, `type=${INJECTION}`]) {
      assert.equal((await call(dash, `/api/history?${bad}`)).status, 400, bad);
      assert.equal((await call(dash, `/history?${bad}`)).status, 400, bad);
    }
    for (const path of [
      '/history',
      '/history?window=7d&queue=mail',
      '/workers',
      '/jobs/kept-1',
      '/jobs/legacy-1',
    ]) {
      const page = await call(dash, path);
      assert.equal(page.status, 200, path);
      assert.ok(!page.text.includes(XSS), `${path} escapes job data`);
      assert.deepEqual(
        page.text.match(/<script\b[^>]*>/g),
        ['<script src="/assets/dashboard.js" defer>'],
        path,
      );
      assert.doesNotMatch(page.text, /\son[a-z]+=|\sstyle=|javascript:/i, path);
    }
    const charts = (await call(dash, '/history?window=1h')).text;
    for (const id of ['chart-throughput', 'chart-failures', 'chart-wait']) {
      assert.match(charts, new RegExp(`<figure class="chart" id="${id}"`));
    }
  });

  it("shows a job's result, log and stacks, and its quarantine reason first", async () => {
    const kept = (await call(dash, '/jobs/kept-1')).text;
    assert.match(kept, /<pre id="result"[^>]*>\{\n {2}&quot;sent&quot;: 3,/);
    assert.match(kept, /<ol id="log"[^>]*><li>.*connecting &lt;script&gt;/);
    assert.match(
      kept,
      /<details class="stack"><summary>stack<\/summary><pre class="code">Error: smtp 451\n {4}at send \(&lt;script&gt;/,
    );
    const legacy = (await call(dash, '/jobs/legacy-1')).text;
    const main = legacy.slice(legacy.indexOf('<main>') + '<main>'.length).trimStart();
    assert.match(
      main,
      /^<div class="error quarantine" id="quarantine" role="alert"><b>Quarantined<\/b>/,
    );
    assert.match(main, /DROVER_UNKNOWN_JOB_TYPE.*no class &lt;script&gt;/);
  });

  it('counts a bulk retry by GET and does it only by POST with the token, up to the count', async () => {
    const before = await states();
    const dry = json<{ dryRun: boolean; matched: number }>(
      await call(dash, '/api/bulk/retry?queue=mail&state=failed'),
    );
    assert.deepEqual([dry.dryRun, dry.matched], [true, 3]);
    assert.deepEqual(await states(), before, 'a GET changes nothing');
    const path = '/api/bulk/retry?queue=mail&state=failed&limit=2';
    assert.equal((await call(dash, path, { method: 'POST' })).status, 403);
    assert.equal((await call(dash, path, { method: 'POST', token: 'wrong-token' })).status, 403);
    assert.equal(
      (await call(dash, `/api/bulk/retry?state=completed`, { method: 'POST', token })).status,
      400,
    );
    assert.equal(
      (await call(dash, `/api/bulk/retry?type=${INJECTION}`, { method: 'POST', token })).status,
      400,
    );
    assert.equal((await call(dash, `/api/bulk/explode`, { method: 'POST', token })).status, 404);
    assert.deepEqual(await states(), before);
    const done = json<{ matched: number; changed: number; limited: boolean }>(
      await call(dash, path, { method: 'POST', token }),
    );
    assert.deepEqual([done.matched, done.changed, done.limited], [3, 2, true]);
    assert.equal(await mgmt.count({ queue: 'mail', state: 'failed' }), 1);
  });

  it('deletes finished jobs older than an age, counted first', async () => {
    const dry = json<{ matched: number }>(
      await call(dash, '/api/bulk/delete?queue=mail&state=completed&age=1d'),
    );
    assert.equal(dry.matched, 2);
    assert.equal(
      (await call(dash, '/api/bulk/delete?age=1y', { method: 'POST', token })).status,
      400,
    );
    assert.equal(
      (await call(dash, '/api/bulk/delete?state=pending', { method: 'POST', token })).status,
      400,
    );
    const done = json<{ changed: number }>(
      await call(dash, '/api/bulk/delete?queue=mail&state=completed&age=1d&limit=2', {
        method: 'POST',
        token,
      }),
    );
    assert.equal(done.changed, 2);
    assert.equal(await mgmt.job('old-1'), undefined);
    assert.ok(await mgmt.job('new-1'));
  });

  it('pauses and resumes one job type, by POST only', async () => {
    const path = '/api/queues/mail/types/test-noop/pause';
    assert.equal((await call(dash, path)).status, 405);
    const paused = json<{ pausedTypes: string[]; changed: number }>(
      await call(dash, path, { method: 'POST', token }),
    );
    assert.deepEqual([paused.pausedTypes, paused.changed], [['test-noop'], 1]);
    const resumed = json<{ pausedTypes: string[] }>(
      await call(dash, '/api/queues/mail/types/test-noop/resume', { method: 'POST', token }),
    );
    assert.deepEqual(resumed.pausedTypes, []);
    assert.equal(
      (await call(dash, `/api/queues/mail/types/${INJECTION}/pause`, { method: 'POST', token }))
        .status,
      400,
    );
  });

  it('gives totals and both cursors with a page of jobs', async () => {
    const first = json<{ total: number; prevCursor: string | null; nextCursor: string | null }>(
      await call(dash, '/api/jobs?queue=mail&limit=2'),
    );
    assert.equal(first.total, await mgmt.count({ queue: 'mail' }));
    assert.equal(first.prevCursor, null);
    assert.ok(first.nextCursor);
    const second = json<{ prevCursor: string | null }>(
      await call(
        dash,
        `/api/jobs?queue=mail&limit=2&cursor=${encodeURIComponent(first.nextCursor)}`,
      ),
    );
    assert.ok(second.prevCursor);
    const workers = json<{ _id: string }[]>(await call(dash, '/api/workers'));
    assert.ok(Array.isArray(workers));
  });
}

describe('dashboard history and bulk over HTTP: in-memory', () => historyHttp(memoryBackend));
describe('dashboard history and bulk over HTTP: MongoDB', () => historyHttp(mongoBackend));
