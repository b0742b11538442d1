// Revocation (reference §4), the audit log (§13.7) and, for the management tenant, tenants
// (§13.2).
import { api, session, query, hasRole } from './api.js?v=__CERTGATE_UI_VERSION__';
import {
  h, append, clear, field, alertBox, showError, announce, pageHead, table, fmtTime, badge, download,
  dropZone, confirmDialog, pager, shortFp,
} from './dom.js?v=__CERTGATE_UI_VERSION__';

const CRL_PATH = '/tenant/trusted-certificates/settings/crl';

// ---- revocation ----

export async function revocationPage(root) {
  const err = alertBox();
  const listBox = h('div', { 'aria-live': 'polite' });

  const serials = field('Serial numbers (hexadecimal, one per line)', 'textarea', { name: 'serials', rows: 4, spellcheck: 'false' },
    'As openssl prints them: "openssl x509 -noout -serial -in device.pem". Colons and a 0x prefix are removed.');
  const revoke = h('button.danger', { type: 'submit' }, 'Revoke');
  const serialForm = h('form', serials.wrap, h('div.actions', revoke));
  serialForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const list = serials.input.value.split(/[\s,;]+/).map((s) => s.replace(/^(serial=|0x)/i, '').replace(/:/g, '')).filter(Boolean);
    if (!list.length) {
      err.textContent = 'Enter at least one serial number.';
      serials.input.focus();
      return;
    }
    const ok = await confirmDialog(`Revoke ${list.length} serial number${list.length === 1 ? '' : 's'}?`,
      'Revocation cannot be undone: certificates with these serials can no longer connect, and their live sessions are closed.',
      'Revoke');
    if (!ok) return;
    try {
      await api('PUT', CRL_PATH, { json: { crls: list.map((s) => ({ serialNumberInHex: s })) } });
      serials.input.value = '';
      announce(`${list.length} serial number${list.length === 1 ? '' : 's'} revoked.`);
      await load();
    } catch (ex) {
      showError(err, ex);
    }
  });

  let file = null;
  const picker = dropZone('CSV or CRL file', '.csv,.txt,.crl,.pem,.der', (f) => { file = f; });
  const upload = h('button.danger', { type: 'submit' }, 'Upload and revoke');
  const fileForm = h('form', picker.wrap, h('div.actions', upload));
  fileForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!file) {
      err.textContent = 'Choose the CSV or CRL file first.';
      picker.input.focus();
      return;
    }
    const ok = await confirmDialog(`Revoke every serial in ${file.name}?`,
      'Revocation cannot be undone.', 'Revoke');
    if (!ok) return;
    try {
      const fd = new FormData();
      fd.append('file', file, file.name);
      await api('PUT', CRL_PATH, { form: fd });
      announce(`Serial numbers from ${file.name} revoked.`);
      picker.reset();
      file = null;
      await load();
    } catch (ex) {
      showError(err, ex);
    }
  });

  const dl = h('button.secondary', { type: 'button' }, 'Download the CRL');
  dl.addEventListener('click', async () => {
    err.textContent = '';
    try {
      const r = await api('GET', CRL_PATH, { accept: 'application/pkix-crl', raw: true });
      download(`${session.tenant}.crl`, await r.blob());
    } catch (ex) {
      showError(err, ex);
    }
  });

  async function load() {
    const res = await api('GET', '/certgate/revocations');
    clear(listBox);
    const rows = (res.revoked || []).slice().reverse();
    listBox.append(table(`Revoked serial numbers (${rows.length})`, [
      { label: 'Serial number (hex)', cell: (r) => h('code.break', r.serialNumberInHex) },
      { label: 'Revoked', class: 'time', cell: (r) => fmtTime(r.revocationDate) },
      { label: 'Source', cell: (r) => ({ api: 'Entered', csv: 'CSV file', crl: 'CRL file' }[r.source] || r.source) },
    ], rows, 'Nothing is revoked.'));
  }

  root.append(
    pageHead('Revocation', dl),
    h('p.hint', 'certgate refuses device certificates whose serial number (or an intermediate\'s) is revoked here. '
      + 'The CRL download is signed by the server\'s CA.'),
    err,
    h('section.panel', { 'aria-labelledby': 'rev-serials' }, h('h2', { id: 'rev-serials' }, 'Revoke serial numbers'), serialForm),
    h('section.panel', { 'aria-labelledby': 'rev-file' }, h('h2', { id: 'rev-file' }, 'Upload a CSV or a CRL'),
      h('p.hint', 'A CSV with the columns SERIAL NO. and REVOCATION DATE, or an X.509 CRL (PEM or DER) issued by one of your trusted certificates.'),
      fileForm),
    listBox);
  await load();
}

// ---- audit log ----

// A certificate fingerprint is shortened (all of it on hover); other sources are shown whole.
function sourceCell(id) {
  if (!id) return '—';
  if (/^[0-9a-f]{40}$/.test(id)) return h('code', { title: id }, shortFp(id));
  return h('span.break', id);
}

const AUDIT_TYPES = ['', 'TrustedCertificates', 'Inventory', 'UserAuthentication', 'User', 'Tenant', 'Option', 'SYSTEM'];
const AUDIT_PAGE = 25;

function localToIso(v) {
  if (!v) return '';
  const d = new Date(`${v}Z`); // the inputs are in UTC, as every time shown here
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export async function auditPage(root, ctx) {
  const q = ctx.query;
  const page = Number(q.get('page') || 1);
  const type = field('Type', 'select', { name: 'type', options: AUDIT_TYPES.map((t) => [t, t || 'Any type']) });
  type.input.value = q.get('type') || '';
  const user = field('User', 'text', { name: 'user', value: q.get('user') || '', spellcheck: 'false' });
  const source = field('Source', 'text', { name: 'source', value: q.get('source') || '', spellcheck: 'false' }, 'A device, a certificate fingerprint or an address.');
  const from = field('From (UTC)', 'datetime-local', { name: 'from', value: q.get('from') || '' });
  const to = field('To (UTC)', 'datetime-local', { name: 'to', value: q.get('to') || '' });
  const order = field('Order', 'select', { name: 'order', options: [['', 'Newest first'], ['oldest', 'Oldest first']] });
  order.input.value = q.get('order') || '';
  const form = h('form.panel', { 'aria-label': 'Audit filters' },
    h('div.row', h('div', type.wrap), h('div', user.wrap), h('div', source.wrap)),
    h('div.row', h('div', from.wrap), h('div', to.wrap), h('div', order.wrap)),
    h('div.actions', h('button', { type: 'submit' }, 'Apply filters'),
      h('a.button.secondary', { href: '#/audit' }, 'Clear filters')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.go(`#/audit${query({
      type: type.input.value, user: user.input.value.trim(), source: source.input.value.trim(),
      from: from.input.value, to: to.input.value, order: order.input.value,
    })}`);
  });
  const listBox = h('div', { 'aria-live': 'polite' });
  root.append(pageHead('Audit log'), form, listBox);
  const params = {
    type: q.get('type'), user: q.get('user'), source: q.get('source'),
    dateFrom: localToIso(q.get('from')), dateTo: localToIso(q.get('to')),
    revert: q.get('order') === 'oldest' ? 'true' : '',
    pageSize: AUDIT_PAGE, currentPage: page, withTotalPages: true,
  };
  const coll = await api('GET', `/audit/auditRecords${query(params)}`);
  const recs = coll.auditRecords || [];
  listBox.append(table('Audit records', [
    { label: 'Time', class: 'time', cell: (r) => fmtTime(r.time || r.creationTime) },
    { label: 'Type', cell: (r) => r.type },
    { label: 'Activity', cell: (r) => r.activity },
    { label: 'Text', cell: (r) => h('span.break', r.text) },
    { label: 'User', cell: (r) => r.user || '—' },
    { label: 'Source', cell: (r) => sourceCell(r.source && r.source.id) },
    { label: 'Severity', cell: (r) => badge(r.severity || '', r.severity === 'MAJOR' || r.severity === 'CRITICAL' ? 'bad' : r.severity === 'WARNING' ? 'warn' : null) },
  ], recs, 'No audit records match.'));
  const keep = Object.fromEntries([...q.entries()].filter(([k]) => k !== 'page'));
  listBox.append(pager(coll.statistics, recs.length, AUDIT_PAGE, (n) => ctx.go(`#/audit${query({ ...keep, page: n })}`)));
}

// ---- tenants (management tenant) ----

export async function tenantsPage(root, ctx) {
  if (!session.management || !hasRole('ROLE_TENANT_MANAGEMENT_READ', 'ROLE_TENANT_MANAGEMENT_ADMIN')) {
    root.append(pageHead('Tenants'), h('p', 'Only tenant managers of the management tenant see this page.'));
    return;
  }
  const page = Number(ctx.query.get('page') || 1);
  const err = alertBox();
  const listBox = h('div', { 'aria-live': 'polite' });
  const mayChange = hasRole('ROLE_TENANT_MANAGEMENT_ADMIN');

  const company = field('Company', 'text', { name: 'company', required: true });
  const domain = field('Domain', 'text', { name: 'domain', required: true, spellcheck: 'false' }, 'Lowercase letters, digits and "-", starting with a letter.');
  const email = field('Administrator e-mail', 'email', { name: 'adminEmail', required: true });
  const admin = field('Administrator user name', 'text', { name: 'adminName', value: 'admin', spellcheck: 'false' });
  const pass = field('Administrator password', 'password', { name: 'adminPass', autocomplete: 'new-password' }, 'At least 6 characters. Give it to the tenant\'s administrator over a safe channel.');
  const create = h('button', { type: 'submit' }, 'Create tenant');
  const createErr = alertBox();
  const createForm = h('form', h('div.row', h('div', company.wrap), h('div', domain.wrap)),
    h('div.row', h('div', email.wrap), h('div', admin.wrap), h('div', pass.wrap)), createErr, h('div.actions', create));
  createForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    createErr.textContent = '';
    create.disabled = true;
    try {
      const body = { company: company.input.value.trim(), domain: domain.input.value.trim(), adminEmail: email.input.value.trim() };
      if (admin.input.value.trim()) body.adminName = admin.input.value.trim();
      if (pass.input.value) body.adminPass = pass.input.value;
      const t = await api('POST', '/tenant/tenants', { json: body });
      pass.input.value = '';
      for (const f of [company, domain, email]) f.input.value = '';
      announce(`Tenant ${t.id} (${t.domain}) created.`);
      await load(1);
    } catch (ex) {
      showError(createErr, ex);
    } finally {
      create.disabled = false;
    }
  });

  async function setStatus(t, status) {
    const suspend = status === 'SUSPENDED';
    const ok = await confirmDialog(suspend ? `Suspend tenant ${t.id}?` : `Activate tenant ${t.id}?`,
      suspend ? 'Its users and devices can no longer sign in or connect, and their live sessions are closed. The data is kept.'
        : 'Its users and devices can sign in and connect again.',
      suspend ? 'Suspend tenant' : 'Activate tenant', suspend);
    if (!ok) return;
    err.textContent = '';
    try {
      await api('PUT', `/tenant/tenants/${encodeURIComponent(t.id)}`, { json: { status } });
      announce(`Tenant ${t.id} ${suspend ? 'suspended' : 'activated'}.`);
      await load(page);
    } catch (ex) {
      showError(err, ex);
    }
  }

  async function load(p) {
    const coll = await api('GET', `/tenant/tenants${query({ pageSize: 50, currentPage: p, withTotalPages: true })}`);
    const ts = coll.tenants || [];
    clear(listBox);
    listBox.append(table('Tenants', [
      { label: 'ID', cell: (t) => h('code', t.id) },
      { label: 'Domain', cell: (t) => t.domain },
      { label: 'Company', cell: (t) => t.company },
      { label: 'Status', cell: (t) => (t.status === 'SUSPENDED' ? badge('Suspended', 'bad') : badge('Active', 'ok')) },
      { label: 'Created', class: 'time', cell: (t) => fmtTime(t.creationTime) },
      {
        label: 'Actions',
        cell: (t) => (!mayChange || t.id === 'management' ? '—'
          : t.status === 'SUSPENDED'
            ? h('button.secondary', { type: 'button', 'aria-label': `Activate tenant ${t.id}`, onclick: () => setStatus(t, 'ACTIVE') }, 'Activate')
            : h('button.danger', { type: 'button', 'aria-label': `Suspend tenant ${t.id}`, onclick: () => setStatus(t, 'SUSPENDED') }, 'Suspend')),
      },
    ], ts, 'No tenants.'));
    if ((coll.statistics && coll.statistics.totalPages > 1) || p > 1) {
      listBox.append(pager(coll.statistics, ts.length, 50, (n) => ctx.go(`#/tenants?page=${n}`)));
    }
  }

  append(root, [pageHead('Tenants'), err, listBox,
    mayChange ? h('section.panel', { 'aria-labelledby': 'new-tenant' }, h('h2', { id: 'new-tenant' }, 'Create a tenant'), createForm) : null]);
  await load(page);
}
