// Pictures: a 2-D projection of vectors (PCA by power iteration, in the browser), the scatter
// plot that shows it on a <canvas>, and SVG line and bar charts for the metrics.

import { h } from './ui.js';

// The first two principal components of `vectors` (arrays of equal length): returns
// {coords: [[x, y]...], explained: [r1, r2]} (the share of variance each axis shows).
export function pca2(vectors) {
  const n = vectors.length;
  if (n === 0) return { coords: [], explained: [0, 0] };
  const d = vectors[0].length;
  const mean = new Float64Array(d);
  for (const v of vectors) for (let j = 0; j < d; j++) mean[j] += v[j] / n;
  const X = vectors.map((v) => Float64Array.from(v, (x, j) => x - mean[j]));
  let total = 0;
  for (const x of X) for (let j = 0; j < d; j++) total += x[j] * x[j];
  const comps = [];
  const vars = [];
  for (let c = 0; c < 2; c++) {
    // Deterministic start, so the same data gives the same picture.
    let v = Float64Array.from({ length: d }, (_, j) => Math.sin(j * 12.9898 + c * 78.233) + 0.01);
    let lambda = 0;
    for (let it = 0; it < 60; it++) {
      const w = new Float64Array(d);
      for (const x of X) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += x[j] * v[j];
        for (let j = 0; j < d; j++) w[j] += dot * x[j];
      }
      for (const p of comps) {  // deflation: stay orthogonal to earlier components
        let dot = 0;
        for (let j = 0; j < d; j++) dot += w[j] * p[j];
        for (let j = 0; j < d; j++) w[j] -= dot * p[j];
      }
      let norm = 0;
      for (let j = 0; j < d; j++) norm += w[j] * w[j];
      norm = Math.sqrt(norm);
      if (norm < 1e-12) break;
      lambda = norm;
      for (let j = 0; j < d; j++) w[j] /= norm;
      v = w;
    }
    comps.push(v);
    vars.push(lambda);
  }
  const coords = X.map((x) => comps.map((p) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[j] * p[j];
    return s;
  }));
  return { coords, explained: vars.map((l) => (total > 0 ? l / total : 0)) };
}

export const PALETTE = ['#2f6fdf', '#e0702b', '#2a9d5c', '#c23b6b', '#7b55c7', '#a08420', '#1f9bb0',
  '#d94c3d', '#5f6f80', '#8fb339'];

// A scatter plot on a canvas. points: [{x, y, color, label}]; onHover(point|null, event) and
// onClick(point). Returns the canvas; it redraws at its CSS size (and device pixel ratio).
export function scatter(points, { onHover, onClick, width = 800, height = 520 } = {}) {
  const canvas = h('canvas', { class: 'scatter', width, height, tabindex: '0',
    role: 'img', 'aria-label': `A 2-D projection of ${points.length} points` });
  const pad = 24;
  let xs = points.map((p) => p.x);
  let ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / ((x1 - x0) || 1)) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - y0) / ((y1 - y0) || 1)) * (height - 2 * pad);
  const screen = points.map((p) => ({ p, px: sx(p.x), py: sy(p.y) }));
  let hover = null;
  const draw = () => {
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.clearRect(0, 0, width, height);
    ctx.strokeStyle = '#d0d6de';
    ctx.strokeRect(0.5, 0.5, width - 1, height - 1);
    for (const s of screen) {
      ctx.beginPath();
      ctx.arc(s.px, s.py, 4, 0, Math.PI * 2);
      ctx.fillStyle = s.p.color;
      ctx.globalAlpha = 0.8;
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    if (hover) {
      ctx.beginPath();
      ctx.arc(hover.px, hover.py, 7, 0, Math.PI * 2);
      ctx.strokeStyle = '#111';
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.lineWidth = 1;
    }
  };
  const nearest = (ev) => {
    const r = canvas.getBoundingClientRect();
    const mx = ((ev.clientX - r.left) / r.width) * width;
    const my = ((ev.clientY - r.top) / r.height) * height;
    let best = null;
    let bd = 100;  // within 10 px
    for (const s of screen) {
      const dd = (s.px - mx) ** 2 + (s.py - my) ** 2;
      if (dd < bd) { bd = dd; best = s; }
    }
    return best;
  };
  canvas.addEventListener('mousemove', (ev) => {
    const s = nearest(ev);
    if (s !== hover) { hover = s; draw(); }
    canvas.style.cursor = s ? 'pointer' : 'default';
    if (onHover) onHover(s ? s.p : null, ev, s);
  });
  canvas.addEventListener('mouseleave', () => { hover = null; draw(); if (onHover) onHover(null); });
  canvas.addEventListener('click', (ev) => { const s = nearest(ev); if (s && onClick) onClick(s.p); });
  // Keyboard: arrow keys walk the points, Enter runs the click.
  let kb = -1;
  canvas.addEventListener('keydown', (ev) => {
    if (!screen.length) return;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown') kb = (kb + 1) % screen.length;
    else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp') kb = (kb - 1 + screen.length) % screen.length;
    else if (ev.key === 'Enter' && hover && onClick) { onClick(hover.p); return; } else return;
    ev.preventDefault();
    hover = screen[kb];
    draw();
    if (onHover) {
      const r = canvas.getBoundingClientRect();
      onHover(hover.p, { clientX: r.left + (hover.px / width) * r.width, clientY: r.top + (hover.py / height) * r.height }, hover);
    }
  });
  canvas.screenPoints = screen;  // for tests and tooltips: where each point was drawn
  draw();
  return canvas;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// A line chart of series [{name, color, values: [number|null]}] over the same x steps.
export function lineChart(series, { title, unit = '', width = 560, height = 200 } = {}) {
  const pad = { l: 52, r: 10, t: 10, b: 22 };
  const n = Math.max(2, ...series.map((x) => x.values.length));
  const max = niceMax(Math.max(0, ...series.flatMap((x) => x.values.filter((v) => v !== null && isFinite(v)))));
  const X = (i) => pad.l + (i / (n - 1)) * (width - pad.l - pad.r);
  const Y = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': title });
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    svg.append(s('line', { x1: pad.l, x2: width - pad.r, y1: Y(v), y2: Y(v), class: 'grid' }));
    const t = s('text', { x: pad.l - 6, y: Y(v) + 4, 'text-anchor': 'end', class: 'axis' });
    t.textContent = fmt(v) + unit;
    svg.append(t);
  }
  for (const ser of series) {
    let d = '';
    ser.values.forEach((v, i) => {
      if (v === null || !isFinite(v)) return;
      d += `${d && ser.values[i - 1] !== null ? 'L' : 'M'}${X(i).toFixed(1)},${Y(v).toFixed(1)}`;
    });
    if (d) svg.append(s('path', { d, fill: 'none', stroke: ser.color, 'stroke-width': 2 }));
  }
  const legend = h('div', { class: 'legend' }, series.map((x) =>
    h('span', {}, h('i', { class: 'swatch', dataset: { color: x.color } }), x.name)));
  for (const sw of legend.querySelectorAll('.swatch')) sw.style.background = sw.dataset.color;
  return h('figure', { class: 'chart-box' }, h('figcaption', {}, title), svg, legend);
}

// Horizontal bars: [{label, value}] with a formatter.
export function barChart(rows, { title, format = fmt, width = 560 } = {}) {
  const rowH = 22;
  const height = Math.max(rowH, rows.length * rowH) + 4;
  const labelW = 170;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': title });
  rows.forEach((r, i) => {
    const y = i * rowH + 2;
    const t = s('text', { x: labelW - 6, y: y + 14, 'text-anchor': 'end', class: 'axis' });
    t.textContent = r.label.length > 26 ? r.label.slice(0, 25) + '…' : r.label;
    svg.append(t);
    const w = ((width - labelW - 90) * r.value) / max;
    svg.append(s('rect', { x: labelW, y: y + 3, width: Math.max(1, w), height: rowH - 8, class: 'bar' }));
    const v = s('text', { x: labelW + w + 6, y: y + 14, class: 'axis' });
    v.textContent = format(r.value);
    svg.append(v);
  });
  return h('figure', { class: 'chart-box' }, h('figcaption', {}, title), svg);
}

export function fmt(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  if (a >= 10) return v.toFixed(0);
  if (a >= 1) return v.toFixed(1);
  return v.toPrecision(2);
}

// A small line of a vector's first values (the point view's preview).
export function sparkline(values, { width = 320, height = 48 } = {}) {
  const max = Math.max(1e-9, ...values.map(Math.abs));
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'spark', role: 'img',
    'aria-label': `The vector's ${values.length} values as bars` });
  const w = width / Math.max(1, values.length);
  values.forEach((v, i) => {
    const bh = (Math.abs(v) / max) * (height / 2 - 1);
    svg.append(s('rect', { x: i * w, y: v >= 0 ? height / 2 - bh : height / 2, width: Math.max(1, w - 1),
      height: Math.max(0.5, bh), class: v >= 0 ? 'pos' : 'neg' }));
  });
  return svg;
}
