// page.mjs — the page at / in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser is downloaded). Run by tests/browser/test_browser.c, which starts
// PostgreSQL, the services, the gateway and the OpenID provider and creates the room; the
// environment says where:
//   BASE        the gateway, http://127.0.0.1:PORT
//   ROOM_ID     a public ACTIVE room with participants bob and carol, and PRIZE_ID, 3 of them
//   ORG_TOKEN   the room organizer's access token (draws), DAVE_TOKEN a user who joins live
//   CHROMIUM    the browser (default /usr/bin/chromium)
//   SCREENSHOT  optional: a PNG of the room at the end is written there
// Steps: the page lists the room; alice signs in through the provider's own login and consent
// forms; the room shows its lists; the live feed connects; a join and a draw made through the
// HTTP API (here, not by the page) appear on the page; after the socket drops, an event made
// meanwhile arrives through resume. Any console error or CSP violation fails the test.
// Exit 0 = passed; 1 = failed (the reason on stderr).
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';

const env = (name, def) => {
  const v = process.env[name] ?? def;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('BASE');
const ROOM_ID = env('ROOM_ID');
const PRIZE_ID = env('PRIZE_ID');
const ORG_TOKEN = env('ORG_TOKEN');
const DAVE_TOKEN = env('DAVE_TOKEN');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const WAIT = 15000;

const step = (text) => console.log(`browser: ${text}`);

async function api(method, path, token, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (tools/deps.sh does)`);
  }
  try {
    return await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30000 });
  } catch (e) {
    throw new Error(`Chromium (${CHROMIUM}) did not start: ${e.message.split('\n')[0]}`);
  }
}

async function main() {
  const browser = await launch();
  const problems = [];
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('console', (m) => {
      // ours only: the provider's own login pages are not under test
      if (m.type() === 'error' && page.url().startsWith(`${BASE}/`)) {
        problems.push(`console: ${m.text()} (${m.location().url || page.url()})`);
      }
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

    step('open the page');
    await page.goto(`${BASE}/`);
    await page.waitForSelector('body[data-ready="true"]');
    const roomLink = page.getByRole('list', { name: 'Rooms' }).getByRole('link', { name: /Browser party/ });
    await roomLink.waitFor();

    step('sign in through the OpenID provider\'s login and consent forms');
    await page.getByRole('button', { name: /Sign in with/ }).first().click();
    // The provider's own pages (oidc-provider's dev interactions): a login form, then consent.
    for (let i = 0; i < 5 && !page.url().startsWith(`${BASE}/`); i++) {
      await page.waitForLoadState();
      if (page.url().startsWith(`${BASE}/`)) break;
      const login = page.locator('input[name="login"]');
      if (await login.count()) {
        await login.fill('alice');
        await page.locator('input[name="password"]').fill('any');
      }
      await Promise.all([page.waitForNavigation(), page.locator('button[type="submit"]').first().click()]);
    }
    await page.getByText('Signed in as Alice Test').waitFor();
    if (new URL(page.url()).search) problems.push(`the code stayed in the URL: ${page.url()}`);

    step('open the room');
    await page.getByRole('link', { name: /Browser party/ }).click();
    await page.getByRole('heading', { name: 'Browser party' }).waitFor();
    const participants = page.getByRole('list', { name: 'Participants' });
    await participants.getByText('bob').waitFor();
    await participants.getByText('carol').waitFor();
    await page.getByRole('list', { name: 'Prizes' }).getByText('Golden ticket (3 of 3 left)').waitFor();

    step('the live feed connects');
    await page.locator('#feed-state', { hasText: 'live' }).waitFor();

    step('a join through the API appears');
    await api('POST', `/v1/rooms/${ROOM_ID}/participants`, DAVE_TOKEN, { role: 'PARTICIPANT' });
    const feed = page.getByRole('list', { name: /Live feed/ });
    await feed.getByText('dave joined as PARTICIPANT').waitFor();
    await participants.getByText('dave').waitFor();

    step('a draw through the API: the winner appears');
    const drawn = await api('POST', `/v1/rooms/${ROOM_ID}/draws`, ORG_TOKEN, { prizeId: PRIZE_ID, count: 1 });
    const winner = drawn.winners[0].userId;
    await feed.getByText(`${winner} won Golden ticket`).waitFor();
    await page.getByRole('list', { name: 'Winners' }).getByText(`${winner} won Golden ticket`).waitFor();
    await page.getByRole('list', { name: 'Prizes' }).getByText('Golden ticket (2 of 3 left)').waitFor();

    step('the socket drops; a draw made meanwhile arrives by resume');
    await page.evaluate(() => {
      // eslint-disable-next-line no-undef
      feed.ws.close(); // as a network cut would; the page reconnects by itself
    });
    const again = await api('POST', `/v1/rooms/${ROOM_ID}/draws`, ORG_TOKEN, { prizeId: PRIZE_ID, count: 1 });
    const second = again.winners[0].userId;
    await feed.getByText(`${second} won Golden ticket`).waitFor();
    await page.locator('#feed-state', { hasText: 'live' }).waitFor();
    const lines = await feed.getByText(/won Golden ticket/).count();
    if (lines !== 2) problems.push(`expected 2 winner lines in the feed, saw ${lines}`);
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  } catch (e) {
    // say what the page showed: the feed's state and any notice
    const page = browser.contexts()[0]?.pages()[0];
    const shown = page
      ? await page.evaluate(() => ({
          url: location.href,
          feed: document.getElementById('feed-state')?.textContent,
          notice: document.getElementById('notice')?.textContent,
        })).catch(() => null)
      : null;
    if (shown) e.message += `\n  the page: ${JSON.stringify(shown)}`;
    if (problems.length) e.message += `\n  ${problems.join('\n  ')}`;
    throw e;
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(problems.join('\n'));
  step('passed');
}

main().catch((e) => {
  console.error(`browser test FAILED: ${e.message}`);
  process.exit(1);
});
