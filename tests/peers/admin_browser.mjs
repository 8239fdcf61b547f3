// Walks Debian's headless Chromium through every page of the ECURTIY admin dashboard of
// the demo binary started by tests/pow_admin_browser.rs, under the demo's own `/captcha`
// mount: sign in, list the sites, create a site, edit it, try the widget (the browser
// solves the proof of work), the analytics with their charts for 24h, 7d, 30d and 90d,
// regenerate the keys, delete the site, sign out. One screenshot per page lands in
// <screenshot-dir>/NN-<page>.png.
//   node tests/peers/admin_browser.mjs <base-url> <admin-password> <screenshot-dir>
// Prints "PASS"; exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { shot } from './shot.mjs';

const [base, password, outDir = 'target'] = process.argv.slice(2);
if (!base || !password) {
  console.error('usage: node admin_browser.mjs <base-url> <password> [screenshot-dir]');
  process.exit(2);
}

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

let n = 0;
async function snap(page, name) {
  n += 1;
  const file = outDir + '/' + String(n).padStart(2, '0') + '-' + name + '.png';
  await shot(page, file);
  console.log('screenshot ' + file + ' (' + page.url().replace(base, '') + ')');
}

async function noHorizontalScroll(page, what) {
  const [sw, w] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (sw > w + 1) fail(what + ' scrolls sideways at phone width: ' + sw + ' > ' + w);
}

// Every page the walk reaches must answer 200 (or the redirect it follows) with HTML.
function watch(page) {
  page.on('response', (r) => {
    const u = r.url();
    if (!u.startsWith(base)) return;
    if (r.status() >= 500) fail('server error ' + r.status() + ' on ' + u);
  });
}

// A call from the page itself (the browser sends its Secure session cookie to
// http://127.0.0.1, as it does for the dashboard's own pages).
async function fetchJson(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { headers: { accept: 'application/json' } });
    return { status: r.status, body: await r.json() };
  }, path);
}

async function text(page, sel) {
  return ((await page.textContent(sel)) || '').trim();
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
});
try {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await ctx.newPage();
  watch(page);
  page.on('console', (m) => console.log('[console] ' + m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => fail('page error: ' + e.message));

  // 1. Signed out: the address the demo prints, and the one without the slash, both lead
  // to the sign-in page.
  for (const path of ['/captcha/admin/', '/captcha/admin']) {
    const res = await page.goto(base + path);
    if (!page.url().endsWith('/captcha/admin/login')) fail(path + ' did not lead to sign in: ' + page.url());
    if (res.status() !== 200) fail('sign-in page answered ' + res.status());
  }
  await page.getByLabel('Admin password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong password' }).waitFor();
  await page.getByLabel('Admin password').fill(password);
  await snap(page, 'sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();

  // 2. The list of sites: the config's site is there.
  await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
  if (!page.url().endsWith('/captcha/admin/')) fail('not redirected to the dashboard: ' + page.url());
  const session = (await ctx.cookies()).find((c) => c.name === 'ecurtiy_admin');
  if (!session || !session.httpOnly || !session.secure || session.sameSite !== 'Strict' || session.path !== '/captcha') {
    fail('session cookie flags: ' + JSON.stringify(session));
  }
  if ((await page.getByRole('link', { name: 'eck_live_demo (from the config)' }).count()) !== 1) {
    fail('the config site is not listed');
  }
  await snap(page, 'sites');

  // 3. Create a site.
  await page.getByRole('link', { name: 'Create a site' }).click();
  await page.getByRole('heading', { name: 'New site', level: 1 }).waitFor();
  await page.getByLabel('Name').fill('Browser shop');
  await page.getByLabel(/^Domain/).fill('shop.example.com');
  await page.getByLabel(/^Difficulty/).selectOption('14');
  await page.getByLabel(/^Monthly verification quota/).fill('1000');
  await snap(page, 'new-site');
  await page.getByRole('button', { name: 'Create site' }).click();
  await page.getByRole('heading', { name: 'Site created' }).waitFor();
  const siteKey = await text(page, '#site-key');
  const secretKey = await text(page, '#secret-key');
  if (!/^eck_live_\w+$/.test(siteKey) || !/^ecs_live_\w+$/.test(secretKey)) fail('keys: ' + siteKey + ' ' + secretKey);
  await snap(page, 'site-created');
  await page.getByRole('link', { name: 'Go to Browser shop' }).click();
  await page.getByRole('heading', { name: 'Browser shop', level: 1 }).waitFor();
  const siteUrl = page.url();
  const m = siteUrl.match(/\/captcha\/admin\/sites\/([A-Za-z0-9_-]+)$/);
  if (!m) fail('site page address: ' + siteUrl);
  const siteId = m[1];
  if ((await text(page, '#total-verifications')) !== '0') fail('a new site has verifications');
  await snap(page, 'site');

  // 4. Edit it: name, domain and quota through the settings form.
  await page.getByLabel('Name').fill('Browser shop EU');
  await page.getByLabel(/^Domain/).fill('eu.shop.example.com');
  await page.getByLabel(/^Monthly verification quota/).fill('5000');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByRole('heading', { name: 'Browser shop EU', level: 1 }).waitFor();
  if (page.url() !== siteUrl) fail('after saving: ' + page.url());
  if ((await page.getByLabel(/^Domain/).inputValue()) !== 'eu.shop.example.com') fail('domain not saved');
  if ((await page.getByLabel(/^Monthly verification quota/).inputValue()) !== '5000') fail('quota not saved');
  await snap(page, 'site-edited');
  // The API (same session; reads need no CSRF token) sees the change.
  const api = await fetchJson(page, '/captcha/api/sites/' + siteId);
  if (api.status !== 200 || api.body.data.name !== 'Browser shop EU' || api.body.data.domain !== 'eu.shop.example.com') {
    fail('GET /captcha/api/sites/{id}: ' + JSON.stringify(api));
  }
  await page.getByRole('link', { name: 'Sites', exact: true }).click();
  await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
  const row = page.locator('tbody tr', { has: page.getByRole('link', { name: 'Browser shop EU' }) });
  if ((await row.count()) !== 1 || !(await row.textContent()).includes('eu.shop.example.com')) fail('the list does not show the edit');
  await row.getByRole('link', { name: 'Browser shop EU' }).click();
  await page.getByRole('heading', { name: 'Browser shop EU', level: 1 }).waitFor();

  // 5. Try the widget: the browser solves the proof of work for this site.
  await page.getByRole('link', { name: 'Try the widget' }).click();
  await page.getByRole('heading', { name: 'Try the widget: Browser shop EU' }).waitFor();
  await page.waitForSelector('.shield-pow .sp-check');
  for (let i = 0; i < 25; i++) {
    await page.mouse.move(40 + i * 8, 300 + Math.round(Math.sin(i / 2) * 30), { steps: 2 });
  }
  await page.getByRole('checkbox', { name: 'I am human' }).click();
  await page.waitForSelector('.shield-pow[data-state=verified], .shield-pow[data-state=failed]', { timeout: 90000 });
  if ((await page.getAttribute('.shield-pow', 'data-state')) !== 'verified') {
    fail('widget did not verify: ' + (await page.textContent('.shield-pow .sp-status')));
  }
  const token = await text(page, '#demo-token');
  if (!token.startsWith('ect_')) fail('no token shown: ' + token);
  await snap(page, 'try-widget');
  // The site's server validates the token with its secret key (once).
  const v = await page.request.post(base + '/captcha/api/validate', { data: { token, secretKey } });
  const vj = await v.json();
  if (v.status() !== 200 || vj.success !== true || vj.data.passed !== true) fail('validate: ' + v.status() + ' ' + JSON.stringify(vj));

  // 6. Analytics for each period: the verification is counted, and the chart draws it.
  await page.getByRole('link', { name: 'Back to Browser shop EU' }).click();
  await page.getByRole('heading', { name: 'Browser shop EU', level: 1 }).waitFor();
  const bars = { '24h': 24, '7d': 7, '30d': 30, '90d': 90 };
  for (const period of ['24h', '7d', '30d', '90d']) {
    // The events are written in the background: poll briefly.
    let total = '';
    for (let i = 0; i < 40; i++) {
      await page.getByRole('navigation', { name: 'Period' }).getByRole('link', { name: period, exact: true }).click();
      await page.waitForURL((u) => u.search === '?period=' + period);
      total = await text(page, '#total-verifications');
      if (total === '1') break;
      await page.waitForTimeout(250);
    }
    if (total !== '1') fail(period + ': analytics total is ' + total + ', expected 1');
    if ((await text(page, '#passed-verifications')) !== '1') fail(period + ': the verification did not pass');
    if ((await page.getAttribute('.periods a[aria-current=page]', 'href')).endsWith('period=' + period) !== true) {
      fail(period + ': the period link is not marked current');
    }
    const chart = page.getByRole('img', { name: new RegExp('Verifications per (hour|day), last ' + period) });
    if ((await chart.count()) !== 1) fail(period + ': no accessible chart');
    const box = await chart.boundingBox();
    if (!box || box.width < 200 || box.height < 50) fail(period + ': chart not laid out: ' + JSON.stringify(box));
    const barCount = await page.locator('svg.chart g.bar').count();
    if (barCount !== bars[period]) fail(period + ': ' + barCount + ' bars, expected ' + bars[period]);
    const filled = page.locator('svg.chart g.bar[data-total="1"] rect.passed');
    if ((await filled.count()) !== 1) fail(period + ': no bar for the verification');
    const rect = await filled.boundingBox();
    if (!rect || rect.height < 20 || rect.width < 1) fail(period + ': the bar is not drawn: ' + JSON.stringify(rect));
    // Drawn in the green the stylesheet gives passed verifications (the CSS loaded).
    const fill = await filled.evaluate((el) => getComputedStyle(el).fill);
    if (fill !== 'rgb(26, 127, 55)') fail(period + ': bar fill ' + fill);
    // Every axis label is drawn inside the chart (none clipped at an edge).
    for (const tick of await page.locator('svg.chart text.tick').all()) {
      const t = await tick.boundingBox();
      if (!t || t.x < box.x - 0.5 || t.x + t.width > box.x + box.width + 0.5) {
        fail(period + ': axis label ' + (await tick.textContent()) + ' outside the chart: ' + JSON.stringify(t) + ' in ' + JSON.stringify(box));
      }
    }
    if ((await page.locator('#recent tbody tr').count()) !== 1) fail(period + ': recent verifications');
    // The chart says what the API says.
    const aj = (await fetchJson(page, '/captcha/api/analytics/' + siteId + '?period=' + period)).body;
    if (aj.summary.totalVerifications !== 1 || aj.chartData.length !== bars[period]) {
      fail(period + ': API analytics ' + JSON.stringify(aj.summary) + ' with ' + aj.chartData.length + ' points');
    }
    await page.locator('svg.chart').scrollIntoViewIfNeeded();
    await snap(page, 'analytics-' + period);
  }

  // 7. Regenerate the keys, with a confirmation step: the old site key stops working.
  await page.getByRole('link', { name: 'Regenerate keys' }).click();
  await page.getByRole('heading', { name: 'Regenerate the keys of Browser shop EU?' }).waitFor();
  await snap(page, 'regenerate-confirm');
  await page.getByRole('button', { name: 'Regenerate keys' }).click();
  await page.getByRole('heading', { name: 'New keys' }).waitFor();
  const newKey = await text(page, '#site-key');
  if (newKey === siteKey || !newKey.startsWith('eck_live_')) fail('key not regenerated: ' + newKey);
  await snap(page, 'new-keys');
  const old = await page.request.post(base + '/captcha/api/challenge', { data: { siteKey } });
  if (old.status() !== 401) fail('the old site key still works: ' + old.status());
  const fresh = await page.request.post(base + '/captcha/api/challenge', { data: { siteKey: newKey } });
  if (fresh.status() !== 200) fail('the new site key does not work: ' + fresh.status());

  // 8. Delete the site, with a confirmation step.
  await page.getByRole('link', { name: 'Go to Browser shop EU' }).click();
  await page.getByRole('link', { name: 'Delete site' }).click();
  await page.getByRole('heading', { name: 'Delete Browser shop EU?' }).waitFor();
  await snap(page, 'delete-confirm');
  await page.getByRole('button', { name: 'Delete site' }).click();
  await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
  if ((await page.getByRole('link', { name: 'Browser shop EU' }).count()) !== 0) fail('the deleted site is still listed');
  await snap(page, 'sites-after-delete');
  const gone = await page.request.post(base + '/captcha/api/challenge', { data: { siteKey: newKey } });
  if (gone.status() !== 401) fail('the deleted site key still works: ' + gone.status());
  const res404 = await page.goto(siteUrl);
  if (res404.status() !== 404) fail('the deleted site page answered ' + res404.status());
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  await snap(page, 'deleted-site-page');

  // 9. At phone width, no page scrolls sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [path, what] of [['/captcha/admin/', 'the site list'], ['/captcha/admin/sites/new', 'the site form']]) {
    await page.goto(base + path);
    await noHorizontalScroll(page, what);
  }
  await page.getByRole('link', { name: 'Sites', exact: true }).click();
  await page.getByRole('link', { name: 'eck_live_demo (from the config)' }).click();
  await page.getByRole('heading', { name: 'eck_live_demo (from the config)', level: 1 }).waitFor();
  await noHorizontalScroll(page, 'the analytics page');
  await snap(page, 'site-phone');

  // 10. Sign out.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  const after = await fetchJson(page, '/captcha/api/sites');
  if (after.status !== 401) fail('signed out, the API still answers ' + after.status);
  console.log('site ' + siteId + ': ' + siteKey + ' -> ' + newKey + ', validated, analytics 1 verification in every period, deleted');
  console.log('PASS');
} finally {
  await browser.close();
}
