// Fusion dashboard, models and routing: every model with its tier, context window, price,
// health and circuit, last error, p50 latency and quality per category (measured or prior);
// the recent routing decisions with their explanations; a "try a route" box.
'use strict';

(() => {
  const { $, el, api, guarded, badge, duration, usd, fill, quality } = Fusion;
  const CATEGORIES = ['code', 'reasoning', 'writing', 'summarization', 'chat'];
  const TIER_PRIOR = { local: 0.5, free: 0.6, paid: 0.8 };

  /** Quality for `category`: from the API's own list when it gives one, else measured or prior. */
  function qualityOf(model, category) {
    const listed = model.quality_by_category || model.qualities;
    if (Array.isArray(listed)) {
      const q = listed.find((x) => x.category === category);
      if (q) return { value: q.quality, source: q.source, n: q.n };
    } else if (listed && typeof listed === 'object' && listed[category]) {
      const q = listed[category];
      return { value: q.quality, source: q.source, n: q.n };
    }
    const measured = model.measured && model.measured[category];
    if (measured) return { value: measured.quality, source: 'measured', n: measured.n };
    const priors = model.quality || {};
    const prior = priors[category] ?? priors.default ?? TIER_PRIOR[model.tier];
    return { value: prior, source: 'prior' };
  }

  function sourceText(q) {
    const source = typeof q.source === 'object' && q.source ? q.source.source : q.source;
    const n = q.n ?? (q.source && q.source.n);
    if (source === 'prior' || !source) return 'prior';
    return n !== undefined ? `${source}, n=${n}` : source;
  }

  function healthState(health) {
    return (health && health.state) || 'unknown';
  }

  function circuitText(m) {
    const state = healthState(m.health);
    if (state === 'circuit_open') return `open, retry in ${duration(m.health.retry_in_ms)}`;
    if (state === 'half_open') return 'half-open (one trial call)';
    const failures = m.consecutive_failures || 0;
    return failures ? `closed, ${failures} failure${failures === 1 ? '' : 's'} in a row` : 'closed';
  }

  function healthText(health) {
    const state = healthState(health);
    const extra = health && (health.retry_in_ms !== undefined ? ` (retry in ${duration(health.retry_in_ms)})`
      : health.resets_in_ms !== undefined ? ` (resets in ${duration(health.resets_in_ms)})` : '');
    return [badge(state), extra || ''];
  }

  function price(m) {
    if (m.tier === 'local') return 'free (local)';
    if (!m.price) return m.price_unknown ? 'unknown' : m.tier === 'free' ? 'free' : '—';
    return `${usd(m.price.input_per_mtok)} / ${usd(m.price.output_per_mtok)}`;
  }

  async function loadModels() {
    const answer = await api('/api/models');
    const models = (answer.models || []).slice().sort((a, b) => a.id.localeCompare(b.id));
    fill($('models-head'), el('tr', {},
      ['Model', 'Provider', 'Tier', 'Context', 'Price in / out', 'Health', 'Circuit', 'Last error', 'Calls (failed)', 'p50'].map((h) => el('th', { scope: 'col', text: h })),
      CATEGORIES.map((c) => el('th', { scope: 'col', class: 'num', text: c }))));
    fill($('models-body'), models.length ? models.map((m) => el('tr', { id: `model-${m.id}` },
      el('th', { scope: 'row', class: 'mono', text: m.id }),
      el('td', { text: m.provider }), el('td', { text: m.tier }),
      el('td', { class: 'num', text: m.context_window ? Fusion.int(m.context_window) : '—' }),
      el('td', { text: price(m) }), el('td', {}, healthText(m.health)), el('td', { text: circuitText(m) }),
      el('td', { class: 'clip', title: m.last_error || '', text: m.last_error || '—' }),
      el('td', { class: 'num', text: `${Fusion.int(m.calls || 0)} (${Fusion.int(m.failures || 0)})` }),
      el('td', { class: 'num', text: duration(m.latency_p50_ms ?? m.p50_ms) }),
      CATEGORIES.map((c) => {
        const q = qualityOf(m, c);
        return el('td', { class: 'num' }, quality(q.value), el('br'), el('span', { class: 'muted', text: sourceText(q) }));
      })))
      : el('tr', {}, el('td', { colspan: 10 + CATEGORIES.length, text: 'No model is configured.' })));
    const unhealthy = models.filter((m) => !['healthy', 'unknown', 'half_open'].includes(healthState(m.health))).length;
    const count = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
    $('models-summary').textContent = `${count(models.length, 'model')}, ${count((answer.providers || []).length, 'provider')}; ${unhealthy} not routable now.`;
  }

  function verdictText(c) {
    return c.verdict === 'ranked' ? `#${c.rank}: ${c.reason}` : `rejected: ${c.reason}`;
  }

  /** A decision's candidates: every model, ranked then rejected, with the numbers behind it. */
  function candidates(decision, id) {
    return el('div', { class: 'table-wrap' }, el('table', { id },
      el('thead', {}, el('tr', {}, ['Model', 'Verdict', 'Quality', 'Est. cost', 'p50', 'Health'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, (decision.candidates || []).map((c) => el('tr', {},
        el('th', { scope: 'row', class: 'mono', text: c.model }), el('td', { text: verdictText(c) }),
        el('td', { class: 'num', text: `${quality(c.quality)} (${sourceText({ source: c.quality_source })})` }),
        el('td', { class: 'num', text: c.estimated_cost_usd === null ? 'unknown' : usd(c.estimated_cost_usd) }),
        el('td', { class: 'num', text: duration(c.latency_p50_ms) }), el('td', {}, badge(healthState(c.health))))))),
      decision.candidates_omitted ? el('p', { class: 'hint', text: `${decision.candidates_omitted} more candidates were not recorded.` }) : '');
  }

  function estimateText(e) {
    if (!e) return '';
    const mark = (flag) => (flag ? ' (estimated)' : '');
    return `${Fusion.int(e.input_tokens)} input tokens${mark(e.input_tokens_estimated)}, ${Fusion.int(e.output_tokens)} output${mark(e.output_tokens_estimated)}, `
      + `complexity ${quality(e.complexity)}${mark(e.complexity_estimated)}, category ${e.category}${mark(e.category_estimated)}`;
  }

  function decisionFacts(d) {
    return el('dl', { class: 'kv' },
      el('dt', { text: 'Chosen' }), el('dd', { class: 'mono', text: d.chosen || 'nothing qualifies' }),
      el('dt', { text: 'Why' }), el('dd', { text: d.summary }),
      el('dt', { text: 'Fallbacks' }), el('dd', { text: (d.fallbacks || []).join(', ') || 'none' }),
      el('dt', { text: 'Optimised for' }), el('dd', { text: d.priority }),
      el('dt', { text: 'Quality needed' }), el('dd', { text: quality(d.required_quality) }),
      el('dt', { text: 'The task' }), el('dd', { text: estimateText(d.estimate) }),
      d.retry_in_ms ? [el('dt', { text: 'Retry in' }), el('dd', { text: duration(d.retry_in_ms) })] : '');
  }

  async function loadDecisions() {
    const answer = await api('/api/decisions?limit=50');
    const decisions = answer.decisions || [];
    fill($('decisions-list'), decisions.length ? decisions.map((d, i) => el('details', { id: `decision-${i}`, class: 'card' },
      el('summary', {}, `${Fusion.time(d.at_ms)} · ${d.caller || '—'} · `, el('strong', { text: d.chosen || 'no route' }), ` — ${d.summary}`),
      d.decision ? [decisionFacts(d.decision), candidates(d.decision, `decision-${i}-candidates`)] : '')) : el('p', { class: 'muted', text: 'No routing decision recorded yet.' }));
  }

  async function tryRoute(event) {
    event.preventDefault();
    const body = { task: $('route-task').value };
    if (!body.task.trim()) {
      Fusion.showError('Write a prompt to route.');
      $('route-task').focus();
      return;
    }
    if ($('route-category').value) body.category = $('route-category').value;
    if ($('route-priority').value) body.priority = $('route-priority').value;
    const numbers = [['complexity', 'route-complexity', Number.parseFloat], ['context_length', 'route-context', Number.parseInt],
      ['expected_output_length', 'route-output', Number.parseInt]];
    for (const [key, id, parse] of numbers) {
      const text = $(id).value.trim();
      if (text) body[key] = parse(text, 10);
    }
    const answer = await api('/api/route', { method: 'POST', body });
    const decision = answer.decision || answer;
    Fusion.clearError();
    fill($('route-result'), el('h3', { id: 'route-chosen', text: decision.chosen ? `Chosen: ${decision.chosen}` : 'No model qualifies' }),
      decisionFacts(decision), candidates(decision, 'route-candidates'));
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('route-form').addEventListener('submit', (event) => guarded(() => tryRoute(event)));
    $('models-refresh').addEventListener('click', () => guarded(loadModels));
    $('decisions-refresh').addEventListener('click', () => guarded(loadDecisions));
    guarded(async () => { await loadModels(); await loadDecisions(); });
  });
})();
