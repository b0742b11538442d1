// Bulk registration with per-row results, then the device list (search, paging), a device's
// details and its deletion with confirmation.
//
// Options: --prefix TEXT (device ids start with it; default "web-dev").
'use strict';

const fs = require('fs');
const path = require('path');
const { args, shot, check, a11y, signIn, nav, run } = require('./lib');

run(async ({ page }) => {
  const p = args.prefix || 'web-dev';
  const csv = path.join(args.work || '/tmp', `${p}-bulk.csv`);
  // Two good certificate rows, one BASIC row without credentials (refused by the server) and
  // one more good row; 25 rows in all so the list needs a second page.
  const rows = ['ID;AUTH_TYPE;CREDENTIALS;NAME;TYPE',
    `${p}-01;CERTIFICATES;;Boiler sensor;c8y_Sensor`,
    `${p}-02;CERTIFICATES;;Pump sensor;c8y_Sensor`,
    `${p}-bad;BASIC;;Bad row;c8y_Sensor`];
  for (let i = 3; i <= 24; i++) rows.push(`${p}-${String(i).padStart(2, '0')};CERTIFICATES;;Meter ${i};c8y_Meter`);
  fs.writeFileSync(csv, `${rows.join('\n')}\n`);

  await signIn(page, args.tenant, args.user, args.password);
  await nav(page, 'Bulk registration');
  await page.getByRole('heading', { name: 'Bulk registration' }).waitFor();
  await page.getByLabel('CSV file').setInputFiles(csv);
  await page.getByRole('button', { name: 'Upload and register' }).click();
  const results = page.getByRole('table', { name: 'Result of each row' });
  await results.waitFor();
  const resultRows = results.getByRole('row');
  check((await resultRows.count()) === 1 + 25, 'one result row per CSV data row');
  const good = resultRows.filter({ hasText: `${p}-01` });
  check((await good.getByRole('cell').nth(2).textContent()) === 'Created', `${p}-01 was created`);
  const bad = resultRows.filter({ hasText: `${p}-bad` });
  check((await bad.getByRole('cell').nth(2).textContent()) === 'Failed', `${p}-bad failed`);
  const reason = await bad.getByRole('cell').nth(3).textContent();
  check(reason.length > 5, `the failure reason is shown: ${reason}`);
  check((await bad.getByRole('cell').nth(0).textContent()) === '4', 'the failed row names its CSV line');
  await shot(page, 'bulk-registration', 'viewport');
  await a11y(page, 'the bulk registration results');

  // The list, its paging and its search.
  await nav(page, 'Devices');
  await page.getByRole('heading', { name: 'Devices', exact: true, level: 1 }).waitFor();
  await page.getByRole('link', { name: `${p}-01` }).waitFor();
  check(await page.getByText('Page 1 of 2').isVisible(), '24 devices make two pages of 20');
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.getByText('Page 2 of 2').waitFor();
  check(await page.getByRole('link', { name: `${p}-24` }).isVisible(), 'the second page lists the rest');
  await page.getByLabel('Search devices').fill('Pump');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('table', { name: 'Devices matching "Pump"' }).waitFor();
  const found = page.getByRole('table', { name: 'Devices matching "Pump"' }).getByRole('row');
  check((await found.count()) === 2 && (await found.nth(1).textContent()).includes(`${p}-02`), 'the search finds the one pump');
  const r02 = found.nth(1);
  check((await r02.getByRole('cell').nth(2).textContent()) === 'Bulk (certificate)', 'the registration kind is shown');
  await page.getByLabel('Search devices').fill('');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: `${p}-01` }).waitFor();
  await shot(page, 'devices');
  await a11y(page, 'the device list');

  // Details and deletion.
  await page.getByRole('link', { name: `${p}-01` }).click();
  await page.getByRole('heading', { name: `${p}-01` }).waitFor();
  check(await page.getByText('Boiler sensor').isVisible(), 'the details show the name');
  await shot(page, 'device-details');
  await a11y(page, 'the device details');
  await page.getByRole('button', { name: 'Delete device' }).click();
  const dlg = page.getByRole('dialog', { name: `Delete device ${p}-01?` });
  await dlg.waitFor();
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  check(await page.getByRole('heading', { name: `${p}-01` }).isVisible(), 'Cancel keeps the device');
  await page.getByRole('button', { name: 'Delete device' }).click();
  await dlg.getByRole('button', { name: 'Delete device' }).click();
  await page.getByRole('heading', { name: 'Devices', exact: true, level: 1 }).waitFor();
  await page.getByRole('link', { name: `${p}-02` }).waitFor();
  check((await page.getByRole('link', { name: `${p}-01`, exact: true }).count()) === 0, 'the deleted device is gone from the list');

  // The session ends behind the page's back (signed out elsewhere): the next action asks to
  // sign in again, and then returns to the page.
  const csrf = await page.evaluate(() => fetch('/ui/session').then((r) => r.json()).then((s) => s.csrfToken));
  const del = await page.request.delete(`${args.base}/ui/session`, { headers: { 'X-XSRF-TOKEN': csrf } });
  check(del.status() === 204, 'the session was ended from outside the page');
  await page.getByRole('link', { name: `${p}-02` }).click();
  await page.getByRole('heading', { name: 'Sign in to certgate' }).waitFor();
  check(await page.getByText(/Your session has ended/).isVisible(), 'the page says the session has ended');
  await page.getByLabel('Tenant ID').fill(args.tenant);
  await page.getByLabel('User', { exact: true }).fill(args.user);
  await page.getByLabel('Password').fill(args.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: `${p}-02` }).waitFor();
  check(true, 'after signing in again the page asked for is shown');
});
