// Fusion dashboard, usage and cost: the totals of a window, the savings (what the same tokens
// would have cost on the dearest model used), cost, tokens and calls per day split by model,
// provider, tier or caller (SVG charts), and the per-model and per-provider tables.
'use strict';

(() => {
  const { $, el, api, guarded, usd, fill } = Fusion;
  const WINDOWS = ['24h', '7d', '30d', '90d'];
  const GROUPS = ['model', 'provider', 'tier', 'caller'];
  const MAX_SERIES = 10;

  function stat(label, value, id) {
    return el('div', { id }, el('span', { class: 'muted', text: label }), el('span', { class: 'big', text: value }));
  }

  function renderTotals(report) {
    const t = report.total || {};
    fill($('usage-totals'),
      stat('Calls', Fusion.int(t.calls), 'usage-total-calls'),
      stat('Failed calls', Fusion.int(t.failed_calls), 'usage-total-failed'),
      stat('Tokens in', Fusion.int(t.tokens_in), 'usage-total-tokens-in'),
      stat('Tokens out', Fusion.int(t.tokens_out), 'usage-total-tokens-out'),
      stat('Cost', usd(t.cost_usd), 'usage-total-cost'),
      stat('Mean latency', Fusion.duration(t.avg_latency_ms), 'usage-total-latency'));
    const s = report.savings;
    if (!s) {
      fill($('usage-savings'), el('p', { class: 'muted', text: 'This server does not report savings.' }));
      return;
    }
    fill($('usage-savings'),
      stat('Cost', usd(s.cost_usd), 'usage-savings-cost'),
      stat(`On ${s.most_expensive_model || 'the most expensive model'}`, usd(s.on_most_expensive_usd), 'usage-savings-dearest'),
      stat('Saved', usd(s.saved_usd), 'usage-savings-saved'));
  }

  function groupTable(id, groups) {
    const table = $(id);
    fill(table.tHead, el('tr', {}, ['Name', 'Calls', 'Failed', 'Tokens in', 'Tokens out', 'Cost', 'Mean latency'].map((h, i) => el('th', { scope: 'col', class: i ? 'num' : '', text: h }))));
    fill(table.tBodies[0], (groups || []).length ? groups.map((g) => el('tr', {},
      el('th', { scope: 'row', class: 'mono', text: g.key }), el('td', { class: 'num', text: Fusion.int(g.calls) }),
      el('td', { class: 'num', text: Fusion.int(g.failed_calls) }), el('td', { class: 'num', text: Fusion.int(g.tokens_in) }),
      el('td', { class: 'num', text: Fusion.int(g.tokens_out) }), el('td', { class: 'num', text: usd(g.cost_usd) }),
      el('td', { class: 'num', text: Fusion.duration(g.avg_latency_ms) })))
      : el('tr', {}, el('td', { colspan: 7, text: 'No calls in this window.' })));
  }

  /** The first `MAX_SERIES - 1` series (the API's order: costliest first, so a key keeps its
   *  colour in every chart), the rest summed as "others". */
  function top(series, field) {
    const values = (s) => s[field] || [];
    if (series.length <= MAX_SERIES) return series.map((s) => ({ key: s.key, values: values(s) }));
    const kept = series.slice(0, MAX_SERIES - 1).map((s) => ({ key: s.key, values: values(s) }));
    const rest = series.slice(MAX_SERIES - 1);
    const length = Math.max(...rest.map((s) => values(s).length));
    const others = Array.from({ length }, (_, i) => rest.reduce((sum, s) => sum + (Number(values(s)[i]) || 0), 0));
    return [...kept, { key: `${rest.length} others`, values: others }];
  }

  function renderSeries(answer, by) {
    const buckets = answer.buckets || [];
    const series = answer.series || [];
    const charts = [
      ['usage-cost-chart', 'cost_usd', 'Cost per day', (v) => usd(v)],
      ['usage-tokens-chart', 'tokens', 'Tokens per day', (v) => Fusion.int(Math.round(v))],
      ['usage-calls-chart', 'calls', 'Calls per day', (v) => Fusion.int(Math.round(v))],
    ];
    for (const [id, field, title, format] of charts) {
      fill($(id), Charts.stacked({ id: `${id}-svg`, title: `${title} by ${by}`, buckets, series: top(series, field), format }));
    }
  }

  async function load() {
    const since = $('usage-since').value;
    const by = $('usage-by').value;
    history.replaceState(null, '', `${location.pathname}?since=${since}&by=${by}`);
    const [report, series] = await Promise.all([
      api(`/api/usage?since=${encodeURIComponent(since)}`),
      api(`/api/usage/series?since=${encodeURIComponent(since)}&by=${encodeURIComponent(by)}`),
    ]);
    renderTotals(report);
    groupTable('usage-by-model', report.by_model);
    groupTable('usage-by-provider', report.by_provider);
    renderSeries(series, by);
  }

  document.addEventListener('DOMContentLoaded', () => {
    const params = new URLSearchParams(location.search);
    if (WINDOWS.includes(params.get('since'))) $('usage-since').value = params.get('since');
    if (GROUPS.includes(params.get('by'))) $('usage-by').value = params.get('by');
    $('usage-controls').addEventListener('submit', (event) => { event.preventDefault(); guarded(load); });
    guarded(load);
    const soon = Fusion.debounce(load, 5000);
    Fusion.onEvents(({ event, data }) => {
      if (event === 'task' && data && ['completed', 'failed'].includes(data.state)) soon();
    });
  });
})();
