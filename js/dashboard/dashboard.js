// The monitoring dashboard: asks for the secret key (kept in this tab's sessionStorage only), reads
// /v1/monitoring with it and draws the charts with uPlot, refreshing live.
/* global uPlot */
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = 'cardtoken.dashboard.key';
  const REFRESH_SECS = 3;
  const charts = {};
  let timer = null;

  const pct = (v) => (v == null ? '–' : `${(v * 100).toFixed(1)}%`);

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

  const COLORS = ['#4056f4', '#f4a340', '#c62828', '#2e9e5b', '#8e44ad', '#16a085', '#7f8c8d'];
  const line = (label, i, extra = {}) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, ...extra });

  function render(m) {
    const pts = m.points;
    const xs = pts.map((p) => p.t);
    const t = m.totals;
    $('summary').replaceChildren(
      stat('requests', String(t.requests)),
      stat('authorization success', pct(t.authorizations ? t.authorizations_succeeded / t.authorizations : null)),
      stat('5xx responses', String(t.server_errors)),
      stat('webhooks delivered / failed', `${t.webhooks_delivered} / ${t.webhooks_failed}`),
      stat('open alerts', String(m.alerts.filter((a) => a.status === 'open').length)),
    );
    $('alerts').replaceChildren(...(m.alerts.length ? m.alerts.map((a) => {
      const li = document.createElement('li');
      li.className = a.status;
      li.dataset.metric = a.metric;
      const when = new Date(a.raised_at * 1000).toLocaleTimeString();
      li.textContent = `${a.status === 'open' ? 'OPEN' : 'cleared'} · ${a.message} (since ${when})`;
      return li;
    }) : [Object.assign(document.createElement('li'), { textContent: 'No alerts.' })]));

    draw('chart-success', [line('success rate', 0, { value: (u, v) => pct(v) })],
      [xs, pts.map((p) => p.success_rate)], [0, 1]);
    draw('chart-latency', [line('p50', 3), line('p95', 1), line('p99', 2)],
      [xs, pts.map((p) => p.p50), pts.map((p) => p.p95), pts.map((p) => p.p99)]);
    const codes = [...new Set(pts.flatMap((p) => Object.keys(p.declines)))].sort().slice(0, 5);
    draw('chart-errors', [line('4xx', 1), line('5xx', 2), ...codes.map((c, i) => line(`declined: ${c}`, i + 3))],
      [xs, pts.map((p) => p.client_errors), pts.map((p) => p.server_errors),
        ...codes.map((c) => pts.map((p) => p.declines[c] ?? 0))]);
    draw('chart-webhooks', [line('delivered', 3), line('failed', 2)],
      [xs, pts.map((p) => p.webhooks_delivered), pts.map((p) => p.webhooks_failed)]);
    $('updated').textContent = `Updated ${new Date().toLocaleTimeString()} · ${m.resolution} s buckets`;
    document.body.dataset.drawn = String(Number(document.body.dataset.drawn ?? 0) + 1);
  }

  async function refresh() {
    const key = sessionStorage.getItem(KEY);
    const window_ = document.querySelector('input[name=window]:checked')?.value ?? 'hour';
    let res;
    let body;
    try {
      res = await fetch(`/v1/monitoring?window=${window_}`, { headers: { authorization: `Bearer ${key}` } });
      body = await res.json();
    } catch {
      // Offline, or the server is down: say so, keep the charts, try again at the next tick.
      $('updated').textContent = `Cannot reach the server: retrying every ${REFRESH_SECS} s…`;
      document.body.dataset.offline = 'true';
      return;
    }
    delete document.body.dataset.offline;
    if (!res.ok) {
      stop();
      $('login-error').textContent = body.error?.message ?? 'The key was refused.';
      return;
    }
    render(body);
  }

  function start() {
    $('login').hidden = true;
    $('board').hidden = false;
    $('controls').hidden = false;
    refresh();
    timer = setInterval(refresh, REFRESH_SECS * 1000);
  }

  function stop() {
    clearInterval(timer);
    sessionStorage.removeItem(KEY);
    $('login').hidden = false;
    $('board').hidden = true;
    $('controls').hidden = true;
  }

  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    $('login-error').textContent = '';
    sessionStorage.setItem(KEY, $('key').value.trim());
    $('key').value = '';
    start();
  });
  $('logout').addEventListener('click', stop);
  for (const r of document.querySelectorAll('input[name=window]')) {
    r.addEventListener('change', () => {
      for (const c of Object.values(charts)) c.plot.destroy();
      for (const k of Object.keys(charts)) delete charts[k];
      refresh();
    });
  }
  if (sessionStorage.getItem(KEY)) start();
})();
