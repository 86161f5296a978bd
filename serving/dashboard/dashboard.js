// The live dashboard of `rtml serve` and `rtml run --metrics-port` (served as /dashboard/assets/dashboard.js).
// Plain browser JavaScript, no build: it polls /dashboard/metrics.json once a second (the server's rtml_
// metrics, as prom-client reads them), computes rates and quantiles from the difference between
// snapshots, draws them with uPlot, and lists the predictions /dashboard/predictions pushes over a
// WebSocket. A panel with nothing to show in this server says why.
'use strict';
(() => {
  const POLL_MS = 1000;
  /** Points kept on the charts (one a poll). */
  const HISTORY = 300;
  /** Latency quantiles and recent rates are taken over this many seconds of snapshots. */
  const WINDOW_S = 15;
  const MAX_PREDICTIONS = 25;
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c'];

  const apiKey = new URLSearchParams(location.search).get('api_key');
  const headers = apiKey === null ? {} : { 'x-api-key': apiKey };
  const panel = (id) => document.getElementById(id);
  const part = (id, selector) => panel(id).querySelector(selector);

  // ---- reading snapshots ----------------------------------------------------------------------

  /** The values of a metric (prom-client JSON: { labels, value, metricName? }). */
  const valuesOf = (snap, name) => snap.metrics.get(name) ?? [];

  /** Sum of a counter or gauge (or of one series of a histogram, e.g. `x_sum`) over the series `keep` accepts; null while the metric has no series at all. */
  function total(snap, name, keep = () => true, series = name) {
    const values = valuesOf(snap, name);
    if (values.length === 0) return null;
    let sum = 0;
    for (const v of values) if ((v.metricName ?? name) === series && keep(v.labels)) sum += v.value;
    return sum;
  }

  /** Per second between two snapshots (a series born in between started at 0; a counter that went back restarted). */
  function rate(older, newer, name, keep, series) {
    const now = total(newer, name, keep, series);
    if (now === null || older === newer) return null;
    const before = total(older, name, keep, series) ?? 0;
    return (now >= before ? now - before : now) / (newer.time - older.time);
  }

  /** Histogram buckets summed over the series `keep` accepts: upper bound → cumulative count. */
  function buckets(snap, name, keep) {
    const out = new Map();
    for (const v of valuesOf(snap, name)) {
      if (v.metricName !== `${name}_bucket` || !keep(v.labels)) continue;
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
      out.set(le, (out.get(le) ?? 0) + v.value);
    }
    return out;
  }

  /** The q-quantile of what a histogram observed between two snapshots, interpolated within its bucket (as Prometheus' histogram_quantile). */
  function quantile(q, older, newer, name, keep) {
    const now = buckets(newer, name, keep);
    const before = buckets(older, name, keep);
    const bounds = [...now.keys()].sort((a, b) => a - b);
    const counts = bounds.map((le) => now.get(le) - (before.get(le) ?? 0));
    const n = counts[counts.length - 1];
    if (!(n > 0)) return null;
    const rank = q * n;
    let lower = 0;
    let below = 0;
    for (let i = 0; i < bounds.length; i++) {
      if (counts[i] >= rank) {
        if (bounds[i] === Infinity) return lower;
        return lower + ((bounds[i] - lower) * (rank - below)) / Math.max(counts[i] - below, 1e-12);
      }
      lower = bounds[i];
      below = counts[i];
    }
    return lower;
  }

  /** Label sets of a metric's series, grouped by the given label names. */
  function groups(snap, name, by, series = name) {
    const out = new Map();
    for (const v of valuesOf(snap, name)) {
      if ((v.metricName ?? name) !== series) continue;
      const key = by.map((l) => v.labels[l] ?? '').join('\u0000');
      if (!out.has(key)) out.set(key, Object.fromEntries(by.map((l) => [l, v.labels[l] ?? ''])));
    }
    return [...out.values()];
  }

  const sameLabels = (want) => (labels) => Object.keys(want).every((k) => (labels[k] ?? '') === want[k]);

  // ---- what each server shows -------------------------------------------------------------------

  /** Requests the dashboard itself makes are not traffic. */
  const traffic = (labels) => labels.route !== 'dashboard';

  const SERVERS = {
    serve: {
      throughput: {
        what: 'Requests answered per second (every route but the dashboard), those answered with an error (4xx/5xx), and rows scored (HTTP and WebSocket).',
        series: [
          ['requests/s', (a, b) => rate(a, b, 'rtml_http_requests_total', traffic)],
          ['errors/s', (a, b) => rate(a, b, 'rtml_http_requests_total', (l) => traffic(l) && Number(l.status) >= 400)],
          ['rows scored/s', (a, b) => rate(a, b, 'rtml_model_batch_rows', () => true, 'rtml_model_batch_rows_sum')],
        ],
      },
      latency: {
        what: `Time from request to answer (rtml_http_request_duration_seconds, every route but the dashboard), over the last ${WINDOW_S} s, in ms.`,
        metric: 'rtml_http_request_duration_seconds',
        keep: traffic,
        absent: 'No request answered yet.',
      },
      watermark: { absent: 'rtml serve has no watermark: event time and watermarks belong to a run (rtml run --follow --metrics-port).' },
      scored: { metric: 'rtml_model_batch_rows', series: 'rtml_model_batch_rows_sum' },
      drift: { absent: 'rtml serve does not watch drift: monitor() in a run (or rtml monitor) does, and its dashboard shows it.' },
      predictions: 'A random sample of the answers (about 20 a second), pushed over the WebSocket /dashboard/predictions; key: the request\'s entity.',
    },
    run: {
      throughput: {
        what: 'Input events read per second, values written by the sinks, and events scored by score().',
        series: [
          ['events in/s', (a, b) => rate(a, b, 'rtml_events_in_total')],
          ['results out/s', (a, b) => rate(a, b, 'rtml_results_out_total')],
          ['scored/s', (a, b) => rate(a, b, 'rtml_model_scored_total')],
        ],
      },
      latency: {
        what: `Time to take a checkpoint (rtml_checkpoint_duration_seconds), over the last ${WINDOW_S} s, in ms.`,
        metric: 'rtml_checkpoint_duration_seconds',
        keep: () => true,
        absent: 'No checkpoint taken yet: checkpoint times show for runs with --checkpoint-dir.',
      },
      watermark: {
        what: 'Wall clock minus the watermark (rtml_watermark_lag_seconds), in seconds.',
        metric: 'rtml_watermark_lag_seconds',
        absent: 'No watermark lag: only a live run (--follow) has one, from its first event on.',
      },
      scored: { metric: 'rtml_model_scored_total' },
      drift: { absent: 'No drift statistics: this run has no monitor(), or none of its windows has closed yet.' },
      predictions: 'A random sample of what score() emits (about 20 a second), pushed over the WebSocket /dashboard/predictions; time: event time, key: the event\'s key.',
    },
  };

  // ---- charts ---------------------------------------------------------------------------------

  const charts = new Map();

  /** A time-series chart in a panel; `log`: a logarithmic y axis (latencies, whose p50 and p99 differ by orders of magnitude). */
  function chart(id, labels, unit, log = false) {
    const element = part(id, '.chart');
    const data = [[], ...labels.map(() => [])];
    const plot = new uPlot(
      {
        width: Math.max(element.clientWidth, 300),
        height: 200,
        scales: { x: { time: true }, y: log ? { distr: 3 } : {} },
        // The third series dashed: where it coincides with another (every request scoring one row), both show.
        series: [{}, ...labels.map((label, i) => ({ label, stroke: COLORS[i], width: 2, dash: i === 2 ? [8, 6] : undefined, points: { show: false } }))],
        axes: [{}, { label: unit, size: 60 }],
        legend: { live: false },
      },
      data,
      element,
    );
    charts.set(id, { plot, data, element });
  }

  function plot(id, time, values) {
    const c = charts.get(id);
    c.data[0].push(time);
    values.forEach((v, i) => c.data[i + 1].push(v === null || !Number.isFinite(v) ? null : v));
    if (c.data[0].length > HISTORY) for (const column of c.data) column.shift();
    c.plot.setData(c.data);
    // For people a legend; for tests how many points the first series has.
    panel(id).dataset.points = String(c.data[1].filter((v) => v !== null).length);
  }

  addEventListener('resize', () => {
    for (const c of charts.values()) c.plot.setSize({ width: Math.max(c.element.clientWidth, 300), height: 200 });
  });

  // ---- panels ---------------------------------------------------------------------------------

  const snapshots = [];
  let server = null;

  function setUp(kind, title) {
    server = SERVERS[kind];
    document.getElementById('title').textContent = `${title} — rtml dashboard`;
    document.title = `${title} — rtml dashboard`;
    part('throughput', '.what').textContent = server.throughput.what;
    chart('throughput', server.throughput.series.map(([label]) => label), 'per second');
    part('latency', '.what').textContent = server.latency.what;
    chart('latency', ['p50', 'p99'], 'ms (log scale)', true);
    if (server.watermark.metric === undefined) part('watermark', '.note').textContent = server.watermark.absent;
    else {
      part('watermark', '.what').textContent = server.watermark.what;
      chart('watermark', ['lag'], 's');
    }
    part('models', '.what').textContent =
      kind === 'serve'
        ? 'What each model serves (the registry\'s routing) and the rows each version scored since the server started: the observed split.'
        : 'Events each version scored since the run started: the observed split (the registry\'s routing: rtml models list).';
    part('predictions', '.what').textContent = server.predictions;
    connectPredictions();
  }

  function update(snap) {
    snapshots.push(snap);
    while (snapshots.length > 2 && snapshots[1].time <= snap.time - WINDOW_S) snapshots.shift();
    const previous = snapshots.length > 1 ? snapshots[snapshots.length - 2] : snap;
    const oldest = snapshots[0];

    plot('throughput', snap.time, server.throughput.series.map(([, read]) => read(previous, snap)));

    const latency = server.latency;
    const measured = valuesOf(snap, latency.metric).length > 0;
    part('latency', '.note').textContent = measured ? '' : latency.absent;
    const ms = (q) => {
      const s = quantile(q, oldest, snap, latency.metric, latency.keep);
      return s === null ? null : s * 1000;
    };
    plot('latency', snap.time, [ms(0.5), ms(0.99)]);

    if (server.watermark.metric !== undefined) {
      const lag = total(snap, server.watermark.metric);
      part('watermark', '.note').textContent = lag === null ? server.watermark.absent : '';
      plot('watermark', snap.time, [lag]);
    }
    models(snap, oldest);
    drift(snap);
  }

  /** `A/B v1:70% v2:30%` or `v3` (the serve catalog's status) → version → percent. */
  function configured(serving) {
    const out = new Map();
    if (typeof serving !== 'string') return out;
    for (const m of serving.matchAll(/v(\d+):(\d+)%/g)) out.set(`v${m[1]}`, Number(m[2]));
    if (out.size === 0 && /^v\d+$/.test(serving)) out.set(serving, 100);
    return out;
  }

  function models(snap, oldest) {
    const { metric, series: which = metric } = server.scored;
    const rows = new Map();
    const row = (model, version) => {
      const key = `${model}\u0000${version}`;
      if (!rows.has(key)) rows.set(key, { model, version, configured: null, scored: 0, rate: null });
      return rows.get(key);
    };
    const reasons = [];
    for (const m of snap.models ?? []) {
      if (m.serving === null) reasons.push(`${m.name}: not served (${m.reason})`);
      for (const [version, percent] of configured(m.serving)) row(m.name, version).configured = percent;
    }
    for (const labels of groups(snap, metric, ['model', 'version'], which)) {
      const r = row(labels.model, labels.version);
      r.scored = total(snap, metric, sameLabels(labels), which) ?? 0;
      r.rate = rate(oldest, snap, metric, sameLabels(labels), which);
    }
    const byModel = new Map();
    for (const r of rows.values()) byModel.set(r.model, (byModel.get(r.model) ?? 0) + r.scored);
    const sorted = [...rows.values()].sort((a, b) => a.model.localeCompare(b.model) || a.version.localeCompare(b.version, undefined, { numeric: true }));
    const body = part('models', 'tbody');
    body.replaceChildren(
      ...sorted.map((r) => {
        const all = byModel.get(r.model);
        return tableRow([
          [r.model],
          [r.version],
          [r.configured === null ? '—' : `${r.configured}%`, 'num'],
          [String(r.scored), 'num'],
          [all > 0 ? `${((100 * r.scored) / all).toFixed(1)}%` : '—', 'num'],
          [r.rate === null ? '—' : r.rate.toFixed(1), 'num'],
        ]);
      }),
    );
    part('models', '.note').textContent = [...(sorted.length === 0 ? ['No model has scored anything yet.'] : []), ...reasons].join(' ');
  }

  function drift(snap) {
    // Feature '*' holds the window's own figures (drift share, dead-letter and late rates): the share has its column.
    const statistic = valuesOf(snap, 'rtml_feature_drift').filter((v) => v.labels.feature !== '*');
    const table = part('drift', 'table');
    if (statistic.length === 0) {
      part('drift', '.note').textContent = server.drift.absent;
      table.tHead.replaceChildren();
      table.tBodies[0].replaceChildren();
      return;
    }
    part('drift', '.note').textContent = '';
    part('drift', '.what').textContent =
      'The last closed window of monitor(), per model version and feature: each test\'s statistic (rtml_feature_drift); red where the test found drift (rtml_feature_drifted). Share: the version\'s features that drifted.';
    const drifted = new Map(valuesOf(snap, 'rtml_feature_drifted').map((v) => [seriesKey(v.labels, ['model', 'version', 'feature', 'test']), v.value]));
    const shares = new Map(valuesOf(snap, 'rtml_model_drift_share').map((v) => [seriesKey(v.labels, ['model', 'version']), v.value]));
    const tests = [...new Set(statistic.map((v) => v.labels.test))].sort();
    const rows = new Map();
    for (const v of statistic) {
      const key = seriesKey(v.labels, ['model', 'version', 'feature']);
      if (!rows.has(key)) rows.set(key, { labels: v.labels, values: new Map() });
      rows.get(key).values.set(v.labels.test, v.value);
    }
    table.tHead.replaceChildren(tableRow([['model'], ['version'], ['share', 'num'], ['feature'], ...tests.map((t) => [t, 'num'])], 'th'));
    const sorted = [...rows.entries()].sort((a, b) => a[0].localeCompare(b[0]));
    table.tBodies[0].replaceChildren(
      ...sorted.map(([, { labels, values }]) => {
        const share = shares.get(seriesKey(labels, ['model', 'version']));
        return tableRow([
          [labels.model],
          [labels.version],
          [share === undefined ? '—' : `${(share * 100).toFixed(0)}%`, 'num'],
          [labels.feature],
          ...tests.map((test) => {
            const value = values.get(test);
            const hit = drifted.get(seriesKey({ ...labels, test }, ['model', 'version', 'feature', 'test'])) === 1;
            return [value === undefined ? '' : formatNumber(value), hit ? 'num drifted' : 'num'];
          }),
        ]);
      }),
    );
  }

  const seriesKey = (labels, names) => names.map((n) => labels[n] ?? '').join('\u0000');

  function formatNumber(x) {
    if (x === 0) return '0';
    const abs = Math.abs(x);
    return abs >= 1000 || abs < 0.001 ? x.toExponential(2) : x.toPrecision(3);
  }

  function tableRow(cells, tag = 'td') {
    const tr = document.createElement('tr');
    for (const [text, className] of cells) {
      const cell = document.createElement(tag);
      cell.textContent = text;
      if (className) cell.className = className;
      tr.append(cell);
    }
    return tr;
  }

  // ---- predictions over the WebSocket -----------------------------------------------------------

  let received = 0;

  function connectPredictions() {
    const url = new URL('/dashboard/predictions', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (apiKey !== null) url.searchParams.set('api_key', apiKey);
    const socket = new WebSocket(url);
    const note = part('predictions', '.note');
    socket.onopen = () => (note.textContent = received === 0 ? 'Connected: waiting for predictions (nothing has been scored since).' : '');
    socket.onmessage = (message) => {
      const p = JSON.parse(message.data);
      received++;
      note.textContent = '';
      const body = part('predictions', 'tbody');
      body.prepend(
        tableRow([
          [new Date(p.time).toISOString().replace('T', ' ').slice(0, 23)],
          [p.model],
          [p.version],
          [p.key],
          [p.score.toFixed(4), 'num'],
          [String(p.label), 'num'],
        ]),
      );
      while (body.rows.length > MAX_PREDICTIONS) body.lastElementChild.remove();
      panel('predictions').dataset.received = String(received);
    };
    socket.onclose = (event) => {
      note.textContent = `Predictions feed closed (${event.code}${event.reason ? `: ${event.reason}` : ''}); reconnecting in 2 s.`;
      setTimeout(connectPredictions, 2000);
    };
  }

  // ---- polling --------------------------------------------------------------------------------

  function status(text, error = false) {
    const element = document.getElementById('status');
    element.textContent = text;
    element.className = error ? 'error' : '';
  }

  async function poll() {
    try {
      const res = await fetch('/dashboard/metrics.json', { headers, cache: 'no-store' });
      const body = await res.json();
      if (!res.ok) {
        const hint = res.status === 401 || res.status === 403 ? ' (open this page as /dashboard?api_key=KEY, with a key that has the metrics scope)' : '';
        status(`metrics: ${res.status} ${body.error ?? ''}${hint}`, true);
        return;
      }
      const snap = { ...body, time: body.time / 1000, metrics: new Map(body.metrics.map((m) => [m.name, m.values])) };
      if (server === null) setUp(body.server, body.title);
      update(snap);
      status(`updated ${new Date(body.time).toLocaleTimeString()}, every ${POLL_MS / 1000} s`);
    } catch (err) {
      status(`metrics unreachable: ${err instanceof Error ? err.message : String(err)}`, true);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
