// A picture of the vectors: a sample of a collection's points (scroll with vectors, through
// the API), projected to 2-D by PCA in the browser, coloured by a metadata field; hovering
// shows the point, clicking finds points similar to it.

import { h, clear, emptyState, num, shorten, cell, collectionError, progress, select } from './ui.js';
import { pca2, scatter, PALETTE } from './charts.js';

const SAMPLE = 2000;
const PAGE = 500;

export async function render(ctx, main, { collection, seq }) {
  const api = ctx.api;
  const info = await api.collection(collection);
  if (!ctx.current(seq)) return;
  const head = h('div', { class: 'screen-head' }, h('h1', {}, 'Map · ', h('span', { class: 'mono' }, collection)),
    h('a', { href: ctx.collectionHash(collection, 'points') }, 'Points'), h('a', { href: ctx.collectionHash(collection, 'search') }, 'Search'));
  if (!(info.dimension > 0)) {
    clear(main, head, emptyState('Nothing to draw.', 'This collection keeps no vectors (text only).'));
    return;
  }
  const total = info.stats?.points ?? 0;
  const bar = progress('Fetching points…');
  clear(main, head, bar.el);
  // The first SAMPLE points in id order, a page at a time, with progress.
  const pts = [];
  let after = null;
  while (pts.length < SAMPLE) {
    const body = { limit: Math.min(PAGE, SAMPLE - pts.length), vectors: true };
    if (after !== null) body.after = after;
    let page;
    try {
      page = await api.scroll(collection, body);
    } catch (e) {
      if (ctx.current(seq)) clear(main, head, collectionError(e, collection));
      return;
    }
    if (!ctx.current(seq)) return;
    pts.push(...(page.points || []).filter((p) => Array.isArray(p.vector)));
    bar.set(total ? Math.min(1, pts.length / Math.min(total, SAMPLE)) : null, `Fetched ${num(pts.length)} of ${num(Math.min(total, SAMPLE))} points…`);
    if (!page.next) break;
    after = page.next;
  }
  if (pts.length < 2) {
    clear(main, head, emptyState('Too few points to draw.', 'A projection needs at least two points with vectors; add some through the API.'));
    return;
  }
  bar.set(null, `Projecting ${num(pts.length)} vectors of ${info.dimension} dimensions (PCA)…`);
  await new Promise((r) => setTimeout(r, 0));  // let the progress text paint
  const { coords, explained } = pca2(pts.map((p) => p.vector));
  if (!ctx.current(seq)) return;

  const fields = [];
  for (const p of pts) for (const k of Object.keys(p.metadata || {})) if (!fields.includes(k)) fields.push(k);
  const colorBy = select({ id: 'color-by', 'aria-label': 'Colour by' }, [['', '(one colour)'], ...fields], fields[0] || '');
  const tip = h('div', { class: 'tooltip', id: 'map-tooltip', role: 'status', hidden: true });
  const legend = h('div', { class: 'legend', id: 'map-legend' });
  const plotSlot = h('div', { class: 'plot' });

  const draw = () => {
    const key = colorBy.value;
    const values = new Map();
    const colorOf = (p) => {
      if (!key) return PALETTE[0];
      const v = (p.metadata || {})[key];
      const label = v === undefined ? '(none)' : cell(v);
      if (!values.has(label)) values.set(label, values.size < PALETTE.length - 1 ? PALETTE[values.size] : '#9aa5b1');
      return values.get(label);
    };
    const items = pts.map((p, i) => ({ x: coords[i][0], y: coords[i][1], color: colorOf(p), point: p }));
    const canvas = scatter(items, {
      width: 900, height: 540,
      onHover: (it, ev) => {
        if (!it) { tip.hidden = true; return; }
        const p = it.point;
        clear(tip, h('strong', { class: 'mono' }, p.id), p.document ? h('div', {}, shorten(p.document, 140)) : null,
          h('div', { class: 'muted' }, Object.entries(p.metadata || {}).slice(0, 6).map(([k, v]) => `${k}: ${cell(v)}`).join(' · ')),
          h('div', { class: 'muted' }, 'Click (or Enter) to find similar points'));
        tip.hidden = false;
        const box = plotSlot.getBoundingClientRect();
        tip.style.left = `${Math.min(box.width - 260, Math.max(0, ev.clientX - box.left + 12))}px`;
        tip.style.top = `${Math.max(0, ev.clientY - box.top + 12)}px`;
      },
      onClick: (it) => ctx.go(ctx.collectionHash(collection, 'search', 'similar', it.point.id)),
    });
    clear(plotSlot, canvas, tip);
    clear(legend, key ? [...values.entries()].map(([label, color]) => {
      const sw = h('i', { class: 'swatch' });
      sw.style.background = color;
      return h('span', {}, sw, label);
    }) : null);
  };
  colorBy.addEventListener('change', draw);
  clear(main, head,
    h('div', { class: 'map-bar' }, h('label', {}, 'Colour by ', colorBy),
      h('span', { class: 'muted', id: 'map-summary' }, `${num(pts.length)} of ${num(total)} points · PCA: the axes show ${(explained[0] * 100).toFixed(0)}% and ${(explained[1] * 100).toFixed(0)}% of the variance`)),
    plotSlot, legend,
    h('p', { class: 'hint' }, 'Hover a point to see it; click it (or focus the picture, walk with the arrow keys and press Enter) to find similar points.'));
  draw();
}
