/**
 * The web interface in a real browser (Debian's Chromium driven by playwright-core) against a
 * running DeepLens: every process started by the test on its own ports, database and topics,
 * plus the web server from its `main.ts`. What a person does and sees, step by step, and what
 * an attacker must not get: tokens readable by scripts, a cross-site write, a missing CSP.
 * Screenshots of each screen at desktop and phone width go to docs/ui/.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createDeepLensClient } from '@deeplens/client/deepLensClient';
import { nearDuplicateEdits } from '@deeplens/embedder/nearDuplicateEdits';
import { freePort } from '@deeplens/platform/testing/freePort';
import { startDeepLens, type RunningDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { buildWeb } from './buildWeb.ts';
import { csrfHeader, sessionCookie } from './webGateway.ts';

const repoRoot = join(import.meta.dirname, '..', '..');
const photosDir = join(repoRoot, 'embedder', 'fixtures', 'photos');
const screenshotsDir = join(repoRoot, 'docs', 'ui');
const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const desktop = { width: 1280, height: 900 };
const phone = { width: 390, height: 844 };
/** Every thumbnail on the page has loaded (through the gateway, with the cookie). */
const thumbnailsLoaded =
  "[...document.querySelectorAll('img.thumb')].every((i) => i.complete && i.naturalWidth > 0)";

async function startWebServer(t: TestContext, deeplens: RunningDeepLens): Promise<string> {
  const port = await freePort();
  const output: string[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', 'web/src/main.ts'], {
    cwd: repoRoot,
    env: { ...process.env, ...deeplens.env, WEB_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr])
    stream.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  t.after(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/api/session`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return url;
    if (child.exitCode !== null) break;
    await sleep(250);
  }
  throw new Error(`the web server did not start:\n${output.join('')}`);
}

/**
 * Waits until a browser-side expression is true. (Playwright's waitForFunction evaluates a
 * string with eval inside the page, which the app's CSP rightly forbids; `evaluate` is not.)
 */
async function until(page: Page, expression: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${expression}`);
    await sleep(250);
  }
}

/** A screenshot at desktop width and one at phone width, into docs/ui/; every field labelled. */
async function shoot(page: Page, name: string): Promise<void> {
  const unlabelled = await page.evaluate<string[]>(`[
    ...[...document.querySelectorAll('input, select, textarea')]
      .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label'))
      .map((e) => 'field ' + (e.id || e.outerHTML)),
    ...[...document.querySelectorAll('img')].filter((e) => !e.alt).map((e) => 'image ' + e.src),
    ...[...document.querySelectorAll('button')].filter((e) => !e.innerText.trim()).map((e) => 'button ' + e.outerHTML),
  ]`);
  assert.deepEqual(unlabelled, [], `${name}: every field, image and button has a name`);
  await page.evaluate('document.fonts.ready.then(() => true)');
  await page.screenshot({ path: join(screenshotsDir, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(phone);
  // The layout settles (the grid reflows) before the picture is taken.
  await until(page, `document.documentElement.clientWidth <= ${phone.width}`);
  await page.screenshot({ path: join(screenshotsDir, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(desktop);
}

/**
 * Console errors and failed page scripts, which the test asserts there are none of. Chromium
 * logs each 4xx answer as a console error ("Failed to load resource"); those are kept apart in
 * `refusals`, which the test compares with exactly the refusals it provoked.
 */
function watch(
  page: Page,
  label: string,
  seen: { problems: string[]; requests: string[]; refusals: string[] },
): void {
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) return;
    seen.problems.push(`${label} console: ${message.text()}`);
  });
  page.on('pageerror', (error) => seen.problems.push(`${label} page error: ${error.message}`));
  page.on('request', (request) => seen.requests.push(request.url()));
  page.on('response', (response) => {
    if (response.status() >= 400)
      seen.refusals.push(
        `${label} ${response.request().method()} ${new URL(response.url()).pathname} ${response.status()}`,
      );
  });
}

async function signIn(page: Page, web: string, email: string, password: string): Promise<void> {
  await page.goto(web);
  await page.getByRole('heading', { name: 'Sign in to DeepLens' }).waitFor();
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Search by image' }).waitFor();
}

/** Drops files onto the page's drop zone as a person dragging them from their desktop would. */
async function dropFile(page: Page, file: { name: string; bytes: Buffer; type: string }): Promise<void> {
  // Browser code as text: the repository's tsconfig has no DOM types.
  const dataTransfer = await page.evaluateHandle(`(() => {
    const bytes = Uint8Array.from(atob(${JSON.stringify(file.bytes.toString('base64'))}), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], ${JSON.stringify(file.name)}, { type: ${JSON.stringify(file.type)} }));
    return transfer;
  })()`);
  await page.dispatchEvent('[data-testid=dropzone]', 'drop', { dataTransfer });
}

async function cookieOf(context: BrowserContext, web: string): Promise<string> {
  const cookie = (await context.cookies(web)).find((c) => c.name === sessionCookie);
  assert.ok(cookie, 'a session cookie is set');
  return `${cookie.name}=${cookie.value}`;
}

describe('the web interface in Chromium', () => {
  it(
    'signs in, uploads, waits for indexed, finds the original of a dropped edited copy, edits a tag, manages a key, keeps tenants apart and tokens out of scripts, signs out',
    { timeout: 20 * 60_000 },
    async (t) => {
      assert.ok(
        existsSync(chromiumPath),
        `no Chromium at ${chromiumPath}: bash scripts/install-prerequisites.sh (apt-get install chromium), or set CHROMIUM_PATH`,
      );
      buildWeb();
      const deeplens = await startDeepLens(t);
      const web = await startWebServer(t, deeplens);

      const admin = createDeepLensClient({ writeUrl: deeplens.writeUrl, readUrl: deeplens.readUrl });
      await admin.signIn(deeplens.admin);
      const users = { alpha: 'owner@alpha.test', bravo: 'viewer@bravo.test' };
      const password = 'correct horse battery staple';
      // On the pro plan: the walk measures the screens, not the free plan's 60 units a minute.
      const alphaTenant = await admin.createTenant({ slug: 'alpha', name: 'Alpha', plan: 'pro' });
      const bravoTenant = await admin.createTenant({ slug: 'bravo', name: 'Bravo', plan: 'pro' });
      await admin.createUser({
        email: users.alpha,
        password,
        role: 'tenant_admin',
        tenantId: alphaTenant.id,
      });
      await admin.createUser({ email: users.bravo, password, role: 'tenant_user', tenantId: bravoTenant.id });

      const names = (await readdir(photosDir)).filter((f) => f.endsWith('.jpg')).sort();
      const chosen = names.slice(0, 4);
      const originals = await Promise.all(
        chosen.map(async (name) => ({ name, bytes: await readFile(join(photosDir, name)) })),
      );

      await mkdir(screenshotsDir, { recursive: true });
      const browser: Browser = await chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        // As root (CI, containers) Chromium's sandbox cannot start.
        args: ['--no-sandbox', '--disable-dev-shm-usage'],
      });
      t.after(() => browser.close());
      const seen = { problems: [] as string[], requests: [] as string[], refusals: [] as string[] };
      const alphaContext = await browser.newContext({ viewport: desktop });
      await alphaContext.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: web });
      const page = await alphaContext.newPage();
      page.setDefaultTimeout(60_000);
      watch(page, 'alpha', seen);

      // Sign in: the app sends a stranger to the sign-in page; the page carries a strict CSP.
      const first = await page.goto(web);
      assert.ok(first);
      const headers = first.headers();
      const csp = headers['content-security-policy'] ?? '';
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(headers['x-content-type-options'], 'nosniff');
      await page.getByRole('heading', { name: 'Sign in to DeepLens' }).waitFor();
      // The sign-in page may render a moment before the router has replaced the address.
      await page.waitForURL((url) => url.pathname === '/signin', { timeout: 5_000 });
      assert.equal(new URL(page.url()).pathname, '/signin');
      await shoot(page, 'signin');
      await page.getByLabel('E-mail').fill(users.alpha);
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'were not accepted' }).waitFor();
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Search by image' }).waitFor();
      assert.match(await page.locator('.who').innerText(), /owner@alpha\.test/);

      // No token where a script could read it; the session cookie is HttpOnly and SameSite=Strict.
      const readable = await page.evaluate(`({
        local: Object.keys(localStorage).map((k) => k + '=' + localStorage.getItem(k)),
        session: Object.keys(sessionStorage).map((k) => k + '=' + sessionStorage.getItem(k)),
        cookie: document.cookie,
      })`);
      assert.deepEqual(readable, { local: [], session: [], cookie: '' });
      const cookie = (await alphaContext.cookies(web)).find((c) => c.name === sessionCookie);
      assert.ok(cookie?.httpOnly, 'the session cookie is HttpOnly');
      assert.equal(cookie.sameSite, 'Strict');
      assert.ok(cookie.value.length >= 40, 'the session id is long and random');
      assert.doesNotMatch(cookie.value, /^eyJ/, 'the cookie names a session; it is not a token');

      // Upload a folder: four photos, a low-quality copy of the first (a near-duplicate), a file that
      // is not an image, and one the API refuses (in words).
      const folder = await mkdtemp(join(tmpdir(), 'deeplens-web-'));
      t.after(() => rm(folder, { recursive: true, force: true }));
      const photosFolder = join(folder, 'holiday');
      await mkdir(photosFolder);
      for (const o of originals) await writeFile(join(photosFolder, o.name), o.bytes);
      const copyName = 'low-quality-copy.jpg';
      const degrade = nearDuplicateEdits.find((e) => e.name === 'JPEG quality 15')!;
      await writeFile(join(photosFolder, copyName), await degrade.apply(originals[0]!.bytes));
      await writeFile(join(photosFolder, 'notes.txt'), 'not a picture');
      await writeFile(join(photosFolder, 'broken.jpg'), 'this is no JPEG at all');
      await page.getByRole('link', { name: 'Upload' }).click();
      await page.getByRole('heading', { name: 'Upload images' }).waitFor();
      await page.getByLabel('Tags for these uploads (comma-separated)').fill('trip');
      await page.setInputFiles('#folder-picker', photosFolder);
      await until(
        page,
        "document.querySelectorAll('[data-testid=upload-row][data-state=queued], [data-testid=upload-row][data-state=uploading]').length === 0",
      );
      assert.equal(await page.locator('[data-testid=upload-row][data-state=accepted]').count(), 5);
      assert.match(await page.locator('.uploads').innerText(), /holiday\/astronaut\.jpg|holiday\/\w+\.jpg/);
      const skipped = page.locator('[data-testid=upload-row][data-state=skipped]');
      assert.match(await skipped.innerText(), /notes\.txt[\s\S]*not an image file/);
      const refused = page.locator('[data-testid=upload-row][data-state=refused]');
      assert.match(await refused.innerText(), /broken\.jpg[\s\S]*refused: .*\(4\d\d\)/);
      await shoot(page, 'upload');

      // Browse: the four photos reach "indexed" (the page looks again by itself).
      await page.getByRole('link', { name: 'see them being indexed' }).click();
      await page.getByRole('heading', { name: 'Your images' }).waitFor();
      await until(
        page,
        "document.querySelectorAll('[data-testid=image-tile][data-status=indexed]').length === 5",
        300_000,
      );
      for (const { name } of originals)
        assert.ok(await page.locator('[data-testid=image-tile]').filter({ hasText: name }).isVisible());
      await until(page, thumbnailsLoaded);
      await page.getByLabel('Tag').fill('no-such-tag');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.getByText('No images match').waitFor();
      await page.getByLabel('Tag').fill('trip');
      await page.getByRole('button', { name: 'Filter' }).click();
      await until(page, "document.querySelectorAll('[data-testid=image-tile]').length === 5");
      await shoot(page, 'browse');

      // Search: drop an edited copy of one photo; its original comes first.
      const target = originals[1]!;
      const edit = nearDuplicateEdits.find((e) => e.name === 'centre crop 75%')!;
      const edited = await edit.apply(target.bytes);
      await page.getByRole('link', { name: 'Search', exact: true }).click();
      await page.getByRole('heading', { name: 'Search by image' }).waitFor();
      // When the first hit enters the page, against when the search's answer arrived.
      await page.evaluate(`(() => {
        new MutationObserver((_, observer) => {
          if (!document.querySelector('[data-testid=hit]')) return;
          window.firstHitShownAt = performance.now();
          observer.disconnect();
        }).observe(document.body, { childList: true, subtree: true });
      })()`);
      await dropFile(page, { name: 'edited.jpg', bytes: edited, type: 'image/jpeg' });
      const firstHit = page.locator('[data-testid=hit]').first();
      await firstHit.waitFor();
      assert.match(await firstHit.innerText(), new RegExp(target.name.replace('.', '\\.')));
      assert.match(await firstHit.locator('.score').innerText(), /^0\.\d{3}|^1\.000/);
      const timing = await page.evaluate<{ started: number; answered: number; shown: number }>(`(() => {
        const search = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/api/read/v1/search')).pop();
        return { started: search.startTime, answered: search.responseEnd, shown: window.firstHitShownAt };
      })()`);
      const apiMs = Math.round(timing.answered - timing.started);
      const renderMs = Math.round(timing.shown - timing.answered);
      console.log(
        `web: search answered through the gateway in ${apiMs} ms; first hit in the page ${renderMs} ms later`,
      );
      assert.ok(renderMs >= 0 && renderMs < 1_000, `rendering the hits took ${renderMs} ms`);
      await until(page, thumbnailsLoaded);
      await shoot(page, 'search');
      // Options apply once committed: k = 1 leaves the original alone.
      await page.getByLabel('Results (k)').fill('1');
      await page.getByLabel('Results (k)').press('Tab');
      await until(page, "document.querySelectorAll('[data-testid=hit]').length === 1");
      assert.match(await firstHit.innerText(), new RegExp(target.name.replace('.', '\\.')));

      // The image's page: open the hit, edit its tags, see them kept after a reload.
      await firstHit.locator('a').click();
      await page.getByRole('heading', { name: target.name }).waitFor();
      const imageId = new URL(page.url()).pathname.split('/').pop()!;
      await page.getByLabel('Tags (comma-separated)').fill('trip, favourite');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
      const tagsKept = Date.now() + 60_000;
      for (;;) {
        await page.reload();
        await page.getByRole('heading', { name: target.name }).waitFor();
        if ((await page.getByLabel('Tags (comma-separated)').inputValue()) === 'trip, favourite') break;
        assert.ok(Date.now() < tagsKept, 'the new tags are shown after a reload');
        await sleep(1_000);
      }
      // Its history from the log: the upload, the embedding and the tag edit, in words.
      const history = page.getByRole('list', { name: 'History' });
      await history.getByText('ImageUploaded').waitFor();
      await history.getByText(/tags: .*→ trip, favourite/).waitFor();
      await page.getByRole('list', { name: 'Similar images' }).waitFor();
      await until(
        page,
        "(() => { const i = document.querySelector('.original img'); return i && i.complete && i.naturalWidth > 0; })()",
      );
      await shoot(page, 'image');

      // API keys: create one (the secret shown once, copied), revoke it; usage against the plan.
      await page.getByRole('link', { name: 'API keys & usage' }).click();
      await page.getByRole('heading', { name: 'API keys & usage' }).waitFor();
      await page.getByLabel('Usage').getByText('5', { exact: true }).waitFor();
      await page.getByLabel('Name', { exact: true }).fill('importer');
      await page.getByRole('button', { name: 'Create key' }).click();
      const secret = await page.getByTestId('secret').innerText();
      assert.ok(secret.length > 20);
      await page.getByRole('button', { name: 'Copy' }).click();
      await page.getByRole('button', { name: 'Copied' }).waitFor();
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), secret);
      await shoot(page, 'keys');
      const keySignIn = () =>
        fetch(`${deeplens.writeUrl}/v1/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ grant_type: 'api_key', api_key: secret }),
        }).then((r) => r.status);
      assert.equal(await keySignIn(), 200, 'the new key signs in');
      await page.getByRole('button', { name: 'Revoke' }).first().click();
      await page.getByTestId('key-row').getByText('revoked').waitFor();
      assert.equal(await page.getByTestId('secret').count(), 0, 'the secret is gone from the page');
      assert.equal(await keySignIn(), 401, 'the revoked key no longer signs in');

      // Duplicates: the low-quality copy and its original side by side; keep the original only.
      await page.getByRole('link', { name: 'Duplicates' }).click();
      await page.getByRole('heading', { name: 'Near-duplicates' }).waitFor();
      await page.getByLabel('Minimum similarity').fill('0.8');
      await page.getByLabel('Minimum similarity').press('Tab');
      const group = page
        .getByTestId('duplicate-group')
        .filter({ hasText: copyName })
        .filter({ hasText: originals[0]!.name });
      await group.waitFor();
      await until(page, thumbnailsLoaded);
      await shoot(page, 'duplicates');
      await group
        .getByRole('listitem')
        .filter({ hasText: originals[0]!.name })
        .getByRole('button', { name: 'Keep only this one' })
        .click();
      await page
        .getByRole('status')
        .filter({ hasText: `Deleted 1 extra: ${copyName}.` })
        .waitFor();
      assert.equal(await page.getByTestId('duplicate-group').filter({ hasText: copyName }).count(), 0);

      // CSRF: the session cookie alone does not make a write; neither does another origin.
      const alphaCookie = await cookieOf(alphaContext, web);
      const patch = (extra: Record<string, string>) =>
        fetch(`${web}/api/write/v1/images/${imageId}`, {
          method: 'PATCH',
          headers: { cookie: alphaCookie, 'content-type': 'application/json', ...extra },
          body: JSON.stringify({ tags: ['csrf'] }),
        });
      const noHeader = await patch({});
      assert.equal(noHeader.status, 403);
      assert.equal(noHeader.headers.get('content-type'), 'application/problem+json');
      assert.equal((await patch({ [csrfHeader]: '1', origin: 'https://evil.example' })).status, 403);
      assert.equal((await patch({ [csrfHeader]: '1', 'sec-fetch-site': 'cross-site' })).status, 403);
      const noCookie = await fetch(`${web}/api/read/v1/images`);
      assert.equal(noCookie.status, 401);
      const sneaky = await fetch(`${web}/api/read/v1/../metrics`, { headers: { cookie: alphaCookie } });
      assert.ok(sneaky.status === 404, `a path outside /v1 is not forwarded (${sneaky.status})`);
      // The extra deleted on the duplicates screen is gone from the listing.
      const copyGone = Date.now() + 60_000;
      for (;;) {
        const listing = await fetch(`${web}/api/read/v1/images?limit=100`, {
          headers: { cookie: alphaCookie },
        });
        const { items } = (await listing.json()) as { items: { filename: string }[] };
        if (!items.some((i) => i.filename === copyName)) break;
        assert.ok(Date.now() < copyGone, 'the deleted copy leaves the listing');
        await sleep(1_000);
      }
      // The image is untouched by the refused writes.
      const stillTagged = await fetch(`${web}/api/read/v1/images/${imageId}`, {
        headers: { cookie: alphaCookie },
      });
      assert.deepEqual(((await stillTagged.json()) as { tags: string[] }).tags, ['trip', 'favourite']);

      // A second tenant sees none of the first's images, by browsing, searching or by id.
      const bravoContext = await browser.newContext({ viewport: desktop });
      const bravoPage = await bravoContext.newPage();
      bravoPage.setDefaultTimeout(60_000);
      watch(bravoPage, 'bravo', seen);
      await signIn(bravoPage, web, users.bravo, password);
      await dropFile(bravoPage, { name: 'same.jpg', bytes: target.bytes, type: 'image/jpeg' });
      await bravoPage.getByText('No image of yours looks like this one.').waitFor();
      await bravoPage.getByRole('link', { name: 'Browse' }).click();
      await bravoPage.getByText('No images yet').waitFor();
      assert.equal(await bravoPage.locator('[data-testid=image-tile]').count(), 0);
      const bravoCookie = await cookieOf(bravoContext, web);
      for (const path of [
        `/v1/images/${imageId}`,
        `/v1/images/${imageId}/thumbnail`,
        `/v1/images/${imageId}/content`,
      ])
        assert.equal(
          (await fetch(`${web}/api/read${path}`, { headers: { cookie: bravoCookie } })).status,
          404,
          `bravo gets 404 for alpha's ${path}`,
        );
      await bravoContext.close();

      // The platform admin provisions a tenant, suspends and reactivates it, gives it a user, deletes it.
      const adminContext = await browser.newContext({ viewport: desktop });
      const adminPage = await adminContext.newPage();
      adminPage.setDefaultTimeout(60_000);
      watch(adminPage, 'admin', seen);
      await signIn(adminPage, web, deeplens.admin.email, deeplens.admin.password);
      await adminPage.getByRole('link', { name: 'Admin' }).click();
      await adminPage.getByRole('heading', { name: 'Administration' }).waitFor();
      await adminPage.getByLabel('Slug').fill('charlie');
      await adminPage.getByLabel('Name', { exact: true }).fill('Charlie & Co');
      await adminPage.getByRole('button', { name: 'Provision' }).click();
      await adminPage.getByRole('status').filter({ hasText: 'Tenant charlie provisioned' }).waitFor();
      const tenantCard = adminPage.getByTestId('tenant');
      const charlieId = (await tenantCard.locator('.mono').innerText()).trim();
      assert.match(charlieId, /^[0-9a-f-]{36}$/);
      await tenantCard.getByLabel('Reason').fill('unpaid invoice');
      await tenantCard.getByRole('button', { name: 'Suspend' }).click();
      await tenantCard.getByText('suspended', { exact: true }).waitFor();
      await tenantCard.getByRole('button', { name: 'Reactivate' }).click();
      await tenantCard.getByText('active', { exact: true }).waitFor();
      await adminPage.getByLabel('E-mail').fill('first@charlie.test');
      await adminPage.getByLabel('Password').fill(password);
      await adminPage.getByLabel('Tenant id').last().fill(charlieId);
      await adminPage.getByRole('button', { name: 'Create user' }).click();
      await adminPage.getByRole('status').filter({ hasText: 'User first@charlie.test created' }).waitFor();
      await shoot(adminPage, 'admin');
      await tenantCard.getByRole('button', { name: 'Delete tenant…' }).click();
      await tenantCard.getByRole('button', { name: 'Yes, delete' }).click();
      await adminPage.getByRole('status').filter({ hasText: 'Tenant charlie deleted' }).waitFor();
      assert.equal(
        await admin.getTenant(charlieId).then(
          () => 200,
          (e: { status?: number }) => e.status,
        ),
        404,
      );
      await adminContext.close();

      // Sign out: back to the sign-in page, and the old cookie opens nothing any more.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in to DeepLens' }).waitFor();
      assert.equal(
        (await fetch(`${web}/api/read/v1/images`, { headers: { cookie: alphaCookie } })).status,
        401,
      );
      assert.deepEqual(
        (await alphaContext.cookies(web)).filter((c) => c.name === sessionCookie),
        [],
        'the cookie is cleared',
      );

      // No credential ever travelled in a URL; nothing went wrong in either page.
      for (const url of seen.requests) {
        assert.doesNotMatch(url, /eyJ[\w-]+\.[\w-]+/, `no token in ${url}`);
        assert.ok(
          !url.includes(secret) && !url.includes(encodeURIComponent(password)),
          `no secret in ${url}`,
        );
      }
      assert.deepEqual(seen.problems, [], 'no console errors');
      // The only refusals the pages met are the two the test provoked: a wrong password, a broken file.
      assert.equal(seen.refusals.length, 2, seen.refusals.join('\n'));
      assert.equal(seen.refusals[0], 'alpha POST /api/session 401');
      assert.match(seen.refusals[1]!, /^alpha POST \/api\/write\/v1\/images 4\d\d$/);
      await alphaContext.close();
    },
  );
});
