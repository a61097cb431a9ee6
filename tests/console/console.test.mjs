// End-to-end tests of the web console (`sextant serve` at /console) in a real browser:
// Debian's chromium driven by playwright-core, against a real server on a free port with its
// own data directory and admin key. Run: make console-test, or node --test tests/console/console.test.mjs.
//
// Environment: SEXTANT_BIN (default build/sextant), PLAYWRIGHT_DIR (default
// build/console-test/node_modules), CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR
// (default build/console-test/screenshots; docs/console updates the README's pictures).
// Skips, saying why, when chromium or playwright-core is missing (a missing program fails).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const BIN = path.resolve(ROOT, process.env.SEXTANT_BIN || 'build/sextant');
const PW_DIR = path.resolve(ROOT, process.env.PLAYWRIGHT_DIR || 'build/console-test/node_modules');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.resolve(ROOT, process.env.SCREENSHOT_DIR || 'build/console-test/screenshots');

function missing() {
  if (!fs.existsSync(CHROMIUM)) return `no chromium at ${CHROMIUM} (Debian's chromium: scripts/setup.sh installs it)`;
  if (!fs.existsSync(path.join(PW_DIR, 'playwright-core'))) return `no playwright-core under ${PW_DIR} (scripts/setup.sh installs it)`;
  return null;
}
const skip = missing();
if (skip) console.log(`console tests skipped: ${skip}`);

const ADMIN = 'sxt_console_test_admin_key_0123456789';

// The server as a child process; resolves once it listens.
async function startServer(dir) {
  fs.writeFileSync(path.join(dir, 'admin.key'), ADMIN + '\n', { mode: 0o600 });
  const proc = spawn(BIN, ['serve', '--data', path.join(dir, 'data'), '--port', '0', '--admin-key-file',
    path.join(dir, 'admin.key'), '--busy-poll-us', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines = readline.createInterface({ input: proc.stdout });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sextant serve did not start within 20 s')), 20000);
    proc.on('exit', (code) => reject(new Error(`sextant serve exited (${code}) before listening`)));
    lines.on('line', (line) => {
      try {
        const ev = JSON.parse(line);
        if (ev.event === 'listening') { clearTimeout(timer); resolve(ev.port); }
      } catch { /* not ours */ }
    });
  });
  // Never left behind, whatever happens to this process.
  process.on('exit', () => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  return { proc, port, base: `http://127.0.0.1:${port}` };
}

async function call(server, method, p, body, key = ADMIN) {
  const res = await fetch(server.base + p, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// Three topics, each a cluster of 8-d vectors with documents and metadata.
function samplePoints(n) {
  const topics = [
    { name: 'ocean', words: ['waves', 'tides', 'coral', 'harbour', 'sailing', 'reef'], center: [1, 0.2, 0, 0, 0.1, 0, 0, 0] },
    { name: 'forest', words: ['pine', 'moss', 'trail', 'owls', 'ferns', 'canopy'], center: [0, 1, 0.3, 0, 0, 0.1, 0, 0] },
    { name: 'city', words: ['traffic', 'subway', 'towers', 'cafes', 'neon', 'market'], center: [0, 0, 0, 1, 0.2, 0, 0.3, 0] },
  ];
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
  return Array.from({ length: n }, (_, i) => {
    const t = topics[i % 3];
    const w = (k) => t.words[(Math.floor(i / 3) + k * 2) % t.words.length];
    return {
      id: `p${String(i).padStart(3, '0')}`,
      vector: t.center.map((c) => c + rnd() * 0.35),
      document: `Notes on the ${t.name}: ${w(0)}, ${w(1)} and ${w(2)} seen on day ${i}.`,
      metadata: { topic: t.name, lang: i % 4 === 0 ? 'fr' : 'en', n: i, tags: [w(0), w(1)] },
    };
  });
}

describe('the web console in a real browser', { skip: skip || false }, () => {
  let dir;
  let server;
  let browser;
  let context;
  let page;
  let readerKey;
  let writer;
  const problems = [];  // console errors and uncaught exceptions of every page

  // Console messages of type error, but the browser's own lines about responses with an
  // error status (the bad-input tests cause 401, 404 and 422 on purpose); uncaught errors.
  function watch(p) {
    p.on('console', (m) => {
      if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (40[0134]|409|422)/.test(m.text())
          && !/^Failed to load resource: net::ERR_CONNECTION_REFUSED/.test(m.text())) {
        problems.push(`console: ${m.text()}`);
      }
    });
    p.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
    // Every file of the console itself must load (a missing module leaves a page that never starts).
    p.on('response', (r) => {
      if (new URL(r.url()).pathname.startsWith('/console') && r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
    });
  }

  async function shot(name, target = page) {
    fs.mkdirSync(SHOTS, { recursive: true });
    // The pictures show the screen itself: no passing messages, from the top.
    await target.evaluate(() => { document.querySelectorAll('.toast').forEach((t) => t.remove()); window.scrollTo(0, 0); });
    await target.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  }

  async function login(p, key) {
    await p.goto(`${server.base}/console`);
    await p.locator('#key').fill(key);
    await p.getByRole('button', { name: 'Connect' }).click();
  }

  before(async () => {
    assert.ok(fs.existsSync(BIN), `no sextant program at ${BIN} (make build)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sextant-console-'));
    server = await startServer(dir);
    await call(server, 'PUT', '/v1/collections/docs', { dimension: 8, metric: 'cosine', text: true });
    const pts = samplePoints(240);
    await call(server, 'POST', '/v1/collections/docs/points', { points: pts });
    // A collection that embeds its documents with the built-in model (no vectors sent).
    await call(server, 'PUT', '/v1/collections/pets', { embedding: 'potion-base-4M', text: true });
    await call(server, 'POST', '/v1/collections/pets/points', { points: [
      { id: '1', document: 'The dog barked at the mailman.' },
      { id: '2', document: 'The feline is sleeping on the sofa.' },
      { id: '3', document: 'I love eating fresh apples.' },
      { id: '4', document: 'Javascript is a programming language.' }] });
    // Another tenant with a database, to choose in the top bar.
    await call(server, 'PUT', '/v1/tenants/acme');
    await call(server, 'PUT', '/v1/tenants/acme/databases/prod');
    await call(server, 'PUT', '/v1/tenants/acme/databases/prod/collections/orders', { dimension: 3 });
    readerKey = (await call(server, 'POST', '/v1/keys', { role: 'reader' })).key;
    writer = await call(server, 'POST', '/v1/keys', { role: 'writer' });
    const require = createRequire(path.join(PW_DIR, 'noop.js'));
    const { chromium } = require('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.setDefaultTimeout(10000);
    watch(page);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server && server.proc.exitCode === null) {
      const exited = new Promise((r) => server.proc.once('exit', r));
      server.proc.kill('SIGTERM');
      const timer = setTimeout(() => server.proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a wrong key is refused with a readable message', async () => {
    await login(page, 'sxt_this_is_not_a_key');
    await assert.doesNotReject(page.locator('#login-error .error').waitFor());
    const text = await page.locator('#login-error').innerText();
    assert.match(text, /not accepted/);
    assert.match(text, /unknown or revoked API key/);
    await page.locator('#key').fill('');
    await shot('login');
  });

  test('an admin logs in and sees the collections with their counts', async () => {
    await login(page, ADMIN);
    const row = page.locator('#collections-table tr[data-name="docs"]');
    await row.waitFor();
    const text = await row.innerText();
    assert.match(text, /240/);            // points
    assert.match(text, /cosine · hnsw/);  // settings
    assert.equal(await page.locator('.role').textContent(), 'admin');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('sextant.console.key')), ADMIN);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    await shot('collections');
  });

  test('chooses another tenant and database in the top bar', async () => {
    await page.locator('#tenant').selectOption('acme');
    await page.locator('#collections-table tr[data-name="orders"]').waitFor();
    assert.equal(await page.locator('#database').inputValue(), 'prod');
    assert.match(await page.locator('.screen-head').innerText(), /acme \/ prod/);
    await page.locator('#tenant').selectOption('default');
    await page.locator('#collections-table tr[data-name="docs"]').waitFor();
    assert.equal(await page.locator('#database').inputValue(), 'default');
  });

  test('creates a collection with its settings', async () => {
    await page.locator('#new-collection').click();
    const form = page.locator('#create-form');
    await form.locator('input[name="name"]').fill('notes');
    await form.locator('input[name="dimension"]').fill('4');
    await form.locator('select[name="metric"]').selectOption('l2');
    await form.locator('select[name="index"]').selectOption('hnsw-sq8');
    await form.locator('input[name="M"]').fill('24');
    await form.locator('input[name="rerank"]').fill('20');
    await form.locator('input[name="text"]').check();
    await form.locator('select[name="analyzer"]').selectOption('standard');
    await shot('collection-create');
    await form.getByRole('button', { name: 'Create' }).click();
    await page.locator('#collections-table tr[data-name="notes"]').waitFor();
    const info = await call(server, 'GET', '/v1/collections/notes');
    assert.equal(info.dimension, 4);
    assert.equal(info.metric, 'l2');
    assert.equal(info.index, 'hnsw-sq8');
    assert.equal(info.hnsw.M, 24);
    assert.equal(info.quantization.rerank, 20);
    assert.equal(info.analyzer, 'standard');
  });

  test('creates a collection that embeds, with its embedding and segment settings', async () => {
    await page.locator('#new-collection').click();
    const form = page.locator('#create-form');
    await form.locator('input[name="name"]').fill('notes2');
    await form.locator('select[name="embedding"]').selectOption('potion-base-4M');
    await form.locator('input[name="embedding_dimensions"]').fill('64');
    await form.locator('input[name="hybrid_alpha"]').fill('0.4');
    await form.locator('input[name="merge_factor"]').fill('8');
    await form.locator('input[name="text"]').check();
    await form.getByRole('button', { name: 'Create' }).click();
    await page.locator('#collections-table tr[data-name="notes2"]').waitFor();
    const info = await call(server, 'GET', '/v1/collections/notes2');
    assert.equal(info.dimension, 64);
    assert.equal(info.embedding.model, 'potion-base-4M');
    assert.equal(info.embedding.hybrid_alpha, 0.4);
    assert.equal(info.segments.merge_factor, 8);
    await call(server, 'DELETE', '/v1/collections/notes2');
  });

  test('a bad setting is explained in the form', async () => {
    await page.locator('#new-collection').click();
    const form = page.locator('#create-form');
    await form.locator('input[name="name"]').fill('bad');
    await form.getByRole('button', { name: 'Create' }).click();
    assert.match(await form.locator('.error').innerText(), /dimension/i);
    await form.locator('input[name="dimension"]').fill('0');  // text only, but no keyword index
    await form.getByRole('button', { name: 'Create' }).click();
    await form.locator('.error').filter({ hasText: /text/ }).waitFor();
    assert.equal(await page.locator('#collections-table tr[data-name="bad"]').count(), 0);
    await form.getByRole('button', { name: 'Cancel' }).click();
  });

  test('browses points page by page, filters them, opens and edits one', async () => {
    await page.goto(`${server.base}/console#/c/docs/points`);
    await page.locator('#points-table tbody tr').first().waitFor();
    assert.equal(await page.locator('#points-table tbody tr').count(), 25);
    assert.match(await page.locator('#point-count').innerText(), /240 points/);
    await page.locator('#next-page').click();
    await page.locator('#points-table tbody tr[data-id="p025"]').waitFor();
    await page.locator('#filter').fill('{"topic": "forest", "n": {"$lt": 100}}');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#point-count').filter({ hasText: '33 points match' }).waitFor();
    // Keyboard: focus a row and open it with Enter.
    await page.locator('#points-table tbody tr').first().focus();
    await page.keyboard.press('Enter');
    const detail = page.locator('#point-detail');
    await detail.locator('#point-metadata').waitFor();
    assert.match(await detail.innerText(), /Notes on the forest/);
    assert.match(await detail.innerText(), /Vector \(8 dimensions\)/);
    await detail.locator('#point-metadata').fill('{"topic": "forest", "reviewed": true}');
    await detail.locator('#save-metadata').click();
    await page.locator('.toast').filter({ hasText: 'Saved the metadata' }).waitFor();
    const p = await call(server, 'GET', '/v1/collections/docs/points/p001?vector=false');
    assert.deepEqual(p.metadata, { topic: 'forest', reviewed: true });
    await shot('points');
    // Delete another point from its view, confirmed in a dialog.
    await page.locator('#points-table tbody tr[data-id="p004"]').click();
    await detail.filter({ hasText: 'p004' }).waitFor();
    await detail.getByRole('button', { name: 'Delete point' }).click();
    await page.locator('dialog.modal').getByRole('button', { name: 'Delete' }).click();
    await page.locator('#points-table tbody tr[data-id="p004"]').waitFor({ state: 'detached' });
    assert.equal((await call(server, 'POST', '/v1/collections/docs/count', {})).count, 239);
  });

  test('a filter that does not parse says where it is wrong', async () => {
    await page.locator('#filter').fill('{"n": {"$between": [1, 2]}}');
    await page.getByRole('button', { name: 'Apply' }).click();
    const err = page.locator('#filter-error .error');
    await err.waitFor();
    assert.match(await err.innerText(), /\$between/);
    assert.equal(await page.locator('#filter').getAttribute('aria-invalid'), 'true');
    await shot('filter-error');
    await page.locator('#filter').fill('{"topic": ');
    await page.getByRole('button', { name: 'Apply' }).click();
    await err.filter({ hasText: 'not valid JSON' }).waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.locator('#point-count').filter({ hasText: '239 points' }).waitFor();
  });

  test('searches by vector and text with explain, side by side, with curl and Python', async () => {
    await page.goto(`${server.base}/console#/c/docs/search`);
    await page.locator('#query-by').selectOption('vector');
    await page.locator('#query-vector').fill(JSON.stringify([0, 1, 0.3, 0, 0, 0.1, 0, 0]));
    await page.locator('#vector-text').fill('owls canopy');
    await page.locator('#fusion').selectOption('rrf');
    await page.locator('#run-query').click();
    await page.locator('#results-table tbody tr').first().waitFor();
    const head = await page.locator('#results-table thead').innerText();
    for (const col of [/vector rank/i, /text rank/i, /BM25/i, /matched terms/i]) assert.match(head, col);
    assert.match(await page.locator('#results-summary').innerText(), /fused with rrf/);
    assert.match(await page.locator('#side-by-side').innerText(), /By keywords/);
    assert.match(await page.locator('#results-table tbody').innerText(), /forest/);
    const curl = await page.locator('#snippet-curl').innerText();
    assert.match(curl, /curl -s -X POST '.*\/v1\/tenants\/default\/databases\/default\/collections\/docs\/query'/);
    assert.match(curl, /"explain":true/);
    assert.match(await page.locator('#snippet-python').innerText(), /urllib\.request/);
    await shot('search');
    // Keyword only.
    await page.locator('#query-by').selectOption('text');
    await page.locator('#query-text').fill('coral reef');
    await page.locator('#run-query').click();
    await page.locator('#results-summary').filter({ hasText: 'BM25' }).waitFor();
    assert.match(await page.locator('#results-table tbody tr').first().innerText(), /ocean/);
  });

  test('searches by meaning and hybrid in a collection that embeds its documents', async () => {
    await page.goto(`${server.base}/console#/c/pets/search`);
    await page.locator('#query-text').fill('Where is the cat?');
    await page.locator('#query-mode').selectOption('semantic');
    await page.locator('#run-query').click();
    await page.locator('#results-table tbody tr').first().filter({ hasText: 'feline' }).waitFor();
    await page.locator('#query-mode').selectOption('hybrid');
    await page.locator('#fusion').selectOption('weighted');
    await page.locator('#alpha').fill('0.7');
    await page.locator('#run-query').click();
    await page.locator('#results-summary').filter({ hasText: 'fused with weighted' }).waitFor();
    assert.match(await page.locator('#side-by-side').innerText(), /By meaning[\s\S]*By keywords[\s\S]*Fused/);
    assert.match(await page.locator('#snippet-curl').innerText(), /"mode":"hybrid","fusion":"weighted","alpha":0.7/);
  });

  test('a query the server refuses is explained', async () => {
    await page.locator('#query-by').selectOption('vector');
    await page.locator('#query-vector').fill('[1, 2]');
    await page.locator('#vector-text').fill('');
    await page.locator('#run-query').click();
    assert.match(await page.locator('#query-error .error').innerText(), /dimension/);
  });

  test('draws the vectors in 2-D, coloured by a field; hover shows, click finds similar', async () => {
    await page.goto(`${server.base}/console#/c/docs/map`);
    const canvas = page.locator('canvas.scatter');
    await canvas.waitFor();
    assert.match(await page.locator('#map-summary').innerText(), /239 of 239 points/);
    await page.locator('#color-by').selectOption('topic');
    assert.match(await page.locator('#map-legend').innerText(), /ocean[\s\S]*forest[\s\S]*city/);
    // Where the first point was drawn, in page coordinates.
    const at = await page.evaluate(() => {
      const c = document.querySelector('canvas.scatter');
      const r = c.getBoundingClientRect();
      const s = c.screenPoints.find((x) => x.p.point.id === 'p000');
      return { x: r.left + (s.px / c.width) * r.width, y: r.top + (s.py / c.height) * r.height };
    });
    await page.mouse.move(at.x, at.y);
    await page.locator('#map-tooltip').filter({ hasText: 'p' }).waitFor();
    assert.match(await page.locator('#map-tooltip').innerText(), /Notes on the/);
    await shot('map');
    await page.mouse.click(at.x, at.y);
    await page.locator('#results-table tbody tr').first().waitFor();
    assert.match(page.url(), /#\/c\/docs\/search\/similar\//);
    const ids = await page.locator('#results-table tbody th').allInnerTexts();
    assert.equal(ids.length, 10);
    assert.ok(!ids.includes(decodeURIComponent(page.url().split('/').pop())), 'the point itself is left out');
    // By keyboard: focus the picture, walk to a point with the arrow keys, Enter finds similar.
    await page.goto(`${server.base}/console#/c/docs/map`);
    await page.locator('canvas.scatter').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.locator('#map-tooltip').waitFor();
    const shown = (await page.locator('#map-tooltip strong').innerText()).trim();
    await page.keyboard.press('Enter');
    await page.locator('#results-table tbody tr').first().waitFor();
    assert.equal(decodeURIComponent(page.url().split('/').pop()), shown);
  });

  test('operations: health, metrics, a snapshot taken and restored, a key created and revoked', async () => {
    await page.goto(`${server.base}/console#/ops`);
    await page.locator('#health-live').filter({ hasText: 'ok' }).waitFor();
    await page.locator('#metrics figure').first().waitFor();
    assert.match(await page.locator('#metrics').innerText(), /Requests per second/);
    assert.match(await page.locator('#metrics').innerText(), /Points per collection/);
    await page.locator('#snapshot-collection').selectOption('docs');
    await page.locator('#snapshot-name').fill('docs-before');
    await page.locator('#create-snapshot').click();
    await page.locator('#snapshots-table tr[data-name="docs-before"]').waitFor();
    await page.locator('#snapshots-table tr[data-name="docs-before"]').getByRole('button', { name: 'Restore' }).click();
    const dialog = page.locator('dialog.modal');
    await dialog.locator('input').fill('docs-copy');
    await dialog.getByRole('button', { name: 'Restore' }).click();
    await page.locator('.toast').filter({ hasText: 'Restored docs-copy (239 points)' }).waitFor();
    // Download: the snapshot's directory as a tar archive.
    const [download] = await Promise.all([page.waitForEvent('download'),
      page.locator('#snapshots-table tr[data-name="docs-before"]').getByRole('button', { name: 'Download docs-before' }).click()]);
    assert.equal(download.suggestedFilename(), 'docs-before.tar');
    const tar = fs.readFileSync(await download.path());
    assert.equal(tar.subarray(0, 12).toString(), 'docs-before/');
    assert.equal(tar.subarray(257, 262).toString(), 'ustar');
    await page.locator('#snapshot-name').fill('docs-spare');
    await page.locator('#create-snapshot').click();
    await page.locator('#snapshots-table tr[data-name="docs-spare"]').getByRole('button', { name: 'Delete' }).click();
    await page.locator('dialog.modal').getByRole('button', { name: 'Delete' }).click();
    await page.locator('#snapshots-table tr[data-name="docs-spare"]').waitFor({ state: 'detached' });
    assert.deepEqual((await call(server, 'GET', '/v1/snapshots')).snapshots.map((s) => s.name), ['docs-before']);
    // A key: shown once.
    await page.locator('#key-role').selectOption('reader');
    await page.locator('#create-key').click();
    const secret = await page.locator('#new-key-secret').innerText();
    assert.match(secret, /^sxt_[0-9a-f]{64}$/);
    // Revoke the writer key made at the start.
    await page.locator(`#keys-table tr[data-id="${writer.id}"]`).getByRole('button', { name: /Revoke/ }).click();
    await page.locator('dialog.modal').getByRole('button', { name: 'Revoke' }).click();
    await page.locator(`#keys-table tr[data-id="${writer.id}"]`).waitFor({ state: 'detached' });
    const res = await fetch(`${server.base}/v1/collections`, { headers: { Authorization: `Bearer ${writer.key}` } });
    assert.equal(res.status, 401);
    await page.locator('#metrics figure svg path').first().waitFor();  // a second reading draws lines
    await shot('operations');
  });

  test('drops a collection once its name is typed', async () => {
    await page.goto(`${server.base}/console#/collections`);
    await page.getByRole('button', { name: 'Drop docs-copy' }).click();
    const dialog = page.locator('dialog.modal');
    const confirm = dialog.getByRole('button', { name: 'Drop collection' });
    assert.equal(await confirm.isDisabled(), true);
    await dialog.locator('input').fill('docs-cop');
    assert.equal(await confirm.isDisabled(), true);
    await dialog.locator('input').fill('docs-copy');
    await confirm.click();
    await page.locator('#collections-table tr[data-name="docs-copy"]').waitFor({ state: 'detached' });
    await assert.rejects(call(server, 'GET', '/v1/collections/docs-copy'), /404/);
  });

  test('a reader sees no write actions', async () => {
    const p2 = await context.newPage();
    watch(p2);
    await login(p2, readerKey);
    await p2.locator('#collections-table tr[data-name="docs"]').waitFor();
    assert.equal(await p2.locator('#new-collection').count(), 0);
    assert.equal(await p2.getByRole('button', { name: /^Drop/ }).count(), 0);
    assert.equal(await p2.locator('.role').textContent(), 'reader');
    await p2.goto(`${server.base}/console#/ops`);
    await p2.getByText('Snapshots need an admin key.').waitFor();
    await p2.getByText('Keys are managed by admins.').waitFor();
    await p2.close();
  });

  test('a collection dropped while being viewed is said to be gone', async () => {
    await page.goto(`${server.base}/console#/c/notes/points`);
    await page.getByText('This collection has no points yet.').waitFor();
    await call(server, 'DELETE', '/v1/collections/notes');
    await page.getByRole('button', { name: 'Apply' }).click();
    const err = page.locator('.error').filter({ hasText: 'is gone' });
    await err.waitFor();
    assert.match(await err.innerText(), /dropped/);
    assert.match(await err.innerText(), /request [0-9a-f]+-[0-9a-f]+ in the server's log/);
    await page.goto(`${server.base}/console#/c/notes/search`);
    await page.locator('.error').filter({ hasText: 'is gone' }).waitFor();
  });

  test('a key revoked during the session sends the user back to log in, in words', async () => {
    const p2 = await context.newPage();
    watch(p2);
    const made = await call(server, 'POST', '/v1/keys', { role: 'writer' });
    await login(p2, made.key);
    await p2.locator('#collections-table').waitFor();
    await call(server, 'DELETE', `/v1/keys/${made.id}`);
    await p2.getByRole('link', { name: 'Operations' }).click();
    await p2.locator('#login-error .notice').filter({ hasText: 'no longer accepted' }).waitFor();
    assert.equal(await p2.evaluate(() => sessionStorage.getItem('sextant.console.key')), null);
    // The same key left in a tab from an earlier visit: said at load, not a blank page.
    await p2.evaluate((k) => sessionStorage.setItem('sextant.console.key', k), made.key);
    await p2.reload();
    await p2.locator('#login-error .notice').filter({ hasText: 'saved in this tab is no longer accepted' }).waitFor();
    await p2.close();
  });

  test('readable on a narrow window, and keyboard reachable', async () => {
    await page.setViewportSize({ width: 420, height: 800 });
    await page.goto(`${server.base}/console#/collections`);
    await page.locator('#collections-table').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than the window`);
    await shot('narrow');
    for (const [screen, ready] of [['#/c/docs/points', '#points-table'], ['#/c/docs/search', '#query-form'],
      ['#/c/docs/map', 'canvas.scatter'], ['#/ops', '#keys-table']]) {
      await page.goto(`${server.base}/console${screen}`);
      await page.locator(ready).waitFor();
      const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(over <= 1, `${screen} is ${over}px wider than the window`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    // The skip link (first in the page) moves the focus to the screen.
    const before = page.url();
    await page.locator('a.skip').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
    assert.equal(page.url(), before);  // the route stays
  });

  test('a server that went away is a message, not a blank page', async () => {
    await page.goto(`${server.base}/console#/c/docs/points`);
    await page.locator('#points-table').waitFor();
    server.proc.kill('SIGTERM');
    await new Promise((r) => server.proc.once('exit', r));
    await page.getByRole('button', { name: 'Apply' }).click();
    const err = page.locator('.error').filter({ hasText: 'could not be reached' });
    await err.waitFor();
    assert.match(await err.innerText(), /sextant serve/);
    await shot('server-gone');
  });

  test('no errors in the browser console', () => {
    assert.deepEqual(problems, []);
  });
});
