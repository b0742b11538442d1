// Shared helpers of the browser specs: arguments, the browser, checks and screenshots.
//
// Every spec is run by tests/integration/test_web_ui.py as
//   node tests/web/<spec>.js --base https://localhost:PORT --tenant T --user U --password P
//        [--certgate BIN] [--work DIR] [--screenshots DIR] [...spec options]
// against a real certgate server (no mocks). A spec prints what it does, and exits 0 when every
// check passed, 1 with the failing check otherwise.
'use strict';

const fs = require('fs');
const path = require('path');

let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.error('playwright-core is missing: run "npm ci --prefix tests/web" first');
  process.exit(3);
}

const CHROMIUM = process.env.CERTGATE_CHROMIUM || '/usr/bin/chromium';

// The flags this machine needs (no sandbox as root, no background traffic to Google).
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
];

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) args[key] = true;
    else {
      args[key] = next;
      i++;
    }
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (!args.base) {
  console.error('usage: node <spec>.js --base https://localhost:PORT --tenant T --user U --password P ...');
  process.exit(2);
}

function log(...parts) {
  console.log(`[${path.basename(process.argv[1], '.js')}]`, ...parts);
}

// Launch headless Chromium with a fresh profile; the server's self-made certificate is
// accepted for this test only (ignoreHTTPSErrors; the server is on localhost).
async function launch(viewport = { width: 1280, height: 860 }) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} does not exist: install Debian's chromium (scripts/deps.sh --test)`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport, acceptDownloads: true });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  // The UI must never leave the server's origin (no CDN fonts or scripts).
  const origin = new URL(args.base).origin;
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:')) {
      problems.push(`request outside the server: ${u}`);
    }
  });
  return { browser, context, page, problems };
}

// A screenshot for docs/ui/ (only with --screenshots DIR): the whole page, the part in the
// window ('viewport'), or one element (a locator).
async function shot(page, name, locator) {
  if (!args.screenshots) return;
  fs.mkdirSync(args.screenshots, { recursive: true });
  const file = path.join(args.screenshots, `${name}.png`);
  // the transient status message would cover the page
  await page.evaluate(() => { const s = document.getElementById('status'); if (s) s.textContent = ''; });
  if (locator === 'viewport') await page.screenshot({ path: file });
  else if (locator) await locator.screenshot({ path: file });
  else await page.screenshot({ path: file, fullPage: true });
  log('screenshot', file);
}

// An accessibility audit of the page as it is now (axe-core, run inside the page through the
// DevTools protocol, which the page's CSP does not govern). Serious and critical findings fail
// the spec; the rules are WCAG 2.1 A and AA.
let axeSource = null;
async function a11y(page, what) {
  if (axeSource === null) axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
  const res = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  for (const v of res.violations) log(`  axe: ${v.id} (${v.impact}): ${v.help} @ ${v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(', ')}`);
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    const text = bad.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n    ')}`).join('\n');
    throw new Error(`accessibility problems on ${what}:\n${text}`);
  }
  log(`ok: no serious accessibility problems on ${what} (${res.passes.length} rules passed)`);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  log('ok:', what);
}

async function signIn(page, tenant, user, password) {
  await page.goto(`${args.base}/`);
  await page.getByRole('heading', { name: 'Sign in to certgate' }).waitFor();
  await page.getByLabel('Tenant ID').fill(tenant || '');
  await page.getByLabel('User', { exact: true }).fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
}

async function nav(page, name) {
  const link = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  if (!(await link.isVisible())) {
    await page.getByRole('button', { name: 'Menu' }).click();
  }
  await link.click();
}

// Run a spec: main({page, ...}) with the browser; failures exit 1 with the reason.
function run(main) {
  (async () => {
    const env = await launch();
    try {
      await main(env);
      if (env.problems.length) throw new Error(`the page reported problems:\n${env.problems.join('\n')}`);
      log('passed');
    } catch (e) {
      console.error(`[${path.basename(process.argv[1], '.js')}] FAILED: ${e.stack || e}`);
      try {
        await env.page.screenshot({ path: path.join(args.work || '/tmp', `failure-${path.basename(process.argv[1], '.js')}.png`), fullPage: true });
      } catch (ignored) {
        // best effort
      }
      process.exitCode = 1;
    } finally {
      await env.browser.close();
    }
  })();
}

module.exports = { args, log, launch, shot, check, a11y, signIn, nav, run, CHROMIUM_ARGS };
