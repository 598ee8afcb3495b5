// Fusion dashboard, benchmarks: start a run (models and suites) and follow its progress live,
// the quality-versus-cost chart (an SVG the API draws, fetched with the key and shown as an
// image), the results per model and category, and the history of runs.
'use strict';

(() => {
  const { $, el, api, guarded, badge, duration, usd, fill, quality, announce } = Fusion;
  const WATCH_ITEM = 'fusion.benchTask';
  const view = { watching: sessionStorage.getItem(WATCH_ITEM), chartUrl: null, anyResults: false };

  const slug = (name) => name.replace(/[^A-Za-z0-9_-]/g, '_');

  async function loadModels() {
    const answer = await api('/api/models');
    const ids = (answer.models || []).map((m) => m.id).sort();
    fill($('bench-model-choices'), ids.length ? ids.map((id) => el('label', {},
      el('input', { type: 'checkbox', name: 'bench-model', id: `bench-model-${slug(id)}`, value: id }), ` ${id}`))
      : el('p', { class: 'muted', text: 'No model is configured.' }));
  }

  async function loadRuns() {
    const answer = await api('/api/bench/runs?limit=50');
    const runs = answer.runs || [];
    fill($('bench-runs-body'), runs.length ? runs.map((r) => el('tr', { id: `bench-run-${slug(r.id)}` },
      el('th', { scope: 'row', class: 'mono', text: r.id }),
      el('td', { text: (r.suites || []).join(', ') }), el('td', { text: (r.models || []).join(', ') || '—' }),
      el('td', {}, badge(r.status)), el('td', { text: Fusion.time(r.created_ms) }), el('td', { text: Fusion.time(r.finished_ms) })))
      : el('tr', {}, el('td', { colspan: 6, text: 'No benchmark has run yet.' })));
    Fusion.options($('bench-stats-run'), [['', 'Every run'], ...runs.map((r) => [r.id, `${r.id} (${Fusion.time(r.created_ms)})`])]);
  }

  async function loadStats() {
    const run = $('bench-stats-run').value;
    const answer = await api(`/api/bench/stats${run ? `?run=${encodeURIComponent(run)}` : ''}`);
    if (!run) view.anyResults = (answer.stats || []).length > 0;
    const stats = (answer.stats || []).slice().sort((a, b) => a.model.localeCompare(b.model) || a.category.localeCompare(b.category));
    fill($('bench-stats-body'), stats.length ? stats.map((s) => el('tr', {},
      el('th', { scope: 'row', class: 'mono', text: s.model }), el('td', { text: s.category }),
      el('td', { class: 'num', text: Fusion.int(s.n) }),
      el('td', { class: 'num', text: `${quality(s.quality)} (${quality(s.ci_low)}–${quality(s.ci_high)})` }),
      el('td', { class: 'num', text: duration(s.p50_latency_ms) }),
      el('td', { class: 'num', text: s.tokens_per_s ? s.tokens_per_s.toFixed(1) : '—' }),
      el('td', { class: 'num', text: usd(s.cost_usd) }), el('td', { class: 'num', text: Fusion.int(s.errors) })))
      : el('tr', {}, el('td', { colspan: 8, text: 'No results yet.' })));
  }

  async function loadChart() {
    const params = new URLSearchParams({ kind: $('bench-chart-kind').value });
    if ($('bench-chart-category').value) params.set('category', $('bench-chart-category').value);
    const box = $('bench-chart');
    if (!view.anyResults) {
      fill(box, el('p', { id: 'bench-chart-empty', class: 'muted', text: 'No chart yet: no benchmark results. Start a run above.' }));
      return;
    }
    let image;
    try {
      image = await Fusion.blob(`/api/bench/chart.svg?${params}`);
    } catch (error) {
      fill(box, el('p', { class: 'muted', text: `No chart: ${error.message}` }));
      return;
    }
    if (view.chartUrl) URL.revokeObjectURL(view.chartUrl);
    view.chartUrl = URL.createObjectURL(new Blob([image], { type: 'image/svg+xml' }));
    const label = $('bench-chart-kind').selectedOptions[0].textContent;
    const category = $('bench-chart-category').value || 'every category';
    fill(box, el('img', { id: 'bench-chart-image', class: 'bench-chart', src: view.chartUrl, alt: `${label}, ${category}: the numbers are in the results table below.` }));
  }

  function checked(name) {
    return [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((x) => x.value);
  }

  async function start(event) {
    event.preventDefault();
    const suites = checked('bench-suite');
    if (!suites.length) {
      Fusion.showError('Choose at least one suite.');
      $('bench-suite-code').focus();
      return;
    }
    const body = { suites };
    const models = checked('bench-model');
    if (models.length) body.models = models;
    const runs = Number.parseInt($('bench-runs-per-task').value, 10);
    if (runs) body.runs_per_task = runs;
    const tokens = Number.parseInt($('bench-max-tokens').value, 10);
    if (tokens) body.max_tokens = tokens;
    $('bench-start').disabled = true;
    try {
      const answer = await api('/api/bench', { method: 'POST', body });
      Fusion.clearError();
      watch(answer.task_id || answer.id, 0, `Run ${answer.run_id || ''} queued.`);
      announce(`Benchmark run ${answer.run_id || ''} started.`);
      await loadRuns();
    } finally {
      $('bench-start').disabled = false;
    }
  }

  function watch(taskId, progress, message) {
    if (!taskId) return;
    view.watching = taskId;
    sessionStorage.setItem(WATCH_ITEM, taskId);
    $('bench-progress-section').hidden = false;
    $('bench-progress-heading').textContent = `Run in progress (task ${taskId})`;
    $('bench-progress').value = progress || 0;
    $('bench-progress-message').textContent = message || '';
    $('bench-cancel').hidden = false;
  }

  async function finished(state, message) {
    $('bench-progress').value = state === 'completed' ? 1 : $('bench-progress').value;
    $('bench-progress-heading').textContent = `Run ${state}`;
    $('bench-progress-message').textContent = message || `The run ${state}.`;
    $('bench-cancel').hidden = true;
    view.watching = null;
    sessionStorage.removeItem(WATCH_ITEM);
    await Promise.all([loadRuns(), loadStats()]);
    await loadChart();
  }

  /** After a reload: the run this tab started, if it still runs. */
  async function resume() {
    if (!view.watching) return;
    const task = await api(`/api/tasks/${encodeURIComponent(view.watching)}`).catch(() => null);
    if (!task) { sessionStorage.removeItem(WATCH_ITEM); view.watching = null; return; }
    if (['queued', 'running'].includes(task.state)) watch(task.id, task.progress, task.progress_message || task.state);
    else sessionStorage.removeItem(WATCH_ITEM);
  }

  function onEvent({ event, data }) {
    if (event === 'open') { if (view.watching) guarded(resume); return; }
    if (event !== 'task' || !data || data.task_id !== view.watching) return;
    if (['queued', 'running'].includes(data.state)) {
      if (data.progress !== undefined) $('bench-progress').value = data.progress;
      if (data.message) $('bench-progress-message').textContent = data.message;
    } else {
      guarded(() => finished(data.state, data.message));
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('bench-form').addEventListener('submit', (event) => guarded(() => start(event)));
    $('bench-chart-controls').addEventListener('submit', (event) => { event.preventDefault(); guarded(loadChart); });
    $('bench-stats-run').addEventListener('change', () => guarded(loadStats));
    $('bench-cancel').addEventListener('click', () => guarded(async () => {
      if (!view.watching) return;
      await api(`/api/tasks/${encodeURIComponent(view.watching)}/cancel`, { method: 'POST' });
      announce('Cancellation of the benchmark run requested.');
    }));
    guarded(async () => {
      await Promise.all([loadModels(), loadRuns(), resume()]);
      await loadStats();
      await loadChart();
    });
    Fusion.onEvents(onEvent);
  });
})();
