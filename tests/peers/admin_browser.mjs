// Drives Debian's headless Chromium through the ECURTIY admin dashboard at phone width,
// against a server started by tests/pow_admin_browser.rs:
// sign in, create a site, solve the widget for it, see the verification in the charts,
// regenerate its keys. Screenshots land in <screenshot-dir>/admin-*.png.
//   node tests/peers/admin_browser.mjs <base-url> <password> <screenshot-dir>
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

async function noHorizontalScroll(page, what) {
  const [sw, w] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (sw > w + 1) fail(what + ' scrolls sideways at phone width: ' + sw + ' > ' + w);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
});
try {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  page.on('console', (m) => console.log('[console] ' + m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => console.log('[pageerror] ' + e.message));

  // 1. Signed out: the dashboard sends us to the sign-in page.
  await page.goto(base + '/captcha/admin/');
  if (!page.url().endsWith('/captcha/admin/login')) fail('not redirected to sign in: ' + page.url());
  await page.getByLabel('Admin password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong password' }).waitFor();
  await page.getByLabel('Admin password').fill(password);
  await shot(page, outDir + '/admin-login.png');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
  const cookies = await ctx.cookies();
  const session = cookies.find((c) => c.name === 'ecurtiy_admin');
  if (!session || !session.httpOnly || !session.secure || session.sameSite !== 'Strict') {
    fail('session cookie flags: ' + JSON.stringify(session));
  }

  // 2. Create a site with the form.
  await page.getByRole('link', { name: 'Create a site' }).click();
  await page.getByLabel('Name').fill('Browser shop');
  await page.getByLabel(/^Domain/).fill('shop.example.com');
  await page.getByLabel(/^Difficulty/).selectOption('14');
  await noHorizontalScroll(page, 'the site form');
  await page.getByRole('button', { name: 'Create site' }).click();
  await page.getByRole('heading', { name: 'Site created' }).waitFor();
  const siteKey = (await page.textContent('#site-key')).trim();
  const secretKey = (await page.textContent('#secret-key')).trim();
  if (!siteKey.startsWith('eck_live_') || !secretKey.startsWith('ecs_live_')) fail('keys: ' + siteKey + ' ' + secretKey);
  await shot(page, outDir + '/admin-keys.png');
  await page.getByRole('link', { name: 'Go to Browser shop' }).click();
  await page.getByRole('heading', { name: 'Browser shop', level: 1 }).waitFor();
  if ((await page.textContent('#total-verifications')).trim() !== '0') fail('a new site has verifications');

  // 3. Solve the real widget for that site.
  await page.getByRole('link', { name: 'Try the widget' }).click();
  await page.waitForSelector('.shield-pow .sp-check');
  for (let i = 0; i < 25; i++) {
    await page.mouse.move(40 + i * 8, 300 + Math.round(Math.sin(i / 2) * 30), { steps: 2 });
  }
  await page.getByRole('checkbox', { name: 'I am human' }).click();
  await page.waitForSelector('.shield-pow[data-state=verified], .shield-pow[data-state=failed]', { timeout: 90000 });
  const state = await page.getAttribute('.shield-pow', 'data-state');
  if (state !== 'verified') fail('widget did not verify: ' + (await page.textContent('.shield-pow .sp-status')));
  await shot(page, outDir + '/admin-try.png');

  // 4. The verification shows in the analytics (written in the background: poll briefly).
  let total = '0';
  for (let i = 0; i < 20 && total !== '1'; i++) {
    await page.goto(base + '/captcha/admin/');
    await page.getByRole('link', { name: 'Browser shop' }).click();
    await page.getByRole('link', { name: '24h' }).click();
    total = (await page.textContent('#total-verifications')).trim();
    if (total !== '1') await page.waitForTimeout(250);
  }
  if (total !== '1') fail('analytics total is ' + total + ', expected 1');
  if ((await page.textContent('#passed-verifications')).trim() !== '1') fail('the verification did not pass');
  const chart = page.getByRole('img', { name: /Verifications per hour/ });
  if ((await chart.count()) !== 1) fail('no accessible chart');
  if ((await page.locator('svg.chart g.bar[data-total="1"] rect.passed').count()) !== 1) fail('no bar for the verification');
  if ((await page.locator('#recent tbody tr').count()) !== 1) fail('recent verifications');
  await noHorizontalScroll(page, 'the analytics page');
  await page.locator('svg.chart').scrollIntoViewIfNeeded();
  await shot(page, outDir + '/admin-analytics.png');

  // 5. Regenerate the keys, with a confirmation step.
  await page.getByRole('link', { name: 'Regenerate keys' }).click();
  await page.getByRole('heading', { name: /Regenerate the keys/ }).waitFor();
  await page.getByRole('button', { name: 'Regenerate keys' }).click();
  await page.getByRole('heading', { name: 'New keys' }).waitFor();
  const newKey = (await page.textContent('#site-key')).trim();
  if (newKey === siteKey || !newKey.startsWith('eck_live_')) fail('key not regenerated: ' + newKey);
  const old = await page.request.post(base + '/captcha/api/challenge', { data: { siteKey } });
  if (old.status() !== 401) fail('the old site key still works: ' + old.status());
  await shot(page, outDir + '/admin-regenerated.png');

  // 6. Sign out.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  console.log('site ' + siteKey + ' -> ' + newKey + '; analytics total ' + total);
  console.log('PASS');
} finally {
  await browser.close();
}
