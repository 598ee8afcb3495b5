// Fusion dashboard, tasks and queue: the slot groups, a filtered page of tasks with their queue
// position, an estimated ETA, elapsed time and cost, task and job cancellation, a task's
// details, and a form that submits a routed task or a council question. Follows /api/events.
'use strict';

(() => {
  const { $, el, api, cell, badge, duration, usd, guarded, announce } = Fusion;
  const OPEN = new Set(['queued', 'running']);
  const ETA_SAMPLE = 200;

  const view = {
    filter: { status: '', kind: '', model: '', q: '', page: 1, page_size: 50 },
    tasks: new Map(), // id -> summary shown
    rows: new Map(), // id -> <tr>
    total: 0,
    groups: [],
    eta: new Map(), // id -> {waves, group}
    p50: new Map(), // slot group -> {ms, n}
    p50At: 0,
    detail: null, // the id shown in the details panel
    flash: null,
  };

  function readFilterFromUrl() {
    const params = new URLSearchParams(location.search);
    for (const key of ['status', 'kind', 'model', 'q']) view.filter[key] = (params.get(key) || '').slice(0, 200);
    view.filter.page = Math.max(1, Number.parseInt(params.get('page'), 10) || 1);
    const size = Number.parseInt(params.get('page_size'), 10);
    if ([20, 50, 100, 200].includes(size)) view.filter.page_size = size;
    $('filter-state').value = view.filter.status;
    $('filter-kind').value = view.filter.kind;
    $('filter-model').value = view.filter.model;
    $('filter-q').value = view.filter.q;
    $('filter-page-size').value = String(view.filter.page_size);
  }

  function query(filter) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== '' && value !== null) params.set(key, String(value));
    return params.toString();
  }

  async function loadTasks() {
    const page = await api(`/api/tasks?${query(view.filter)}`);
    view.total = page.total;
    view.tasks = new Map(page.tasks.map((t) => [t.id, t]));
    render();
    const pages = Math.max(1, Math.ceil(page.total / page.page_size));
    $('tasks-page').textContent = `Page ${page.page} of ${pages}`;
    $('tasks-prev').disabled = page.page <= 1;
    $('tasks-next').disabled = page.page >= pages;
    $('tasks-summary').textContent = `${page.total} task${page.total === 1 ? '' : 's'} match.`;
    history.replaceState(null, '', `${location.pathname}?${query(view.filter)}`);
  }

  /** The queue: the groups, then the ETA of every open task from its place in its group. */
  async function loadQueue() {
    const queue = await api('/api/queue?page_size=500');
    view.groups = queue.groups || [];
    const byGroup = new Map();
    for (const task of queue.tasks || []) {
      if (!byGroup.has(task.slot_group)) byGroup.set(task.slot_group, []);
      byGroup.get(task.slot_group).push(task);
    }
    view.eta = new Map();
    for (const [group, tasks] of byGroup) {
      const info = view.groups.find((g) => g.group === group);
      const limit = Math.max(1, info ? info.limit : 1);
      const running = tasks.filter((t) => t.state === 'running');
      const queued = tasks.filter((t) => t.state === 'queued').sort((a, b) => (a.position || 0) - (b.position || 0));
      for (const t of running) view.eta.set(t.id, { group, waves: 0, started: t.started_ms });
      queued.forEach((t, i) => view.eta.set(t.id, { group, waves: Math.floor((running.length + i) / limit) + 1 }));
    }
    const total = (n, word) => `${n} ${word}`;
    $('queue-summary').textContent = `${total(queue.running, 'running')}, ${total(queue.queued, 'queued')} across every process (this one: ${queue.owner}).`;
    renderGroups();
    render();
  }

  /** The median run time of recent completed tasks, per slot group (the ETA's basis). */
  async function loadP50() {
    const page = await api(`/api/tasks?status=completed&page_size=${ETA_SAMPLE}`);
    const samples = new Map();
    for (const t of page.tasks) {
      if (!t.started_ms || !t.finished_ms) continue;
      if (!samples.has(t.slot_group)) samples.set(t.slot_group, []);
      samples.get(t.slot_group).push(t.finished_ms - t.started_ms);
    }
    view.p50 = new Map([...samples].map(([group, list]) => {
      list.sort((a, b) => a - b);
      return [group, { ms: list[Math.floor((list.length - 1) / 2)], n: list.length }];
    }));
    view.p50At = Date.now();
    renderGroups();
  }

  function renderGroups() {
    const body = $('queue-groups-body');
    const rows = view.groups.map((g) => {
      const p50 = view.p50.get(g.group);
      return el('tr', {}, el('th', { scope: 'row', text: g.group }),
        el('td', { class: 'num', text: g.limit }), el('td', { class: 'num', text: g.in_use }),
        el('td', { class: 'num', text: g.running + (g.bench_running ? ` (${g.bench_running} benchmark)` : '') }),
        el('td', { class: 'num', text: g.queued + (g.bench_queued ? ` (${g.bench_queued} benchmark)` : '') }),
        el('td', { class: 'num', text: p50 ? `${duration(p50.ms)} (n=${p50.n})` : 'no completed task yet' }));
    });
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 6, text: 'No slot group has tasks.' })));
    body.replaceChildren(...rows);
  }

  function etaText(task) {
    const eta = view.eta.get(task.id);
    if (!eta || !OPEN.has(task.state)) return '—';
    const p50 = view.p50.get(eta.group);
    if (!p50) return 'unknown (no completed task in this group yet)';
    if (task.state === 'running') {
      const left = p50.ms - (Date.now() - (task.started_ms || Date.now()));
      return left > 0 ? `≈ ${duration(left)} left (estimate)` : 'any moment (estimate)';
    }
    return `≈ ${duration(eta.waves * p50.ms)} (estimate)`;
  }

  function elapsedText(task) {
    if (task.state === 'queued') return `waiting ${duration(Date.now() - task.created_ms)}`;
    if (!task.started_ms) return '—';
    return duration((task.finished_ms || Date.now()) - task.started_ms);
  }

  function render() {
    const body = $('tasks-body');
    const ordered = [];
    for (const task of view.tasks.values()) {
      let tr = view.rows.get(task.id);
      if (!tr) {
        tr = newRow(task);
        view.rows.set(task.id, tr);
      }
      updateRow(tr, task);
      ordered.push(tr);
    }
    for (const [id, tr] of view.rows) if (!view.tasks.has(id)) { view.rows.delete(id); tr.remove(); }
    if (!ordered.length) {
      body.replaceChildren(el('tr', { id: 'tasks-empty' }, el('td', { colspan: 9, text: 'No task matches these filters.' })));
      return;
    }
    const empty = $('tasks-empty');
    if (empty) empty.remove();
    Fusion.arrange(body, ordered);
    if (view.flash && view.rows.has(view.flash)) {
      view.rows.get(view.flash).classList.add('flash');
      view.flash = null;
    }
  }

  function newRow(task) {
    const tr = el('tr', { id: `task-${task.id}`, 'data-task-id': task.id });
    const open = el('button', {
      type: 'button', class: 'small quiet mono', text: task.id.length > 14 ? `${task.id.slice(0, 14)}…` : task.id, 'aria-label': `Details of task ${task.id}`,
      onclick: () => guarded(() => showDetail(task.id, true)),
    });
    const cancel = el('button', {
      type: 'button', class: 'small danger', text: 'Cancel', 'aria-label': `Cancel task ${task.id}`,
      onclick: () => guarded(() => cancelTask(task.id)),
    });
    tr.append(el('td', {}, open));
    for (let i = 0; i < 7; i += 1) tr.append(el('td', {}));
    tr.append(el('td', {}, cancel));
    [4, 6, 7].forEach((i) => tr.children[i].classList.add('num'));
    return tr;
  }

  function updateRow(tr, task) {
    const c = tr.children;
    const stateKey = `${task.state}:${Math.round((task.progress || 0) * 100)}`;
    if (tr.dataset.state !== stateKey) {
      tr.dataset.state = stateKey;
      const progress = task.state === 'running' && task.progress > 0 ? ` ${Math.round(task.progress * 100)}%` : '';
      cell(c[1], [badge(task.state), progress]);
    }
    cell(c[2], task.kind);
    cell(c[3], task.model || '—');
    cell(c[4], task.position ? String(task.position) : '—');
    cell(c[5], etaText(task));
    cell(c[6], elapsedText(task));
    cell(c[7], usd(task.cost_usd));
    c[8].firstElementChild.hidden = !OPEN.has(task.state) || task.cancel_requested;
    tr.classList.toggle('selected', view.detail === task.id);
  }

  async function cancelTask(id) {
    const answer = await api(`/api/tasks/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    announce(answer.state === 'cancelled' ? `Task ${id} cancelled.` : `Task ${id}: cancellation requested.`);
    await refresh();
    // The Cancel button is gone: keep the keyboard on the same row.
    const row = view.rows.get(id);
    if (row && document.activeElement === document.body) row.querySelector('button').focus();
  }

  async function cancelJob(id, label) {
    const answer = await api(`/api/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    announce(answer.state === 'cancelled' ? `Job ${label} cancelled.` : `Job ${label}: cancellation requested.`);
    if (view.detail) await showDetail(view.detail, false);
  }

  /** What a task was asked: the last user message, or the council question. */
  function requestText(request) {
    if (!request) return '';
    if (request.question) return request.question;
    const messages = request.messages || [];
    const last = messages[messages.length - 1];
    if (!last) return '';
    return typeof last.content === 'string' ? last.content : JSON.stringify(last.content);
  }

  /** What a task answered: a completion's or a benchmark's `text`, a council's final answer,
   *  else the first choice of the OpenAI-shaped response; the raw JSON only when none is there. */
  function resultText(result) {
    if (!result) return null;
    if (typeof result.text === 'string') return result.text;
    if (typeof result.final_answer === 'string') return result.final_answer;
    const response = result.response && typeof result.response === 'object' ? result.response : result;
    const choice = Array.isArray(response.choices) ? response.choices[0] : null;
    if (choice && choice.message) return typeof choice.message.content === 'string' ? choice.message.content : JSON.stringify(choice.message.content);
    return JSON.stringify(result, null, 2);
  }

  /** A job's name: its label ("attempt 2" — the second model tried —, a member, "judge"), and
   *  the task's run it belongs to only when the task ran more than once (recovered). */
  function jobLabel(job) {
    const label = String(job.label || 'job');
    return job.attempt > 1 ? `${label} (run ${job.attempt} of the task)` : label;
  }

  async function showDetail(id, focus) {
    const task = await api(`/api/tasks/${encodeURIComponent(id)}`);
    view.detail = id;
    const section = $('task-detail');
    section.hidden = false;
    $('task-detail-heading').textContent = `Task ${task.id}`;
    const kv = [
      ['State', [badge(task.state), task.progress_message && task.progress_message !== task.state ? ` ${task.progress_message}` : '']],
      ['Kind', task.kind], ['Model', [task.model || '—', task.provider ? ` (${task.provider})` : '']],
      ['Slot group', task.slot_group], ['Caller', task.caller], ['Priority', String(task.priority)],
      ['Created', Fusion.time(task.created_ms)], ['Started', Fusion.time(task.started_ms)], ['Finished', Fusion.time(task.finished_ms)],
      ['Attempts', String(task.attempts)], ['Tokens', Fusion.int(task.tokens)], ['Cost', usd(task.cost_usd)],
    ];
    if (task.error) kv.push(['Error', task.error]);
    if (task.decision && task.decision.summary) kv.push(['Routing', task.decision.summary]);
    const answer = resultText(task.result);
    const jobs = el('table', { id: 'task-jobs' },
      el('caption', { text: 'Jobs: every model call of this task' }),
      el('thead', {}, el('tr', {}, ['Job', 'Model', 'State', 'Took', 'Tokens', 'Cost', 'Error', 'Actions'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, task.jobs.map((job) => el('tr', { id: `job-${job.id}` },
        el('th', { scope: 'row', text: jobLabel(job) }),
        el('td', { text: `${job.model} (${job.provider})` }), el('td', {}, badge(job.state)),
        el('td', { class: 'num', text: job.started_ms ? duration((job.finished_ms || Date.now()) - job.started_ms) : '—' }),
        el('td', { class: 'num', text: Fusion.int(job.tokens) }), el('td', { class: 'num', text: usd(job.cost_usd) }),
        el('td', { text: job.error || '' }),
        el('td', {}, OPEN.has(job.state) && !job.cancel_requested ? el('button', {
          type: 'button', class: 'small danger', text: 'Cancel job', 'aria-label': `Cancel job ${job.label} of task ${task.id}`,
          onclick: () => guarded(() => cancelJob(job.id, job.label)),
        }) : '')))));
    Fusion.fill($('task-detail-body'),
      el('dl', { class: 'kv', id: 'task-detail-facts' }, kv.map(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)])),
      el('h3', { text: 'Asked' }), el('p', { class: 'text', id: 'task-detail-request', text: requestText(task.request) }),
      answer !== null ? [el('h3', { text: 'Answer' }), el('p', { class: 'text', id: 'task-detail-answer', text: answer })] : '',
      task.kind === 'council' && task.result ? el('p', {}, el('a', { href: '/ui/councils', text: 'See the council traces' })) : '',
      el('div', { class: 'table-wrap' }, jobs));
    for (const tr of view.rows.values()) tr.classList.toggle('selected', tr.dataset.taskId === id);
    if (focus) section.focus();
  }

  async function submit(event) {
    event.preventDefault();
    const text = $('submit-text').value;
    if (!text.trim()) {
      Fusion.showError('Write a prompt or a question first.');
      $('submit-text').focus();
      return;
    }
    const priority = Number.parseInt($('submit-queue-priority').value, 10) || 0;
    let work;
    if ($('submit-kind-council').checked) {
      work = { kind: 'council', question: text };
      if ($('submit-council').value) work.council = $('submit-council').value;
    } else {
      work = { kind: 'completion', messages: [{ role: 'user', content: text }] };
      if ($('submit-model').value) work.model = $('submit-model').value;
      const route = {};
      if ($('submit-priority').value) route.priority = $('submit-priority').value;
      if ($('submit-category').value) route.category = $('submit-category').value;
      if (Object.keys(route).length) work.route = route;
    }
    $('submit-button').disabled = true;
    try {
      const answer = await api('/api/tasks', { method: 'POST', body: { work, priority } });
      Fusion.clearError();
      const where = answer.position ? `queued at position ${answer.position}` : answer.state;
      $('submit-result').textContent = `Task ${answer.id} ${where} in slot group ${answer.slot_group}${answer.model ? `, model ${answer.model}` : ''}.`;
      view.flash = answer.id;
      $('submit-text').value = '';
      await refresh();
    } finally {
      $('submit-button').disabled = false;
    }
  }

  function kindChanged() {
    const council = $('submit-kind-council').checked;
    $('submit-council-options').hidden = !council;
    $('submit-routed-options').hidden = council;
    $('submit-text-label').textContent = council ? 'Question for the council' : 'Prompt';
  }

  async function loadChoices() {
    const models = await api('/api/models');
    const ids = (models.models || []).map((m) => m.id).sort();
    Fusion.fill($('model-names'), ids.map((id) => el('option', { value: id })));
    Fusion.options($('submit-model'), [['', 'Routed (the router chooses)'], ...ids.map((id) => [id, id])]);
    const listed = await api('/v1/models');
    const councils = (listed.data || []).map((m) => m.id).filter((id) => id.startsWith('fusion/')).map((id) => id.slice(7));
    Fusion.options($('submit-council'), [['', 'The default council'], ...councils.map((c) => [c, c])]);
  }

  async function refresh() {
    await Promise.all([loadTasks(), loadQueue()]);
    if (Date.now() - view.p50At > 15000) await loadP50();
  }
  const refreshSoon = Fusion.debounce(refresh, 600);
  const detailSoon = Fusion.debounce(() => (view.detail ? showDetail(view.detail, false) : null), 600);

  function onEvent({ event, data }) {
    if (event === 'open' || event === 'lagged') { refreshSoon(); return; }
    if (event !== 'task' && event !== 'job') return;
    if (view.detail === data.task_id) detailSoon();
    if (event === 'job') return;
    const shown = view.tasks.get(data.task_id);
    if (shown && shown.state === data.state) {
      if (data.progress !== undefined) shown.progress = data.progress;
      if (data.message) shown.progress_message = data.message;
      updateRow(view.rows.get(data.task_id), shown);
      return;
    }
    if (shown) {
      shown.state = data.state;
      updateRow(view.rows.get(data.task_id), shown);
    }
    if (data.state === 'completed') view.p50At = 0;
    refreshSoon();
  }

  function tick() {
    for (const task of view.tasks.values()) {
      if (OPEN.has(task.state)) {
        const tr = view.rows.get(task.id);
        cell(tr.children[5], etaText(task));
        cell(tr.children[6], elapsedText(task));
      }
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    readFilterFromUrl();
    $('task-filters').addEventListener('submit', (event) => {
      event.preventDefault();
      Object.assign(view.filter, {
        status: $('filter-state').value, kind: $('filter-kind').value, model: $('filter-model').value.trim(),
        q: $('filter-q').value.trim(), page: 1, page_size: Number($('filter-page-size').value),
      });
      guarded(loadTasks);
    });
    $('task-filters').addEventListener('reset', () => setTimeout(() => $('task-filters').requestSubmit(), 0));
    $('tasks-prev').addEventListener('click', () => { view.filter.page = Math.max(1, view.filter.page - 1); guarded(loadTasks); });
    $('tasks-next').addEventListener('click', () => { view.filter.page += 1; guarded(loadTasks); });
    $('task-detail-close').addEventListener('click', () => {
      const id = view.detail;
      view.detail = null;
      $('task-detail').hidden = true;
      for (const tr of view.rows.values()) tr.classList.remove('selected');
      const row = id && view.rows.get(id);
      if (row) row.querySelector('button').focus();
    });
    $('submit-form').addEventListener('submit', (event) => guarded(() => submit(event)));
    for (const radio of document.querySelectorAll('input[name="submit-kind"]')) radio.addEventListener('change', kindChanged);
    guarded(async () => { await refresh(); await loadChoices(); });
    Fusion.onEvents(onEvent);
    setInterval(tick, 1000);
  });
})();
