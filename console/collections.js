// The collections screen: each collection with its counts and settings, create (every
// setting) and drop (confirmed by typing the name); and the picker other screens send to.

import { h, clear, errorBox, emptyState, toast, confirmDialog, bytes, num, select, field, describe, loading } from './ui.js';

// Collections whose full stats are fetched (one request each); beyond, the list's own fields.
const MAX_STATS = 200;

function settingsText(c) {
  const parts = [c.metric, c.index];
  if (c.index === 'hnsw' && c.hnsw) parts.push(`M ${c.hnsw.M}, ef ${c.hnsw.ef_construction}/${c.hnsw.ef_search}`);
  if (c.quantization && c.index !== 'hnsw' && c.index !== 'flat') {
    const q = c.quantization;
    parts.push(Object.entries(q).map(([k, v]) => `${k} ${v}`).join(', '));
  }
  if (c.text) parts.push(`text (${c.analyzer || 'english'})`);
  if (c.embedding) parts.push(`embeds with ${typeof c.embedding === 'string' ? c.embedding : c.embedding.model}`);
  return parts.filter(Boolean).join(' · ');
}

export async function render(ctx, main, { seq }) {
  const api = ctx.api;
  const list = await api.collections();
  if (!ctx.current(seq)) return;
  const cols = list.collections || [];
  // The full stats of each (GET collection), in parallel, for the first MAX_STATS; a failure
  // leaves its row partial.
  const infos = await Promise.all(cols.map((c, i) => (i < MAX_STATS ? api.collection(c.name).catch((e) => ({ error: e })) : null)));
  if (!ctx.current(seq)) return;
  const header = h('div', { class: 'screen-head' },
    h('h1', {}, 'Collections'),
    h('span', { class: 'muted' }, `${api.tenant} / ${api.database}`),
    ctx.can('writer') ? h('button', { class: 'primary', id: 'new-collection', onclick: () => openCreate(ctx, main) },
      'New collection') : null);
  const body = [];
  if (!cols.length && !(list.broken || []).length) {
    body.push(emptyState('No collections yet.',
      ctx.can('writer') ? 'Create one with “New collection”, or through the API (PUT …/collections/NAME).'
        : 'Your key can read but not create collections; ask a writer or an admin to create one.'));
  } else {
    const rows = cols.map((c, i) => {
      const info = infos[i];
      const st = info && info.stats ? info.stats : {};
      const conf = info && !info.error ? info : c;
      return h('tr', { dataset: { name: c.name } },
        h('th', { scope: 'row' }, h('a', { href: ctx.collectionHash(c.name, 'points') }, c.name)),
        h('td', { class: 'num', 'data-label': 'Points' }, num(st.points ?? c.points)),
        h('td', { class: 'num', 'data-label': 'Dimension' }, conf.dimension),
        h('td', { class: 'num', 'data-label': 'Memory' }, bytes(st.memory_bytes)),
        h('td', { class: 'num', 'data-label': 'Disk' }, bytes(st.disk_bytes)),
        h('td', { class: 'num', 'data-label': 'Segments' }, num(st.segments)),
        h('td', { class: 'num', 'data-label': 'Unindexed' }, num(st.unindexed_points)),
        h('td', { class: 'num', 'data-label': 'Deleted (pending)' }, num(st.deleted_pending)),
        h('td', { class: 'settings', 'data-label': 'Settings' }, info && info.error ? h('span', { class: 'error-text' }, describe(info.error)) : settingsText(conf)),
        h('td', { class: 'actions' },
          h('a', { href: ctx.collectionHash(c.name, 'search') }, 'Search'), ' ',
          h('a', { href: ctx.collectionHash(c.name, 'map') }, 'Map'), ' ',
          ctx.can('writer') ? h('button', { class: 'link danger', 'aria-label': `Drop ${c.name}`, onclick: () => drop(ctx, c.name) }, 'Drop') : null));
    });
    body.push(h('div', { class: 'table-wrap' }, h('table', { class: 'grid stack', id: 'collections-table' },
      h('caption', { class: 'sr-only' }, 'Collections of this database'),
      h('thead', {}, h('tr', {}, ['Name', 'Points', 'Dim', 'Memory', 'Disk', 'Segments', 'Unindexed',
        'Deleted (pending)', 'Settings', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))));
  }
  for (const b of list.broken || []) {
    body.push(h('div', { class: 'error', role: 'alert' }, h('strong', {}, `${b.name}: `),
      `not served — its files are damaged (${b.error}). Drop it, or restore a snapshot.`));
  }
  clear(main, header, h('div', { id: 'create-slot' }), body);
}

async function drop(ctx, name) {
  const ok = await confirmDialog({ title: `Drop ${name}?`, danger: true, confirm: 'Drop collection', typed: name,
    text: `Every point of “${name}” and its files are deleted. This cannot be undone (snapshots are kept).` });
  if (!ok) return;
  try {
    await ctx.api.dropCollection(name);
    toast(`Dropped ${name}.`);
    ctx.go('#/collections');
  } catch (e) {
    toast(describe(e), 'error');
  }
}

function num0(v) { return v === '' ? undefined : Number(v); }

async function openCreate(ctx, main) {
  const slot = main.querySelector('#create-slot');
  if (slot.firstChild) { slot.firstChild.querySelector('input')?.focus(); return; }
  let models = [];
  try { models = ((await ctx.api.models()).data || []).map((m) => m.id); } catch { /* the list is optional */ }
  const f = {
    name: h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9_][A-Za-z0-9_.\\-]*', autocomplete: 'off' }),
    dimension: h('input', { name: 'dimension', type: 'number', min: 0, value: '' }),
    metric: select({ name: 'metric' }, [['cosine', 'cosine'], ['l2', 'L2 (squared)'], ['ip', 'inner product']], 'cosine'),
    index: select({ name: 'index' }, ['hnsw', 'flat', 'ivf-flat', 'ivf-pq', 'pq', 'sq8', 'hnsw-sq8'], 'hnsw'),
    M: h('input', { name: 'M', type: 'number', min: 2, placeholder: '16' }),
    efc: h('input', { name: 'ef_construction', type: 'number', min: 1, placeholder: '200' }),
    efs: h('input', { name: 'ef_search', type: 'number', min: 1, placeholder: '128' }),
    nlist: h('input', { name: 'nlist', type: 'number', min: 1, placeholder: '256' }),
    nprobe: h('input', { name: 'nprobe', type: 'number', min: 1, placeholder: '8' }),
    m: h('input', { name: 'm', type: 'number', min: 0, placeholder: 'auto' }),
    nbits: select({ name: 'nbits' }, [['8', '8'], ['4', '4 (fast scan)']], '8'),
    rerank: h('input', { name: 'rerank', type: 'number', min: 0, placeholder: '0' }),
    text: h('input', { name: 'text', type: 'checkbox' }),
    analyzer: select({ name: 'analyzer' }, ['english', 'standard', 'cjk'], 'english'),
    k1: h('input', { name: 'k1', type: 'number', step: 'any', placeholder: '0.9' }),
    b: h('input', { name: 'b', type: 'number', step: 'any', placeholder: '0.4' }),
    embedding: select({ name: 'embedding' }, [['', 'none (vectors of your own)'], ...models], ''),
    seal: h('input', { name: 'seal_points', type: 'number', min: 0, placeholder: 'automatic' }),
    merge: h('input', { name: 'merge_factor', type: 'number', min: 2, placeholder: '4' }),
    compact: h('input', { name: 'compact_deleted_fraction', type: 'number', step: 'any', min: 0, max: 1, placeholder: '0.2' }),
    embDims: h('input', { name: 'embedding_dimensions', type: 'number', min: 0, placeholder: "the model's" }),
    alphaDefault: h('input', { name: 'hybrid_alpha', type: 'number', step: 'any', min: 0, max: 1, placeholder: 'by model' }),
    embUrl: h('input', { name: 'embedding_url', type: 'url', placeholder: 'none: in the server', autocomplete: 'off' }),
    embKeyEnv: h('input', { name: 'api_key_env', placeholder: 'e.g. OPENAI_API_KEY', autocomplete: 'off' }),
    embBatch: h('input', { name: 'batch_size', type: 'number', min: 1, placeholder: '64' }),
  };
  const err = h('div', { 'aria-live': 'assertive' });
  const quant = h('fieldset', { class: 'group' }, h('legend', {}, 'Quantization (ivf-*, pq, sq8, hnsw-sq8)'),
    field('nlist', f.nlist), field('nprobe', f.nprobe), field('m (PQ)', f.m, 'must divide the dimension'),
    field('bits', f.nbits), field('rerank', f.rerank, 'candidates re-ranked exactly'));
  const hnsw = h('fieldset', { class: 'group' }, h('legend', {}, 'HNSW'),
    field('M', f.M), field('ef construction', f.efc), field('ef search', f.efs));
  const text = h('fieldset', { class: 'group' }, h('legend', {}, 'Keyword index (BM25)'),
    h('label', { class: 'check' }, f.text, ' index documents for keyword and hybrid search'),
    field('analyzer', f.analyzer), field('k1', f.k1), field('b', f.b));
  const sync = () => {
    const i = f.index.value;
    hnsw.hidden = !(i === 'hnsw' || i === 'hnsw-sq8');
    quant.hidden = i === 'hnsw' || i === 'flat';
  };
  f.index.addEventListener('change', sync);
  sync();
  const submit = h('button', { class: 'primary', type: 'submit' }, 'Create');
  const form = h('form', { class: 'card create', id: 'create-form', 'aria-label': 'New collection', onsubmit: async (e) => {
    e.preventDefault();
    clear(err);
    const spec = { metric: f.metric.value, index: f.index.value };
    if (f.dimension.value !== '') spec.dimension = Number(f.dimension.value);
    const hn = {};
    if (f.M.value) hn.M = num0(f.M.value);
    if (f.efc.value) hn.ef_construction = num0(f.efc.value);
    if (f.efs.value) hn.ef_search = num0(f.efs.value);
    if (!hnsw.hidden && Object.keys(hn).length) spec.hnsw = hn;
    const q = {};
    for (const k of ['nlist', 'nprobe', 'm', 'rerank']) if (f[k].value) q[k] = num0(f[k].value);
    if (!quant.hidden) { q.nbits = Number(f.nbits.value); spec.quantization = q; }
    if (f.text.checked) {
      spec.text = true;
      spec.analyzer = f.analyzer.value;
      const bm = {};
      if (f.k1.value) bm.k1 = num0(f.k1.value);
      if (f.b.value) bm.b = num0(f.b.value);
      if (Object.keys(bm).length) spec.bm25 = bm;
    }
    if (f.embedding.value || f.embUrl.value) {
      const e = { model: f.embedding.value || undefined };
      if (f.embDims.value) e.dimensions = num0(f.embDims.value);
      if (f.alphaDefault.value) e.hybrid_alpha = num0(f.alphaDefault.value);
      if (f.embUrl.value) e.url = f.embUrl.value.trim();
      if (f.embKeyEnv.value) e.api_key_env = f.embKeyEnv.value.trim();
      if (f.embBatch.value) e.batch_size = num0(f.embBatch.value);
      spec.embedding = e;
    }
    const seg = {};
    if (f.seal.value) seg.seal_points = num0(f.seal.value);
    if (f.merge.value) seg.merge_factor = num0(f.merge.value);
    if (f.compact.value) seg.compact_deleted_fraction = num0(f.compact.value);
    if (Object.keys(seg).length) spec.segments = seg;
    if (spec.dimension === undefined && !spec.embedding) {
      clear(err, h('p', { class: 'error', role: 'alert' }, 'Give a dimension, or choose an embedding model (which sets it).'));
      f.dimension.focus();
      return;
    }
    submit.disabled = true;
    try {
      const r = await ctx.api.createCollection(f.name.value.trim(), spec);
      toast(r.created === false ? `${r.name} already exists with these settings.` : `Created ${r.name}.`);
      ctx.go('#/collections');
    } catch (e2) {
      clear(err, h('p', { class: 'error', role: 'alert' }, describe(e2)));
    } finally {
      submit.disabled = false;
    }
  } },
  h('h2', {}, 'New collection'),
  h('div', { class: 'fields' },
    field('Name', f.name, 'letters, digits, _ . -'),
    field('Dimension', f.dimension, '0 with a keyword index: text only'),
    field('Metric', f.metric), field('Index', f.index),
    field('Embedding model', f.embedding, 'embeds documents without vectors; sets the dimension')),
  hnsw, quant, text,
  h('fieldset', { class: 'group' }, h('legend', {}, 'Embedding (with a model)'),
    field('Dimensions', f.embDims, 'fewer than the model (Matryoshka)'), field('Hybrid alpha', f.alphaDefault, 'meaning share of hybrid text queries'),
    field('Provider URL', f.embUrl, 'an OpenAI-compatible service the server allows'), field('Key variable', f.embKeyEnv, "the server's environment"),
    field('Batch size', f.embBatch)),
  h('fieldset', { class: 'group' }, h('legend', {}, 'Segments'),
    field('Seal points', f.seal, 'mutable segment size'), field('Merge factor', f.merge), field('Compact at deleted fraction', f.compact)),
  err,
  h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => clear(slot) }, 'Cancel'), submit));
  clear(slot, form);
  f.name.focus();
}

// A list of collections to choose from, for a screen that needs one.
export async function picker(ctx, main, screen, seq) {
  clear(main, loading());
  try {
    const cols = (await ctx.api.collections()).collections || [];
    if (!ctx.current(seq)) return;
    const names = { points: 'browse', search: 'search', map: 'see' };
    clear(main, h('div', { class: 'screen-head' }, h('h1', {}, `Choose a collection to ${names[screen] || 'open'}`)),
      cols.length ? h('ul', { class: 'picker' }, cols.map((c) =>
        h('li', {}, h('a', { href: ctx.collectionHash(c.name, screen) }, c.name),
          h('span', { class: 'muted' }, ` ${num(c.points)} points · ${c.dimension}-d ${c.metric}`))))
        : emptyState('No collections in this database.', 'Create one on the Collections screen first.',
          h('a', { href: '#/collections' }, 'Go to Collections')));
  } catch (e) {
    if (ctx.current(seq)) clear(main, errorBox(e));
  }
}
