// The points screen: a paged table (scroll API) with a filter box, and a point's view with
// its metadata (editable), document and a vector preview; find similar, delete.

import { h, clear, emptyState, toast, confirmDialog, num, shorten, cell, describe, collectionError, parseJsonField, loading } from './ui.js';
import { sparkline } from './charts.js';

const MAX_COLUMNS = 6;

export async function render(ctx, main, { collection, seq }) {
  const api = ctx.api;
  await api.collection(collection);  // a 404 here: the collection is gone (app.js says so)
  if (!ctx.current(seq)) return;
  const state = { filter: undefined, cursors: [null], page: 0, limit: 25, next: null };

  const count = h('span', { class: 'muted', id: 'point-count' });
  const filterBox = h('textarea', { id: 'filter', rows: 2, spellcheck: 'false', class: 'code',
    placeholder: '{"lang": "en", "year": {"$gte": 2020}}', 'aria-describedby': 'filter-help filter-error' });
  const filterErr = h('div', { id: 'filter-error', 'aria-live': 'assertive' });
  const tableSlot = h('div', { class: 'table-slot' });
  const pager = h('div', { class: 'pager' });
  const detail = h('aside', { class: 'detail', id: 'point-detail', 'aria-label': 'Point', hidden: true });
  const limitSel = h('select', { 'aria-label': 'Points per page' }, [25, 50, 100].map((n) => h('option', { value: n }, `${n} per page`)));

  const setFilterError = (msg) => {
    filterBox.setAttribute('aria-invalid', msg ? 'true' : 'false');
    clear(filterErr, msg ? h('p', { class: 'error', role: 'alert' }, h('strong', {}, 'Filter: '), msg) : null);
  };

  async function load() {
    clear(tableSlot, loading('Loading points…'));
    const body = { limit: state.limit };
    const after = state.cursors[state.page];
    if (after !== null) body.after = after;
    if (state.filter !== undefined) body.filter = state.filter;
    let page;
    let total;
    try {
      [page, total] = await Promise.all([api.scroll(collection, body), api.count(collection, state.filter)]);
    } catch (e) {
      if (e.status === 400 || e.status === 422) {
        // The filter did not parse: said where it is wrong, the last good page stays away.
        setFilterError(e.message);
        clear(tableSlot, emptyState('No points shown.', 'Fix the filter above, or clear it.'));
        count.textContent = '';
        clear(pager);
        return;
      }
      clear(tableSlot, collectionError(e, collection, load));
      clear(pager);
      return;
    }
    setFilterError('');
    count.textContent = state.filter !== undefined ? `${num(total.count)} points match` : `${num(total.count)} points`;
    state.next = page.next;
    const pts = page.points || [];
    if (!pts.length) {
      clear(tableSlot, state.filter !== undefined
        ? emptyState('No point matches this filter.', 'Loosen the filter, or clear it to see every point.')
        : emptyState('This collection has no points yet.',
          'Add points through the API: POST …/collections/' + collection + '/points with {"points": [{"id", "vector", "document", "metadata"}]}.'));
    } else {
      const keys = [];
      for (const p of pts) for (const k of Object.keys(p.metadata || {})) if (!keys.includes(k)) keys.push(k);
      const cols = keys.slice(0, MAX_COLUMNS);
      const rows = pts.map((p) => {
        const tr = h('tr', { tabindex: '0', dataset: { id: p.id }, 'aria-label': `Point ${p.id}`,
          onclick: () => show(p.id), onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); show(p.id); } } },
        h('th', { scope: 'row', class: 'mono' }, shorten(p.id, 40)),
        h('td', { class: 'doc' }, p.document !== undefined ? shorten(p.document, 90) : h('span', { class: 'muted' }, '—')),
        cols.map((k) => h('td', {}, cell((p.metadata || {})[k]))));
        return tr;
      });
      clear(tableSlot, h('div', { class: 'table-wrap' }, h('table', { class: 'grid clickable', id: 'points-table' },
        h('caption', { class: 'sr-only' }, 'Points; press Enter on a row to open it'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'id'), h('th', { scope: 'col' }, 'document'),
          cols.map((k) => h('th', { scope: 'col' }, k)))),
        h('tbody', {}, rows))),
      keys.length > MAX_COLUMNS ? h('p', { class: 'muted' }, `${keys.length - MAX_COLUMNS} more metadata fields: open a point to see them all.`) : null);
    }
    clear(pager,
      h('button', { disabled: state.page === 0, onclick: () => { state.page--; load(); } }, '← Previous'),
      h('span', { class: 'muted' }, `Page ${state.page + 1}`),
      h('button', { id: 'next-page', disabled: !state.next, onclick: () => {
        state.cursors[state.page + 1] = state.next;
        state.page++;
        load();
      } }, 'Next →'),
      limitSel);
  }

  async function show(id) {
    detail.hidden = false;
    clear(detail, loading('Loading the point…'));
    let p;
    try {
      p = await api.point(collection, id);
    } catch (e) {
      clear(detail, collectionError(e, collection));
      return;
    }
    const meta = h('textarea', { id: 'point-metadata', class: 'code', rows: 8, spellcheck: 'false',
      readonly: !ctx.can('writer'), 'aria-label': 'Metadata (JSON)' }, JSON.stringify(p.metadata || {}, null, 2));
    const metaErr = h('div', { 'aria-live': 'assertive' });
    const vec = p.vector || [];
    const close = h('button', { class: 'link close', 'aria-label': 'Close the point', onclick: () => { detail.hidden = true; } }, '×');
    clear(detail,
      h('div', { class: 'detail-head' }, h('h2', {}, 'Point ', h('code', {}, p.id)), close),
      h('h3', {}, 'Document'),
      p.document !== undefined ? h('p', { class: 'document' }, p.document) : h('p', { class: 'muted' }, 'No document.'),
      h('h3', {}, 'Metadata'), meta, metaErr,
      ctx.can('writer') ? h('div', { class: 'actions' },
        h('button', { class: 'primary', id: 'save-metadata', onclick: async () => {
          clear(metaErr);
          let m;
          try {
            m = parseJsonField(meta.value, 'metadata') ?? {};
            if (typeof m !== 'object' || Array.isArray(m) || m === null) throw new Error('The metadata must be a JSON object.');
            await api.patchPoint(collection, p.id, m, false);
            toast(`Saved the metadata of ${p.id}.`);
            load();
          } catch (e) {
            clear(metaErr, h('p', { class: 'error', role: 'alert' }, describe(e)));
          }
        } }, 'Save metadata')) : null,
      h('h3', {}, `Vector (${vec.length} dimensions)`),
      vec.length ? [sparkline(vec.slice(0, 128)), h('p', { class: 'mono small' },
        '[' + vec.slice(0, 12).map((v) => Number(v).toPrecision(4)).join(', ') + (vec.length > 12 ? ', …]' : ']'))]
        : h('p', { class: 'muted' }, 'No vector (a text-only collection).'),
      h('div', { class: 'actions' },
        vec.length ? h('a', { class: 'button', href: ctx.collectionHash(collection, 'search', 'similar', p.id) }, 'Find similar') : null,
        ctx.can('writer') ? h('button', { class: 'danger', onclick: async () => {
          if (!await confirmDialog({ title: `Delete point ${p.id}?`, text: 'The point is removed from the collection.', confirm: 'Delete', danger: true })) return;
          try {
            await api.deletePoint(collection, p.id);
            toast(`Deleted ${p.id}.`);
            detail.hidden = true;
            load();
          } catch (e) {
            toast(describe(e), 'error');
          }
        } }, 'Delete point') : null));
    detail.querySelector('h2').setAttribute('tabindex', '-1');
    detail.querySelector('h2').focus();
  }

  const apply = (e) => {
    e.preventDefault();
    try {
      state.filter = parseJsonField(filterBox.value, 'filter');
      if (state.filter !== undefined && (typeof state.filter !== 'object' || Array.isArray(state.filter) || state.filter === null)) {
        throw new Error('The filter must be a JSON object, e.g. {"lang": "en"}.');
      }
    } catch (err) {
      setFilterError(err.message);
      filterBox.focus();
      return;
    }
    state.cursors = [null];
    state.page = 0;
    load();
  };
  filterBox.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) apply(e); });
  limitSel.addEventListener('change', () => { state.limit = Number(limitSel.value); state.cursors = [null]; state.page = 0; load(); });

  clear(main,
    h('div', { class: 'screen-head' }, h('h1', {}, 'Points · ', h('span', { class: 'mono' }, collection)), count,
      h('a', { href: ctx.collectionHash(collection, 'search') }, 'Search'), h('a', { href: ctx.collectionHash(collection, 'map') }, 'Map')),
    h('form', { class: 'filter-form', id: 'filter-form', onsubmit: apply },
      h('label', { for: 'filter' }, 'Filter'), filterBox,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Apply'),
        h('button', { type: 'button', onclick: () => { filterBox.value = ''; apply(new Event('submit')); } }, 'Clear')),
      h('p', { id: 'filter-help', class: 'hint' }, 'Mongo-style: {"field": value}, $eq $ne $gt $gte $lt $lte $in $nin $exists $contains, $and $or $not. Ctrl+Enter applies.'),
      filterErr),
    h('div', { class: 'split' }, h('div', { class: 'split-main' }, tableSlot, pager), detail));
  await load();
}
