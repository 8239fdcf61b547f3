// Drives Debian's headless Chromium through the demo's home page, served by the demo binary
// tests/demo_home_browser.rs starts: submits every "try it" form and checks the answer the
// page shows (the Auspex one signed in the browser with WebCrypto), follows the links to the
// widget page and the dashboard. Screenshots land in <screenshot-dir>/.
//   node tests/peers/demo_home_browser.mjs <base-url> <screenshot-dir>
// Prints "PASS"; exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { shot } from './shot.mjs';

const [base, outDir = 'target'] = process.argv.slice(2);
if (!base) {
  console.error('usage: node demo_home_browser.mjs <base-url> [screenshot-dir]');
  process.exit(2);
}

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

// Waits for the answer box to show a status, returns {status, json}.
async function answer(page, id) {
  await page.waitForSelector('#' + id + '[data-status]', { timeout: 30000 });
  const status = await page.getAttribute('#' + id, 'data-status');
  const text = (await page.textContent('#' + id)) || '';
  const nl = text.indexOf('\n');
  let json = null;
  try { json = JSON.parse(text.slice(nl + 1)); } catch (e) { fail(id + ': the answer is not JSON: ' + text); }
  if (text.slice(0, nl) !== status) fail(id + ': the status line says ' + text.slice(0, nl));
  return { status: Number(status), json };
}

// Polls (the page's CSP forbids waitForFunction's eval) until #id's text includes `what`.
async function waitText(page, id, what) {
  for (let i = 0; i < 120; i++) {
    if (((await page.textContent('#' + id)) || '').includes(what)) return;
    await page.waitForTimeout(100);
  }
  fail('#' + id + ' never showed ' + what + ': ' + (await page.textContent('#' + id)));
}

async function submit(page, formId, button) {
  await page.locator('#' + formId).getByRole('button', { name: button }).click();
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
});
try {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  // Refusals the forms ask for on purpose show as "Failed to load resource" console
  // errors; anything else in the console is a bug.
  page.on('console', (m) => {
    console.log('[console] ' + m.type() + ': ' + m.text());
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('response', (r) => { if (r.status() === 404 || r.status() >= 500) errors.push(r.status() + ' ' + r.url()); });
  page.on('pageerror', (e) => errors.push(e.message));
  const res = await page.goto(base + '/');
  if (res.status() !== 200) fail('home page answered ' + res.status());
  const csp = res.headers()['content-security-policy'] || '';
  if (!csp.includes("script-src 'self'") || !csp.includes("connect-src 'self'")) fail('CSP: ' + csp);
  await page.getByRole('heading', { name: 'tower-shield demo', level: 1 }).waitFor();
  // Styled by the dashboard's stylesheet (it loaded and applies).
  const font = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
  if (!font.includes('system-ui')) fail('the dashboard stylesheet did not apply: ' + font);
  // Every seed names its endpoints.
  for (const [seed, path] of [['602TechSec', '/api/v2/verify'], ['Auspex Verus', '/verus/classify'], ['Engineering11', '/api/jwt/token'], ['Engineering11', '/api/lookup/email'], ['ECURTIY', '/captcha/api/challenge']]) {
    const row = page.locator('tbody tr', { hasText: path }).filter({ hasText: seed });
    if ((await row.count()) < 1) fail('no row for ' + seed + ' ' + path);
  }
  await shot(page, outDir + '/home.png');

  // 602TechSec, v2 then v1.
  await submit(page, 'try-techsec', 'Send');
  let a = await answer(page, 'techsec-answer');
  if (a.status !== 200 || typeof a.json.isAllowed !== 'boolean' || !a.json.securityFlags || typeof a.json.riskScore !== 'number') {
    fail('602TechSec v2: ' + JSON.stringify(a));
  }
  await page.locator('#try-techsec').getByLabel('Version').selectOption('/api/verify');
  await submit(page, 'try-techsec', 'Send');
  for (let i = 0; i < 120 && ((await page.textContent('#techsec-answer')) || '').includes('securityFlags'); i++) await page.waitForTimeout(100);
  a = await answer(page, 'techsec-answer');
  if (a.status !== 200 || typeof a.json.isAllowed !== 'boolean' || 'securityFlags' in a.json) fail('602TechSec v1: ' + JSON.stringify(a));
  // A wrong key: the seed's error, shown as it came.
  await page.locator('#try-techsec').getByLabel(/^API key/).fill('tsk_not_a_key_at_all');
  await submit(page, 'try-techsec', 'Send');
  await page.waitForSelector('#techsec-answer[data-status="401"]');
  a = await answer(page, 'techsec-answer');
  if (a.json.error.code !== 'INVALID_API_KEY') fail('602TechSec bad key: ' + JSON.stringify(a));

  // Auspex Verus, signed in the browser.
  await submit(page, 'try-auspex', 'Sign and send');
  a = await answer(page, 'auspex-answer');
  if (a.status !== 200 || typeof a.json.human !== 'boolean' || typeof a.json.certainty !== 'number') fail('Auspex: ' + JSON.stringify(a));
  if (a.json.human !== false) fail('8.8.8.8 (Google) classified human: ' + JSON.stringify(a.json));
  const signed = await page.textContent('#auspex-signed');
  if (!/Authorization: HMAC-SHA256 Credential=alk_1234567890abcdef\/\d{8}\/verus\/aws4_request, SignedHeaders=x-amz-date, Signature=[0-9a-f]{64}/.test(signed)) {
    fail('signed headers: ' + signed);
  }
  // A residential-looking private address: the seed's special case.
  await page.locator('#try-auspex').getByLabel('IP address').fill('192.168.1.10');
  await page.waitForTimeout(1100); // a new X-Amz-Date second: a new signature (each is single use)
  await submit(page, 'try-auspex', 'Sign and send');
  await waitText(page, 'auspex-answer', '"certainty": 0');
  a = await answer(page, 'auspex-answer');
  if (a.status !== 200 || a.json.human !== true || a.json.certainty !== 0) fail('Auspex private address: ' + JSON.stringify(a));
  // A wrong secret: refused in the seed's shape.
  await page.locator('#try-auspex').getByLabel('API secret').fill('als_wrong_secret_0000000000000000');
  await submit(page, 'try-auspex', 'Sign and send');
  await page.waitForSelector('#auspex-answer[data-status="401"]');
  a = await answer(page, 'auspex-answer');
  if (a.json.statusCode !== 401 || typeof a.json.error !== 'string') fail('Auspex bad secret: ' + JSON.stringify(a));

  // Engineering11: a token, then who it says we are; the three lookups.
  await submit(page, 'try-jwt', 'Get a token');
  a = await answer(page, 'jwt-answer');
  if (a.status !== 200 || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(a.json.token)) fail('JWT token: ' + JSON.stringify(a));
  if ((await page.inputValue('#me-token')) !== a.json.token) fail('the token was not carried to the next form');
  await submit(page, 'try-me', 'Who am I');
  a = await answer(page, 'me-answer');
  if (a.status !== 200 || !a.json.sub || !Array.isArray(a.json.scopes) || !a.json.scopes.includes('verify')) fail('JWT me: ' + JSON.stringify(a));
  await submit(page, 'try-lookup', 'Look up');
  a = await answer(page, 'lookup-answer');
  if (a.status !== 200 || typeof a.json.fraud_score !== 'number' || typeof a.json.proxy !== 'boolean') fail('IP lookup: ' + JSON.stringify(a));
  await page.getByLabel('Look up').selectOption('email');
  await page.locator('#try-lookup').getByLabel('Value').fill('someone@mailinator.com');
  await submit(page, 'try-lookup', 'Look up');
  await waitText(page, 'lookup-answer', 'disposable');
  a = await answer(page, 'lookup-answer');
  if (a.status !== 200 || a.json.disposable !== true) fail('email lookup: ' + JSON.stringify(a));
  await page.getByLabel('Look up').selectOption('url');
  await page.locator('#try-lookup').getByLabel('Value').fill('https://example.com/login');
  await submit(page, 'try-lookup', 'Look up');
  await waitText(page, 'lookup-answer', 'risk_score');
  a = await answer(page, 'lookup-answer');
  if (a.status !== 200 || a.json.domain !== 'example.com' || typeof a.json.unsafe !== 'boolean') fail('URL lookup: ' + JSON.stringify(a));

  // ECURTIY: a challenge for the demo site.
  await submit(page, 'try-ecurtiy', 'Get a challenge');
  a = await answer(page, 'ecurtiy-answer');
  if (a.status !== 200 || !String(a.json.challengeId).startsWith('ch_') || typeof a.json.difficulty !== 'number') fail('ECURTIY: ' + JSON.stringify(a));

  // What the server echoes is shown as text, never as markup.
  await page.locator('#try-lookup').getByLabel('Value').fill('<img src=x onerror=alert(1)>');
  await submit(page, 'try-lookup', 'Look up');
  await page.waitForSelector('#lookup-answer[data-status="400"]');
  if ((await page.locator('#lookup-answer img').count()) !== 0) fail('an answer was rendered as markup');

  if (errors.length) fail('console errors: ' + errors.join(' | '));
  // Long answers (a JWT, a signature) wrap inside their box: the page never scrolls sideways.
  for (const width of [1100, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const [sw, w] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    if (sw > w + 1) fail('with the answers shown, the home page scrolls sideways at ' + width + ' px: ' + sw + ' > ' + w);
  }
  await shot(page, outDir + '/home-answers-phone.png');
  await page.setViewportSize({ width: 1100, height: 900 });
  await shot(page, outDir + '/home-answers.png');

  // The links: the widget page and the dashboard.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Widget page' }).click();
  await page.waitForSelector('.shield-pow .sp-check');
  await shot(page, outDir + '/home-widget-page.png');
  await page.goBack();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.goBack();

  // Phone width: the page does not scroll sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  const [sw, w] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (sw > w + 1) fail('the home page scrolls sideways at phone width: ' + sw + ' > ' + w);
  await shot(page, outDir + '/home-phone.png');
  if (errors.length) fail('errors after the links: ' + errors.join(' | '));
  console.log('PASS');
} finally {
  await browser.close();
}
