// The console's shell: connecting with a key, the tenant and database pickers, the screens
// (hash routes) and what the key's role enables. Screens live in their own modules.

import { Api, ApiError, storedKey, storeKey } from './api.js';
import { h, clear, errorBox, collectionError, describe, loading, toast } from './ui.js';
import * as collections from './collections.js';
import * as points from './points.js';
import * as search from './search.js';
import * as map from './map.js';
import * as ops from './ops.js';

const ROLES = { reader: 1, writer: 2, admin: 3 };
const SCOPE_ITEM = 'sextant.console.scope';

const state = {
  api: null,
  me: null,          // GET /v1/whoami
  loginMessage: '',  // why the login screen is shown (a revoked key, a lost server)
  cleanup: null,     // the current screen's teardown (timers)
  renderSeq: 0,
};

// What every screen gets.
const ctx = {
  get api() { return state.api; },
  get me() { return state.me; },
  can(role) { return !!state.me && ROLES[state.me.role] >= ROLES[role]; },
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  // Whether a render of sequence `seq` is still the screen on show (the user may have moved on).
  current(seq) { return seq === state.renderSeq; },
};

const screens = [
  { id: 'collections', title: 'Collections', module: collections, path: () => '#/collections' },
  { id: 'points', title: 'Points', module: points, needs: 'collection' },
  { id: 'search', title: 'Search', module: search, needs: 'collection' },
  { id: 'map', title: 'Map', module: map, needs: 'collection' },
  { id: 'ops', title: 'Operations', module: ops, path: () => '#/ops' },
];

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  // #/collections, #/ops, #/login, #/c/NAME/points|search|map
  if (parts[0] === 'c' && parts[1]) {
    return { screen: parts[2] || 'points', collection: parts[1], rest: parts.slice(3) };
  }
  return { screen: parts[0] || 'collections', rest: parts.slice(1) };
}

export function collectionHash(name, screen, ...rest) {
  return `#/c/${encodeURIComponent(name)}/${screen}${rest.map((r) => '/' + encodeURIComponent(r)).join('')}`;
}
ctx.collectionHash = collectionHash;

let lastCollection = '';

function renderNav(active) {
  const nav = document.getElementById('nav');
  if (!state.me) { clear(nav); return; }
  clear(nav, h('ul', {}, screens.map((s) => {
    let href = s.path ? s.path() : (lastCollection ? collectionHash(lastCollection, s.id) : `#/pick/${s.id}`);
    return h('li', {}, h('a', { href, 'aria-current': active === s.id ? 'page' : null }, s.title));
  })));
}

async function renderScope() {
  const el = document.getElementById('scope');
  const who = document.getElementById('who');
  if (!state.me) { clear(el); clear(who); return; }
  const api = state.api;
  clear(who, h('span', { class: `role role-${state.me.role}`, title: 'The role of the key you connected with' },
    state.me.role), ' ',
  h('span', { class: 'key-id' }, state.me.auth ? `key ${state.me.key_id}` : 'no authentication'),
  state.me.auth ? h('button', { class: 'link', onclick: disconnect }, 'Disconnect') : null);
  const tenantSel = h('select', { id: 'tenant', 'aria-label': 'Tenant' });
  const dbSel = h('select', { id: 'database', 'aria-label': 'Database' });
  clear(el, h('label', {}, 'Tenant ', tenantSel), h('label', {}, 'Database ', dbSel));
  try {
    const tenants = (await api.tenants()).tenants.map((t) => t.name);
    if (!tenants.includes(api.tenant)) api.tenant = state.me.tenant || tenants[0] || 'default';
    for (const t of tenants) tenantSel.append(h('option', { value: t, selected: t === api.tenant }, t));
    const dbs = (await api.databases(api.tenant)).databases.map((d) => d.name);
    if (!dbs.includes(api.database)) api.database = state.me.database || dbs[0] || 'default';
    for (const d of dbs) dbSel.append(h('option', { value: d, selected: d === api.database }, d));
    if (!dbs.length) dbSel.append(h('option', { value: '' }, '(no databases)'));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    toast(`Could not list tenants and databases: ${describe(e)}`, 'error');
  }
  tenantSel.addEventListener('change', async () => {
    api.tenant = tenantSel.value;
    api.database = '';  // the new tenant's first database
    lastCollection = '';
    await renderScope();
    saveScope();
    ctx.go('#/collections');
  });
  dbSel.addEventListener('change', () => {
    api.database = dbSel.value;
    saveScope();
    lastCollection = '';
    ctx.go('#/collections');
  });
}

function saveScope() {
  try { sessionStorage.setItem(SCOPE_ITEM, JSON.stringify({ t: state.api.tenant, d: state.api.database })); } catch { /* ignore */ }
}
function loadScope(api) {
  try {
    const s = JSON.parse(sessionStorage.getItem(SCOPE_ITEM) || 'null');
    if (s && s.t) { api.tenant = s.t; api.database = s.d || 'default'; }
  } catch { /* ignore */ }
}

function disconnect() {
  storeKey('');
  state.me = null;
  state.api = null;
  state.loginMessage = 'Disconnected. The key was removed from this tab.';
  renderScope();
  ctx.go('#/login');
}

// Tries a key (empty: a server without authentication). Resolves true when connected.
async function connect(key) {
  const api = new Api(key);
  const me = await api.whoami();
  api.onUnauthenticated = (err) => {
    if (state.api !== api) return;
    storeKey('');
    state.me = null;
    state.api = null;
    state.loginMessage = `Your key is no longer accepted (${err.message}): it was revoked, or the session expired. Enter a key to continue.`;
    renderScope();
    ctx.go('#/login');
  };
  if (me.tenant) api.tenant = me.tenant;
  if (me.database) api.database = me.database;
  loadScope(api);
  if (me.tenant && api.tenant !== me.tenant) { api.tenant = me.tenant; }
  state.api = api;
  state.me = me;
  storeKey(key);
  await renderScope();
  return true;
}

function loginScreen(main) {
  const input = h('input', { id: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'sxt_…', 'aria-describedby': 'key-help login-error' });
  const show = h('button', { type: 'button', class: 'link', 'aria-pressed': 'false', onclick: () => {
    input.type = input.type === 'password' ? 'text' : 'password';
    show.setAttribute('aria-pressed', String(input.type === 'text'));
  } }, 'Show');
  const err = h('div', { id: 'login-error', 'aria-live': 'assertive' });
  if (state.loginMessage) err.append(h('p', { class: 'notice' }, state.loginMessage));
  const button = h('button', { class: 'primary', type: 'submit' }, 'Connect');
  const form = h('form', { class: 'login card', onsubmit: async (e) => {
    e.preventDefault();
    clear(err);
    button.disabled = true;
    button.textContent = 'Connecting…';
    try {
      await connect(input.value.trim());
      state.loginMessage = '';
      toast(`Connected as ${state.me.role}.`);
      ctx.go('#/collections');
    } catch (e2) {
      const msg = e2 instanceof ApiError && e2.status === 401
        ? `This key was not accepted: ${e2.message}. Check it and try again.` : describe(e2);
      clear(err, h('p', { class: 'error', role: 'alert' }, msg));
      input.focus();
    } finally {
      button.disabled = false;
      button.textContent = 'Connect';
    }
  } },
  h('h1', {}, 'Connect to Sextant'),
  h('p', { id: 'key-help' }, 'Enter an API key (empty for a server started without --admin-key-file). It is kept in this browser tab only (sessionStorage) and sent with each request; its role decides what you can see and change.'),
  h('label', { for: 'key' }, 'API key'), h('div', { class: 'row' }, input, show), err,
  h('div', { class: 'actions' }, button));
  clear(main, form);
  input.focus();
}

async function route() {
  const main = document.getElementById('main');
  if (state.cleanup) { try { state.cleanup(); } catch { /* ignore */ } state.cleanup = null; }
  const seq = ++state.renderSeq;
  const r = parseHash();
  if (!state.me || r.screen === 'login') {
    renderNav(null);
    if (state.me && r.screen === 'login') { ctx.go('#/collections'); return; }
    loginScreen(main);
    return;
  }
  if (r.collection) lastCollection = r.collection;
  if (r.screen === 'pick') {
    renderNav(r.rest[0]);
    collections.picker(ctx, main, r.rest[0] || 'points', seq);
    return;
  }
  const screen = screens.find((s) => s.id === r.screen) || screens[0];
  renderNav(screen.id);
  document.title = `${screen.title}${r.collection ? ' · ' + r.collection : ''} — Sextant console`;
  clear(main, loading());
  try {
    const cleanup = await screen.module.render(ctx, main, { collection: r.collection, rest: r.rest, seq });
    if (ctx.current(seq)) state.cleanup = cleanup || null;
    else if (cleanup) cleanup();
  } catch (e) {
    if (!ctx.current(seq)) return;
    if (e instanceof ApiError && e.status === 401) return;  // onUnauthenticated took over
    clear(main, r.collection ? collectionError(e, r.collection, () => route()) : errorBox(e, () => route()));
  }
  main.focus({ preventScroll: true });
}

async function start() {
  window.addEventListener('hashchange', () => { route(); });
  // The skip link focuses the screen without touching the route in the address.
  document.querySelector('a.skip')?.addEventListener('click', (e) => {
    e.preventDefault();
    document.getElementById('main').focus();
  });
  // Any error that escaped a handler still ends as words on the page, not only in the log.
  // (Still reported in the browser's log: a bug, which the tests look for.)
  window.addEventListener('unhandledrejection', (e) => { toast(describe(e.reason), 'error'); });
  const main = document.getElementById('main');
  clear(main, loading('Connecting…'));
  const key = storedKey();
  try {
    // Without a saved key the login screen comes first (a key-less server: connect empty).
    if (key) await connect(key);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      state.loginMessage = key ? 'The key saved in this tab is no longer accepted (revoked, or the session expired). Enter a key to continue.' : '';
    } else {
      state.loginMessage = describe(e);
    }
  }
  route();
}

start();
