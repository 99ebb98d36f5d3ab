// The dashboard's home page: reads /dashboard/monitoring.json (the signed-in session's cookie goes with
// it; no key is ever in the page) and draws the charts with uPlot, refreshing every 3 s. The words come
// from the page (data-labels), in its language.
/* global uPlot */
(() => {
  const $ = (id) => document.getElementById(id);
  const board = $('board');
  if (!board) return;
  const L = JSON.parse(board.dataset.labels || '{}');
  const REFRESH_SECS = 3;
  const charts = {};

  const pct = (v) => (v == null ? '–' : `${(v * 100).toFixed(1)}%`);
  const fill = (text, ...args) => args.reduce((t, a, i) => t.replace(`{${i}}`, a), text);

  function stat(label, value) {
    const div = document.createElement('div');
    div.className = 'stat';
    const b = document.createElement('b');
    b.textContent = value;
    div.append(b, label);
    return div;
  }

  function draw(id, series, data, yRange) {
    const el = $(id);
    const signature = series.map((s) => s.label).join('|');
    if (!charts[id] || charts[id].signature !== signature) {
      charts[id]?.plot.destroy();
      const opts = {
        width: Math.max(300, el.clientWidth - 8),
        height: 220,
        series: [{}, ...series],
        scales: yRange ? { y: { range: yRange } } : {},
        axes: [{}, { size: 60 }],
      };
      charts[id] = { plot: new uPlot(opts, data, el), signature };
    } else {
      charts[id].plot.setData(data);
    }
  }

  const COLORS = ['#3446c4', '#a65e00', '#b71c1c', '#1e7a46', '#7b3294', '#0e6e5c', '#5d6d7e'];
  const line = (label, i, extra = {}) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, ...extra });

  function render(m) {
    const pts = m.points;
    const xs = pts.map((p) => p.t);
    const t = m.totals;
    $('summary').replaceChildren(
      stat(L.requests, String(t.requests)),
      stat(L.success, pct(t.authorizations ? t.authorizations_succeeded / t.authorizations : null)),
      stat(L.server_errors, String(t.server_errors)),
      stat(L.webhooks, `${t.webhooks_delivered} / ${t.webhooks_failed}`),
      stat(L.open_alerts, String(m.alerts.filter((a) => a.status === 'open').length)),
    );
    $('alerts').replaceChildren(...(m.alerts.length ? m.alerts.map((a) => {
      const li = document.createElement('li');
      li.className = a.status;
      li.dataset.metric = a.metric;
      const when = new Date(a.raised_at * 1000).toLocaleTimeString(document.documentElement.lang);
      li.textContent = `${a.status === 'open' ? L.open : L.cleared} · ${a.message} (${L.since} ${when})`;
      return li;
    }) : [Object.assign(document.createElement('li'), { textContent: L.no_alerts })]));

    draw('chart-success', [line(L.success_rate, 0, { value: (u, v) => pct(v) })],
      [xs, pts.map((p) => p.success_rate)], [0, 1]);
    draw('chart-latency', [line('p50', 3), line('p95', 1), line('p99', 2)],
      [xs, pts.map((p) => p.p50), pts.map((p) => p.p95), pts.map((p) => p.p99)]);
    const codes = [...new Set(pts.flatMap((p) => Object.keys(p.declines)))].sort().slice(0, 5);
    draw('chart-errors', [line('4xx', 1), line('5xx', 2), ...codes.map((c, i) => line(`${L.declined}: ${c}`, i + 3))],
      [xs, pts.map((p) => p.client_errors), pts.map((p) => p.server_errors),
        ...codes.map((c) => pts.map((p) => p.declines[c] ?? 0))]);
    draw('chart-webhooks', [line(L.delivered, 3), line(L.failed, 2)],
      [xs, pts.map((p) => p.webhooks_delivered), pts.map((p) => p.webhooks_failed)]);
    $('updated').textContent = fill(L.updated, new Date().toLocaleTimeString(document.documentElement.lang), m.resolution);
    document.body.dataset.drawn = String(Number(document.body.dataset.drawn ?? 0) + 1);
  }

  async function refresh() {
    const window_ = document.querySelector('input[name=window]:checked')?.value ?? 'hour';
    let res;
    let body;
    try {
      res = await fetch(`/dashboard/monitoring.json?window=${window_}`, { credentials: 'same-origin' });
      if (res.redirected || !(res.headers.get('content-type') ?? '').includes('json')) {
        // The session ended: the page itself goes to the sign-in form.
        window.location.reload();
        return;
      }
      body = await res.json();
    } catch {
      // Offline, or the server is down: say so, keep the charts, try again at the next tick.
      $('updated').textContent = L.offline;
      document.body.dataset.offline = 'true';
      return;
    }
    delete document.body.dataset.offline;
    if (res.ok) render(body);
  }

  for (const r of document.querySelectorAll('input[name=window]')) {
    r.addEventListener('change', () => {
      for (const c of Object.values(charts)) c.plot.destroy();
      for (const k of Object.keys(charts)) delete charts[k];
      refresh();
    });
  }
  refresh();
  setInterval(refresh, REFRESH_SECS * 1000);
})();
