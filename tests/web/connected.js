// A device that is connected over MQTT right now (test_web_ui.py keeps a mosquitto_pub
// connection open) is shown as connected in the device list and its details, and counted on
// the overview.
//
// Options: --device ID (the device's id: its certificate's CN).
'use strict';

const { args, shot, check, a11y, signIn, nav, run } = require('./lib');

run(async ({ page }) => {
  const id = args.device;
  await signIn(page, args.tenant, args.user, args.password);
  const connectedCard = page.locator('.card').filter({ hasText: 'Connected now' });
  await connectedCard.waitFor();
  const n = Number((await connectedCard.locator('.value').textContent()).replace('+', ''));
  check(n >= 1, `the overview counts ${n} connected device(s)`);

  await nav(page, 'Devices');
  await page.getByLabel('Search devices').fill(id);
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: id }) });
  await row.waitFor();
  check((await row.getByRole('cell').nth(6).textContent()) === 'Connected', `${id} is shown connected in the list`);
  check((await row.getByRole('cell').nth(2).textContent()) === 'Auto (certificate)', `${id} was auto-registered`);
  await shot(page, 'device-connected');
  await a11y(page, 'the device list with a connected device');
  await row.getByRole('link', { name: id }).click();
  await page.getByRole('heading', { name: id }).waitFor();
  check(await page.getByText('Connected', { exact: true }).isVisible(), `${id}'s details say connected`);
});
