// Operations: server health, snapshots (create, list, restore, delete), API keys for admins
// (create — the secret shown once —, list, revoke), and live charts from /metrics.

import { h, clear, errorBox, emptyState, toast, confirmDialog, promptDialog, describe, select, field, copy, bytes, num, progress } from './ui.js';
import { lineChart, barChart, fmt } from './charts.js';
import { parseMetrics, MetricsHistory } from './metrics.js';

const REFRESH_MS = 2000;

export async function render(ctx, main, { seq }) {
  const health = h('section', { class: 'card', id: 'health', 'aria-labelledby': 'health-title' });
  const snaps = h('section', { class: 'card', id: 'snapshots', 'aria-labelledby': 'snap-title' });
  const keys = h('section', { class: 'card wide', id: 'keys', 'aria-labelledby': 'keys-title' });
  const charts = h('section', { class: 'card wide', id: 'metrics', 'aria-labelledby': 'metrics-title' });
  clear(main, h('div', { class: 'screen-head' }, h('h1', {}, 'Operations')),
    h('div', { class: 'ops-grid' }, health, snaps, charts, keys));
  const history = new MetricsHistory(60);
  let timer = null;
  let stopped = false;

  async function refresh() {
    await Promise.all([showHealth(ctx, health), showMetrics(ctx, charts, history)]);
    if (!stopped && ctx.current(seq)) timer = setTimeout(refresh, REFRESH_MS);
  }
  await Promise.all([refresh(), showSnapshots(ctx, snaps), showKeys(ctx, keys)]);
  return () => { stopped = true; clearTimeout(timer); };
}

async function showHealth(ctx, el) {
  const title = h('h2', { id: 'health-title' }, 'Server health');
  try {
    const [live, ready] = await Promise.all([ctx.api.health(), ctx.api.ready().catch((e) => ({ status: e.message }))]);
    clear(el, title, h('dl', { class: 'facts' },
      h('dt', {}, 'Alive'), h('dd', { id: 'health-live' }, h('span', { class: 'ok' }, '●'), ' ', live.status),
      h('dt', {}, 'Ready'), h('dd', {}, h('span', { class: ready.status === 'ready' ? 'ok' : 'bad' }, '●'), ' ', ready.status),
      h('dt', {}, 'Checked'), h('dd', {}, new Date().toLocaleTimeString())));
  } catch (e) {
    clear(el, title, errorBox(e));
  }
}

async function showMetrics(ctx, el, history) {
  const title = h('h2', { id: 'metrics-title' }, 'Metrics ', h('span', { class: 'muted small' }, `live, every ${REFRESH_MS / 1000} s`));
  if (ctx.me.tenant) {
    clear(el, title, emptyState('Metrics need a key without a tenant scope.', 'Connect with an unscoped key to see the server-wide metrics.'));
    return;
  }
  let text;
  try {
    text = await ctx.api.metrics();
  } catch (e) {
    clear(el, title, errorBox(e));
    return;
  }
  history.add(parseMetrics(text), performance.now() / 1000);
  const s = history.series();
  const latest = history.latest();
  const cols = latest.collections.filter((c) => c.tenant === ctx.api.tenant && c.database === ctx.api.database);
  clear(el, title,
    h('div', { class: 'chart-grid' },
      lineChart([{ name: 'requests/s', color: '#2f6fdf', values: s.rps }, { name: 'errors/s (4xx, 5xx)', color: '#d94c3d', values: s.eps }],
        { title: 'Requests per second' }),
      lineChart([{ name: 'p50', color: '#2a9d5c', values: s.p50 }, { name: 'p95', color: '#e0702b', values: s.p95 },
        { name: 'p99', color: '#c23b6b', values: s.p99 }], { title: 'Latency percentiles (ms, over each interval)', unit: '' }),
      cols.length ? barChart(cols.map((c) => ({ label: c.collection, value: c.points })), { title: `Points per collection (${ctx.api.tenant}/${ctx.api.database})`, format: (v) => num(v) })
        : emptyState('No collections in this database.', 'Points and memory per collection appear here.'),
      cols.length ? barChart(cols.map((c) => ({ label: c.collection, value: c.memory })), { title: 'Memory per collection', format: bytes }) : null),
    h('p', { class: 'muted small', id: 'metrics-summary' }, `${num(latest.requests)} requests served · ${fmt(latest.inFlight)} in flight · ${num(latest.databases)} open databases`));
}

async function showSnapshots(ctx, el) {
  const api = ctx.api;
  const title = h('h2', { id: 'snap-title' }, 'Snapshots ', h('span', { class: 'muted small' }, `${api.tenant}/${api.database}`));
  if (!ctx.can('admin')) {
    clear(el, title, emptyState('Snapshots need an admin key.', 'Your key can use collections but not take or restore snapshots.'));
    return;
  }
  let list;
  let cols;
  try {
    [list, cols] = await Promise.all([api.snapshots(), api.collections()]);
  } catch (e) {
    clear(el, title, errorBox(e, () => showSnapshots(ctx, el)));
    return;
  }
  const names = (cols.collections || []).map((c) => c.name);
  const colSel = select({ id: 'snapshot-collection', 'aria-label': 'Collection to snapshot' }, names, names[0]);
  const snapName = h('input', { id: 'snapshot-name', placeholder: 'name (optional)', autocomplete: 'off' });
  const status = h('div', { 'aria-live': 'polite' });
  const create = h('form', { class: 'inline-form', onsubmit: async (e) => {
    e.preventDefault();
    if (!colSel.value) return;
    const bar = progress(`Taking a snapshot of ${colSel.value}…`);
    bar.set(null);
    clear(status, bar.el);
    try {
      const r = await api.createSnapshot(colSel.value, snapName.value.trim() || undefined);
      toast(`Snapshot ${r.snapshot} of ${r.collection} taken.`);
      showSnapshots(ctx, el);
    } catch (e2) {
      clear(status, h('p', { class: 'error', role: 'alert' }, describe(e2)));
    }
  } }, field('Collection', colSel), field('Name', snapName),
  h('button', { class: 'primary', type: 'submit', id: 'create-snapshot', disabled: !names.length }, 'Take snapshot'));
  const rows = (list.snapshots || []).map((s) => h('tr', { dataset: { name: s.name } },
    h('th', { scope: 'row', class: 'mono' }, s.name),
    h('td', { class: 'actions' },
      h('button', { class: 'link', onclick: async () => {
        const into = await promptDialog({ title: `Restore ${s.name}`, label: 'As the new collection', value: `${s.name.split('-')[0]}-restored`, confirm: 'Restore' });
        if (!into) return;
        const bar = progress(`Restoring ${s.name} as ${into}…`);
        bar.set(null);
        clear(status, bar.el);
        try {
          const r = await api.restoreSnapshot(s.name, into);
          clear(status);
          toast(`Restored ${r.restored} (${num(r.count)} points).`);
        } catch (e) {
          clear(status, h('p', { class: 'error', role: 'alert' }, describe(e)));
        }
      } }, 'Restore'), ' ',
      h('button', { class: 'link', 'aria-label': `Download ${s.name}`, onclick: async () => {
        const bar = progress(`Preparing ${s.name}.tar…`);
        bar.set(null);
        clear(status, bar.el);
        try {
          const blob = await api.snapshotArchive(s.name);
          const url = URL.createObjectURL(blob);
          const a = h('a', { href: url, download: `${s.name}.tar`, hidden: true });
          document.body.append(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 60000);
          clear(status);
          toast(`Downloaded ${s.name}.tar (${bytes(blob.size)}).`);
        } catch (e) {
          clear(status, h('p', { class: 'error', role: 'alert' }, describe(e)));
        }
      } }, 'Download'), ' ',
      h('button', { class: 'link danger', onclick: async () => {
        if (!await confirmDialog({ title: `Delete snapshot ${s.name}?`, text: 'Its files are deleted from the server.', confirm: 'Delete', danger: true })) return;
        try {
          await api.deleteSnapshot(s.name);
          toast(`Deleted snapshot ${s.name}.`);
          showSnapshots(ctx, el);
        } catch (e) {
          toast(describe(e), 'error');
        }
      } }, 'Delete'))));
  clear(el, title, create, status,
    rows.length ? h('div', { class: 'scroll-x' }, h('table', { class: 'grid', id: 'snapshots-table' }, h('tbody', {}, rows)))
      : emptyState('No snapshots yet.', 'A snapshot is a consistent copy of a collection, taken while writes go on; restore it as a new collection.'),
    h('p', { class: 'hint' }, 'Snapshots stay on the server, under its data directory (',
      h('code', {}, `snapshots/${api.tenant}/${api.database}/NAME`), '). A download is a tar of that directory: unpack it there on another server to restore it (up to 256 MiB; copy larger ones).'));
}

async function showKeys(ctx, el) {
  const api = ctx.api;
  const title = h('h2', { id: 'keys-title' }, 'API keys');
  if (!ctx.can('admin')) {
    clear(el, title, emptyState('Keys are managed by admins.', `Your key is a ${ctx.me.role} key${ctx.me.tenant ? ` for tenant ${ctx.me.tenant}` : ''}.`));
    return;
  }
  let list;
  try {
    list = await api.keys();
  } catch (e) {
    clear(el, title, errorBox(e, () => showKeys(ctx, el)));
    return;
  }
  const role = select({ id: 'key-role', 'aria-label': 'Role' }, ['reader', 'writer', 'admin'], 'reader');
  const tenant = h('input', { id: 'key-tenant', placeholder: ctx.me.tenant || 'every tenant', value: ctx.me.tenant || '', autocomplete: 'off' });
  const database = h('input', { id: 'key-database', placeholder: ctx.me.database || 'every database', value: ctx.me.database || '', autocomplete: 'off' });
  const out = h('div', { 'aria-live': 'polite', id: 'new-key' });
  const form = h('form', { class: 'inline-form', onsubmit: async (e) => {
    e.preventDefault();
    const spec = { role: role.value };
    if (tenant.value.trim()) spec.tenant = tenant.value.trim();
    if (database.value.trim()) spec.database = database.value.trim();
    try {
      const k = await api.createKey(spec);
      await showKeys(ctx, el);
      el.querySelector('#new-key').replaceChildren(h('div', { class: 'secret', role: 'status' },
        h('p', {}, h('strong', {}, `New ${k.role} key ${k.id}. `), 'Copy it now: it is shown only once and cannot be recovered.'),
        h('div', { class: 'row' }, h('code', { id: 'new-key-secret', class: 'mono' }, k.key),
          h('button', { onclick: () => copy(k.key) }, 'Copy'))));
    } catch (e2) {
      clear(out, h('p', { class: 'error', role: 'alert' }, describe(e2)));
    }
  } }, field('Role', role), field('Tenant', tenant), field('Database', database),
  h('button', { class: 'primary', type: 'submit', id: 'create-key' }, 'Create key'));
  const rows = (list.keys || []).map((k) => h('tr', { dataset: { id: k.id } },
    h('th', { scope: 'row', class: 'mono' }, k.id),
    h('td', {}, k.role), h('td', {}, k.tenant ?? 'all tenants'), h('td', {}, k.database ?? 'all databases'),
    h('td', {}, k.created ? new Date(k.created * 1000).toISOString().slice(0, 16).replace('T', ' ') : ''),
    h('td', { class: 'actions' }, h('button', { class: 'link danger', 'aria-label': `Revoke key ${k.id}`, onclick: async () => {
      if (!await confirmDialog({ title: `Revoke key ${k.id}?`, text: 'Clients using it get 401 from now on. This cannot be undone.', confirm: 'Revoke', danger: true })) return;
      try {
        await api.revokeKey(k.id);
        toast(`Revoked key ${k.id}.`);
        showKeys(ctx, el);
      } catch (e) {
        toast(describe(e), 'error');
      }
    } }, 'Revoke'))));
  clear(el, title, form, out,
    rows.length ? h('div', { class: 'scroll-x' }, h('table', { class: 'grid', id: 'keys-table' }, h('thead', {}, h('tr', {}, ['id', 'role', 'tenant', 'database', 'created (UTC)', ''].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)))
      : emptyState('No keys besides the admin key.', 'Create keys for your applications: readers query, writers also change data.'));
}
