import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium (install.sh installs it), driven by playwright-core: no browser download. */
export const CHROMIUM = process.env.RTML_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** A headless Chromium, closed after the test. */
export async function launchChromium(t: TestContext): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (bash install.sh), or set RTML_TEST_CHROMIUM`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'] });
  t.after(() => browser.close());
  return browser;
}

export interface OpenedPage {
  readonly page: Page;
  /** Console errors and warnings, uncaught exceptions and failed requests, as they happen. */
  readonly problems: string[];
}

/** Opens `url` in a fresh context (its own cookies and cache) and records what goes wrong on the page. */
export async function openPage(browser: Browser, url: string): Promise<OpenedPage> {
  const context = await browser.newContext({ viewport: { width: 1500, height: 1200 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}: ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  await page.goto(url);
  return { page, problems };
}

/**
 * Pixels of the canvas inside `selector` close to one of `colors` (#rrggbb): a chart that drew a
 * line in those colours has hundreds; axes and grid lines (grey) have none.
 */
export function pixelsOfColors(page: Page, selector: string, colors: readonly string[]): Promise<number> {
  return page.evaluate(
    ([selector, colors]) => {
      const canvas = document.querySelector(`${selector} canvas`) as HTMLCanvasElement | null;
      if (canvas === null) return -1;
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const rgb = colors.map((color) => [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16)));
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3]! > 200 && rgb.some(([r, g, b]) => Math.abs(data[i]! - r!) + Math.abs(data[i + 1]! - g!) + Math.abs(data[i + 2]! - b!) < 40)) n++;
      }
      return n;
    },
    [selector, colors] as const,
  );
}
