// Devices: the inventory list with search and paging, one device's details, and bulk
// registration from a CSV file (reference §8, §13.5).
import { api, query } from './api.js?v=__CERTGATE_UI_VERSION__';
import {
  h, append, clear, field, alertBox, showError, announce, pageHead, table, fmtTime, badge, shortFp,
  download, dropZone, confirmDialog, pager,
} from './dom.js?v=__CERTGATE_UI_VERSION__';

const PAGE_SIZE = 20;

function reg(mo) {
  return mo.certgate_Registration || {};
}

function externalId(mo) {
  const r = reg(mo);
  if (r.externalId && r.externalId.value) return r.externalId.value;
  return (mo.owner || '').replace(/^device_/, '') || mo.name || mo.id;
}

function kind(mo) {
  const r = reg(mo);
  const how = r.registration === 'bulk' ? 'Bulk' : r.registration === 'auto' ? 'Auto' : '—';
  const auth = r.authType === 'CERTIFICATES' ? 'certificate' : r.authType === 'BASIC' ? 'password' : '';
  return auth ? `${how} (${auth})` : how;
}

function connectedCell(state) {
  if (state === undefined) return h('span.hint', '—');
  return state ? badge('Connected', 'ok') : badge('Not connected');
}

// ---- the list ----

export async function devicesPage(root, ctx) {
  const text = ctx.query.get('text') || '';
  const page = Number(ctx.query.get('page') || 1);
  const search = field('Search devices', 'search', { name: 'text', value: text, spellcheck: 'false', 'aria-describedby': 'search-hint' });
  const form = h('form', { role: 'search' }, h('div.row.end', h('div', search.wrap),
    h('div', h('button', { type: 'submit' }, 'Search'))), h('p.hint#search-hint', 'Part of a device ID, name or type.'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.go(`#/devices${query({ text: search.input.value.trim() })}`);
  });
  const listBox = h('div', { 'aria-live': 'polite' });
  root.append(pageHead('Devices', h('a.button.secondary', { href: '#/bulk-registration' }, 'Bulk registration')), form, listBox);

  const coll = await api('GET', `/inventory/managedObjects${query({
    text, pageSize: PAGE_SIZE, currentPage: page, withTotalPages: true,
  })}`);
  const mos = coll.managedObjects || [];
  let connected = {};
  let wired = false;
  if (mos.length) {
    try {
      const ids = mos.map(externalId);
      const c = await api('GET', `/certgate/devices/connected${query({ ids: ids.join(',') })}`);
      wired = c.brokerWired;
      connected = Object.fromEntries(ids.map((id) => [id, c.connected.includes(id)]));
    } catch (e) {
      // the connection column stays empty
    }
  }
  listBox.append(table(text ? `Devices matching "${text}"` : 'Devices of this tenant', [
    { label: 'Device ID', cell: (mo) => h('a', { href: `#/devices/${mo.id}` }, externalId(mo)) },
    { label: 'Name', cell: (mo) => mo.name || '—' },
    { label: 'Registration', cell: kind },
    { label: 'Trusted certificate', cell: (mo) => (reg(mo).trustedCertificate ? h('a', { href: `#/certificates/${reg(mo).trustedCertificate}` }, h('code', shortFp(reg(mo).trustedCertificate))) : '—') },
    { label: 'First seen', class: 'time', cell: (mo) => fmtTime(reg(mo).firstSeen) },
    { label: 'Last seen', class: 'time', cell: (mo) => fmtTime(reg(mo).lastSeen) },
    { label: 'Connected now', cell: (mo) => connectedCell(wired ? connected[externalId(mo)] : undefined) },
  ], mos, text ? 'No device matches.' : 'No devices yet: they appear when they first connect with auto registration, or after a bulk registration.'));
  if (!wired && mos.length) listBox.append(h('p.hint', 'Connection state unknown: the MQTT broker is not running in this server.'));
  listBox.append(pager(coll.statistics, mos.length, PAGE_SIZE, (n) => ctx.go(`#/devices${query({ text, page: n })}`)));
}

// ---- one device ----

export async function devicePage(root, ctx, id) {
  const mo = await api('GET', `/inventory/managedObjects/${encodeURIComponent(id)}`);
  const r = reg(mo);
  const ext = externalId(mo);
  let connected;
  try {
    const c = await api('GET', `/certgate/devices/connected${query({ ids: ext })}`);
    connected = c.brokerWired ? c.connected.includes(ext) : undefined;
  } catch (e) {
    connected = undefined;
  }
  const err = alertBox();
  const del = h('button.danger', { type: 'button' }, 'Delete device');
  del.addEventListener('click', async () => {
    const ok = await confirmDialog(`Delete device ${ext}?`,
      'The device and its device user are removed and its live sessions closed. It can register again only through auto registration or a new bulk registration.',
      'Delete device');
    if (!ok) return;
    try {
      await api('DELETE', `/inventory/managedObjects/${encodeURIComponent(id)}`);
      announce(`Device ${ext} deleted.`);
      ctx.go('#/devices');
    } catch (ex) {
      showError(err, ex);
    }
  });
  const own = new Set(['id', 'self', 'name', 'type', 'owner', 'creationTime', 'lastUpdated', 'c8y_IsDevice',
    'certgate_Registration', 'childDevices', 'childAssets', 'childAdditions', 'deviceParents',
    'assetParents', 'additionParents']);
  const custom = Object.fromEntries(Object.entries(mo).filter(([k]) => !own.has(k)));
  append(root, [
    h('p', h('a', { href: '#/devices' }, '← Devices')),
    pageHead(ext, del),
    err,
    h('div.panel', h('dl.facts',
      fact('Device ID', ext),
      fact('Managed object id', mo.id),
      fact('Name', mo.name),
      fact('Type', mo.type),
      fact('Owner (device user)', mo.owner),
      fact('Registration', kind(mo)),
      fact('External id type', r.externalId ? r.externalId.type : null),
      fact('Trusted certificate', r.trustedCertificate ? h('a', { href: `#/certificates/${r.trustedCertificate}` }, h('code.break', r.trustedCertificate)) : null),
      fact('Registered', fmtTime(mo.creationTime)),
      fact('First seen', fmtTime(r.firstSeen)),
      fact('Last seen', fmtTime(r.lastSeen)),
      fact('Connected now', connectedCell(connected)))),
    Object.keys(custom).length
      ? h('section.panel', { 'aria-labelledby': 'custom-title' }, h('h2', { id: 'custom-title' }, 'Custom properties'),
        h('pre', JSON.stringify(custom, null, 2)))
      : null]);
}

function fact(label, value) {
  return [h('dt', label), h('dd', value === undefined || value === null || value === '' ? '—' : value)];
}

// ---- bulk registration ----

const TEMPLATE = 'ID;AUTH_TYPE;NAME;TYPE\nsensor-0001;CERTIFICATES;Sensor 1;c8y_Sensor\nsensor-0002;CERTIFICATES;Sensor 2;c8y_Sensor\n';

// The data rows of a CSV as the server reads them (separator: tab, ';' or ','), just enough
// to list every row with its ID next to the server's verdict.
function csvRows(text) {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const head = lines[0] || '';
  const sep = head.includes('\t') ? '\t' : head.includes(';') ? ';' : ',';
  const split = (line) => {
    const out = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === sep) { out.push(cur); cur = ''; } else cur += ch;
    }
    out.push(cur);
    return out.map((s) => s.trim());
  };
  const cols = split(head).map((c) => c.toUpperCase());
  const idCol = cols.indexOf('ID');
  const rows = [];
  for (let i = 1; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    const cells = split(lines[i]);
    rows.push({ line: i + 1, id: idCol >= 0 ? cells[idCol] || '' : '' });
  }
  return rows;
}

export async function bulkPage(root) {
  let file = null;
  const err = alertBox();
  const results = h('div', { 'aria-live': 'polite' });
  const picker = dropZone('CSV file', '.csv,.txt,.tsv,text/csv', (f) => { file = f; err.textContent = ''; });
  const upload = h('button', { type: 'submit' }, 'Upload and register');
  const form = h('form', picker.wrap, h('div.actions', upload,
    h('button.secondary', { type: 'button', onclick: () => download('bulk-registration.csv', TEMPLATE, 'text/csv') }, 'Download a template')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    clear(results);
    if (!file) {
      err.textContent = 'Choose the CSV file first.';
      picker.input.focus();
      return;
    }
    upload.disabled = true;
    try {
      const text = await file.text();
      const fd = new FormData();
      fd.append('file', new Blob([text], { type: 'text/csv' }), file.name);
      const res = await api('POST', '/devicecontrol/bulkNewDeviceRequests', { form: fd });
      showResults(text, res);
      announce(`Bulk registration: ${res.numberOfSuccessful} of ${res.numberOfAll} rows registered.`);
    } catch (ex) {
      showError(err, ex);
    } finally {
      upload.disabled = false;
    }
  });

  function showResults(text, res) {
    const failed = new Map();
    for (const f of res.failedCreationList || []) {
      if (!failed.has(f.deviceId)) failed.set(f.deviceId, []);
      failed.get(f.deviceId).push(f.failureReason || 'failed');
    }
    const updated = new Set((res.credentialUpdatedList || []).map((u) => u.deviceId));
    const rows = csvRows(text).map((row) => {
      const reasons = failed.get(row.id);
      if (reasons && reasons.length) return { ...row, result: 'Failed', reason: reasons.shift() };
      if (updated.has(row.id)) return { ...row, result: 'Credentials updated', reason: '' };
      return { ...row, result: 'Created', reason: '' };
    });
    results.append(
      h('h2', 'Results'),
      h('div.cards',
        h('div.card', h('span.value', String(res.numberOfAll)), h('span.label', 'Rows')),
        h('div.card', h('span.value', String(res.numberOfCreated)), h('span.label', 'Created')),
        h('div.card', h('span.value', String((res.credentialUpdatedList || []).length)), h('span.label', 'Credentials updated')),
        h('div.card', h('span.value', String(res.numberOfFailed)), h('span.label', 'Failed'))),
      table('Result of each row', [
        { label: 'Line', class: 'num', cell: (r) => String(r.line) },
        { label: 'Device ID', cell: (r) => r.id || '—' },
        { label: 'Result', cell: (r) => badge(r.result, r.result === 'Failed' ? 'bad' : 'ok') },
        { label: 'Reason', cell: (r) => r.reason || '' },
      ], rows, 'The file has no data rows.'));
  }

  root.append(
    pageHead('Bulk registration'),
    h('div.panel',
      h('p', 'Register many devices at once from a CSV file. Certificate devices need the column AUTH_TYPE with the value CERTIFICATES and no CREDENTIALS; their certificate\'s CN must be the ID.'),
      h('p.hint', 'Columns: ID (required), AUTH_TYPE, CREDENTIALS, TYPE, NAME, IDTYPE, ICCID, PATH, SHELL, external-<type>, and custom properties. The separator may be a tab, ";" or ",".'),
      form, err),
    results);
}
