// Fusion dashboard, one council's trace: the question, the panel's answers side by side under
// their anonymous labels, the judge's analysis (consensus, contradictions and who said what,
// partial coverage, unique insights, blind spots, notes), the final answer, a timing waterfall,
// the members cut at the quorum or the deadline, and every degradation.
'use strict';

(() => {
  const { $, el, api, guarded, badge, duration, usd, fill } = Fusion;

  function councilId() {
    const parts = location.pathname.split('/');
    return decodeURIComponent(parts[parts.length - 1] || '');
  }

  /** Names the judge or the trace use, shown with both the label and the model. */
  function namer(labels) {
    const byLabel = new Map(labels.map((l) => [l.label, l.model]));
    const byModel = new Map(labels.map((l) => [l.model, l.label]));
    return (name) => {
      if (byLabel.has(name)) return `${name} (${byLabel.get(name)})`;
      if (byModel.has(name)) return `${byModel.get(name)} (${name})`;
      return name;
    };
  }

  function list(id, items, render) {
    if (!items || !items.length) return el('p', { id, class: 'muted', text: 'None noted.' });
    return el('ul', { id, class: 'plain' }, items.map((item) => el('li', {}, render(item))));
  }

  function renderAnalysis(analysis, who) {
    const contradictions = (analysis.contradictions || []).length
      ? el('div', { id: 'analysis-contradictions' }, analysis.contradictions.map((c, i) => el('div', { class: 'table-wrap' },
        el('table', { id: `contradiction-${i}` }, el('caption', { text: c.topic || '(no topic)' }),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Who' }), el('th', { scope: 'col', text: 'Said' }))),
          el('tbody', {}, (c.stances || []).map((s) => el('tr', {}, el('th', { scope: 'row', text: who(s.model) }), el('td', { class: 'text', text: s.stance }))))))))
      : el('p', { id: 'analysis-contradictions', class: 'muted', text: 'None noted.' });
    fill($('trace-analysis-body'),
      el('h3', { text: 'Consensus' }), list('analysis-consensus', analysis.consensus, (t) => t),
      el('h3', { text: 'Contradictions' }), contradictions,
      el('h3', { text: 'Partial coverage' }), list('analysis-partial', analysis.partial_coverage,
        (p) => [p.point, el('span', { class: 'muted', text: ` — covered by ${(p.models || []).map(who).join(', ') || 'nobody named'}` })]),
      el('h3', { text: 'Unique insights' }), list('analysis-unique', analysis.unique_insights,
        (u) => [el('strong', { text: `${who(u.model)}: ` }), u.insight]),
      el('h3', { text: 'Blind spots' }), list('analysis-blind-spots', analysis.blind_spots, (t) => t),
      el('h3', { text: 'Judge notes' }), list('analysis-judge-notes', analysis.judge_notes, (t) => t));
  }

  /** Why and when a panel member was cut (a quorum answered first, or the panel deadline). */
  function cutText(c) {
    const why = c.reason === 'quorum_reached' ? 'the quorum had answered' : 'the panel deadline passed';
    return `${why} after ${duration(c.after_ms)}; ${c.cancelled ? 'its call was cancelled' : 'it was never asked'}`;
  }

  function renderAnswers(result) {
    const labelOf = new Map((result.labels || []).map((l) => [l.model, l.label]));
    const cards = (result.responses || []).map((r) => ({ r, label: labelOf.get(r.model) || '' }))
      .sort((a, b) => a.label.localeCompare(b.label))
      .map(({ r, label }, i) => el('article', { class: 'card', id: `answer-${i}`, 'aria-labelledby': `answer-${i}-title` },
        el('h3', { id: `answer-${i}-title`, text: label || r.model }),
        el('p', { class: 'muted', text: `${label ? `${r.model} · ` : ''}${duration(r.latency_ms)} · ${Fusion.int(r.usage && r.usage.total_tokens)} tokens` }),
        el('p', { class: 'text', text: r.content })));
    for (const f of result.failed_models || []) {
      cards.push(el('article', { class: 'card degraded' }, el('h3', { text: `${f.model}: no answer` }), el('p', { class: 'text', text: f.error })));
    }
    // A member cut at the quorum is no failure: the council did not need its answer.
    for (const c of (result.cut || []).filter((c) => c.reason === 'quorum_reached')) {
      cards.push(el('article', { class: 'card' }, el('h3', { text: `${c.model}: cut` }), el('p', { class: 'muted', text: cutText(c) })));
    }
    fill($('trace-answers'), cards.length ? cards : el('p', { class: 'muted', text: 'No member answered.' }));
  }

  function renderDegradation(result) {
    const reasons = result.degradation_reasons || [];
    const failed = result.failed_models || [];
    const show = reasons.length || failed.length || result.raw_judge_output || result.status !== 'ok';
    $('trace-degradation').hidden = !show;
    if (!show) return;
    fill($('trace-degradation-body'),
      el('p', {}, 'Status: ', badge(result.status)),
      list('degradation-reasons', reasons, (t) => t),
      failed.length ? [el('h3', { text: 'Members without an answer' }), list('degradation-failed', failed, (f) => `${f.model}: ${f.error}`)] : '',
      result.raw_judge_output ? el('details', { id: 'degradation-raw-judge' }, el('summary', { text: "The judge's text (it was not valid JSON)" }),
        el('p', { class: 'text mono', text: result.raw_judge_output })) : '');
  }

  function renderTiming(result) {
    const t = result.timings || {};
    const labelOf = new Map((result.labels || []).map((l) => [l.model, l.label]));
    const rows = (result.responses || []).map((r) => ({
      label: labelOf.has(r.model) ? `${labelOf.get(r.model)} · ${r.model}` : r.model, start: 0, end: r.latency_ms || 0, kind: 'panel member',
    })).sort((a, b) => a.label.localeCompare(b.label));
    const panel = t.panel_ms || Math.max(0, ...rows.map((r) => r.end));
    if (t.judge_ms) rows.push({ label: 'judge', start: panel, end: panel + t.judge_ms, kind: 'judge' });
    if (t.synthesis_ms) rows.push({ label: 'synthesizer', start: panel + (t.judge_ms || 0), end: panel + (t.judge_ms || 0) + t.synthesis_ms, kind: 'synthesizer' });
    fill($('trace-waterfall'), rows.length
      ? Charts.waterfall({ id: 'waterfall', title: `Council timing: ${duration(t.total_ms)} in all`, rows, total: t.total_ms })
      : el('p', { class: 'muted', text: 'No timing recorded.' }));
  }

  async function load() {
    const id = councilId();
    const trace = await api(`/api/councils/${encodeURIComponent(id)}`);
    const result = trace.result || {};
    const who = namer(result.labels || []);
    document.title = `Council ${trace.council || ''} · Fusion`;
    $('page-title').textContent = `Council trace: ${trace.council || result.council || id}`;
    $('trace-question').textContent = trace.question || '';
    const usage = result.usage || {};
    const facts = [
      ['Council', trace.council || result.council], ['When', Fusion.time(trace.at_ms)], ['Caller', trace.caller || '—'],
      ['Status', badge(result.status)], ['Took', duration(result.timings && result.timings.total_ms)],
      ['Tokens', Fusion.int(usage.total_tokens)],
    ];
    if (trace.cost_usd !== undefined) facts.push(['Cost', usd(trace.cost_usd)]);
    for (const note of result.notes || []) facts.push(['Note', note]);
    for (const c of result.cut || []) facts.push(['Cut', `${c.model}: ${cutText(c)}`]);
    fill($('trace-facts'), facts.map(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
    $('trace-final').textContent = result.final_answer || '(no final answer)';
    renderDegradation(result);
    renderAnswers(result);
    renderAnalysis(result.analysis || {}, who);
    renderTiming(result);
  }

  document.addEventListener('DOMContentLoaded', () => guarded(load));
})();
