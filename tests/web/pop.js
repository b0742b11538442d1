// The seed's flow, start to end: sign in, Management -> Trusted certificates, "Add certificate"
// (name, the CA file, Auto registration, Enabled), the certificate's details, its Proof of
// Possession section: download the code, a wrong signature refused with the server's own
// message, the right one (made with `certgate pki sign-code`) accepted: Incomplete -> Complete.
// Then sign out.
//
// Options: --ca-cert PEM --ca-key KEY (the CA to upload and its key), --wrong-key KEY (another
// CA's key, for the failing proof), --other-cert PEM (that other CA: proved with a verification
// certificate), --certgate BIN, --name NAME.
'use strict';

const fs = require('fs');
const { execFileSync } = require('child_process');
const { args, log, shot, check, a11y, nav, run } = require('./lib');

function signCode(key, code) {
  return execFileSync(args.certgate, ['pki', 'sign-code', '--key', key, '--code', code], { encoding: 'utf8' }).trim();
}

run(async ({ page }) => {
  const name = args.name || 'Seed CA';

  // Sign in.
  await page.goto(`${args.base}/`);
  await page.getByRole('heading', { name: 'Sign in to certgate' }).waitFor();
  await page.getByLabel('Tenant ID').fill(args.tenant);
  await page.getByLabel('User', { exact: true }).fill(args.user);
  await shot(page, 'signin');
  await a11y(page, 'the sign-in page');
  await page.getByLabel('Password').fill(args.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  check(await page.getByText(`${args.tenant}/${args.user}`).isVisible(), 'the signed-in user is shown');
  const cookies = await page.context().cookies();
  const sc = cookies.find((c) => c.name === 'certgate_session');
  check(sc && sc.httpOnly && sc.secure && sc.sameSite === 'Strict', 'the session cookie is HttpOnly, Secure, SameSite=Strict');
  check(await page.evaluate(() => !document.cookie.includes('certgate_session')), 'scripts cannot read the session cookie');
  check(await page.evaluate(() => JSON.stringify(localStorage).length + JSON.stringify(sessionStorage).length < 10),
    'nothing is kept in web storage (no password, no token)');

  // Management -> Trusted certificates -> Add certificate.
  await nav(page, 'Trusted certificates');
  await page.getByRole('heading', { name: 'Trusted certificates' }).waitFor();
  await page.getByRole('button', { name: 'Add certificate' }).click();
  const dlg = page.getByRole('dialog', { name: 'Add trusted certificate' });
  await dlg.waitFor();
  await dlg.getByLabel('Certificate name').fill(name);
  await dlg.getByLabel('Certificate file (PEM or CRT)').setInputFiles(args['ca-cert']);
  await dlg.getByText('Chosen:').waitFor();
  await dlg.getByLabel('Auto registration').check();
  check(await dlg.getByRole('switch', { name: 'Enabled' }).isChecked(), 'Enabled is on by default');
  await shot(page, 'add-certificate');
  await a11y(page, 'the Add certificate dialog');
  await dlg.getByRole('button', { name: 'Add certificate' }).click();
  await dlg.waitFor({ state: 'detached' });

  // The list shows it, with its proof of possession incomplete.
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name }) });
  await row.waitFor();
  check(await row.getByText('Incomplete').isVisible(), 'the new certificate is listed with proof of possession Incomplete');
  check(await row.getByText('Enabled').isVisible(), 'the new certificate is Enabled');
  check((await row.getByRole('cell').nth(5).textContent()) === 'On', 'auto registration is On');
  await shot(page, 'certificates');
  await a11y(page, 'the trusted certificates list');

  // Its details and the Proof of Possession section.
  await row.getByRole('link', { name }).click();
  await page.getByRole('heading', { name: 'Proof of possession' }).waitFor();
  check((await page.locator('#pop-state').textContent()) === 'Incomplete', 'the details say Incomplete');
  let code = (await page.locator('#pop-code').textContent()).trim();
  check(/^[A-Za-z0-9+/=_-]{16,}$/.test(code), `a verification code is shown (${code})`);
  check(await page.getByText(/Usable until/).isVisible(), 'the code\'s expiry is shown');
  const commands = await page.locator('pre.command').allTextContents();
  check(commands.some((c) => c === 'openssl dgst -sha256 -sign ca.key verification_code.txt | openssl base64 -A'), 'the openssl command is shown');
  check(commands.some((c) => c.startsWith('certgate pki sign-code --key ca.key')), 'the certgate pki sign-code command is shown');
  check(commands.some((c) => c.includes(`--code '${code}'`) && c.startsWith('certgate pki verification-cert')), 'the verification-cert command carries the code');
  const [dl] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download code' }).click(),
  ]);
  const saved = `${args.work || '/tmp'}/downloaded-code.txt`;
  await dl.saveAs(saved);
  check(fs.readFileSync(saved, 'utf8') === code, 'the downloaded code is exactly the code, without a newline');
  await shot(page, 'certificate-details');
  await a11y(page, 'the certificate details');

  // Refresh: a new code replaces the old one.
  await page.getByRole('button', { name: 'Refresh code' }).click();
  await page.waitForFunction((old) => document.getElementById('pop-code').textContent.trim() !== old, code);
  const fresh = (await page.locator('#pop-code').textContent()).trim();
  check(fresh !== code && fresh.length === code.length, 'Refresh code shows a new code');
  code = fresh;

  // A wrong proof: signed with another key. The server's words are shown.
  await page.getByLabel('Signed verification code').fill(signCode(args['wrong-key'], code));
  await page.getByRole('button', { name: 'Upload signed code' }).click();
  const err = page.locator('#pop-error');
  await err.filter({ hasText: 'usage not granted' }).waitFor();
  const shown = await err.textContent();
  check(shown.startsWith('Wrong Proof Of Possession plaintext used for tenant'), `the server's message is shown as worded: ${shown}`);
  check((await page.locator('#pop-state').textContent()) === 'Incomplete', 'still Incomplete after a wrong proof');
  await shot(page, 'pop-error', page.locator('#pop'));
  await a11y(page, 'the proof of possession with an error');

  // The right proof, made with `certgate pki sign-code`.
  const signature = signCode(args['ca-key'], code);
  log('signed with certgate pki sign-code:', signature.slice(0, 24), '...');
  await page.getByLabel('Signed verification code').fill(signature);
  await page.getByRole('button', { name: 'Upload signed code' }).click();
  await page.locator('#pop-state', { hasText: /^Complete$/ }).waitFor();
  check((await page.locator('#pop-state').textContent()) === 'Complete', 'Incomplete -> Complete');
  await shot(page, 'pop-complete');

  // The list agrees.
  await nav(page, 'Trusted certificates');
  const row2 = page.getByRole('row').filter({ has: page.getByRole('link', { name }) });
  await row2.getByText('Complete', { exact: true }).waitFor();
  check(true, 'the list shows Complete');

  // The other way to prove: a verification certificate made with `certgate pki
  // verification-cert`, for a second CA.
  if (args['other-cert']) {
    await page.getByRole('button', { name: 'Add certificate' }).click();
    const d2 = page.getByRole('dialog', { name: 'Add trusted certificate' });
    await d2.getByLabel('Certificate name').fill('Second CA');
    await d2.getByLabel('Certificate file (PEM or CRT)').setInputFiles(args['other-cert']);
    await d2.getByText('Chosen:').waitFor();
    await d2.getByRole('button', { name: 'Add certificate' }).click();
    await d2.waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'Second CA' }).click();
    await page.getByRole('heading', { name: 'Proof of possession' }).waitFor();
    const code2 = (await page.locator('#pop-code').textContent()).trim();
    const vcert = `${args.work || '/tmp'}/verification.pem`;
    execFileSync(args.certgate, ['pki', 'verification-cert', '--ca-cert', args['other-cert'], '--ca-key', args['wrong-key'],
      '--code', code2, '--out-cert', vcert], { encoding: 'utf8' });
    await page.getByLabel('Verification certificate (PEM)').setInputFiles(vcert);
    await page.getByRole('button', { name: 'Upload verification certificate' }).click();
    await page.locator('#pop-state', { hasText: /^Complete$/ }).waitFor();
    check(true, 'a verification certificate completes the proof too');

    // Settings: rename, disable, auto registration on, then delete with confirmation.
    await page.getByLabel('Name', { exact: true }).fill('Second CA renamed');
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByRole('heading', { name: 'Second CA renamed', level: 1 }).waitFor();
    check(true, 'the certificate is renamed');
    await page.getByRole('switch', { name: 'Enabled' }).uncheck();
    await page.locator('dd .badge', { hasText: 'Disabled' }).waitFor();
    check(!(await page.getByRole('switch', { name: 'Enabled' }).isChecked()), 'the certificate is disabled');
    await page.getByRole('switch', { name: 'Auto registration' }).check();
    await page.locator('dd', { hasText: /^On$/ }).waitFor();
    check(await page.getByRole('switch', { name: 'Auto registration' }).isChecked(), 'auto registration is on');
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete Second CA renamed?' });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    check(await page.getByRole('heading', { name: 'Second CA renamed', level: 1 }).isVisible(), 'Cancel keeps the certificate');
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await confirm.getByRole('button', { name: 'Delete certificate' }).click();
    await page.getByRole('heading', { name: 'Trusted certificates', level: 1 }).waitFor();
    await page.getByRole('link', { name }).waitFor();
    check((await page.getByRole('link', { name: /Second CA/ }).count()) === 0, 'the deleted certificate is gone from the list');
  }

  // Sign out: the session is gone on the server too.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to certgate' }).waitFor();
  check(await page.getByText('You have signed out.').isVisible(), 'the sign-out is confirmed');
  const after = await page.request.get(`${args.base}/ui/session`);
  check(after.status() === 401, 'GET /ui/session answers 401 after signing out');
  const api = await page.request.get(`${args.base}/tenant/tenants/${args.tenant}/trusted-certificates`, { headers: { Accept: 'application/json' } });
  check(api.status() === 401, 'the API refuses the browser after signing out');
  await page.goto(`${args.base}/#/certificates`);
  await page.getByRole('heading', { name: 'Sign in to certgate' }).waitFor();
  check(true, 'a page asked for after signing out shows the sign-in form');
});
