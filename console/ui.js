// A small component layer: h() builds elements, and a few pieces every screen uses (messages,
// confirmation, empty states, progress, number formats). No framework, no inline code.

// h('button', {class: 'x', onclick: f}, 'text', child...) — attributes, properties (on*,
// value, checked), children (strings, nodes, arrays, null skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A message in words for any error (ApiError or otherwise).
export function describe(err) {
  if (!err) return 'Something went wrong.';
  if (err.name === 'ApiError') {
    const hints = {
      401: ' Your key was not accepted: it may be wrong or revoked. Connect again with a valid key.',
      403: ' The key you connected with is not allowed to do this.',
    };
    return err.message + (hints[err.status] || '');
  }
  return err.message || String(err);
}

// An inline error box, announced to screen readers.
export function errorBox(err, retry) {
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, err && err.status === 0 ? 'No connection. ' : 'Error. '), describe(err),
    retry ? h('button', { class: 'link', onclick: retry }, 'Retry') : null,
    err && err.requestId ? h('span', { class: 'request-id' }, ` (request ${err.requestId} in the server's log)`) : null);
}

export function emptyState(title, text, ...actions) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), h('p', {}, text), actions);
}

// Toasts: short messages in a live region (#toasts).
export function toast(text, kind = 'info') {
  const region = document.getElementById('toasts');
  if (!region) return;
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  region.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// A modal confirmation (<dialog>): resolves true when confirmed. `typed` asks the user to
// type a word (a collection's name) before a destructive action.
export function confirmDialog({ title, text, confirm = 'Confirm', danger = false, typed = null }) {
  return new Promise((resolve) => {
    const input = typed ? h('input', { type: 'text', 'aria-label': `Type ${typed} to confirm`, autocomplete: 'off' }) : null;
    const ok = h('button', { class: danger ? 'danger' : 'primary', type: 'submit', disabled: !!typed }, confirm);
    const cancel = h('button', { type: 'button' }, 'Cancel');
    const form = h('form', { method: 'dialog' },
      h('h2', {}, title), h('p', {}, text),
      typed ? h('label', {}, `Type `, h('code', {}, typed), ` to confirm: `, input) : null,
      h('div', { class: 'actions' }, cancel, ok));
    const dlg = h('dialog', { class: 'modal', 'aria-label': title }, form);
    if (input) input.addEventListener('input', () => { ok.disabled = input.value !== typed; });
    let result = false;
    form.addEventListener('submit', (e) => { e.preventDefault(); result = true; dlg.close(); });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    (input || cancel).focus();
  });
}

// A prompt for one value in a <dialog>; resolves the string, or null when cancelled.
export function promptDialog({ title, label, value = '', confirm = 'OK' }) {
  return new Promise((resolve) => {
    const input = h('input', { type: 'text', value, autocomplete: 'off', required: true });
    const form = h('form', { method: 'dialog' }, h('h2', {}, title), h('label', {}, label, ' ', input),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel'),
        h('button', { class: 'primary', type: 'submit' }, confirm)));
    const dlg = h('dialog', { class: 'modal', 'aria-label': title }, form);
    let result = null;
    form.addEventListener('submit', (e) => { e.preventDefault(); result = input.value.trim() || null; dlg.close(); });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    input.focus();
    input.select();
  });
}

// A progress bar for long operations; set(fraction or null for indeterminate, text).
export function progress(label) {
  const bar = h('progress', { max: 1, 'aria-label': label });
  const text = h('span', { class: 'progress-text' }, label);
  const el = h('div', { class: 'progress', role: 'status' }, bar, text);
  return {
    el,
    set(fraction, msg) {
      if (fraction === null) bar.removeAttribute('value');
      else bar.value = fraction;
      if (msg) text.textContent = msg;
    },
  };
}

export function loading(text = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

export function bytes(n) {
  if (n === undefined || n === null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function num(n) {
  if (n === undefined || n === null) return '—';
  return Number(n).toLocaleString('en-US');
}

export function shorten(s, n = 80) {
  if (s === undefined || s === null) return '';
  s = String(s);
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

// A value of metadata as short text.
export function cell(v) {
  if (v === undefined) return '';
  if (v === null) return 'null';
  if (typeof v === 'object') return shorten(JSON.stringify(v), 40);
  return shorten(String(v), 40);
}

// A select from [value, label] pairs (or plain values).
export function select(attrs, options, current) {
  return h('select', attrs, options.map((o) => {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: String(v) === String(current) }, label);
  }));
}

// A labelled field: h('label') around a caption and the control, with an optional hint.
export function field(caption, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'caption' }, caption), control,
    hint ? h('span', { class: 'hint' }, hint) : null);
}

// Copies text; tells the user either way.
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard.');
  } catch {
    toast('The browser did not allow copying; select the text and copy it.', 'error');
  }
}

// An error of a screen about one collection: a dropped collection (404) gets its own words
// and a way back; anything else the usual box.
export function collectionError(err, name, retry) {
  if (err && err.name === 'ApiError' && err.status === 404 && /collection/i.test(err.message)) {
    return h('div', { class: 'error', role: 'alert' },
      h('strong', {}, `The collection “${name}” is gone. `),
      `It was dropped (or renamed) while you were viewing it — the server said: ${err.message}. `,
      h('a', { href: '#/collections' }, 'Back to the collections'),
      err.requestId ? h('span', { class: 'request-id' }, ` (request ${err.requestId} in the server's log)`) : null);
  }
  return errorBox(err, retry);
}

// Parses the text of a JSON box; throws an Error with a readable message naming `what`.
export function parseJsonField(text, what) {
  const t = text.trim();
  if (!t) return undefined;
  try {
    return JSON.parse(t);
  } catch (e) {
    throw new Error(`The ${what} is not valid JSON: ${e.message}.`);
  }
}
