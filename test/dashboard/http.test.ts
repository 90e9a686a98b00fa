/**
 * The dashboard over plain HTTP, against both stores, with jobs run by a real group: escaping of
 * job data, tokens on actions and pages, reads that never change anything, operator injection
 * rejected before it reaches a filter, and `/metrics` after jobs ran.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetrics } from '../../lib/ops/metrics';
import { InvalidArgumentError, type QueueGroup } from '../../lib';
import { dashboardHandler, startDashboard, type DashboardServer } from '../../lib/ops/dashboard';
import { Management } from '../../lib/ops/management';
import {
  eventually,
  memoryBackend,
  mongoBackend,
  testLogger,
  type Backend,
} from '../support/backends';
import { FailJob, FlakyJob, NoopJob, SleepJob, WaitForAbortJob } from '../support/jobs';
import { ResultJob } from '../support/semantics-jobs';

const XSS = '<script>alert(1)</script>';
const INJECTION = '{"$gt": ""}';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request to the dashboard (node:http, so that Host and Origin can be set freely). */
function call(
  dash: DashboardServer,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const url = new URL(path, dash.url);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The action token a page embeds for its script. */
function pageToken(html: string): string {
  const m = /<meta name="drover-token" content="([^"]+)">/.exec(html);
  assert.ok(m, 'the page embeds an action token');
  return m[1];
}

function dashboardBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;
  let mgmt: Management;
  let dash: DashboardServer | undefined;

  /** Every job's ID and state, to show that a request changed nothing. */
  const snapshot = async () =>
    (await mgmt.list({}, { limit: 1000, order: 'id' })).jobs.map((j) => [
      j._id,
      j.state,
      j.status.modCount,
      j.status.abortRequested,
    ]);

  before(async function () {
    this.timeout(60_000);
    backend = makeBackend();
    await backend.reset();
    group = backend.group();
    mgmt = new Management(group);
    const mail = await group.get('mail');
    await mail.putMany([
      NoopJob.create(
        { tag: XSS },
        { id: 'xss-1', delayMs: 3600_000, concurrency: { key: `tenant:${XSS}`, limit: 3 } },
      ),
      SleepJob.create({ ms: 1 }, { id: 'spare-1', delayMs: 3600_000 }),
      SleepJob.create({ ms: 1 }, { id: 'mail-ok-1' }),
      SleepJob.create({ ms: 1 }, { id: 'mail-ok-2' }),
      FailJob.create({ message: `bad <b>${XSS}</b>` }, { id: 'mail-bad-1', retryable: false }),
      FlakyJob.create({ succeedOn: 1, retryAfterMs: 1 }, { id: 'flaky-1', maxAttempts: 3 }),
    ]);
    const slow = await group.get('slow');
    await slow.put(WaitForAbortJob.create({}, { id: 'long-1' }));
    await mail.start();
    await slow.start();
    for (const id of ['mail-ok-1', 'mail-ok-2', 'mail-bad-1', 'flaky-1']) {
      await mail.waitFor(id, { timeoutMs: 20_000 });
    }
    await eventually('long-1 runs', () => slow.isRunning('long-1'), 20_000);
  });
  afterEach(async () => {
    await dash?.close();
    dash = undefined;
  });
  after(async () => backend.close());

  const start = async (token?: string) => {
    dash = await startDashboard({ management: mgmt, group, port: 0, token, logger: testLogger });
    return dash;
  };

  it('escapes job data and serves no inline script', async () => {
    const d = await start();
    const page = await call(d, '/jobs/xss-1');
    assert.equal(page.status, 200);
    assert.ok(!page.text.includes(XSS), 'the payload is not raw HTML');
    assert.ok(page.text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), page.text);
    assert.ok(
      page.text.includes(
        '<dd data-fact="concurrency key">tenant:&lt;script&gt;alert(1)&lt;/script&gt; (limit 3)</dd>',
      ),
      'the concurrency key is shown, escaped',
    );
    const plain = await call(d, '/jobs/spare-1');
    assert.ok(plain.text.includes('<dd data-fact="concurrency key">—</dd>'), 'none: a dash');
    const failed = await call(d, '/jobs/mail-bad-1');
    assert.ok(!failed.text.includes('<b>'), 'error messages are escaped');
    assert.ok(failed.text.includes('bad &lt;b&gt;&lt;script&gt;'));
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    for (const path of ['/', '/jobs', '/jobs/xss-1', `/jobs?id=${encodeURIComponent(XSS)}`]) {
      const html = (await call(d, path)).text;
      const scripts = html.match(/<script\b[^>]*>/g) ?? [];
      assert.deepEqual(scripts, ['<script src="/assets/dashboard.js" defer>'], path);
      assert.doesNotMatch(html, /\son[a-z]+=|\sstyle=|javascript:/i, path);
    }
    // Text typed in a filter comes back escaped, with the validation error.
    const bad = await call(d, `/jobs?id=${encodeURIComponent(XSS)}`);
    assert.equal(bad.status, 400);
    assert.ok(!bad.text.includes(XSS));
    assert.ok(bad.text.includes('value="&lt;script&gt;alert(1)&lt;/script&gt;"'));
  });

  it('shows live worker groups on the overview, a hook message escaped', async () => {
    const d = await start();
    const now = Date.now();
    await backend.stores().workers.workerSave({
      _id: 'elsewhere:7:waiting1',
      host: 'elsewhere',
      pid: 7,
      startedAt: new Date(now),
      seenAt: new Date(now),
      expiresAt: new Date(now + 600_000),
      state: 'auth-required',
      message: XSS,
      stateSince: new Date(now),
      queues: [{ name: 'mail', owner: 'elsewhere:7:pool', workers: 2, running: 0 }],
    });
    try {
      const page = await call(d, '/');
      assert.ok(!page.text.includes(XSS), 'the hook message is not raw HTML');
      assert.match(page.text, /data-worker="elsewhere:7:waiting1"/);
      // This process's own group runs 'mail' and 'slow'; it is listed as ready.
      assert.match(page.text, new RegExp(`data-worker="${group.presence.id}"`));
      const api = await call(d, '/api/counts');
      const data = JSON.parse(api.text) as { workers: { _id: string; state: string }[] };
      assert.deepEqual(data.workers.map((w) => w.state).sort(), ['auth-required', 'ready']);
    } finally {
      await backend.stores().workers.workerRemove('elsewhere:7:waiting1');
    }
  });

  it('filters the job list by ID text, state, queue and type, with pages', async () => {
    const d = await start();
    const ids = async (query: string) => {
      const r = await call(d, `/api/jobs${query}`);
      assert.equal(r.status, 200, r.text);
      return (JSON.parse(r.text) as { jobs: { _id: string }[] }).jobs.map((j) => j._id).sort();
    };
    assert.deepEqual(await ids('?id=mail-ok'), ['mail-ok-1', 'mail-ok-2']);
    assert.deepEqual(await ids('?state=failed'), ['mail-bad-1']);
    assert.deepEqual(await ids('?queue=slow&state=running'), ['long-1']);
    assert.deepEqual(await ids('?type=test-flaky'), ['flaky-1', 'flaky-1#1']);
    const first = JSON.parse((await call(d, '/api/jobs?limit=2')).text) as {
      nextCursor: string;
    };
    assert.ok(first.nextCursor);
    const page2 = await call(d, `/api/jobs?limit=2&cursor=${encodeURIComponent(first.nextCursor)}`);
    assert.equal(JSON.parse(page2.text).jobs.length, 2);
    const html = await call(d, '/jobs?id=mail-ok&state=completed');
    assert.equal(html.status, 200);
    assert.match(html.text, /href="\/jobs\/mail-ok-1"/);
    assert.doesNotMatch(html.text, /href="\/jobs\/long-1"/);
  });

  it('rejects operators in filters and IDs with 400, changing nothing', async () => {
    const d = await start();
    const token = pageToken((await call(d, '/')).text);
    const before = await snapshot();
    for (const query of [
      `?id=${encodeURIComponent(INJECTION)}`,
      `?queue=${encodeURIComponent(INJECTION)}`,
      `?state=${encodeURIComponent(INJECTION)}`,
      `?type=${encodeURIComponent(INJECTION)}`,
      `?cursor=${encodeURIComponent(INJECTION)}`,
    ]) {
      const api = await call(d, `/api/jobs${query}`);
      assert.equal(api.status, 400, `${query}: ${api.text}`);
      assert.equal(JSON.parse(api.text).error.code, new InvalidArgumentError('').code);
      assert.equal((await call(d, `/jobs${query}`)).status, 400, query);
    }
    // Bracket keys are not parsed into objects: they are unknown keys, ignored.
    assert.equal((await call(d, '/api/jobs?id[$gt]=')).status, 200);
    const id = encodeURIComponent(INJECTION);
    assert.equal((await call(d, `/api/jobs/${id}`)).status, 400);
    assert.equal((await call(d, `/jobs/${id}`)).status, 400);
    for (const action of ['abort', 'retry', 'delete', 'complete', 'requeue']) {
      const r = await call(d, `/api/jobs/${id}/${action}`, {
        method: 'POST',
        headers: { 'x-drover-token': token },
      });
      assert.equal(r.status, 400, `${action}: ${r.text}`);
    }
    const q = await call(d, `/api/queues/${id}/pause`, {
      method: 'POST',
      headers: { 'x-drover-token': token },
    });
    assert.equal(q.status, 400);
    assert.deepEqual(await snapshot(), before);
  });

  it('performs actions only by POST with the action token', async () => {
    const d = await start();
    const token = pageToken((await call(d, '/')).text);
    const before = await snapshot();
    const path = '/api/jobs/xss-1/complete';
    assert.equal((await call(d, path)).status, 405, 'GET on an action');
    assert.equal((await call(d, path, { method: 'POST' })).status, 403, 'no token');
    const wrong = { 'x-drover-token': 'not-the-token' };
    assert.equal((await call(d, path, { method: 'POST', headers: wrong })).status, 403);
    const crossSite = { 'x-drover-token': token, origin: 'http://evil.example' };
    assert.equal((await call(d, path, { method: 'POST', headers: crossSite })).status, 403);
    assert.equal((await call(d, path, { method: 'PUT' })).status, 405);
    // Every page and read endpoint, read twice: still nothing changed.
    for (const p of ['/', '/jobs', '/jobs/long-1', '/api/counts', '/api/jobs', '/metrics']) {
      assert.equal((await call(d, p)).status, 200, p);
    }
    assert.equal((await call(d, '/api/jobs/long-1')).status, 200);
    assert.equal((await call(d, '/api/jobs/ghost')).status, 404);
    assert.deepEqual(await snapshot(), before);

    const ok = await call(d, '/api/queues/mail/pause', {
      method: 'POST',
      headers: { 'x-drover-token': token },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(JSON.parse(ok.text).paused, true);
    const counts = JSON.parse((await call(d, '/api/counts')).text);
    assert.equal(counts.queues.find((q: { queue: string }) => q.queue === 'mail').paused, true);
    await call(d, '/api/queues/mail/resume', {
      method: 'POST',
      headers: { 'x-drover-token': token },
    });
    const refused = await call(d, '/api/jobs/mail-ok-1/abort', {
      method: 'POST',
      headers: { 'x-drover-token': token },
    });
    assert.equal(refused.status, 409);
    assert.equal(JSON.parse(refused.text).outcome, 'refused');
  });

  it('asks for the token on every page when one is set', async () => {
    const secret = 'correct-horse-battery';
    const d = await start(secret);
    const denied = await call(d, '/');
    assert.equal(denied.status, 401);
    assert.ok(!denied.text.includes(secret));
    assert.doesNotMatch(denied.text, /drover-token/);
    assert.equal((await call(d, '/api/counts')).status, 401);
    assert.equal((await call(d, '/metrics')).status, 401);
    assert.equal((await call(d, '/assets/dashboard.css')).status, 200);
    assert.equal((await call(d, '/?token=wrong-token-here')).status, 401);
    const given = await call(d, `/jobs?state=failed&token=${secret}`);
    assert.equal(given.status, 303);
    assert.equal(given.headers.location, '/jobs?state=failed');
    const cookie = String(given.headers['set-cookie']).split(';')[0];
    assert.ok(!cookie.includes(secret), 'the cookie holds a hash, not the token');
    assert.match(String(given.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
    const page = await call(d, '/jobs?state=failed', { headers: { cookie } });
    assert.equal(page.status, 200);
    const bearer = { authorization: `Bearer ${secret}` };
    assert.equal((await call(d, '/api/counts', { headers: bearer })).status, 200);
    // A cookie alone does not act: a cross-site form would carry it.
    const before = await snapshot();
    const path = '/api/jobs/spare-1/complete';
    assert.equal((await call(d, path, { method: 'POST', headers: { cookie } })).status, 403);
    assert.deepEqual(await snapshot(), before);
    const done = await call(d, path, { method: 'POST', headers: bearer });
    assert.equal(done.status, 200, done.text);
    assert.equal(JSON.parse(done.text).outcome, 'done');
  });

  it('answers only to loopback host names when bound to loopback', async () => {
    const d = await start();
    assert.equal((await call(d, '/', { headers: { host: 'evil.example' } })).status, 421);
    assert.equal((await call(d, '/', { headers: { host: 'localhost:1234' } })).status, 200);
  });

  it("mounts in a user's server under a base path, with the user's metrics registry", async () => {
    const metrics = createMetrics({ group });
    const handler = dashboardHandler({
      management: mgmt,
      basePath: '/admin/drover/',
      metrics: metrics.registry,
      logger: testLogger,
    });
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/admin/drover')) return handler(req, res);
      res.end('the user app');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const mounted = { url: `http://127.0.0.1:${port}/` } as DashboardServer;
    try {
      assert.equal((await call(mounted, '/')).text, 'the user app');
      const overview = await call(mounted, '/admin/drover');
      assert.equal(overview.status, 200);
      assert.match(overview.text, /href="\/admin\/drover\/jobs\?queue=mail"/);
      assert.match(overview.text, /src="\/admin\/drover\/assets\/dashboard.js"/);
      assert.equal((await call(mounted, '/admin/drover/jobs/xss-1')).status, 200);
      assert.equal((await call(mounted, '/admin/drover/assets/dashboard.css')).status, 200);
      const scraped = await call(mounted, '/admin/drover/metrics');
      assert.match(scraped.text, /# TYPE drover_jobs_pending gauge/);
    } finally {
      metrics.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('serves /metrics with counters, histograms and gauges after jobs ran', async () => {
    const d = await start();
    // The dashboard's metrics observe runs from now on: run a few more jobs.
    const mail = await group.get('mail');
    await mail.put(SleepJob.create({ ms: 1 }, { id: 'mail-ok-3' }));
    await mail.put(FailJob.create({}, { id: 'mail-bad-2', retryable: false }));
    await mail.put(FlakyJob.create({ succeedOn: 1, retryAfterMs: 1 }, { id: 'flaky-2' }));
    for (const id of ['mail-ok-3', 'mail-bad-2', 'flaky-2']) await mail.waitFor(id);
    await mgmt.abort('long-1');
    await eventually('long-1 aborted', async () => (await mgmt.job('long-1'))?.state === 'aborted');
    const r = await call(d, '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    const has = (re: RegExp) => assert.match(r.text, re);
    has(/^drover_jobs_claimed_total\{queue="mail",type="test-sleep"\} 1$/m);
    has(/^drover_jobs_completed_total\{queue="mail",type="test-sleep"\} 1$/m);
    has(/^drover_jobs_failed_total\{queue="mail",type="test-fail"\} 1$/m);
    has(/^drover_jobs_retried_total\{queue="mail",type="test-flaky"\} 1$/m);
    has(/^drover_jobs_aborted_total\{queue="slow",type="test-wait-abort"\} 1$/m);
    has(/^drover_job_queue_wait_seconds_count\{queue="mail",type="test-sleep"\} 1$/m);
    has(/^drover_job_run_duration_seconds_count\{queue="mail",type="test-flaky"\} 2$/m);
    has(/^drover_jobs_pending\{queue="mail",type="test-noop"\} 1$/m);
    has(/^drover_jobs_running\{queue="slow",type="test-wait-abort"\} 0$/m);
    has(/^# TYPE drover_jobs_due gauge$/m);
  });

  it("shows a job's result and its own log on the job page, escaped", async () => {
    const d = await start();
    const results = await group.get('results');
    await results.put(ResultJob.create({ result: { html: XSS }, lines: 2 }, { id: 'res-1' }));
    await results.start();
    await results.waitFor('res-1');
    const page = await call(d, '/jobs/res-1');
    assert.equal(page.status, 200);
    assert.ok(!page.text.includes(XSS), 'the result is not raw HTML');
    assert.match(
      page.text,
      /<h2>Result<\/h2>\n<pre id="result" class="code"[^>]*>\{\n {2}&quot;html&quot;: &quot;&lt;script&gt;/,
    );
    assert.match(
      page.text,
      /<h2>Log<\/h2>\n<ol id="log" class="log"[^>]*><li><span class="muted">[^<]+<\/span> line 0<\/li><li><span class="muted">[^<]+<\/span> line 1<\/li><\/ol>/,
    );
    const plain = await call(d, '/jobs/spare-1');
    assert.ok(!plain.text.includes('<h2>Result</h2>'), 'shown only when there is one');
  });
}

describe('dashboard over HTTP: in-memory', () => dashboardBehaviour(memoryBackend));
describe('dashboard over HTTP: MongoDB', () => dashboardBehaviour(mongoBackend));
