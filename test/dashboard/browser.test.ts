/**
 * The dashboard end to end in headless Chromium (Debian's `chromium`, driven by playwright-core):
 * a MongoDB-backed group runs real jobs over a week of history (rollups written through the
 * store, as workers leave them). The test opens the overview, filters the job list, opens a
 * running job and aborts it through the UI (accepting the confirm dialog), and sees its state
 * change to aborted without a reload; it reads the history charts and checks every point against
 * the rollups; retries the failed charges in bulk after the count is shown and confirmed; pauses
 * and resumes one job type; and checks the fixes (no next page after the last one, progress
 * rounded, an aborted job said to be aborted). It saves screenshots to .cache/, or to docs/
 * (shown in the README) with DROVER_UPDATE_SCREENSHOT=1.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  BaseJob,
  HookWaitError,
  JobType,
  RetryableError,
  type JobContext,
  type QueueGroup,
} from '../../lib';
import { startDashboard, type DashboardServer } from '../../lib/ops/dashboard';
import { Management } from '../../lib/ops/management';
import { eventually, mongoBackend, testLogger, type Backend } from '../support/backends';
import { seedHistory } from '../support/history-seed';
import { WaitForAbortJob } from '../support/jobs';
import { makeDoc } from '../support/management-factory';
import { projectRoot } from '../support/server';

const CHROMIUM = '/usr/bin/chromium';
/** Flags that keep Chromium from reaching for a network this machine does not have. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const XSS = '<script>alert(1)</script>';
/** A week of earlier work of the shop's queues. */
const SEEDED = [
  { queue: 'receipts', type: 'shop.send-receipt', perMinute: 24, waitMs: 60, runMs: 45 },
  {
    queue: 'payments',
    type: 'shop.charge-card',
    perMinute: 7,
    failEvery: 9,
    waitMs: 240,
    runMs: 380,
  },
  { queue: 'payments', type: 'shop.refund', perMinute: 2, failEvery: 23, waitMs: 150, runMs: 200 },
  { queue: 'reports', type: 'shop.render-invoice', perMinute: 3, waitMs: 900, runMs: 1200 },
];

@JobType('shop.send-receipt')
class SendReceiptJob extends BaseJob {
  orderId = '';
  email = '';
  async run(ctx: JobContext): Promise<void> {
    await delay(40, undefined, { signal: ctx.signal });
  }
}

@JobType('shop.charge-card')
class ChargeCardJob extends BaseJob {
  orderId = '';
  amountCents = 0;
  declined = false;
  /** Attempts that time out before one goes through. */
  timeouts = 0;
  async run(ctx: JobContext): Promise<void> {
    await ctx.progress(50, 'authorizing');
    if (ctx.attempt < this.timeouts) {
      throw new RetryableError('payment gateway timed out', { retryAfterMs: 50 });
    }
    if (this.declined) throw new Error(`card declined for order ${this.orderId}`);
  }
}

/** Reports an awkward fraction of progress, then holds until aborted. */
@JobType('shop.export-chunks')
class ExportChunksJob extends BaseJob {
  async run(ctx: JobContext): Promise<void> {
    await ctx.progress((100 * 31) / 600, 'chunk 31 of 600');
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
  }
}

@JobType('shop.render-invoice')
class RenderInvoiceJob extends BaseJob {
  orderId = '';
  note = '';
  async run(): Promise<void> {}
}

/** Jobs of a small shop: receipts trickle in, some charges fail, one report runs until aborted. */
async function fill(group: QueueGroup): Promise<void> {
  const receipts = await group.get('receipts');
  const payments = await group.get('payments');
  const reports = await group.get('reports');
  const images = await group.get('images');
  const exporting = await group.get('exports');
  await receipts.putMany(
    Array.from({ length: 60 }, (_, i) =>
      SendReceiptJob.create(
        { orderId: `order-${1001 + i}`, email: `customer${i}@example.com` },
        // Spread over the test, so that throughput and live counts move.
        { id: `receipt-order-${1001 + i}`, delayMs: i * 400 },
      ),
    ),
  );
  await payments.putMany(
    Array.from({ length: 12 }, (_, i) =>
      ChargeCardJob.create(
        { orderId: `order-${1001 + i}`, amountCents: 1999 + i * 250, declined: i % 4 === 2 },
        { id: `charge-order-${1001 + i}`, maxAttempts: 1, retryable: i % 5 === 0 },
      ),
    ),
  );
  await payments.put(
    ChargeCardJob.create(
      { orderId: 'order-2001', amountCents: 4500, timeouts: 2 },
      { id: 'charge-order-2001', maxAttempts: 5 },
    ),
  );
  await reports.put(
    WaitForAbortJob.create(
      { maxMs: 120_000 },
      { id: 'report-2024-q4', concurrency: { key: 'reports:<b>quarterly</b>', limit: 2 } },
    ),
  );
  await exporting.put(WaitForAbortJob.create({ maxMs: 120_000 }, { id: 'export-customers' }));
  await exporting.put(ExportChunksJob.create({}, { id: 'export-orders' }));
  await reports.put(
    RenderInvoiceJob.create(
      { orderId: 'order-1002', note: XSS },
      { id: 'invoice-order-1002', delayMs: 3600_000 },
    ),
  );
  await group.pause('images');
  await images.putMany(
    Array.from({ length: 5 }, (_, i) =>
      RenderInvoiceJob.create({ orderId: `order-${3001 + i}` }, { id: `thumb-${3001 + i}` }),
    ),
  );
  for (const q of [receipts, payments, reports, images, exporting]) await q.start();
}

describe('dashboard in headless Chromium', function () {
  this.timeout(60_000);
  let backend: Backend;
  let group: QueueGroup;
  let mgmt: Management;
  let dash: DashboardServer;
  let browser: Browser | undefined;
  let page: Page;
  const problems: string[] = [];
  const dialogs: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.warn(`    skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);
      this.skip();
    }
    backend = mongoBackend();
    await backend.reset();
    // Rollups are flushed when the test says so, so that a page and a read see the same.
    group = backend.groupWith({ defaults: { workers: 6 }, history: { flushEveryMs: 300_000 } });
    mgmt = new Management(group);
    await seedHistory(backend.stores().rollups, new Date(), SEEDED);
    await fill(group);
    // Another worker process, held by a hook until someone signs in again: its Workers row.
    const held = backend.groupWith({
      hooks: {
        beforeRun: [
          () => {
            throw new HookWaitError('auth-required', 'partner API token expired: sign in again');
          },
        ],
        retryMinMs: 60_000,
      },
    });
    const sync = await held.get('partner-sync', { workers: 2 });
    await sync.put(RenderInvoiceJob.create({ orderId: 'order-4001' }, { id: 'sync-order-4001' }));
    await sync.start();
    dash = await startDashboard({
      management: mgmt,
      group,
      port: 0,
      refreshMs: 500,
      logger: testLogger,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
    page.on('console', (m) => {
      // The rejected filter answers 400 on purpose; anything else (a CSP violation) is a problem.
      if (m.type() === 'error' && !/status of 400/.test(m.text())) {
        problems.push(`console: ${m.text()}`);
      }
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.accept();
    });
  });

  after(async () => {
    await browser?.close();
    await dash?.close();
    await backend?.close();
  });

  it('shows the queues, filters jobs, aborts a running job live, and escapes payloads', async () => {
    const base = dash.url.replace(/\/$/, '');
    await page.goto(dash.url);
    await page.locator('tr[data-queue="payments"]').waitFor();
    assert.equal(await page.locator('tr[data-queue="images"] .badge.paused').count(), 1);
    // Live: the completed count grows as receipts are sent, without a reload.
    await page.evaluate('window.__kept = "overview"');
    const completed = page.locator('[data-total="completed"]');
    const first = Number(await completed.textContent());
    await eventually(
      'the completed count grows live',
      async () => Number(await completed.textContent()) > first,
      20_000,
    );
    assert.equal(await page.evaluate('window.__kept'), 'overview', 'no reload');

    // Filter the list: failed charges whose ID holds "order-10".
    await page.click('header nav a[href$="/jobs"]');
    await page.selectOption('select[name="queue"]', 'payments');
    await page.selectOption('select[name="state"]', 'failed');
    await page.fill('input[name="id"]', 'order-10');
    await Promise.all([page.waitForURL(/state=failed/), page.click('form.filters button')]);
    const ids = await page.locator('#jobs tr[data-id] td:first-child a').allTextContents();
    assert.deepEqual(ids.sort(), ['charge-order-1003', 'charge-order-1007', 'charge-order-1011']);
    const states = await page.locator('#jobs .badge').allTextContents();
    assert.deepEqual([...new Set(states)], ['failed']);

    // An operator typed as ID text is refused, shown as text.
    await page.fill('input[name="id"]', '{"$gt": ""}');
    await Promise.all([page.waitForURL(/id=/), page.click('form.filters button')]);
    assert.match((await page.locator('p.error').textContent()) ?? '', /invalid ID text/);
    assert.equal(await page.locator('#jobs tr[data-id]').count(), 0);

    // Open the running report and abort it through the UI.
    await page.goto(`${base}/jobs?queue=reports&state=running`);
    await Promise.all([
      page.waitForURL(/\/jobs\/report-2024-q4$/),
      page.click('#jobs a:text("report-2024-q4")'),
    ]);
    await page.locator('#job-state .badge[data-state="running"]').waitFor();
    await page.evaluate('window.__kept = "job"');
    await page.click('button[data-action="abort"]');
    await page.locator('#job-state .badge[data-state="aborted"]').waitFor({ timeout: 20_000 });
    assert.equal(await page.evaluate('window.__kept'), 'job', 'the state changed without reload');
    assert.ok(dialogs.includes('confirm: Abort job report-2024-q4?'), dialogs.join('; '));
    assert.match((await page.locator('#flash').textContent()) ?? '', /abort report-2024-q4: /);
    assert.equal((await mgmt.job('report-2024-q4'))?.state, 'aborted');
    assert.ok(await page.locator('button[data-action="abort"]').isDisabled());
    // The script re-rendered the facts with the new state: the concurrency key as text.
    assert.equal(
      await page.locator('[data-fact="concurrency key"]').textContent(),
      'reports:<b>quarterly</b> (limit 2)',
    );
    assert.equal(await page.locator('[data-fact="concurrency key"] b').count(), 0);

    // A payload holding a script is shown as text and never runs.
    await page.goto(`${base}/jobs/invoice-order-1002`);
    assert.match(
      (await page.locator('#payload').textContent()) ?? '',
      /<script>alert\(1\)<\/script>/,
    );
    assert.ok(!dialogs.some((d) => d.startsWith('alert')), dialogs.join('; '));

    // The overview again, once throughput is measured: the README's screenshot.
    await group.history.flush();
    await page.goto(dash.url);
    await eventually(
      'the waiting worker shown',
      async () => /auth-required/.test((await page.locator('#workers').textContent()) ?? ''),
      20_000,
    );
    const rate = page.locator('[data-rate="completedPerMin"]');
    await eventually(
      'throughput measured',
      async () => /\d/.test((await rate.textContent()) ?? ''),
      20_000,
    );
    // Into .cache/ on every run; into docs/ (the README's picture) when asked, so a test run
    // does not leave the tree modified.
    await screenshot('dashboard.png');
    assert.deepEqual(problems, []);
  });

  /** Saves the page into .cache/ on every run; into docs/ (the README's pictures) when asked. */
  async function screenshot(name: string): Promise<void> {
    const where = process.env.DROVER_UPDATE_SCREENSHOT ? 'docs' : '.cache';
    await page.screenshot({ path: path.join(projectRoot(), where, name), fullPage: true });
  }

  /** The points of one line of a chart: value by bucket start. */
  async function drawn(chart: string, series: string): Promise<Map<string, number>> {
    const points = await page
      .locator(`#${chart} g[data-series="${series}"] circle`)
      .evaluateAll((els) =>
        els.map((e) => [e.getAttribute('data-at'), e.getAttribute('data-value')]),
      );
    return new Map(points.map(([at, v]) => [String(at), Number(v)]));
  }

  /** Checks a drawn line against the rollups, bucket by bucket; returns the buckets compared. */
  function sameAsRollups(
    line: Map<string, number>,
    points: { at: Date; value: number | null }[],
  ): number {
    let compared = 0;
    for (const p of points) {
      const at = p.at.toISOString();
      // A minute may have begun between the page and the read: compare the buckets both hold.
      if (!line.has(at) && p.value !== null && points.indexOf(p) < points.length - 1) {
        assert.fail(`bucket ${at} (${p.value}) is not drawn`);
      }
      if (!line.has(at)) continue;
      assert.equal(line.get(at), p.value, `bucket ${at}`);
      compared++;
    }
    return compared;
  }

  it('draws throughput, failures and queue wait from the rollups, per queue and per type', async () => {
    const base = dash.url.replace(/\/$/, '');
    await group.history.flush();
    await page.goto(`${base}/history?window=1h`);
    const h = await mgmt.history({ sinceMs: 3_600_000 });
    assert.equal(h.bucketMs, 60_000);
    for (const queue of ['receipts', 'payments', 'reports']) {
      const series = h.series.find((s) => s.queue === queue);
      assert.ok(series, queue);
      const all = series.points;
      const at = (pick: (p: (typeof all)[number]) => number | null) =>
        all.map((p) => ({ at: p.at, value: pick(p) }));
      const n = sameAsRollups(
        await drawn('chart-throughput', queue),
        at((p) => p.completed),
      );
      assert.ok(n >= 59, `${queue}: ${n} buckets compared`);
      sameAsRollups(
        await drawn('chart-failures', queue),
        at((p) => p.failed),
      );
      sameAsRollups(
        await drawn('chart-wait', queue),
        at((p) => p.waitAvgMs),
      );
    }
    // The live receipts of this run are in the rollups too.
    const receipts = h.series.find((s) => s.queue === 'receipts');
    assert.ok((receipts?.points[receipts.points.length - 1].completed ?? 0) > 0);
    // The totals below: started, completed, failed... over the window.
    const cells = await page.locator('tr[data-series="payments"] td').allTextContents();
    const totals = h.series.find((s) => s.queue === 'payments')?.totals;
    assert.deepEqual(
      cells.slice(1, 4),
      [totals?.started, totals?.completed, totals?.failed].map(String),
    );

    // One queue: a line per job type.
    await page.goto(`${base}/history?window=1h&queue=payments`);
    const typed = await mgmt.history({ sinceMs: 3_600_000, queue: 'payments' });
    for (const s of typed.series) {
      const name = `payments / ${s.type}`;
      const points = s.points.map((p) => ({ at: p.at, value: p.completed }));
      assert.ok(sameAsRollups(await drawn('chart-throughput', name), points) >= 59, name);
    }
    assert.deepEqual(
      await page
        .locator('#chart-throughput g[data-series]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-series'))),
      ['payments / shop.charge-card', 'payments / shop.refund'],
    );

    // A week, by two hours.
    await page.goto(`${base}/history?window=7d`);
    const week = await mgmt.history({ sinceMs: 7 * 86_400_000 });
    assert.equal(week.bucketMs, 2 * 3_600_000);
    const reports = week.series.find((s) => s.queue === 'reports');
    const n = sameAsRollups(
      await drawn('chart-throughput', 'reports'),
      (reports?.points ?? []).map((p) => ({ at: p.at, value: p.completed })),
    );
    assert.ok(n >= 84, `${n} buckets of the week`);
    await page.goto(`${base}/history?window=1d`);
    await screenshot('dashboard-history.png');
    assert.deepEqual(problems, []);
  });

  it('retries every failed charge of a type after showing how many, once confirmed', async () => {
    const base = dash.url.replace(/\/$/, '');
    const failed = ['charge-order-1003', 'charge-order-1007', 'charge-order-1011'];
    await page.goto(`${base}/jobs?queue=payments&type=shop.charge-card&state=failed`);
    const retry = page.locator('button[data-bulk="retry"]');
    assert.equal(
      await retry.textContent(),
      'Retry all failed jobs of type shop.charge-card in payments…',
    );
    // Asked, then cancelled: nothing changes.
    await retry.click();
    await page.locator('#bulk-confirm').waitFor();
    assert.equal(
      await page.locator('#bulk-text').textContent(),
      '3 failed jobs of type shop.charge-card in queue payments will run again now.',
    );
    assert.equal(await page.locator('#bulk-go').textContent(), 'Retry 3 jobs');
    await page.click('#bulk-cancel');
    assert.ok(await page.locator('#bulk-confirm').isHidden());
    for (const id of failed) assert.equal((await mgmt.job(id))?.attempts.length, 1, id);
    // Asked and confirmed: each runs again (and, declined again, fails again).
    await retry.click();
    await page.locator('#bulk-go').click();
    await eventually(
      'the bulk retry reported',
      async () => /retried 3 of 3 jobs/.test((await page.locator('#flash').textContent()) ?? ''),
      10_000,
    );
    for (const id of failed) {
      await eventually(
        `${id} ran again`,
        async () => {
          const job = await mgmt.job(id);
          return job?.attempts.length === 2 && job.state === 'failed';
        },
        20_000,
      );
    }
    assert.deepEqual(problems, []);
  });

  it('pauses and resumes one job type from the overview', async () => {
    await page.goto(dash.url);
    const row = page.locator('tr[data-type="shop.charge-card"]');
    await row.locator('button[data-action="pause"]').click();
    await row.locator('.badge.paused').waitFor();
    const fuse = async () =>
      (await mgmt.queueRecords()).find((r) => r.name === 'payments')?.pausedTypes ?? [];
    assert.deepEqual(await fuse(), ['shop.charge-card']);
    assert.ok(
      dialogs.includes(
        'confirm: Pause job type shop.charge-card in queue payments? No runner claims its jobs until it is resumed.',
      ),
    );
    await row.locator('button[data-action="resume"]').click();
    await eventually('resumed', async () => (await fuse()).length === 0);
    await eventually(
      'the badge is gone',
      async () => (await row.locator('.badge.paused').count()) === 0,
    );
  });

  it('fixes: no next page after the last, rounded progress, an aborted job says so', async () => {
    const base = dash.url.replace(/\/$/, '');
    // Exactly one full page: no next page, now or after the live refresh.
    await page.goto(`${base}/jobs?queue=images&limit=5`);
    assert.equal(await page.locator('#jobs tr[data-id]').count(), 5);
    assert.ok(await page.locator('#next-page').isHidden());
    assert.equal(await page.locator('#row-count').textContent(), 'page 1 of 1 · 5 shown of 5');
    await page.waitForResponse((r) => r.url().includes('/api/jobs?'));
    await page.evaluate('new Promise((r) => requestAnimationFrame(r))');
    assert.ok(await page.locator('#next-page').isHidden(), 'still hidden after a refresh');
    // Pages of two: forward to the last, which has no next, and back.
    await page.goto(`${base}/jobs?queue=images&limit=2`);
    await Promise.all([page.waitForURL(/page=2/), page.click('#next-page')]);
    await Promise.all([page.waitForURL(/page=3/), page.click('#next-page')]);
    assert.equal(await page.locator('#jobs tr[data-id]').count(), 1);
    assert.ok(await page.locator('#next-page').isHidden());
    assert.equal(await page.locator('#row-count').textContent(), 'page 3 of 3 · 1 shown of 5');
    await Promise.all([page.waitForURL(/page=2/), page.click('#prev-page')]);
    assert.equal(await page.locator('#jobs tr[data-id]').count(), 2);
    assert.ok(await page.locator('#next-page').isVisible());

    // Progress of 31/600: shown rounded, never as 5.166666666666667%.
    await eventually(
      'the export reports progress',
      async () => ((await mgmt.job('export-orders'))?.latest.status.progress ?? 0) > 5,
    );
    await page.goto(`${base}/jobs/export-orders`);
    assert.equal(
      await page.locator('[data-fact="progress"]').textContent(),
      '5.2% chunk 31 of 600',
    );
    // After a refresh of the page's regions too.
    await page.waitForResponse((r) => r.url().endsWith('/jobs/export-orders'));
    await page.evaluate('new Promise((r) => requestAnimationFrame(r))');
    assert.equal(
      await page.locator('[data-fact="progress"]').textContent(),
      '5.2% chunk 31 of 600',
    );
    // The list shows it the same way (the raw stored number stays in the stored document).
    await page.goto(`${base}/jobs?queue=exports`);
    assert.equal(
      await page.locator('tr[data-id="export-orders"] progress').getAttribute('title'),
      '5.2%',
    );

    // The job aborted in the first test: its page says it was, not "abort requested: no".
    await page.goto(`${base}/jobs/report-2024-q4`);
    assert.match((await page.locator('[data-fact="abort"]').textContent()) ?? '', /^aborted: /);
    assert.equal(await page.locator('dt:text-is("abort requested")').count(), 0);
    assert.doesNotMatch((await page.locator('dl.facts').textContent()) ?? '', /abort\w*\s*no\b/);
    assert.deepEqual(problems, []);
  });

  it("puts a job's quarantine reason first, and its attempts on a timeline", async () => {
    const base = dash.url.replace(/\/$/, '');
    // A document whose class this deployment no longer has: the runner quarantines it.
    const legacy = makeDoc({ id: 'legacy-export-1', queue: 'exports' });
    legacy.type = { name: 'shop.legacy-export', version: 1 };
    await backend.store().jobInsert([legacy]);
    await eventually(
      'quarantined',
      async () => (await mgmt.job('legacy-export-1'))?.state === 'quarantined',
    );
    await page.goto(`${base}/jobs/legacy-export-1`);
    const first = await page.locator('main > *').first().getAttribute('id');
    assert.equal(first, 'quarantine');
    assert.match(
      (await page.locator('#quarantine').textContent()) ?? '',
      /Quarantined .*shop\.legacy-export/,
    );

    // Two timed-out attempts, then one that went through.
    await page.goto(`${base}/jobs/charge-order-2001`);
    const runs = await page
      .locator('#timeline rect[data-kind="run"]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    assert.deepEqual(runs, ['retrying', 'retrying', 'completed']);
    assert.equal(await page.locator('#timeline g[data-attempt]').count(), 3);
    assert.deepEqual(problems, []);
  });

  it('lists the live worker groups, one held by a waiting hook', async () => {
    const base = dash.url.replace(/\/$/, '');
    await page.goto(`${base}/workers`);
    assert.equal(await page.locator('#worker-list tr[data-worker]').count(), 2);
    assert.match(
      (await page.locator('#worker-list').textContent()) ?? '',
      /auth-required\s*partner API token expired: sign in again/,
    );
    assert.match(
      (await page.locator('#workers-summary').textContent()) ?? '',
      /^2 live worker group\(s\), \d+ of 32 slot\(s\) busy, 1 held by a waiting hook\.$/,
    );
    assert.deepEqual(problems, []);
  });
});
