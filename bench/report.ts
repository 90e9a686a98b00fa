/** Writes latest.json, latest.md and throughput.svg, and renders the Markdown tables. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { num, serverName, table } from './markdown';
import type { BenchResults, ThroughputResult } from './results';
import { leanSection } from './report-lean';
import { SYSTEM_NAMES, type SystemName } from './systems/types';

/** One system on one server: a column of the tables, a line of the chart. */
interface Lane {
  system: SystemName;
  server: string;
  label: string;
}

/** The lanes of the results: servers in the order they ran, systems in their usual order. */
function lanes(results: BenchResults): Lane[] {
  const rows = [...results.burn, ...results.enqueue, ...results.latency, ...results.mixed];
  const servers = [...new Set(rows.map((r) => r.server))];
  const out: Lane[] = [];
  for (const server of servers) {
    for (const system of SYSTEM_NAMES) {
      if (rows.some((r) => r.server === server && r.system === system)) {
        out.push({ system, server, label: `${system} (${serverName(results, server)})` });
      }
    }
  }
  return out;
}

function note(r: ThroughputResult): string {
  const parts: string[] = [];
  if (r.timedOut) parts.push(`timed out at ${r.completed + r.failed}/${r.n}`);
  const expectedRuns = r.n + Math.round(r.n * r.failShare) * 2;
  if (!r.timedOut && r.runs !== expectedRuns)
    parts.push(`${r.runs} runs, expected ${expectedRuns}`);
  if (r.errors.length) parts.push(r.errors[0].slice(0, 80));
  return parts.join('; ');
}

function throughputRows(results: BenchResults, rows: ThroughputResult[]): string[][] {
  return rows.map((r) => [
    r.system,
    serverName(results, r.server),
    String(r.procs),
    String(r.conc),
    num(r.jobsPerSec),
    num(r.roundTripsPerJob, 2),
    num(r.serverCommandsPerJob, 1),
    num(r.cpuUsPerJob),
    num(r.peakRssMiB),
    note(r),
  ]);
}

const THROUGHPUT_HEAD = [
  'system',
  'server',
  'P',
  'C',
  'jobs/s',
  'round trips/job',
  'Redis cmds/job',
  'worker CPU µs/job',
  'peak RSS MiB',
  'note',
];

/** The whole report as Markdown. */
export function renderMarkdown(results: BenchResults): string {
  const { meta, options: o } = results;
  const all = lanes(results);
  const out: string[] = [];
  out.push(`# drover benchmark (${meta.startedAt.slice(0, 19)}Z)`);
  out.push('');
  out.push(
    `Machine: ${meta.machine.cpus} cores (${meta.machine.model}), ${meta.machine.memGiB} GiB, ` +
      `${meta.machine.os}, Node ${meta.machine.node}. ` +
      `Servers: ${meta.servers.map((s) => `${s.name}: ${s.kind} (version ${s.version})`).join('; ')}. ` +
      `Versions: ${Object.entries(meta.versions)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}. Took ${num(meta.durationS)} s` +
      (meta.complete ? '.' : ' (INCOMPLETE: the run was cut short).'),
  );
  if (results.burn.length) {
    out.push(
      '',
      `## Burn-down: jobs/s draining ${num(o.n)} no-op jobs (P processes × C concurrency)`,
      '',
    );
    const cells = [...new Set(results.burn.map((r) => `${r.procs}x${r.conc}`))];
    const rate = (system: SystemName, server: string, cell: string): number | undefined =>
      results.burn.find(
        (r) => r.system === system && r.server === server && `${r.procs}x${r.conc}` === cell,
      )?.jobsPerSec;
    // drover / agenda on each server that ran both.
    const ratios = [...new Set(all.map((l) => l.server))].filter(
      (server) =>
        all.some((l) => l.server === server && l.system === 'drover') &&
        all.some((l) => l.server === server && l.system === 'agenda'),
    );
    out.push(
      table(
        [
          'P×C',
          ...all.map((l) => l.label),
          ...ratios.map((server) => `drover / agenda (${serverName(results, server)})`),
        ],
        cells.map((cell) => [
          cell.replace('x', '×'),
          ...all.map((l) => num(rate(l.system, l.server, cell))),
          ...ratios.map((server) => {
            const d = rate('drover', server, cell);
            const a = rate('agenda', server, cell);
            return d && a ? `${num(d / a, 1)}×` : '–';
          }),
        ]),
      ),
    );
    out.push('', '### Burn-down details', '');
    out.push(table(THROUGHPUT_HEAD, throughputRows(results, results.burn)));
  }
  if (results.enqueue.length) {
    out.push('', '## Enqueue rate (no consumer running)', '');
    out.push(
      table(
        [
          'system',
          'server',
          'mode',
          'jobs',
          'jobs/call',
          'jobs/s',
          'round trips/job',
          'CPU µs/job',
          'p50 ms/call',
          'p99 ms/call',
        ],
        results.enqueue.map((r) => [
          r.system,
          serverName(results, r.server),
          r.mode === 'single' ? 'put' : 'putMany',
          num(r.jobs),
          num(r.batch),
          num(r.jobsPerSec),
          num(r.roundTripsPerJob, 3),
          num(r.cpuUsPerJob),
          num(r.p50Ms, 2),
          num(r.p99Ms, 2),
        ]),
      ),
    );
  }
  if (results.latency.length) {
    out.push(
      '',
      `## Put-to-start latency, idle workers (C=${o.latencyConc}, gaps ${o.latencyGapMs[0]}–${o.latencyGapMs[1]} ms)`,
      '',
    );
    out.push(
      table(
        ['system', 'server', 'where', 'p50 ms', 'p99 ms', 'max ms', 'mean ms', 'samples', 'missed'],
        results.latency.map((r) => [
          r.system,
          serverName(results, r.server),
          r.where,
          num(r.p50Ms, 1),
          num(r.p99Ms, 1),
          num(r.maxMs, 1),
          num(r.meanMs, 1),
          String(r.samples),
          String(r.missed),
        ]),
      ),
    );
  }
  if (results.mixed.length) {
    out.push(
      '',
      `## Mixed: ${num(o.failShare * 100)}% of jobs fail every attempt (3 attempts), ${num(o.n)} jobs`,
      '',
    );
    out.push(table(THROUGHPUT_HEAD, throughputRows(results, results.mixed)));
  }
  out.push(...leanSection(results));
  if (results.skipped.length || results.notes.length) {
    out.push('', '## Notes', '');
    for (const s of results.skipped) out.push(`- ${s.system} skipped: ${s.reason}`);
    for (const n of results.notes) out.push(`- ${n}`);
  }
  out.push('');
  return out.join('\n');
}

/** Colours of the lanes: per system, the first MongoDB server dark, the next ones lighter. */
const COLORS: Record<SystemName, string[]> = {
  drover: ['#1f77b4', '#7fb3dc'],
  agenda: ['#d62728', '#ee8f90'],
  bullmq: ['#2ca02c', '#2ca02c'],
};
const DASHES = ['', '6 4', '2 3', '10 3 2 3'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Throughput against concurrency (log2 x, log10 y), one line per system and process count. */
export function renderSvg(results: BenchResults): string {
  const W = 880;
  const H = 420;
  const m = { left: 70, right: 320, top: 40, bottom: 50 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const concs = [...new Set(results.burn.map((r) => r.conc))].sort((a, b) => a - b);
  const procs = [...new Set(results.burn.map((r) => r.procs))].sort((a, b) => a - b);
  const rates = results.burn.map((r) => r.jobsPerSec).filter((v) => Number.isFinite(v) && v > 0);
  // Log scale: the systems differ by orders of magnitude on some servers.
  const yLo = 10 ** Math.floor(Math.log10(Math.min(...rates, 10)));
  const yHi = 10 ** Math.ceil(Math.log10(Math.max(...rates, yLo * 10)));
  const lx = (c: number): number => Math.log2(c);
  const [x0, x1] = [lx(concs[0] ?? 1), lx(concs[concs.length - 1] ?? 2)];
  const sx = (c: number): number => m.left + (x1 === x0 ? pw / 2 : ((lx(c) - x0) / (x1 - x0)) * pw);
  const sy = (v: number): number =>
    m.top + ph - ((Math.log10(Math.max(v, yLo)) - Math.log10(yLo)) / Math.log10(yHi / yLo)) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.left}" y="22" font-size="14" font-weight="bold">Burn-down throughput, ${esc(num(results.options.n))} no-op jobs (${results.meta.machine.cpus} cores)</text>`,
  ];
  for (let decade = yLo; decade <= yHi; decade *= 10) {
    for (const k of [1, 2, 5]) {
      const v = decade * k;
      if (v > yHi) break;
      const y = sy(v).toFixed(1);
      parts.push(
        `<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="${k === 1 ? '#ccc' : '#eee'}"/>`,
        `<text x="${m.left - 8}" y="${Number(y) + 4}" text-anchor="end">${esc(num(v))}</text>`,
      );
    }
  }
  for (const c of concs) {
    const x = sx(c).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#eee"/>`,
      `<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle">${c}</text>`,
    );
  }
  parts.push(
    `<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#333"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="#333"/>`,
    `<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">concurrency per process (C, log scale)</text>`,
    `<text x="18" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 18 ${m.top + ph / 2})">jobs per second (log scale)</text>`,
  );
  let legendY = m.top + 10;
  const servers = [...new Set(results.burn.map((r) => r.server))];
  for (const lane of lanes(results)) {
    const color = COLORS[lane.system][Math.min(1, servers.indexOf(lane.server))];
    procs.forEach((p, i) => {
      const pts = results.burn
        .filter(
          (r) =>
            r.system === lane.system &&
            r.server === lane.server &&
            r.procs === p &&
            Number.isFinite(r.jobsPerSec),
        )
        .sort((a, b) => a.conc - b.conc);
      if (pts.length === 0) return;
      const dash = DASHES[i % DASHES.length];
      const style = `stroke="${color}" stroke-width="2" fill="none"${dash ? ` stroke-dasharray="${dash}"` : ''}`;
      const xy = pts.map((r) => [sx(r.conc).toFixed(1), sy(r.jobsPerSec).toFixed(1)]);
      parts.push(`<polyline points="${xy.map((c) => c.join(',')).join(' ')}" ${style}/>`);
      for (const [x, y] of xy) {
        parts.push(`<circle cx="${x}" cy="${y}" r="3" fill="${color}"/>`);
      }
      const lx0 = m.left + pw + 15;
      parts.push(
        `<line x1="${lx0}" y1="${legendY}" x2="${lx0 + 30}" y2="${legendY}" ${style}/>`,
        `<text x="${lx0 + 36}" y="${legendY + 4}">${esc(lane.label)}, P=${p}</text>`,
      );
      legendY += 18;
    });
  }
  parts.push('</svg>', '');
  return parts.join('\n');
}

/** Writes the JSON, the Markdown and (with burn-downs) the chart; returns their paths. */
export function writeReports(results: BenchResults, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [
    ['latest.json', `${JSON.stringify(results, null, 2)}\n`],
    ['latest.md', renderMarkdown(results)],
  ];
  // A run without burn-downs (`--workloads lean`) has no chart to draw.
  if (results.burn.length) files.push(['throughput.svg', renderSvg(results)]);
  return files.map(([name, text]) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  });
}
