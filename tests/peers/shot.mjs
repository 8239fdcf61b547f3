// Full-page screenshots through the DevTools protocol. Playwright's page.screenshot first
// waits for web fonts to load, which can hang for good in headless Chromium (playwright
// issues #35972, #31265): a screenshot is evidence, it must not be a source of flakes.
import { writeFileSync } from 'node:fs';

export async function shot(page, path) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { cssContentSize: size } = await cdp.send('Page.getLayoutMetrics');
    const { data } = await cdp.send('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 },
    });
    writeFileSync(path, Buffer.from(data, 'base64'));
  } finally {
    await cdp.detach().catch(() => {});
  }
}
