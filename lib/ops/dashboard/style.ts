/**
 * The dashboard's style sheet, served from /assets/dashboard.css (the content-security policy
 * allows no inline style, so chart colours are classes here too).
 */

/** The style sheet. */
export const CLIENT_CSS = `:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1d2433; --muted: #6b7385; --line: #e3e6ec;
  --accent: #2f5bd3; --bad: #c62f2f; --ok: #1f8a4c;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--ink); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #172036; color: #fff; }
header.top .brand { color: #fff; font-weight: 700; font-size: 18px; letter-spacing: .5px; }
header.top nav { display: flex; gap: 16px; flex: 1; }
header.top nav a { color: #c9d3ea; padding: 4px 2px; }
header.top nav a[aria-current] { color: #fff; border-bottom: 2px solid #7da2ff; }
.live { font-size: 12px; color: #9fe3b5; }
.live::before { content: "● "; }
.live.down { color: #ff9a9a; }
main { padding: 16px 24px 40px; max-width: 1500px; }
main.narrow { max-width: 420px; margin: 60px auto; }
h1 { font-size: 22px; margin: 8px 0 14px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
.muted, .zero { color: var(--muted); }
.mono, code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 10px; margin-bottom: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; color: var(--ink); border-top: 4px solid var(--line); }
.card:hover { text-decoration: none; border-color: #c5cbd8; }
.card b { display: block; font-size: 24px; }
.card span { color: var(--muted); }
.throughput { margin: 4px 0 14px; }
table.grid { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
.grid th, .grid td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
.grid th { background: #eef1f6; font-weight: 600; font-size: 12px; color: #46506a; white-space: nowrap; }
.grid tr:last-child td { border-bottom: 0; }
.grid td.num, .grid th.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid td.bad { color: var(--bad); font-weight: 600; }
.grid td.msg { white-space: pre-wrap; word-break: break-word; }
.grid tr.empty td { color: var(--muted); text-align: center; padding: 18px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #e8ebf1; color: #3d465a; }
.badge.paused { background: #fff1cc; color: #8a5a00; }
.state-pending { background: #e3ecff; color: #2346a8; border-top-color: #4d7cf0; }
.state-running { background: #efe6ff; color: #5b2fb8; border-top-color: #8b5cf6; }
.state-blocked { background: #eceff3; color: #4b5565; border-top-color: #94a3b8; }
.state-retrying { background: #fff0db; color: #8f4b00; border-top-color: #f59e0b; }
.state-completed { background: #def5e6; color: #17683a; border-top-color: #22a35a; }
.state-failed { background: #fde2e2; color: #a32020; border-top-color: #e04444; }
.state-aborted { background: #fce4f1; color: #9c1c62; border-top-color: #db2777; }
.state-expired { background: #efeae6; color: #6b5443; border-top-color: #a8836a; }
.state-quarantined { background: #daf3f0; color: #0c615a; border-top-color: #14b8a6; }
.card.state-pending, .card.state-running, .card.state-blocked, .card.state-retrying, .card.state-completed,
.card.state-failed, .card.state-aborted, .card.state-expired, .card.state-quarantined { background: var(--panel); }
.tabs { display: flex; flex-wrap: wrap; gap: 4px; margin-bottom: 10px; }
.tabs a { padding: 4px 10px; border-radius: 14px; color: #46506a; }
.tabs a[aria-current] { background: #172036; color: #fff; }
form.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; margin-bottom: 12px; }
form.filters label, main.narrow label { display: flex; flex-direction: column; font-size: 12px; color: #46506a; gap: 3px; }
input, select { font: inherit; padding: 5px 8px; border: 1px solid #c9cfdb; border-radius: 6px; background: #fff; min-width: 150px; }
.btn { display: inline-block; font: inherit; padding: 5px 12px; border: 1px solid #c9cfdb; border-radius: 6px; background: #fff; color: var(--ink); cursor: pointer; }
.btn:hover { background: #f0f3f8; text-decoration: none; }
.btn:disabled { opacity: .45; cursor: default; }
.btn.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn.warn { border-color: #e7a23b; color: #8f4b00; }
.btn.danger { border-color: #e07070; color: var(--bad); }
.actions { display: flex; gap: 8px; margin: 0 0 14px; }
.pager { display: flex; gap: 12px; align-items: center; margin-top: 10px; }
.detail { display: grid; grid-template-columns: minmax(260px, 360px) 1fr; gap: 20px; align-items: start; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 14px; margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; }
.detail h2 { margin-top: 0; }
pre.code { background: #0f1729; color: #dfe6f5; padding: 12px 14px; border-radius: 8px; overflow: auto; max-height: 420px; margin: 0; }
details { margin-top: 18px; }
details pre.code { margin-top: 8px; }
.error { background: #fde2e2; color: #8c1d1d; border: 1px solid #f3b4b4; padding: 8px 12px; border-radius: 6px; }
.flash { position: fixed; right: 20px; bottom: 20px; max-width: 520px; padding: 10px 14px; border-radius: 8px; box-shadow: 0 4px 18px rgba(0,0,0,.15); background: #fff; border-left: 5px solid var(--ok); }
.flash.bad { border-left-color: var(--bad); }
.crumbs { margin: 0; }
.small { font-size: 12px; font-weight: normal; }
label.inline { display: inline-flex; align-items: center; gap: 6px; font-size: 13px; color: #46506a; }
label.inline select { min-width: 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 14px; margin: 10px 0 4px; }
figure.chart { margin: 0 0 12px; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px 6px; }
figure.chart figcaption { font-weight: 600; font-size: 13px; color: #46506a; margin-bottom: 4px; }
figure.chart svg { width: 100%; height: auto; display: block; }
svg .grid { stroke: #e7eaf0; stroke-width: 1; }
svg .axis { fill: #7a8296; font-size: 11px; font-family: inherit; }
svg .series polyline { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg .series circle { stroke: #fff; stroke-width: 1; fill-opacity: 0; stroke-opacity: 0; }
svg .series circle.on { fill-opacity: 1; stroke-opacity: 1; }
svg .series circle:hover { fill-opacity: 1; stroke-opacity: 1; r: 5; }
.s0 { --c: #2f5bd3; } .s1 { --c: #e04444; } .s2 { --c: #22a35a; } .s3 { --c: #f59e0b; }
.s4 { --c: #8b5cf6; } .s5 { --c: #14b8a6; } .s6 { --c: #db2777; } .s7 { --c: #6b7385; }
svg .series polyline { stroke: var(--c); }
svg .series circle { fill: var(--c); }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 4px 0 0; padding: 0; font-size: 12px; color: #46506a; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; background: var(--c); vertical-align: -1px; }
svg.timeline { width: 100%; height: auto; display: block; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 10px; }
svg.timeline rect.wait { fill: #d9dee8; }
svg.timeline rect.run { fill: #8a94a8; }
svg.timeline rect.run.state-completed { fill: #22a35a; } svg.timeline rect.run.state-failed { fill: #e04444; }
svg.timeline rect.run.state-retrying { fill: #f59e0b; } svg.timeline rect.run.state-aborted { fill: #db2777; }
svg.timeline rect.run.state-running { fill: #8b5cf6; } svg.timeline rect.run.state-expired { fill: #a8836a; }
.bulk { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 0 0 12px; }
.bulk-confirm { flex-basis: 100%; background: #fff8e6; border: 1px solid #f0d28a; border-radius: 8px; padding: 10px 12px; }
.bulk-confirm p { margin: 0 0 8px; }
.quarantine { margin-bottom: 12px; }
ol.log { background: #0f1729; color: #dfe6f5; padding: 10px 14px 10px 44px; border-radius: 8px; max-height: 360px; overflow: auto; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
ol.log .muted { color: #9aa6bf; }
details.stack summary { cursor: pointer; color: var(--muted); font-size: 12px; }
details.stack pre.code { margin-top: 6px; white-space: pre-wrap; }
ul.pools { list-style: none; margin: 0; padding: 0; }
`;
