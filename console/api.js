// The console's only way to the server: the public HTTP API (docs/openapi.json), with the key
// the user typed. Every failure becomes an ApiError whose message a person can read.

export class ApiError extends Error {
  // status: the HTTP status (0: no answer); code: the API's error code, or 'network'.
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

const KEY_ITEM = 'sextant.console.key';

// The key lives in sessionStorage only: gone when the tab closes, never in localStorage.
export function storedKey() {
  try { return sessionStorage.getItem(KEY_ITEM) || ''; } catch { return ''; }
}
export function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_ITEM, key);
    else sessionStorage.removeItem(KEY_ITEM);
  } catch { /* storage disabled: the key lasts as long as the page */ }
}

function enc(s) { return encodeURIComponent(s); }

export class Api {
  constructor(key) {
    this.key = key;
    this.tenant = 'default';
    this.database = 'default';
    // Called with the error when the key stops working (revoked, or the session expired).
    this.onUnauthenticated = null;
  }

  // The API path of the chosen database.
  dbPath() { return `/v1/tenants/${enc(this.tenant)}/databases/${enc(this.database)}`; }
  colPath(name) { return `${this.dbPath()}/collections/${enc(name)}`; }

  // opts: text (the reply as text), blob (as a Blob), timeoutMs.
  async request(method, path, body, { text = false, blob = false, timeoutMs = 30000 } = {}) {
    const headers = {};
    if (this.key) headers.Authorization = `Bearer ${this.key}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    let res;
    try {
      res = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctl.signal, cache: 'no-store',
      });
    } catch (e) {
      const why = e && e.name === 'AbortError' ? `did not answer within ${timeoutMs / 1000} s`
        : 'could not be reached — it may have stopped, or the network is down';
      throw new ApiError(0, 'network', `The server ${why}. Check that \`sextant serve\` is running, then retry.`);
    } finally {
      clearTimeout(timer);
    }
    if (res.ok && blob) return res.blob();
    const raw = await res.text().catch(() => '');
    if (res.ok) {
      if (text) return raw;
      try { return raw ? JSON.parse(raw) : {}; } catch {
        throw new ApiError(res.status, 'bad_reply', `The server's reply to ${method} ${path} was not JSON.`);
      }
    }
    let code = 'http_' + res.status;
    let message = `${method} ${path} failed with HTTP ${res.status}.`;
    try {
      const j = JSON.parse(raw);
      if (j && j.error) {
        code = j.error.code || code;
        message = j.error.message || message;
      }
    } catch { /* not JSON: keep the generic message */ }
    const err = new ApiError(res.status, code, message);
    err.requestId = res.headers.get('X-Request-Id') || '';  // the server's log line has it
    if (res.status === 401 && this.onUnauthenticated) this.onUnauthenticated(err);
    throw err;
  }

  get(path, opts) { return this.request('GET', path, undefined, opts); }
  post(path, body, opts) { return this.request('POST', path, body ?? {}, opts); }
  put(path, body) { return this.request('PUT', path, body ?? {}); }
  patch(path, body) { return this.request('PATCH', path, body); }
  del(path) { return this.request('DELETE', path); }

  whoami() { return this.get('/v1/whoami'); }
  tenants() { return this.get('/v1/tenants'); }
  databases(tenant) { return this.get(`/v1/tenants/${enc(tenant)}/databases`); }
  models() { return this.get('/v1/models'); }
  collections() { return this.get(`${this.dbPath()}/collections`); }
  collection(name) { return this.get(this.colPath(name)); }
  createCollection(name, spec) { return this.put(this.colPath(name), spec); }
  dropCollection(name) { return this.del(this.colPath(name)); }
  upsert(name, points) { return this.post(`${this.colPath(name)}/points`, { points }); }
  scroll(name, body) { return this.post(`${this.colPath(name)}/scroll`, body); }
  count(name, filter) { return this.post(`${this.colPath(name)}/count`, filter ? { filter } : {}); }
  point(name, id) { return this.get(`${this.colPath(name)}/points/${enc(id)}`); }
  patchPoint(name, id, metadata, merge) {
    return this.patch(`${this.colPath(name)}/points/${enc(id)}`, { metadata, merge });
  }
  deletePoint(name, id) { return this.del(`${this.colPath(name)}/points/${enc(id)}`); }
  query(name, body) { return this.post(`${this.colPath(name)}/query`, body); }
  snapshots() { return this.get(`${this.dbPath()}/snapshots`); }
  createSnapshot(collection, name) {
    return this.post(`${this.colPath(collection)}/snapshots`, name ? { snapshot: name } : {});
  }
  deleteSnapshot(name) { return this.del(`${this.dbPath()}/snapshots/${enc(name)}`); }
  // The snapshot as a tar archive (a Blob).
  snapshotArchive(name) {
    return this.get(`${this.dbPath()}/snapshots/${enc(name)}/archive`, { blob: true, timeoutMs: 300000 });
  }
  restoreSnapshot(name, collection) {
    return this.post(`${this.dbPath()}/snapshots/${enc(name)}/restore`, { collection });
  }
  keys() { return this.get('/v1/keys'); }
  createKey(spec) { return this.post('/v1/keys', spec); }
  revokeKey(id) { return this.del(`/v1/keys/${enc(id)}`); }
  metrics() { return this.get('/metrics', { text: true }); }
  health() { return this.get('/healthz'); }
  ready() { return this.get('/readyz'); }
}
