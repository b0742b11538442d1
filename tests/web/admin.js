// Revocation (serials, a CSV upload, the CRL download), the audit log with its filters, the
// overview, the layout at a phone's width, and the management tenant's tenant list (create,
// suspend).
//
// Options: --mgmt-password PW (management/admin), --serial HEX (a serial to revoke),
// --crl-csv FILE (a CSV of serials to upload), --domain NAME (of the tenant to create).
'use strict';

const fs = require('fs');
const path = require('path');
const { args, log, shot, check, a11y, signIn, nav, run } = require('./lib');

run(async ({ page, browser }) => {
  await signIn(page, args.tenant, args.user, args.password);
  await shot(page, 'overview');
  await a11y(page, 'the overview');
  check(await page.getByText('Trusted certificates', { exact: true }).first().isVisible(), 'the overview shows the trusted certificates');

  // Revocation: one serial typed in, then a CSV file.
  await nav(page, 'Revocation');
  await page.getByRole('heading', { name: 'Revocation' }).waitFor();
  await page.getByLabel('Serial numbers (hexadecimal, one per line)').fill(args.serial);
  await page.getByRole('button', { name: 'Revoke', exact: true }).click();
  const dlg = page.getByRole('dialog');
  await dlg.waitFor();
  await dlg.getByRole('button', { name: 'Revoke' }).click();
  const list = page.getByRole('table', { name: /Revoked serial numbers/ });
  const normal = args.serial.toLowerCase().replace(/^0+(?=.)/, ''); // certgate's normal form
  await list.getByText(normal, { exact: true }).waitFor();
  check(true, `the typed serial is listed as revoked (as ${normal})`);
  await page.getByLabel('CSV or CRL file').setInputFiles(args['crl-csv']);
  await page.getByRole('button', { name: 'Upload and revoke' }).click();
  await dlg.getByRole('button', { name: 'Revoke' }).click();
  const csvSerial = fs.readFileSync(args['crl-csv'], 'utf8').split('\n')[1].split(',')[0].trim().toLowerCase();
  await list.getByText(csvSerial).waitFor();
  check((await list.getByRole('row').filter({ hasText: csvSerial }).textContent()).includes('CSV file'), 'the CSV\'s serials are listed with their source');
  const [dl] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download the CRL' }).click(),
  ]);
  const crl = path.join(args.work || '/tmp', 'downloaded.crl');
  await dl.saveAs(crl);
  const der = fs.readFileSync(crl);
  check(der.length > 50 && der[0] === 0x30, `the CRL downloads as DER (${der.length} bytes, ${dl.suggestedFilename()})`);
  await shot(page, 'revocation');
  await a11y(page, 'the revocation page');

  // The audit log and its filters.
  await nav(page, 'Audit log');
  const records = page.getByRole('table', { name: 'Audit records' });
  await records.waitFor();
  check((await records.getByRole('row').count()) > 1, 'the audit log has records');
  await page.getByLabel('Type').selectOption('TrustedCertificates');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForFunction(() => location.hash.includes('type=TrustedCertificates'));
  await records.waitFor();
  const types = await records.locator('tbody tr td:nth-child(2)').allTextContents();
  check(types.length > 0 && types.every((t) => t === 'TrustedCertificates'), `the type filter keeps ${types.length} TrustedCertificates records`);
  await shot(page, 'audit', 'viewport');
  await a11y(page, 'the audit log');

  // A phone's width: the menu folds away behind a button; tables become cards.
  const phone = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const pp = await phone.newPage();
  await signIn(pp, args.tenant, args.user, args.password);
  const menu = pp.getByRole('button', { name: 'Menu' });
  check(await menu.isVisible(), 'a Menu button on a phone');
  check(!(await pp.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Devices', exact: true }).isVisible()), 'the navigation is folded on a phone');
  await menu.click();
  check((await menu.getAttribute('aria-expanded')) === 'true', 'the Menu button says it is expanded');
  await shot(pp, 'phone-menu');
  await pp.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Trusted certificates' }).click();
  await pp.getByRole('heading', { name: 'Trusted certificates' }).waitFor();
  const overflow = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `nothing is wider than the phone (overflow ${overflow}px)`);
  await shot(pp, 'phone-certificates');
  await a11y(pp, 'the certificates at a phone\'s width');
  await phone.close();

  // Keyboard: after loading, the skip link comes first and leads to the content.
  await page.reload();
  await page.getByRole('heading', { name: 'Audit log' }).waitFor();
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => document.activeElement.textContent);
  check(first === 'Skip to content', 'Tab reaches "Skip to content" first');
  await page.keyboard.press('Enter');
  check(await page.evaluate(() => document.activeElement.id === 'main'), 'the skip link moves the focus to the content');

  // The management tenant: tenants, create, suspend.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to certgate' }).waitFor();
  await signIn(page, 'management', 'admin', args['mgmt-password']);
  await nav(page, 'Tenants');
  await page.getByRole('heading', { name: 'Tenants' }).waitFor();
  const domain = args.domain || 'webui-new';
  await page.getByLabel('Company').fill('Web UI test company');
  await page.getByLabel('Domain').fill(domain);
  await page.getByLabel('Administrator e-mail').fill(`admin@${domain}.example.com`);
  await page.getByLabel('Administrator password').fill('new-tenant-pw-1');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  const row = page.getByRole('table', { name: 'Tenants' }).getByRole('row').filter({ hasText: domain });
  await row.waitFor();
  const id = (await row.getByRole('cell').first().textContent()).trim();
  log('created tenant', id);
  check(await row.getByText('Active').isVisible(), 'the new tenant is active');
  await row.getByRole('button', { name: `Suspend tenant ${id}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Suspend tenant' }).click();
  await row.getByText('Suspended').waitFor();
  check(true, 'the tenant is suspended');
  await shot(page, 'tenants');
  await a11y(page, 'the tenants page');
  const login = await page.request.get(`${args.base}/user/currentUser`, {
    headers: { Authorization: `Basic ${Buffer.from(`${id}/admin:new-tenant-pw-1`).toString('base64')}`, Accept: 'application/json' },
  });
  check(login.status() === 401, 'the suspended tenant\'s administrator can no longer sign in');
});
