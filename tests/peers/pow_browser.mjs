// Drives Debian's headless Chromium through the proof-of-work widget and the inline
// layer's interstitial, against a server started by tests/pow_browser.rs.
//   node tests/peers/pow_browser.mjs <base-url> <screenshot-dir>
// Prints the widget's hash rate and "PASS"; exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { shot } from './shot.mjs';

const base = process.argv[2];
const outDir = process.argv[3] || 'target';
if (!base) {
  console.error('usage: node pow_browser.mjs <base-url> [screenshot-dir]');
  process.exit(2);
}

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
});
try {
  // 1. The widget on the demo page, checkbox mode, then a protected API call with the token.
  const ctx = await browser.newContext({ viewport: { width: 420, height: 720 } });
  const page = await ctx.newPage();
  page.on('console', (m) => console.log('[console] ' + m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => console.log('[pageerror] ' + e.message));
  await page.goto(base + '/captcha/demo');
  await page.waitForSelector('.shield-pow .sp-check');
  // Accessibility: the checkbox has a label, the status region is live.
  const box = page.getByRole('checkbox', { name: 'I am human' });
  if ((await box.count()) !== 1) fail('the checkbox has no accessible name');
  const live = await page.getAttribute('.shield-pow .sp-status', 'aria-live');
  if (live !== 'polite') fail('the status region is not aria-live');
  // Some human-like pointer movement before the click.
  for (let i = 0; i < 25; i++) {
    await page.mouse.move(60 + i * 9 + (i % 4) * 5, 180 + Math.round(Math.sin(i / 2) * 35), { steps: 2 });
  }
  await box.click();
  // Selector waits (no eval: the page's CSP forbids it, and stays on).
  await page.waitForSelector('.shield-pow[data-state=verified], .shield-pow[data-state=failed]', { timeout: 90000 });
  const state = await page.getAttribute('.shield-pow', 'data-state');
  const status = await page.textContent('.shield-pow .sp-status');
  if (state !== 'verified') fail('widget did not verify: ' + status);
  const token = await page.getAttribute('.shield-pow', 'data-token');
  if (!token || !token.startsWith('ect_')) fail('no ect_ token: ' + token);
  const stats = await page.evaluate(() => window.ShieldPow.stats);
  await page.waitForSelector('#demo-result[data-status]', { timeout: 30000 });
  const result = await page.textContent('#demo-result');
  console.log('protected API answered: ' + result);
  if (!result.startsWith('200 ')) fail('protected route refused the token: ' + result);
  await shot(page, outDir + '/pow-widget.png');

  // 2. The inline layer's interstitial: a fresh browser profile navigates to a protected page.
  const ctx2 = await browser.newContext({ viewport: { width: 800, height: 600 } });
  const page2 = await ctx2.newPage();
  page2.on('pageerror', (e) => console.log('[pageerror] ' + e.message));
  const first = await page2.goto(base + '/app/', { waitUntil: 'domcontentloaded' });
  if (first.status() !== 401) fail('expected the interstitial (401), got ' + first.status());
  await shot(page2, outDir + '/pow-interstitial.png').catch(() => {});
  await page2.waitForSelector('#app', { timeout: 90000 });
  const heading = await page2.textContent('#app');
  const stats2 = await page2.evaluate(() => window.ShieldPow ? window.ShieldPow.stats : null).catch(() => null);
  const cookies = await ctx2.cookies();
  const pass = cookies.find((c) => c.name === 'shield_pass');
  if (!pass || !pass.value.startsWith('esp_')) fail('no pass cookie after the interstitial');
  console.log('interstitial passed; page says: ' + heading.trim() + '; pass cookie httpOnly=' + pass.httpOnly + ' secure=' + pass.secure);
  // Parallel requests share the pass.
  const codes = await page2.evaluate(async () => {
    const rs = await Promise.all([1, 2, 3, 4, 5, 6].map(() => fetch('/app/api/data', { headers: { accept: 'application/json' } })));
    return rs.map((r) => r.status);
  });
  if (!codes.every((c) => c === 200)) fail('parallel requests with the pass: ' + codes.join(','));
  await shot(page2, outDir + '/pow-after-interstitial.png');

  console.log(`widget solve: ${stats.hashes} hashes in ${stats.solveMs} ms with ${stats.workers} workers (includes worker start-up)`);
  // A steady-state measurement: every worker on an unsolvable difficulty for 3 s.
  const bench = await page.evaluate(() => window.ShieldPow.benchmark(3000));
  console.log(`widget hash rate: ${bench.hashRate} H/s (${bench.hashes} hashes in ${bench.ms} ms, ${bench.workers} workers)`);
  void stats2;
  console.log('PASS');
} catch (e) {
  if (!process.exitCode) {
    console.error('FAIL: ' + (e && e.stack || e));
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}
