// Drives Debian's firefox-esr over WebDriver BiDi with puppeteer-core, for tests/firefox.py.
// One JSON command per line on stdin, one JSON answer per line on stdout: {"ok": true, "value": …} or
// {"ok": false, "error": "…"}. Nothing is downloaded: the browser is the one given in FIREFOX (default
// /usr/bin/firefox-esr). Page errors are collected and returned by the "errors" command.
import { createInterface } from 'node:readline';
import puppeteer from 'puppeteer-core';

const prefs = JSON.parse(process.env.FIREFOX_PREFS || '{}');
const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
  headless: true,
  extraPrefsFirefox: prefs,
});
let page = null;
const pageErrors = [];

async function run(cmd) {
  switch (cmd.op) {
    case 'open': {
      if (page) await page.close();
      page = await browser.newPage();
      page.on('pageerror', (e) => pageErrors.push(String(e && e.message ? e.message : e)));
      await page.setViewport({ width: cmd.width || 1280, height: cmd.height || 900 });
      await page.goto(cmd.url, { waitUntil: 'load' });
      return null;
    }
    case 'press':
      await page.keyboard.press(cmd.key);
      return null;
    case 'down':
      await page.keyboard.down(cmd.key);
      return null;
    case 'up':
      await page.keyboard.up(cmd.key);
      return null;
    case 'click':
      await page.click(cmd.selector);
      return null;
    case 'evaluate':
      // The expression is a function's source, called with the JSON argument.
      return await page.evaluate(`(${cmd.fn})(${JSON.stringify(cmd.arg ?? null)})`);
    case 'wait':
      await page.waitForFunction(`(${cmd.fn})(${JSON.stringify(cmd.arg ?? null)})`,
        { timeout: cmd.timeout || 5000, polling: 50 });
      return null;
    case 'errors':
      return pageErrors.splice(0);
    case 'version':
      return await browser.version();
    case 'close':
      await browser.close();
      process.stdout.write(JSON.stringify({ ok: true, value: null }) + '\n');
      process.exit(0);
    default:
      throw new Error(`unknown command ${cmd.op}`);
  }
}

process.stdout.write(JSON.stringify({ ok: true, value: 'ready' }) + '\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = { ok: true, value: await run(JSON.parse(line)) };
  } catch (e) {
    answer = { ok: false, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(answer === undefined ? null : answer) + '\n');
}
await browser.close();
