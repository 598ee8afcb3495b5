// Fusion dashboard, councils: the recent council runs recorded in the store, newest first,
// each linking to its trace; older ones page in, new ones appear as tasks end. A refresh keeps
// the rows already shown (keyed by id), so the keyboard stays where it was.
'use strict';

(() => {
  const { $, el, api, guarded, badge, duration, usd } = Fusion;
  const PAGE = 50;
  const view = { councils: [], ids: new Set(), more: false, rows: new Map() };

  function row(c) {
    const status = c.degraded && c.status !== 'degraded' ? [badge(c.status), ' ', badge('degraded')] : badge(c.status);
    return el('tr', { id: `council-${c.id}`, 'data-council-id': c.id },
      el('td', { text: Fusion.time(c.at_ms) }),
      el('td', { text: c.council }),
      el('td', { class: 'clip' }, el('a', { href: `/ui/councils/${encodeURIComponent(c.id)}`, title: c.question, text: c.question || '(no question)' })),
      el('td', {}, status),
      el('td', { text: c.caller || '—' }),
      el('td', { class: 'num', text: duration(c.total_ms) }),
      el('td', { class: 'num', text: usd(c.cost_usd) }));
  }

  function render() {
    const body = $('councils-body');
    if (!view.councils.length) {
      body.replaceChildren(el('tr', { id: 'councils-empty' }, el('td', { colspan: 7 },
        'No council has run yet. Ask one from the Tasks page, ', el('code', { text: 'fusion ask' }),
        ', or a ', el('code', { text: 'fusion/…' }), ' model.')));
    } else {
      // A recorded run does not change: its row is drawn once and moved, never rebuilt.
      const ordered = view.councils.map((c) => {
        if (!view.rows.has(c.id)) view.rows.set(c.id, row(c));
        return view.rows.get(c.id);
      });
      Fusion.arrange(body, ordered);
    }
    $('councils-more').hidden = !view.more;
    $('councils-summary').textContent = `${view.councils.length} council${view.councils.length === 1 ? '' : 's'} shown.`;
  }

  async function loadFirst() {
    const answer = await api(`/api/councils?limit=${PAGE}`);
    const fresh = (answer.councils || []).filter((c) => !view.ids.has(c.id));
    if (!view.councils.length) view.more = (answer.councils || []).length === PAGE;
    for (const c of fresh) view.ids.add(c.id);
    view.councils = [...fresh, ...view.councils].sort((a, b) => b.at_ms - a.at_ms);
    render();
  }

  async function loadOlder() {
    const last = view.councils[view.councils.length - 1];
    if (!last) return;
    const answer = await api(`/api/councils?limit=${PAGE}&before_ms=${last.at_ms}`);
    const older = (answer.councils || []).filter((c) => !view.ids.has(c.id));
    for (const c of older) view.ids.add(c.id);
    view.councils.push(...older);
    view.more = (answer.councils || []).length === PAGE;
    render();
    Fusion.announce(`${older.length} older councils loaded.`);
  }

  const refreshSoon = Fusion.debounce(loadFirst, 800);

  document.addEventListener('DOMContentLoaded', () => {
    $('councils-more').addEventListener('click', () => guarded(loadOlder));
    guarded(loadFirst);
    Fusion.onEvents(({ event, data }) => {
      if (event === 'open' || event === 'lagged' || (event === 'task' && data && ['completed', 'failed'].includes(data.state))) refreshSoon();
    });
  });
})();
