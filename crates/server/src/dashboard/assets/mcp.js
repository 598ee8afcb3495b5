// Fusion dashboard, MCP servers: every child server with its transport, state, restarts, last
// error, tools and call stats; add one from a form or a pasted desktop JSON, edit, enable or
// disable, remove, reorder (drag and drop, or Move up / Move down), allow or deny single tools.
// Each change goes through the API, which checks it, writes the config file and reloads; a
// refused change shows the key and the reason. The list is re-read every 10 s, and every second
// for up to 10 s while a server is still connecting (its tools arrive with it).
'use strict';

(() => {
  const { $, el, api, guarded, badge, duration, fill, announce } = Fusion;
  const view = { servers: [], editable: false, editing: null, dragged: null, focusAfter: null, signature: '', fastUntil: 0, fastTimer: null };
  const READ_EVERY = 10000;
  const FAST_EVERY = 1000;
  const FAST_FOR = 10000;

  const slug = (name) => name.replace(/[^A-Za-z0-9_-]/g, '_');
  const path = (name, rest = '') => `/api/mcp/servers/${encodeURIComponent(name)}${rest}`;

  /** Runs a change; a refusal (its key and reason) is shown beside the configuration. */
  async function change(what, fn) {
    const refusal = $('mcp-refusal');
    try {
      const answer = await fn();
      refusal.hidden = true;
      Fusion.clearError();
      announce(`${what}: saved and reloaded.`);
      view.fastUntil = 0;
      await load();
      return answer;
    } catch (error) {
      if (error instanceof Fusion.ApiError && [400, 409, 422].includes(error.status)) {
        const detail = error.detail || {};
        const key = detail.key || error.param;
        fill(refusal, el('p', {}, el('strong', { text: `Refused: ${what}. ` }),
          key ? ['Key ', el('code', { id: 'mcp-refusal-key', text: key }), ': '] : '',
          el('span', { id: 'mcp-refusal-reason', text: detail.reason || error.message })),
          el('p', { class: 'hint', text: 'The config file was left as it was.' }));
        refusal.hidden = false;
      }
      throw error;
    }
  }

  function toolList(server) {
    const status = server.status || {};
    const deny = (server.tools && server.tools.deny) || [];
    const allow = (server.tools && server.tools.allow) || [];
    const names = [...new Set([...(status.tools || []), ...deny, ...allow])].sort();
    if (!names.length) return el('p', { class: 'muted', text: server.status ? 'No tools listed.' : 'Not running: tools unknown.' });
    return el('ul', { class: 'tools', id: `mcp-tools-${slug(server.name)}`, 'aria-label': `Tools of ${server.name}` }, names.map((tool) => {
      const denied = deny.includes(tool) || (allow.length > 0 && !allow.includes(tool));
      return el('li', { class: denied ? 'denied' : '', 'data-tool': tool },
        el('span', { class: 'mono', text: tool }),
        el('button', {
          type: 'button', class: 'small quiet', disabled: !view.editable, text: denied ? 'Allow' : 'Deny',
          id: `mcp-tool-${slug(server.name)}-${slug(tool)}`, 'aria-label': `${denied ? 'Allow' : 'Deny'} tool ${tool} of ${server.name}`,
          onclick: () => guarded(() => change(`${denied ? 'allow' : 'deny'} ${tool}`,
            () => api(path(server.name, '/tools'), { method: 'POST', body: { tool, allowed: denied } }))),
        }));
    }));
  }

  function serverItem(server, index) {
    const s = slug(server.name);
    const status = server.status;
    const state = !server.enabled ? 'disabled' : status ? status.state : 'stopped';
    const where = server.transport === 'http' ? server.url || '' : [server.command || '', ...(server.args || [])].join(' ');
    const button = (id, text, label, onclick, disabled) => el('button', {
      type: 'button', class: 'small quiet', id: `${id}-${s}`, text, 'aria-label': label, disabled: disabled || !view.editable, onclick,
    });
    const li = el('li', { class: 'card', id: `mcp-server-${s}`, 'data-name': server.name, draggable: view.editable ? 'true' : 'false' },
      el('div', { class: 'server-head' },
        el('span', { class: 'handle', 'aria-hidden': 'true', title: 'Drag to reorder', text: '⠿' }),
        el('h3', { id: `mcp-name-${s}`, class: 'mono', text: server.name }), badge(server.transport), badge(state),
        el('label', {}, el('input', {
          type: 'checkbox', id: `mcp-enabled-${s}`, checked: server.enabled, disabled: !view.editable,
          onchange: (event) => guarded(() => change(`${event.target.checked ? 'enable' : 'disable'} ${server.name}`,
            () => api(path(server.name, '/enabled'), { method: 'POST', body: { enabled: event.target.checked } }))),
        }), ' Enabled'),
        button('mcp-up', 'Move up', `Move ${server.name} up`, () => guarded(() => move(server.name, -1)), index === 0),
        button('mcp-down', 'Move down', `Move ${server.name} down`, () => guarded(() => move(server.name, 1)), index === view.servers.length - 1),
        button('mcp-edit', 'Edit', `Edit ${server.name}`, () => edit(server)),
        button('mcp-remove', 'Remove', `Remove ${server.name}`, () => guarded(() => change(`remove ${server.name}`,
          () => api(path(server.name), { method: 'DELETE' }))))),
      el('dl', { class: 'kv' },
        el('dt', { text: server.transport === 'http' ? 'URL' : 'Command' }), el('dd', { class: 'mono', text: where || '—' }),
        (server.env_keys || []).length ? [el('dt', { text: 'Environment' }), el('dd', { class: 'mono', text: `${server.env_keys.join(', ')} (values hidden)` })] : '',
        el('dt', { text: 'Restarts' }), el('dd', { text: status ? String(status.restarts ?? 0) : '—' }),
        el('dt', { text: 'Calls' }), el('dd', { text: status ? `${Fusion.int(status.calls ?? 0)} (${Fusion.int(status.errors ?? 0)} failed), p50 ${duration(status.p50_ms)}` : '—' }),
        status && status.last_error ? [el('dt', { text: 'Last error' }), el('dd', { id: `mcp-error-${s}`, text: status.last_error })] : ''),
      toolList(server));
    if (view.editable) dragAndDrop(li);
    return li;
  }

  function dragAndDrop(li) {
    li.addEventListener('dragstart', (event) => {
      view.dragged = li.dataset.name;
      li.classList.add('dragging');
      event.dataTransfer.effectAllowed = 'move';
      event.dataTransfer.setData('text/plain', li.dataset.name);
    });
    li.addEventListener('dragend', () => {
      li.classList.remove('dragging');
      for (const other of $('mcp-servers').children) other.classList.remove('drop-target');
    });
    li.addEventListener('dragover', (event) => {
      if (!view.dragged || view.dragged === li.dataset.name) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'move';
      li.classList.add('drop-target');
    });
    li.addEventListener('dragleave', () => li.classList.remove('drop-target'));
    li.addEventListener('drop', (event) => {
      event.preventDefault();
      li.classList.remove('drop-target');
      const dragged = view.dragged;
      view.dragged = null;
      if (!dragged || dragged === li.dataset.name) return;
      const names = view.servers.map((x) => x.name).filter((n) => n !== dragged);
      const box = li.getBoundingClientRect();
      const at = names.indexOf(li.dataset.name) + (event.clientY > box.top + box.height / 2 ? 1 : 0);
      names.splice(at, 0, dragged);
      guarded(() => reorder(names, dragged, `move ${dragged}`));
    });
  }

  async function move(name, by) {
    const names = view.servers.map((x) => x.name);
    const from = names.indexOf(name);
    const to = from + by;
    if (from < 0 || to < 0 || to >= names.length) return;
    names.splice(from, 1);
    names.splice(to, 0, name);
    view.focusAfter = `${by < 0 ? 'mcp-up' : 'mcp-down'}-${slug(name)}`;
    await reorder(names, name, `move ${name} ${by < 0 ? 'up' : 'down'}`);
  }

  async function reorder(names, moved, what) {
    await change(what, () => api('/api/mcp/servers/order', { method: 'POST', body: { names } }));
    announce(`${moved} is now ${names.indexOf(moved) + 1} of ${names.length}.`);
  }

  function lines(text) {
    return text.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  /** `NAME=value` (or `Name: value`) lines as an object. A bare `NAME` keeps the current value
   *  (`null`: the page never sees values) and is only allowed for a name the server has. */
  function pairs(text, separator, what, known) {
    const out = {};
    for (const line of lines(text)) {
      const at = line.indexOf(separator);
      if (at < 0 && known.includes(line)) { out[line] = null; continue; }
      if (at <= 0) throw new Error(`${what}: \`${line.slice(0, 60)}\` has no \`${separator}\` (write ${separator === '=' ? 'NAME=value' : 'Name: value'})`);
      out[line.slice(0, at).trim()] = line.slice(at + separator.length).trim();
    }
    return out;
  }

  function formServer() {
    const http = $('mcp-transport-http').checked;
    const current = view.servers.find((x) => x.name === view.editing) || {};
    const server = { name: $('mcp-name').value.trim(), enabled: $('mcp-enabled').checked };
    if ($('mcp-timeout').value.trim()) server.timeout = $('mcp-timeout').value.trim();
    if (http) {
      server.url = $('mcp-url').value.trim();
      const headers = pairs($('mcp-headers').value, ':', 'Headers', current.header_keys || []);
      if (Object.keys(headers).length) server.headers = headers;
    } else {
      server.command = $('mcp-command').value.trim();
      server.args = lines($('mcp-args').value);
      const env = pairs($('mcp-env').value, '=', 'Environment', current.env_keys || []);
      if (Object.keys(env).length) server.env = env;
      if ($('mcp-cwd').value.trim()) server.cwd = $('mcp-cwd').value.trim();
    }
    return server;
  }

  async function save(event) {
    event.preventDefault();
    const server = formServer();
    if (view.editing) {
      const name = view.editing;
      await change(`edit ${name}`, () => api(path(name), { method: 'PUT', body: { server } }));
    } else {
      await change(`add ${server.name}`, () => api('/api/mcp/servers', { method: 'POST', body: { server } }));
    }
    resetForm();
  }

  function transportChanged() {
    const http = $('mcp-transport-http').checked;
    $('mcp-http-fields').hidden = !http;
    $('mcp-stdio-fields').hidden = http;
  }

  function edit(server) {
    view.editing = server.name;
    $('mcp-form-heading').textContent = `Edit ${server.name}`;
    $('mcp-save').textContent = 'Save changes';
    $('mcp-cancel-edit').hidden = false;
    $('mcp-name').value = server.name;
    $(server.transport === 'http' ? 'mcp-transport-http' : 'mcp-transport-stdio').checked = true;
    $('mcp-enabled').checked = server.enabled;
    $('mcp-timeout').value = server.timeout || '';
    $('mcp-command').value = server.command || '';
    $('mcp-args').value = (server.args || []).join('\n');
    $('mcp-cwd').value = server.cwd || '';
    $('mcp-env').value = (server.env_keys || []).join('\n');
    $('mcp-url').value = server.url || '';
    $('mcp-headers').value = (server.header_keys || []).join('\n');
    transportChanged();
    $('mcp-name').focus();
  }

  function resetForm() {
    view.editing = null;
    $('mcp-form').reset();
    $('mcp-form-heading').textContent = 'Add a server';
    $('mcp-save').textContent = 'Add server';
    $('mcp-cancel-edit').hidden = true;
    transportChanged();
  }

  /** While a server is connecting, reads again in a second, for at most FAST_FOR in a row. */
  function followConnecting() {
    const starting = view.servers.some((x) => x.enabled && x.status && ['connecting', 'restarting'].includes(x.status.state));
    if (!starting) { view.fastUntil = 0; return; }
    if (!view.fastUntil) view.fastUntil = Date.now() + FAST_FOR;
    if (view.fastTimer || Date.now() >= view.fastUntil) return;
    view.fastTimer = setTimeout(() => {
      view.fastTimer = null;
      if (!document.hidden && !view.dragged) guarded(load);
    }, FAST_EVERY);
  }

  async function load() {
    try {
      draw(await api('/api/mcp/servers'));
    } finally {
      followConnecting();
    }
  }

  function draw(answer) {
    const signature = JSON.stringify(answer);
    if (signature === view.signature && !view.focusAfter) return;
    view.signature = signature;
    const focused = document.activeElement && document.activeElement.id;
    view.servers = answer.servers || [];
    view.editable = Boolean(answer.editable);
    fill($('mcp-config'), answer.config_file
      ? `Config file: ${answer.config_file}${view.editable ? '' : ' (not editable from here)'}`
      : ['No config file: Fusion runs on its zero-config defaults. Changes need a file: run ', el('code', { text: 'fusion init' }),
        ' or start with ', el('code', { text: '--config' }), '.']);
    for (const id of ['mcp-save', 'mcp-import-submit']) $(id).disabled = !view.editable;
    const list = $('mcp-servers');
    fill(list, view.servers.length ? view.servers.map(serverItem) : el('li', { class: 'muted', text: 'No MCP server is configured.' }));
    const refocus = view.focusAfter || (focused && focused.startsWith('mcp-') ? focused : null);
    if (refocus) {
      const target = $(refocus);
      view.focusAfter = null;
      if (target && !target.disabled) target.focus();
      else if (target) target.parentElement.querySelector('button:not([disabled])')?.focus();
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('mcp-form').addEventListener('submit', (event) => guarded(() => save(event)));
    $('mcp-cancel-edit').addEventListener('click', resetForm);
    for (const radio of document.querySelectorAll('input[name="mcp-transport"]')) radio.addEventListener('change', transportChanged);
    $('mcp-import').addEventListener('submit', (event) => {
      event.preventDefault();
      guarded(async () => {
        await change('import', () => api('/api/mcp/servers', { method: 'POST', body: { desktop_json: $('mcp-import-json').value } }));
        $('mcp-import-json').value = '';
      });
    });
    guarded(load);
    setInterval(() => { if (!document.hidden && !view.dragged) guarded(load); }, READ_EVERY);
  });
})();
