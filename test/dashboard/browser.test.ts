/**
 * The dashboard end to end in headless Chromium (Debian's `chromium`, driven by playwright-core):
 * a MongoDB-backed group runs real jobs, the test opens the overview, filters the job list, opens
 * a running job and aborts it through the UI (accepting the confirm dialog), and sees its state
 * change to aborted without a reload. It saves a screenshot to .cache/dashboard.png, or to
 * docs/dashboard.png (shown in the README) with DROVER_UPDATE_SCREENSHOT=1.
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
import { WaitForAbortJob } from '../support/jobs';
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
    group = backend.group({ workers: 6 });
    mgmt = new Management(group);
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
    const where = process.env.DROVER_UPDATE_SCREENSHOT ? 'docs' : '.cache';
    await page.screenshot({
      path: path.join(projectRoot(), where, 'dashboard.png'),
      fullPage: true,
    });
    assert.deepEqual(problems, []);
  });
});
