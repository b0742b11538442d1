// Trusted certificates: the list, "Add certificate", the details with settings, and the
// proof of possession (reference §2, §3).
import { api, tenantPath, query } from './api.js?v=__CERTGATE_UI_VERSION__';
import {
  h, clear, field, checkbox, alertBox, showError, announce, pageHead, table, fmtTime,
  validityBadge, badge, shortFp, download, copyText, dropZone, bytesToBase64, confirmDialog,
  newId, pager,
} from './dom.js?v=__CERTGATE_UI_VERSION__';

const PAGE_SIZE = 50;

function certPath(fp) {
  return tenantPath(`/trusted-certificates/${encodeURIComponent(fp)}`);
}

function popPath(fp, what) {
  return tenantPath(`/trusted-certificates-pop/${encodeURIComponent(fp)}/${what}`);
}

function popBadge(c) {
  return c.proofOfPossessionValid ? badge('Complete', 'ok') : badge('Incomplete', 'warn');
}

function statusBadge(c) {
  return c.status === 'ENABLED' ? badge('Enabled', 'ok') : badge('Disabled', 'bad');
}

// ---- the list ----

export async function certificatesPage(root, ctx) {
  const page = Number(ctx.query.get('page') || 1);
  const addButton = h('button', { type: 'button' }, 'Add certificate');
  const listBox = h('div');
  root.append(
    pageHead('Trusted certificates', addButton),
    h('p.hint', 'Devices whose certificate chain leads to an enabled trusted certificate can connect. '
      + 'Prove that you hold each certificate\'s private key in its details (proof of possession).'),
    listBox);
  addButton.addEventListener('click', () => addCertificateDialog(async (c) => {
    announce(`Certificate ${c.name} added.`);
    await load(1);
  }));

  async function load(p) {
    const coll = await api('GET', tenantPath(`/trusted-certificates${query({
      pageSize: PAGE_SIZE, currentPage: p, withTotalPages: true,
    })}`));
    const certs = coll.certificates || [];
    clear(listBox);
    listBox.append(table('Trusted certificates of this tenant', [
      { label: 'Name', cell: (c) => h('a', { href: `#/certificates/${c.fingerprint}` }, c.name || '(no name)') },
      { label: 'Fingerprint', cell: (c) => h('code', { title: c.fingerprint }, shortFp(c.fingerprint)) },
      { label: 'Subject', cell: (c) => h('span.break', c.subject) },
      { label: 'Valid until', class: 'time', cell: (c) => [fmtTime(c.notAfter), ' ', validityBadge(c.notAfter)] },
      { label: 'Status', cell: statusBadge },
      { label: 'Auto registration', cell: (c) => (c.autoRegistrationEnabled ? 'On' : 'Off') },
      { label: 'Proof of possession', cell: popBadge },
    ], certs, 'No trusted certificates yet: add the CA certificate that signs your devices\' certificates.'));
    if ((coll.statistics && coll.statistics.totalPages > 1) || p > 1) {
      listBox.append(pager(coll.statistics, certs.length, PAGE_SIZE, (n) => ctx.go(`#/certificates?page=${n}`)));
    }
  }
  await load(page);
}

// ---- adding ----

// Read a chosen file as the certInPemFormat value: PEM text as it is; DER bytes as base64 (the
// server takes PEM with or without its armour lines). A file holding a private key is refused
// here, before anything leaves the browser.
async function readCertificateFile(file) {
  if (file.size > 256 * 1024) throw new Error('That file is too large for a certificate (over 256 KiB).');
  const bytes = new Uint8Array(await file.arrayBuffer());
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (/PRIVATE KEY/.test(text)) {
    throw new Error('That file holds a private key. Keep the key secret: choose the CA\'s certificate (PEM or CRT), not its key.');
  }
  if (text.includes('-----BEGIN')) {
    if (!text.includes('-----BEGIN CERTIFICATE-----')) {
      throw new Error('That PEM file holds no certificate (no "BEGIN CERTIFICATE" block).');
    }
    return text;
  }
  if (bytes.length > 0 && bytes[0] === 0x30) return bytesToBase64(bytes); // DER
  throw new Error('That file is neither a PEM nor a DER certificate.');
}

export function addCertificateDialog(onAdded) {
  const opener = document.activeElement;
  const titleId = newId('dlg');
  let pem = null;
  const err = alertBox();
  const name = field('Certificate name', 'text', { name: 'name', spellcheck: 'false' },
    'Optional: the certificate\'s common name (CN) is used when empty.');
  const file = dropZone('Certificate file (PEM or CRT)', '.pem,.crt,.cer,.der,application/x-pem-file,application/x-x509-ca-cert', async (f) => {
    err.textContent = '';
    pem = null;
    try {
      pem = await readCertificateFile(f);
      if (!name.input.value) name.input.placeholder = f.name.replace(/\.(pem|crt|cer|der)$/i, '');
    } catch (e) {
      showError(err, e);
    }
  }, 'Drop the CA certificate here (for example caCert.pem), or choose it:');
  const autoreg = checkbox('Auto registration', { name: 'autoRegistration' });
  const enabled = checkbox('Enabled', { name: 'enabled', checked: true }, true);
  const cancel = h('button.secondary', { type: 'button' }, 'Cancel');
  const submit = h('button', { type: 'submit' }, 'Add certificate');
  const form = h('form', { method: 'dialog' },
    h('h2', { id: titleId }, 'Add trusted certificate'),
    name.wrap, file.wrap,
    h('div', autoreg.wrap, enabled.wrap),
    h('p.hint', 'With auto registration, a device whose certificate this CA signed is registered on its first connection.'),
    err, h('div.actions', cancel, submit));
  const dlg = h('dialog', { 'aria-labelledby': titleId }, form);
  const close = () => {
    dlg.close();
    dlg.remove();
    if (opener && opener.focus) opener.focus();
  };
  cancel.addEventListener('click', close);
  dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!pem) {
      err.textContent = 'Choose or drop the certificate file first.';
      file.input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const body = {
        certInPemFormat: pem,
        status: enabled.input.checked ? 'ENABLED' : 'DISABLED',
        autoRegistrationEnabled: autoreg.input.checked,
      };
      if (name.input.value.trim()) body.name = name.input.value.trim();
      const c = await api('POST', tenantPath('/trusted-certificates'), { json: body });
      close();
      await onAdded(c);
    } catch (ex) {
      showError(err, ex);
    } finally {
      submit.disabled = false;
    }
  });
  document.body.append(dlg);
  dlg.showModal();
  name.input.focus();
}

// ---- details ----

export async function certificatePage(root, ctx, fp) {
  let c = await api('GET', certPath(fp));
  const head = h('div');
  const facts = h('div.panel');
  const settings = h('section.panel', { 'aria-labelledby': 'settings-title' });
  const pop = h('section.panel', { 'aria-labelledby': 'pop-title', id: 'pop' });
  root.append(h('p', h('a', { href: '#/certificates' }, '← Trusted certificates')), head, facts, settings, pop);

  function render() {
    clear(head);
    clear(facts);
    head.append(pageHead(c.name || c.fingerprint,
      h('button.secondary', { type: 'button', onclick: () => download(`${(c.name || 'certificate').replace(/[^A-Za-z0-9_.-]+/g, '_')}.pem`, toPem(c.certInPemFormat), 'application/x-pem-file') }, 'Download certificate'),
      h('button.danger', { type: 'button', onclick: remove }, 'Delete')));
    facts.append(h('dl.facts',
      fact('Name', c.name),
      fact('Fingerprint (SHA-1)', h('code.break', c.fingerprint)),
      fact('Subject', c.subject),
      fact('Issuer', c.issuer),
      fact('Serial number', h('code.break', c.serialNumber)),
      fact('Signature algorithm', c.algorithmName),
      fact('Valid from', fmtTime(c.notBefore)),
      fact('Valid until', [fmtTime(c.notAfter), ' ', validityBadge(c.notAfter)]),
      fact('Status', statusBadge(c)),
      fact('Auto registration', c.autoRegistrationEnabled ? 'On' : 'Off'),
      fact('Proof of possession', popBadge(c))));
    renderSettings();
    renderPop();
  }

  async function update(body, what) {
    c = await api('PUT', certPath(fp), { json: body });
    announce(what);
    render();
  }

  function renderSettings() {
    clear(settings);
    const err = alertBox();
    const name = field('Name', 'text', { name: 'name', value: c.name, spellcheck: 'false' });
    const save = h('button', { type: 'submit' }, 'Rename');
    const rename = h('form', { class: 'row end' }, h('div', name.wrap), h('div', save));
    rename.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        await update({ name: name.input.value.trim() }, 'Certificate renamed.');
      } catch (ex) {
        showError(err, ex);
      }
    });
    const enabled = checkbox('Enabled', { name: 'enabled', checked: c.status === 'ENABLED' }, true);
    enabled.input.addEventListener('change', async () => {
      err.textContent = '';
      const on = enabled.input.checked;
      try {
        await update({ status: on ? 'ENABLED' : 'DISABLED' }, on ? 'Certificate enabled.' : 'Certificate disabled: devices chained to it can no longer connect.');
      } catch (ex) {
        enabled.input.checked = !on;
        showError(err, ex);
      }
    });
    const autoreg = checkbox('Auto registration', { name: 'autoRegistration', checked: c.autoRegistrationEnabled }, true);
    autoreg.input.addEventListener('change', async () => {
      err.textContent = '';
      const on = autoreg.input.checked;
      try {
        await update({ autoRegistrationEnabled: on }, on ? 'Auto registration turned on.' : 'Auto registration turned off.');
      } catch (ex) {
        autoreg.input.checked = !on;
        showError(err, ex);
      }
    });
    settings.append(h('h2', { id: 'settings-title' }, 'Settings'), rename, h('div', enabled.wrap, autoreg.wrap), err);
  }

  async function remove() {
    const ok = await confirmDialog(`Delete ${c.name || 'this certificate'}?`,
      'Devices whose chain leads to this certificate can no longer connect, and their live MQTT sessions are closed. This cannot be undone.',
      'Delete certificate');
    if (!ok) return;
    try {
      await api('DELETE', certPath(fp));
      announce(`Certificate ${c.name} deleted.`);
      ctx.go('#/certificates');
    } catch (ex) {
      const err = alertBox();
      showError(err, ex);
      head.append(err);
    }
  }

  function renderPop() {
    clear(pop);
    pop.append(h('h2', { id: 'pop-title' }, 'Proof of possession'),
      h('p.pop-state', 'State: ', h(`span#pop-state.badge.${c.proofOfPossessionValid ? 'ok' : 'warn'}`, { tabindex: '-1' }, c.proofOfPossessionValid ? 'Complete' : 'Incomplete')));
    if (c.proofOfPossessionValid) {
      pop.append(h('p', 'certgate has checked that this tenant holds the certificate\'s private key.'));
      return;
    }
    const code = c.proofOfPossessionUnsignedVerificationCode || '';
    const until = c.proofOfPossessionVerificationCodeUsableUntil;
    const expired = until && new Date(until).getTime() < Date.now();
    const err = alertBox();
    err.id = 'pop-error';
    const refresh = h('button.secondary', { type: 'button' }, 'Refresh code');
    refresh.addEventListener('click', async () => {
      err.textContent = '';
      try {
        c = await api('POST', popPath(fp, 'verification-code'));
        announce('A new verification code was made; the old one no longer works.');
        render();
        document.getElementById('pop-code')?.focus();
      } catch (ex) {
        showError(err, ex);
      }
    });
    const q = shellQuote(code);
    const commands = [
      ['Save the code to a file (exactly, without a newline)', `printf %s ${q} > verification_code.txt`],
      ['Sign it with OpenSSL (RSA or EC key)', 'openssl dgst -sha256 -sign ca.key verification_code.txt | openssl base64 -A'],
      ['…or with certgate (RSA, EC or Ed25519 key)', 'certgate pki sign-code --key ca.key --code-file verification_code.txt'],
    ];
    const signed = field('Signed verification code', 'textarea', { name: 'signedCode', rows: 3, spellcheck: 'false' },
      'Paste the base64 text the command printed, or choose the file it is in.');
    const signedFile = dropZone('File with the signed code', '.txt,.b64,.sig,text/plain', async (f) => {
      signed.input.value = (await f.text()).trim();
    }, 'Or choose the file with the signed code:');
    const upload = h('button', { type: 'submit' }, 'Upload signed code');
    const signedForm = h('form', signed.wrap, signedFile.wrap, h('div.actions', upload));
    signedForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const value = signed.input.value.trim();
      if (!value) {
        err.textContent = 'Paste the signed verification code, or choose its file.';
        signed.input.focus();
        return;
      }
      upload.disabled = true;
      try {
        c = await api('POST', popPath(fp, 'pop'), { json: { proofOfPossessionSignedVerificationCode: value } });
        announce('Proof of possession complete.');
        render();
        document.getElementById('pop-state')?.focus();
      } catch (ex) {
        showError(err, ex);
        upload.disabled = false;
      }
    });
    let vcert = null;
    const vcertFile = dropZone('Verification certificate (PEM)', '.pem,.crt,.cer', async (f) => {
      vcert = await f.text();
    }, 'A certificate whose subject CN is the code, signed by this CA\'s key:');
    const vupload = h('button.secondary', { type: 'submit' }, 'Upload verification certificate');
    const vform = h('form', vcertFile.wrap, h('div.actions', vupload));
    vform.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      if (!vcert) {
        err.textContent = 'Choose the verification certificate file first.';
        vcertFile.input.focus();
        return;
      }
      if (/PRIVATE KEY/.test(vcert)) {
        err.textContent = 'That file holds a private key: choose the verification certificate only.';
        return;
      }
      try {
        c = await api('POST', popPath(fp, 'verification-certificate'), { body: vcert, contentType: 'application/x-pem-file' });
        announce('Proof of possession complete.');
        render();
      } catch (ex) {
        showError(err, ex);
      }
    });

    pop.append(
      h('ol.steps',
        h('li',
          h('h3', 'Download the verification code'),
          h('code#pop-code.code-box', { tabindex: '-1' }, code || '(no code: refresh it)'),
          h('p.hint', until ? [expired ? badge('Expired', 'bad') : null, ` Usable until ${fmtTime(until)}.`] : null),
          h('div.actions',
            h('button', { type: 'button', onclick: () => download('verification_code.txt', code) }, 'Download code'),
            h('button.secondary', { type: 'button', onclick: () => copyText(code) }, 'Copy code'),
            refresh)),
        h('li',
          h('h3', 'Sign the code with the certificate\'s private key'),
          commands.map(([label, cmd]) => commandRow(label, cmd))),
        h('li',
          h('h3', 'Upload the signed code'),
          signedForm)),
      err,
      h('h3', 'Or: upload a verification certificate'),
      h('p.hint', 'Azure/AWS style: make a certificate whose CN is the verification code with the CA\'s key, then upload it.'),
      commandRow('Make it with certgate', `certgate pki verification-cert --ca-cert ca.pem --ca-key ca.key --code ${q} --out-cert verification.pem`),
      vform);
  }

  render();
  if (ctx.query.get('section') === 'pop') pop.scrollIntoView();
}

function fact(label, value) {
  return [h('dt', label), h('dd', value === undefined || value === null || value === '' ? '—' : value)];
}

function commandRow(label, cmd) {
  const id = newId('cmd');
  return h('div',
    h('p.hint', { id }, label),
    h('div.command-row',
      h('pre.command', { 'aria-labelledby': id }, cmd),
      h('button.secondary', { type: 'button', 'aria-label': `Copy: ${label}`, onclick: () => copyText(cmd) }, 'Copy')));
}

// A word for a POSIX shell: single quotes, with ' written as '\''.
function shellQuote(s) {
  return `'${String(s).replace(/'/g, "'\\''")}'`;
}

// certInPemFormat comes without armour lines (reference §2.1): add them for the download.
function toPem(b64) {
  const body = String(b64 || '').replace(/\s+/g, '');
  const lines = body.match(/.{1,64}/g) || [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
