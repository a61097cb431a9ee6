// The search playground: by text (semantic, keyword or hybrid, with the fusion settings), by
// vector, or similar to a point; filters; results with scores and, with explain, each side's
// rank beside the fused one; the same query as curl and Python.

import { h, clear, emptyState, num, shorten, cell, describe, collectionError, parseJsonField, select, field, copy, loading } from './ui.js';

export async function render(ctx, main, { collection, rest, seq }) {
  const api = ctx.api;
  const info = await api.collection(collection);
  if (!ctx.current(seq)) return;
  const hasText = !!info.text;
  const embeds = !!info.embedding;
  const hasVectors = info.dimension > 0;

  const by = select({ id: 'query-by', 'aria-label': 'Query by' }, [
    ...(hasText || embeds ? [['text', 'Text']] : []),
    ...(hasVectors ? [['vector', 'Vector'], ['similar', 'Similar to a point']] : [])], rest[0] === 'similar' ? 'similar' : (hasText || embeds ? 'text' : 'vector'));
  const text = h('input', { id: 'query-text', type: 'search', placeholder: 'What are you looking for?', autocomplete: 'off' });
  const defaultMode = embeds && hasText ? 'hybrid' : embeds ? 'semantic' : 'keyword';
  const modes = [['', `default (${defaultMode})`], ...(embeds ? [['semantic', 'semantic (meaning)']] : []),
    ...(hasText ? [['keyword', 'keyword (BM25)']] : []), ...(embeds && hasText ? [['hybrid', 'hybrid (both, fused)']] : [])];
  const mode = select({ id: 'query-mode' }, modes, '');
  const fusion = select({ id: 'fusion' }, [['', 'default'], ['rrf', 'RRF'], ['weighted', 'weighted'], ['dbsf', 'DBSF']], '');
  const alpha = h('input', { id: 'alpha', type: 'number', min: 0, max: 1, step: 0.05, placeholder: 'α' });
  const rrfK = h('input', { id: 'rrf-k', type: 'number', min: 0, placeholder: '60' });
  const vw = h('input', { id: 'vector-weight', type: 'number', step: 'any', placeholder: '1' });
  const tw = h('input', { id: 'text-weight', type: 'number', step: 'any', placeholder: '1' });
  const vector = h('textarea', { id: 'query-vector', rows: 2, class: 'code', spellcheck: 'false',
    placeholder: `[${Array.from({ length: Math.min(info.dimension, 4) }, () => '0.1').join(', ')}${info.dimension > 4 ? ', …' : ''}] (${info.dimension} numbers)` });
  const withText = h('input', { id: 'vector-text', type: 'search', placeholder: 'optional text: hybrid with the vector', autocomplete: 'off' });
  const similar = h('input', { id: 'similar-id', type: 'text', value: rest[0] === 'similar' ? rest[1] || '' : '', autocomplete: 'off' });
  const k = h('input', { id: 'k', type: 'number', min: 1, max: 1000, value: 10 });
  const ef = h('input', { id: 'ef', type: 'number', min: 1, placeholder: String(info.hnsw?.ef_search ?? '') });
  const filter = h('textarea', { id: 'query-filter', rows: 1, class: 'code', spellcheck: 'false', placeholder: '{"lang": "en"}' });
  const explain = h('input', { id: 'explain', type: 'checkbox', checked: true });
  const err = h('div', { id: 'query-error', 'aria-live': 'assertive' });
  const results = h('section', { id: 'results', 'aria-label': 'Results' });
  const snippets = h('section', { id: 'snippets', class: 'snippets', 'aria-label': 'The same query elsewhere' });

  const textPart = h('div', { class: 'fields' }, field('Text', text), field('Mode', mode));
  // How the two rankings of a hybrid query are fused (text with an embedding model, or a
  // vector with text).
  const fusionPart = h('fieldset', { class: 'group' }, h('legend', {}, 'Fusion (hybrid queries)'),
    field('Method', fusion), field('Alpha', alpha, 'weighted: meaning share'), field('RRF k', rrfK),
    field('Vector weight', vw), field('Text weight', tw));
  const vectorPart = h('div', { class: 'fields' }, field('Vector (JSON array)', vector), hasText ? field('Text (hybrid)', withText) : null);
  const similarPart = h('div', { class: 'fields' }, field('Point id', similar, 'its vector is the query; the point itself is left out'));
  const sync = () => {
    textPart.hidden = by.value !== 'text';
    vectorPart.hidden = by.value !== 'vector';
    similarPart.hidden = by.value !== 'similar';
    fusionPart.hidden = by.value === 'similar' || (by.value === 'text' && !(embeds && hasText)) || (by.value === 'vector' && !hasText);
  };
  by.addEventListener('change', sync);
  sync();

  // The query body from the form (throws an Error in words when the input is wrong).
  async function body() {
    const b = { k: Number(k.value) || 10 };
    if (by.value === 'text') {
      if (!text.value.trim()) throw new Error('Type some text to search for.');
      b.text = text.value;
      if (mode.value) b.mode = mode.value;
    } else if (by.value === 'vector') {
      const v = parseJsonField(vector.value, 'vector');
      if (!Array.isArray(v)) throw new Error(`The vector must be a JSON array of ${info.dimension} numbers.`);
      b.vector = v;
      if (withText.value.trim()) b.text = withText.value;
    } else {
      const id = similar.value.trim();
      if (!id) throw new Error('Give the id of a point to find points similar to it.');
      const p = await api.point(collection, id);
      b.vector = p.vector;
      b.k += 1;  // the point itself comes back first and is left out
    }
    if (b.text !== undefined && !fusionPart.hidden) {
      if (fusion.value) b.fusion = fusion.value;
      if (alpha.value !== '') b.alpha = Number(alpha.value);
      if (rrfK.value !== '') b.rrf_k = Number(rrfK.value);
      if (vw.value !== '') b.vector_weight = Number(vw.value);
      if (tw.value !== '') b.text_weight = Number(tw.value);
    }
    if (ef.value !== '') b.ef = Number(ef.value);
    const f = parseJsonField(filter.value, 'filter');
    if (f !== undefined) b.filter = f;
    if (explain.checked) b.explain = true;
    return b;
  }

  async function run(e) {
    if (e) e.preventDefault();
    clear(err);
    let b;
    try {
      b = await body();
    } catch (e2) {
      if (e2.name === 'ApiError' && e2.status === 404 && /collection/i.test(e2.message)) { clear(results, collectionError(e2, collection)); return; }
      clear(err, h('p', { class: 'error', role: 'alert' }, describe(e2)));
      return;
    }
    showSnippets(b);
    clear(results, loading('Searching…'));
    const t0 = performance.now();
    let r;
    try {
      r = await api.query(collection, b);
    } catch (e2) {
      clear(results);
      if (e2.status === 404) clear(results, collectionError(e2, collection, run));
      else clear(err, h('p', { class: 'error', role: 'alert' }, describe(e2)));
      return;
    }
    let hits = r.results || [];
    if (by.value === 'similar') hits = hits.filter((x) => x.id !== similar.value.trim()).slice(0, b.k - 1);
    showResults(hits, performance.now() - t0);
  }

  function showSnippets(b) {
    const url = `${location.origin}${api.colPath(collection)}/query`;
    const json = JSON.stringify(b);
    const shown = json.length > 4000 ? JSON.stringify({ ...b, vector: '…' }) : json;
    const curl = `curl -s -X POST '${url}' \\\n  -H "Authorization: Bearer $SEXTANT_KEY" \\\n  -d '${shown.replace(/'/g, "'\\''")}'`;
    const py = `import json, os, urllib.request\n\nbody = ${JSON.stringify(b.vector && json.length > 4000 ? { ...b, vector: '…' } : b, null, 4)
      .replace(/\btrue\b/g, 'True').replace(/\bfalse\b/g, 'False').replace(/\bnull\b/g, 'None')}\nreq = urllib.request.Request(\n    "${url}",\n    data=json.dumps(body).encode(),\n    headers={"Authorization": "Bearer " + os.environ["SEXTANT_KEY"]},\n)\nfor hit in json.load(urllib.request.urlopen(req))["results"]:\n    print(hit["id"], hit["score"])`;
    const block = (title, id, code) => h('div', { class: 'snippet' },
      h('div', { class: 'snippet-head' }, h('h3', {}, title), h('button', { class: 'link', onclick: () => copy(code) }, 'Copy')),
      h('pre', { id, tabindex: '0' }, code));
    clear(snippets, block('curl', 'snippet-curl', curl), block('Python', 'snippet-python', py));
  }

  function showResults(hits, ms) {
    if (!hits.length) {
      clear(results, emptyState('No results.', 'Nothing matched: try other words, another mode, or a looser filter.'));
      return;
    }
    const ex = hits.some((x) => x.explain);
    const hybrid = hits.some((x) => x.explain && 'fused_score' in x.explain);
    const keyword = hits.some((x) => x.explain && 'bm25' in x.explain);
    const header = ['#', 'id', 'score', 'document', 'metadata'];
    if (ex) {
      if (hybrid || !keyword) header.push('vector rank', 'distance');
      if (keyword) header.push('text rank', 'BM25', 'matched terms');
    }
    const rows = hits.map((x, i) => {
      const e = x.explain || {};
      const cells = [h('td', { class: 'num' }, i + 1), h('th', { scope: 'row', class: 'mono' }, shorten(x.id, 32)),
        h('td', { class: 'num' }, Number(x.score).toPrecision(4)),
        h('td', { class: 'doc' }, shorten(x.document ?? '', 100)),
        h('td', { class: 'meta' }, x.metadata ? shorten(Object.entries(x.metadata).map(([kk, v]) => `${kk}: ${cell(v)}`).join(', '), 60) : '')];
      if (ex) {
        if (hybrid || !keyword) cells.push(h('td', { class: 'num' }, e.vector_rank ?? '—'), h('td', { class: 'num' }, e.vector_distance !== undefined && e.vector_distance !== null ? Number(e.vector_distance).toPrecision(4) : '—'));
        if (keyword) cells.push(h('td', { class: 'num' }, e.text_rank ?? '—'), h('td', { class: 'num' }, e.bm25 ? Number(e.bm25).toPrecision(4) : '—'),
          h('td', {}, (e.matched_terms || []).map((t) => h('span', { class: 'term' }, t))));
      }
      return h('tr', {}, cells, h('td', {}, h('a', { href: ctx.collectionHash(collection, 'search', 'similar', x.id), 'aria-label': `Find points similar to ${x.id}` }, 'similar')));
    });
    const parts = [h('p', { class: 'muted', id: 'results-summary' }, `${num(hits.length)} results in ${ms.toFixed(0)} ms`,
      hybrid ? ` · fused with ${hits[0].explain.fusion}` : '',
      !ex ? '' : ' · scores: ' + (hybrid ? 'fused (larger is better)' : keyword ? 'BM25 (larger is better)' : 'distances (smaller is closer)')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'grid', id: 'results-table' },
      h('thead', {}, h('tr', {}, header.map((t) => h('th', { scope: 'col' }, t)), h('th', {}, ''))), h('tbody', {}, rows)))];
    if (hybrid) parts.push(sideBySide(hits));
    clear(results, parts);
  }

  // Why each hit ranked where it did: its place by meaning, by keywords and fused.
  function sideBySide(hits) {
    const column = (title, key, extra) => {
      const ranked = hits.filter((x) => x.explain[key] !== null && x.explain[key] !== undefined)
        .sort((a, b) => a.explain[key] - b.explain[key]);
      return h('div', { class: 'rank-col' }, h('h3', {}, title),
        ranked.length ? h('ol', {}, ranked.map((x) => h('li', { value: x.explain[key] }, h('span', { class: 'mono' }, shorten(x.id, 24)), ' ', h('span', { class: 'muted' }, extra(x)))))
          : h('p', { class: 'muted' }, 'No hit of these came from this side.'));
    };
    const fused = h('div', { class: 'rank-col' }, h('h3', {}, 'Fused'), h('ol', {}, hits.map((x) =>
      h('li', {}, h('span', { class: 'mono' }, shorten(x.id, 24)), ' ', h('span', { class: 'muted' },
        `vector #${x.explain.vector_rank ?? '—'}, text #${x.explain.text_rank ?? '—'}`)))));
    return h('section', { class: 'side-by-side', id: 'side-by-side', 'aria-label': 'Ranks side by side' },
      column('By meaning (vector rank)', 'vector_rank', (x) => `distance ${Number(x.explain.vector_distance).toPrecision(3)}`),
      column('By keywords (BM25 rank)', 'text_rank', (x) => `BM25 ${Number(x.explain.bm25).toPrecision(3)}${(x.explain.matched_terms || []).length ? ' · ' + x.explain.matched_terms.join(', ') : ''}`),
      fused);
  }

  clear(main,
    h('div', { class: 'screen-head' }, h('h1', {}, 'Search · ', h('span', { class: 'mono' }, collection)),
      h('span', { class: 'muted' }, `${info.dimension}-d ${info.metric}${hasText ? ' · keyword index' : ''}${embeds ? ' · embeds text' : ''}`),
      h('a', { href: ctx.collectionHash(collection, 'points') }, 'Points'), h('a', { href: ctx.collectionHash(collection, 'map') }, 'Map')),
    h('form', { class: 'card query-form', id: 'query-form', onsubmit: run },
      h('div', { class: 'fields' }, field('Query by', by), field('k', k), field('ef', ef, 'HNSW beam'),
        field('Filter (JSON)', filter), h('label', { class: 'check' }, explain, ' explain')),
      textPart, vectorPart, similarPart, fusionPart, err,
      h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit', id: 'run-query' }, 'Search'))),
    results, snippets);
  if (rest[0] === 'similar' && rest[1]) await run();
  else (by.value === 'text' ? text : by.value === 'vector' ? vector : similar).focus();
}
