/**
 * The operator dashboard in a real headless Chromium (Debian's `chromium`, driven by
 * puppeteer-core), against a real admin server over a real Deployment: it logs in with the
 * token, lists the plugins, shows a reload within a second of it completing, and its rollback
 * button rolls the host back. Without a browser the suite skips, naming the apt command; with
 * CI=true a missing browser is a failure.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { EventStream } from '../../src/admin/event-stream.js';
import { type AdminServer, startAdmin } from '../../src/admin/server.js';
import { Deployment } from '../../src/deploy/deployment.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { tempDir } from '../helpers/project.js';
import { pluginFiles, yazlZip } from '../helpers/zip.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const found = existsSync(CHROMIUM);
const INSTALL = 'apt-get install -y chromium';
const skip =
  found || process.env.CI === 'true'
    ? false
    : `no Chromium at ${CHROMIUM}: run "${INSTALL}" (or set CHROMIUM_PATH) to run the browser test`;

/**
 * The page's globals as the functions run in the browser below use them: this file compiles with
 * Node's types, without the DOM lib (which would leak browser globals into every Node module).
 */
interface PageElement {
  textContent: string | null;
  hidden: boolean;
  value: string;
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};
declare const window: object;
declare const sessionStorage: { length: number; getItem(key: string): string | null };
declare const localStorage: { length: number };

const TOKEN = 'dashboard-test-token-0123456789';
/** The bound: the page shows an event within a second of it happening. */
const WITHIN_MS = 1000;

describe('the dashboard in headless Chromium', { skip }, () => {
  let data: string;
  let deployment: Deployment;
  let events: EventStream;
  let admin: AdminServer;
  let browser: Browser;
  let page: Page;
  const requested: string[] = [];

  const api = async (method: string, path: string): Promise<Record<string, unknown>> => {
    const res = await fetch(admin.url + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(method === 'POST' ? { body: '{}' } : {}),
    });
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  };
  const pluginVersion = async (name: string) =>
    ((await api('GET', `/v1/plugins/${name}`)).plugin as { version: string }).version;

  before(async () => {
    assert.ok(found, `CI=true and no Chromium at ${CHROMIUM}: the CI script must "${INSTALL}"`);
    data = await tempDir('dashboard');
    // A long probation keeps 1.0.0 warm, so the rollback swaps back without a cold start.
    deployment = await Deployment.open({ dataDir: data, probationMs: 60_000 });
    await deployment.install(await writeArtifact({ name: 'p', source: versionPlugin('p1') }));
    await deployment.install(
      await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('p2') }),
    );
    await deployment.install(await writeArtifact({ name: 'q', source: versionPlugin('q1') }));
    events = new EventStream(deployment.host);
    admin = await startAdmin(deployment, data, { token: TOKEN, events });
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      // headless: true is --headless=new; the sandbox needs user namespaces a container as root lacks.
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
    page = await browser.newPage();
    page.setDefaultTimeout(5000);
    page.on('request', (r) => requested.push(r.url()));
    await page.goto(`${admin.url}/`);
  });

  after(async () => {
    await browser?.close();
    events?.close();
    await admin?.close();
    await deployment?.close();
    await cleanArtifacts();
    if (data !== undefined) await rm(data, { recursive: true, force: true });
  });

  test('a wrong token shows the server error and keeps the login', async () => {
    await page.type('[data-testid="token-input"]', 'not-the-token');
    await page.click('[data-testid="login-submit"]');
    const error = await page.waitForSelector('[data-testid="error"]:not([hidden])');
    assert.match((await error?.evaluate((e) => e.textContent)) ?? '', /^CONTROL_UNAUTHORIZED: /);
    assert.equal(
      await page.$eval('[data-testid="login"]', (e) => (e as PageElement).hidden),
      false,
    );
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });

  test('the token logs in once and every plugin is listed', async () => {
    await page.$eval('[data-testid="token-input"]', (e) => {
      (e as PageElement).value = '';
    });
    await page.type('[data-testid="token-input"]', TOKEN);
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="plugin-row"][data-name="q"]');
    const rows = await page.$$eval('[data-testid="plugin-row"]', (trs) =>
      trs.map((tr) => [
        (tr as PageElement).dataset.name,
        (tr as PageElement).dataset.version,
        tr.querySelector('[data-testid="plugin-isolation"]')?.textContent,
      ]),
    );
    assert.deepEqual(rows, [
      ['p', '2.0.0', 'worker'],
      ['q', '1.0.0', 'worker'],
    ]);
    assert.equal(await page.$eval('[data-testid="error"]', (e) => (e as PageElement).hidden), true);
    // Kept for this tab only, and never in a URL.
    assert.equal(await page.evaluate(() => sessionStorage.getItem('molt.admin.token')), TOKEN);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    assert.ok(requested.length > 0 && requested.every((u) => !u.includes(TOKEN)), 'token in a URL');
    // Asked once: a reload of the page (same tab) comes straight back to the plugins.
    await page.reload();
    await page.waitForSelector('[data-testid="plugin-row"][data-name="q"]');
    assert.equal(await page.$eval('[data-testid="login"]', (e) => (e as PageElement).hidden), true);
    // The stream is connected before the next test makes an event the page must see.
    await page.waitForSelector('[data-testid="stream-status"][data-state="live"]');
  });

  test('a reload made through the API is on the timeline with its step timings within a second', async (t) => {
    // When the host completed it: the instant it emitted reload.succeeded (the page's source).
    let completedAt = Number.NaN;
    const off = deployment.host.on('reload.succeeded', (e) => {
      if (e.name === 'q') completedAt = Date.now();
    });
    // q: a reload of p would make its previous version 2.0.0 again, and the rollback below goes there.
    const done = await api('POST', '/v1/plugins/q/reload').finally(off);
    assert.equal(done.action, 'reloaded');
    const item = '[data-testid="timeline-item"][data-event="reload.succeeded"][data-name="q"]';
    // The page stamps each item with the wall clock it was added at, the host's clock too (one
    // machine): the bound is checked on those, not on how fast this process hears back from the
    // browser. That path shares this process's event loop with the host, and a bare evaluate()
    // took 170-450 ms right after a reload on a busy 2-core machine.
    await page.waitForFunction(
      (selector) =>
        [...document.querySelectorAll(selector)].some(
          (li) =>
            li.querySelector('strong')?.textContent === 'reload ✓' &&
            /^validate [\d.]+ · start [\d.]+ · .*swap [\d.]+ · total [\d.]+ ms$/.test(
              li.querySelector('[data-testid="timeline-timings"]')?.textContent ?? '',
            ),
        ),
      { timeout: 5000, polling: 'mutation' },
      item,
    );
    const addedAt = await page.$eval(`${item} time`, (e) =>
      Date.parse((e as PageElement).getAttribute('datetime') ?? ''),
    );
    const lag = addedAt - completedAt;
    t.diagnostic(`on the timeline ${lag} ms after the host completed the reload`);
    assert.ok(lag <= WITHIN_MS, `the timeline showed the reload ${lag} ms after it completed`);
    // The new version went on trial (the 60 s probation): the timeline says so too.
    const trial = await page.waitForSelector(
      '[data-testid="timeline-item"][data-event="promotion.started"][data-name="q"]',
    );
    assert.match(
      (await trial?.evaluate((li) => li.textContent)) ?? '',
      /trial startedq1\.0\.0 \([0-9a-f]{8}\) → 1\.0\.0 \([0-9a-f]{8}\), for up to 60 s$/,
    );
  });

  test('the rollback button rolls the host back, and the page shows it', async () => {
    const answered = page.waitForResponse(
      (r) => r.url().endsWith('/v1/plugins/p/rollback') && r.request().method() === 'POST',
    );
    await page.click('[data-testid="plugin-row"][data-name="p"] [data-testid="rollback-button"]');
    assert.equal((await answered).status(), 200);
    assert.equal(await pluginVersion('p'), '1.0.0');
    assert.equal(await deployment.host.call('p', 'version', {}), 'p1');
    await page.waitForFunction(
      () =>
        document.querySelector('[data-testid="plugin-row"][data-name="p"]')?.dataset.version ===
          '1.0.0' &&
        document.querySelector('[data-testid="timeline-item"][data-event="reload.rolledBack"]') !==
          null,
      { polling: 'mutation' },
    );
    const notice = await page.$eval('[data-testid="notice"]', (e) => e.textContent);
    assert.equal(notice, 'rolled p back: 1.0.0 serves');
    // The audit table has it too, newest first.
    const audit = await page.waitForSelector('[data-testid="audit-row"][data-action="rollback"]');
    assert.match((await audit?.evaluate((e) => e.textContent)) ?? '', /^\d+.*rollbackp/);
  });

  test('text a plugin supplies is shown as text, never run as markup', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const v3 = await writeArtifact({
      name: 'p',
      version: '3.0.0',
      source: `export default { tools: {}, init() { throw new Error(${JSON.stringify(hostile)}); } };`,
    });
    await assert.rejects(deployment.install(v3), { code: 'INIT_FAILED' });
    await page.waitForFunction(
      (text) =>
        [...document.querySelectorAll('[data-testid="timeline-item"][data-event="reload.failed"]')]
          .map((li) => li.textContent ?? '')
          .some((t) => t.includes('INIT_FAILED') && t.includes(text)),
      { polling: 'mutation' },
      hostile,
    );
    assert.equal(await page.$$eval('[data-testid="timeline"] img', (imgs) => imgs.length), 0);
    assert.equal(await page.evaluate(() => 'pwned' in window || '__pwned' in window), false);
    assert.equal(await pluginVersion('p'), '1.0.0');
  });

  test('a .molt chosen in the file input is uploaded, installed and listed', async () => {
    const file = join(data, 'upload-r-1.0.0.molt');
    await writeFile(file, await yazlZip(pluginFiles('r', '1.0.0', versionPlugin('r1'))));
    const input = await page.$('[data-testid="upload-input"]');
    await input?.uploadFile(file);
    await page.click('[data-testid="upload-submit"]');
    await page.waitForSelector('[data-testid="plugin-row"][data-name="r"][data-version="1.0.0"]');
    assert.equal(await deployment.host.call('r', 'version', {}), 'r1');
    // The row can appear (by the event stream) before the upload's own answer is shown.
    const expected = 'uploaded upload-r-1.0.0.molt: loaded r 1.0.0';
    await page.waitForFunction(
      (text) => document.querySelector('[data-testid="notice"]')?.textContent === text,
      { timeout: 10_000 },
      expected,
    );
  });
});
