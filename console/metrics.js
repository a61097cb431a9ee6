// Reading /metrics (the Prometheus text format) and turning successive readings into the
// series the charts show: requests and errors per second, latency percentiles per interval.

// One reading: {requests, errors, inFlight, databases, buckets: Map(le -> count), collections: [...]}.
export function parseMetrics(text) {
  const out = { requests: 0, errors: 0, inFlight: 0, databases: 0, buckets: new Map(), collections: [] };
  const cols = new Map();
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, , labelText, valueText] = m;
    const value = Number(valueText);
    const labels = {};
    for (const lm of (labelText || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    if (name === 'sextant_http_requests_total') {
      out.requests += value;
      if (Number(labels.status) >= 400) out.errors += value;
    } else if (name === 'sextant_http_request_duration_seconds_bucket') {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      out.buckets.set(le, (out.buckets.get(le) || 0) + value);
    } else if (name === 'sextant_http_requests_in_flight') {
      out.inFlight = value;
    } else if (name === 'sextant_databases') {
      out.databases = value;
    } else if (name === 'sextant_collection_points' || name === 'sextant_collection_memory_bytes') {
      const key = `${labels.tenant}/${labels.database}/${labels.collection}`;
      if (!cols.has(key)) cols.set(key, { tenant: labels.tenant, database: labels.database, collection: labels.collection, points: 0, memory: 0 });
      cols.get(key)[name === 'sextant_collection_points' ? 'points' : 'memory'] = value;
    }
  }
  out.collections = [...cols.values()];
  return out;
}

// The q-quantile (0..1) of a histogram given as cumulative counts per upper bound, by linear
// interpolation inside the bucket (as Prometheus' histogram_quantile); null without samples.
export function quantile(q, buckets) {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = bounds.length ? buckets.get(bounds[bounds.length - 1]) : 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const b of bounds) {
    const c = buckets.get(b);
    if (c >= rank) {
      if (b === Infinity) return prevBound;
      return prevBound + (b - prevBound) * ((rank - prevCount) / Math.max(1e-12, c - prevCount));
    }
    prevBound = b;
    prevCount = c;
  }
  return prevBound;
}

export class MetricsHistory {
  constructor(size) { this.size = size; this.points = []; }
  add(reading, t) {
    this.points.push({ reading, t });
    if (this.points.length > this.size + 1) this.points.shift();
  }
  latest() { return this.points[this.points.length - 1].reading; }
  // Per interval between readings: rates and latency percentiles (ms) of that interval's requests.
  series() {
    const rps = [];
    const eps = [];
    const p50 = [];
    const p95 = [];
    const p99 = [];
    for (let i = 1; i < this.points.length; i++) {
      const a = this.points[i - 1];
      const b = this.points[i];
      const dt = Math.max(1e-3, b.t - a.t);
      rps.push(Math.max(0, (b.reading.requests - a.reading.requests) / dt));
      eps.push(Math.max(0, (b.reading.errors - a.reading.errors) / dt));
      const diff = new Map();
      for (const [le, c] of b.reading.buckets) diff.set(le, c - (a.reading.buckets.get(le) || 0));
      for (const [arr, q] of [[p50, 0.5], [p95, 0.95], [p99, 0.99]]) {
        const v = quantile(q, diff);
        arr.push(v === null ? null : v * 1000);
      }
    }
    return { rps, eps, p50, p95, p99 };
  }
}
