// Fusion dashboard, shared by every page: the API client (bearer key asked on a 401 and kept
// in sessionStorage, never a cookie), the alert and status regions, the live event stream
// (fetch + a stream reader: EventSource cannot send the key), DOM and format helpers.
// Data from the server is always put in the page as text (textContent), never as markup.
'use strict';

const Fusion = (() => {
  const KEY_ITEM = 'fusion.apiKey';
  const MAX_EVENT_BUFFER = 1 << 20;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);

  /** An element: `attrs` are attributes (`text` sets its text, `on*` functions listen), then children. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  /** An SVG element, same shape as `el`. */
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') node.textContent = String(value);
      else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  /** Empties `node` and puts `children` in it. */
  function fill(node, ...children) {
    node.replaceChildren();
    append(node, children);
    return node;
  }

  // ---- alert and status ----

  function showError(error) {
    const alert = $('alert');
    const message = error instanceof ApiError ? error.describe() : String(error && error.message ? error.message : error);
    fill(alert, el('p', { id: 'alert-message', text: message }),
      el('button', { type: 'button', id: 'alert-dismiss', class: 'small quiet', text: 'Dismiss', onclick: clearError }));
    alert.hidden = false;
  }

  function clearError() {
    const alert = $('alert');
    alert.hidden = true;
    alert.replaceChildren();
  }

  function announce(message) {
    $('status').textContent = message;
  }

  // ---- the API ----

  class ApiError extends Error {
    constructor(status, body, path) {
      const error = (body && body.error) || {};
      super(error.message || `${path} answered HTTP ${status}`);
      this.status = status;
      this.type = error.type || null;
      this.code = error.code || null;
      this.param = error.param || null;
      this.path = path;
      /** Fusion's own detail of a refusal (a config edit's `{file, key, reason}`), if any. */
      this.detail = (body && body.fusion) || null;
    }
    describe() {
      return this.param ? `${this.message} (key: ${this.param})` : this.message;
    }
  }

  let keyPrompt = null;

  /** Shows the key form; resolves when a key is entered, rejects on Cancel. One at a time. */
  function askKey(refused) {
    if (keyPrompt) return keyPrompt;
    const form = $('key-form');
    $('key-form-reason').textContent = refused
      ? 'The API key this tab had was refused. Enter a valid key.'
      : 'This server needs an API key for its API.';
    form.hidden = false;
    const input = $('key-input');
    input.value = '';
    input.focus();
    keyPrompt = new Promise((resolve, reject) => {
      const done = (ok) => {
        form.removeEventListener('submit', onSubmit);
        $('key-cancel').removeEventListener('click', onCancel);
        form.hidden = true;
        keyPrompt = null;
        ok ? resolve() : reject(new ApiError(401, null, 'the API'));
      };
      const onSubmit = (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        sessionStorage.setItem(KEY_ITEM, key);
        input.value = '';
        $('key-forget').hidden = false;
        done(true);
      };
      const onCancel = () => done(false);
      form.addEventListener('submit', onSubmit);
      $('key-cancel').addEventListener('click', onCancel);
    });
    return keyPrompt;
  }

  /** `fetch` with the bearer key; on a 401 asks for a key and tries again. */
  async function authorized(path, init = {}) {
    for (let attempt = 0; ; attempt += 1) {
      const key = sessionStorage.getItem(KEY_ITEM);
      const headers = new Headers(init.headers || {});
      if (key) headers.set('Authorization', `Bearer ${key}`);
      const response = await fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
      if (response.status !== 401 || attempt >= 5) return response;
      if (key) sessionStorage.removeItem(KEY_ITEM);
      await askKey(Boolean(key));
    }
  }

  /** Calls the JSON API: `body` is sent as JSON; answers the parsed JSON or throws an ApiError. */
  async function api(path, { method = 'GET', body, signal } = {}) {
    const init = { method, signal, headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await authorized(path, init);
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = null; }
    if (!response.ok) throw new ApiError(response.status, parsed, path);
    return parsed;
  }

  /** The same, for a non-JSON answer: the Blob. */
  async function blob(path) {
    const response = await authorized(path, {});
    if (!response.ok) {
      let parsed = null;
      try { parsed = JSON.parse(await response.text()); } catch (_) { parsed = null; }
      throw new ApiError(response.status, parsed, path);
    }
    return response.blob();
  }

  // ---- live events ----

  const listeners = [];
  let streaming = false;
  const stopStream = new AbortController();
  window.addEventListener('pagehide', () => stopStream.abort());

  function setLive(text, on) {
    const live = $('live-state');
    live.textContent = text;
    live.className = `live ${on ? 'on' : 'off'}`;
  }

  /** Calls `listener({event, data})` for every event of `/api/events`, and `{event: 'open'}` on
   *  each (re)connection (a page reloads what it shows then: events may have been missed). */
  function onEvents(listener) {
    listeners.push(listener);
    if (!streaming) {
      streaming = true;
      stream();
    }
  }

  function dispatch(event, data) {
    for (const listener of listeners) {
      try { listener({ event, data }); } catch (error) { showError(error); }
    }
  }

  async function stream() {
    let delay = 1000;
    while (!stopStream.signal.aborted) {
      try {
        const response = await authorized('/api/events', { headers: { Accept: 'text/event-stream' }, signal: stopStream.signal });
        if (!response.ok || !response.body) throw new Error(`live updates: HTTP ${response.status}`);
        setLive('Live', true);
        delay = 1000;
        dispatch('open', null);
        await readEvents(response.body);
      } catch (error) {
        if (stopStream.signal.aborted) return;
        if (error instanceof ApiError) { setLive('Not connected (no API key)', false); return; }
      }
      setLive('Reconnecting…', false);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30000);
    }
  }

  async function readEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (!data.length) continue;
        let parsed = null;
        try { parsed = JSON.parse(data.join('\n')); } catch (_) { continue; }
        dispatch(name, parsed);
      }
      if (buffer.length > MAX_EVENT_BUFFER) buffer = '';
    }
  }

  // ---- scheduling ----

  /** `fn` at most once per `ms`, the last call winning; errors go to the alert. */
  function debounce(fn, ms) {
    let timer = null;
    return () => {
      if (timer) return;
      timer = setTimeout(async () => {
        timer = null;
        try { await fn(); } catch (error) { showError(error); }
      }, ms);
    };
  }

  /** Runs `fn`, showing an error in the alert region instead of throwing. */
  async function guarded(fn) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401 && error.path === 'the API')) showError(error);
      return undefined;
    }
  }

  // ---- formats ----

  function duration(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
    return `${Math.floor(m / 60)}h ${m % 60}m`;
  }

  function usd(x) {
    if (x === null || x === undefined || !Number.isFinite(x)) return '—';
    if (x === 0) return '$0';
    return x < 0.01 ? `$${x.toFixed(5)}` : `$${x.toFixed(2)}`;
  }

  function int(x) {
    return x === null || x === undefined ? '—' : Number(x).toLocaleString();
  }

  function time(ms) {
    return ms ? new Date(ms).toLocaleString() : '—';
  }

  function quality(x) {
    return x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(2);
  }

  /** A state badge: the class says its colour, the text says the state (colour is never alone). */
  function badge(state) {
    const text = String(state || 'unknown');
    return el('span', { class: `state state-${text.replace(/[^a-z_]/gi, '_').toLowerCase()}`, text });
  }

  /** Reorders `parent`'s children to `nodes`, moving only those out of place (focus stays). */
  function arrange(parent, nodes) {
    const keep = new Set(nodes);
    for (const child of [...parent.children]) if (!keep.has(child)) child.remove();
    let cursor = parent.firstElementChild;
    for (const node of nodes) {
      if (node === cursor) cursor = cursor.nextElementSibling;
      else parent.insertBefore(node, cursor);
    }
  }

  /** Sets a cell's content only when it changed (screen readers and selections stay calm). */
  function cell(td, content) {
    if (typeof content === 'string' || typeof content === 'number') {
      const text = String(content);
      if (td.childElementCount || td.textContent !== text) td.textContent = text;
    } else {
      fill(td, content);
    }
  }

  /** A `<select>`'s options from [value, label] pairs, keeping the chosen value when it stays. */
  function options(select, pairs) {
    const chosen = select.value;
    fill(select, pairs.map(([value, label]) => el('option', { value, text: label })));
    if (pairs.some(([value]) => value === chosen)) select.value = chosen;
  }

  function init() {
    $('key-forget').hidden = !sessionStorage.getItem(KEY_ITEM);
    $('key-forget').addEventListener('click', () => {
      sessionStorage.removeItem(KEY_ITEM);
      $('key-forget').hidden = true;
      announce('The API key was forgotten for this tab.');
    });
  }
  document.addEventListener('DOMContentLoaded', init);

  return {
    $, el, svg, fill, showError, clearError, announce, api, blob, ApiError, onEvents, debounce,
    guarded, duration, usd, int, time, quality, badge, arrange, cell, options,
  };
})();
