/** serveDashboard: the page and its assets, their headers, and everything else left alone. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { DASHBOARD_CSP, serveDashboard } from '../../src/admin/dashboard.js';

let server: Server;
let base: string;

before(async () => {
  server = createServer((req, res) => {
    if (!serveDashboard(req, res)) res.writeHead(418).end('not the dashboard');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('the page and its assets are served with their types and a strict policy', async () => {
  const cases = [
    ['/', 'text/html; charset=utf-8', /<script type="module" src="\/dashboard\/app\.js">/],
    ['/?x=1', 'text/html; charset=utf-8', /data-testid="token-input"/],
    ['/dashboard/app.js', 'text/javascript; charset=utf-8', /sessionStorage/],
    ['/dashboard/style.css', 'text/css; charset=utf-8', /\.timeline/],
  ] as const;
  for (const [path, type, body] of cases) {
    const res = await fetch(base + path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('content-type'), type, path);
    assert.equal(res.headers.get('content-security-policy'), DASHBOARD_CSP, path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    assert.equal(res.headers.get('cache-control'), 'no-cache', path);
    assert.match(await res.text(), body, path);
  }
  // No inline script or style anywhere: the policy allows none.
  const html = await (await fetch(`${base}/`)).text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>|<style|\bstyle=|\bon[a-z]+=/i);
  for (const directive of ["script-src 'self'", "connect-src 'self'", "default-src 'none'"])
    assert.ok(DASHBOARD_CSP.includes(directive), directive);
  assert.doesNotMatch(DASHBOARD_CSP, /unsafe/);
});

test('an unchanged asset revalidates to 304; HEAD has no body; other methods get 405', async () => {
  const first = await fetch(`${base}/dashboard/app.js`);
  const etag = first.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(`${base}/dashboard/app.js`, { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  const head = await fetch(`${base}/`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
  const post = await fetch(`${base}/`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
});

test('every other path is left to the caller', async () => {
  for (const path of [
    '/v1/plugins',
    '/dashboard/',
    '/dashboard/../../package.json',
    '/index.html',
    '/dashboard/app.ts',
  ]) {
    const res = await fetch(base + path);
    assert.equal(res.status, 418, path);
    assert.equal(await res.text(), 'not the dashboard');
  }
});
