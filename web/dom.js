// DOM helpers. Text from the server is only ever set as text (textContent), never parsed as
// HTML, so a certificate name or an audit text cannot inject markup or script.

let uid = 0;

// A unique id for label/input pairs.
export function newId(prefix) {
  uid += 1;
  return `${prefix || 'f'}-${uid}`;
}

// h('tag.class#id', {attrs}, ...children): build an element. Attributes: `on<event>` adds a
// listener, `class`, `for`, boolean true/false, anything else via setAttribute. Children:
// nodes, strings (text), numbers, arrays, null/undefined/false (skipped).
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9]+)((?:[.#][A-Za-z0-9_-]+)*)$/.exec(spec);
  if (!m) throw new Error(`bad element spec ${spec}`);
  const el = document.createElement(m[1]);
  for (const part of m[2].match(/[.#][A-Za-z0-9_-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'class') {
      for (const c of String(v).split(/\s+/).filter(Boolean)) el.classList.add(c);
    } else if (k === 'for') {
      el.htmlFor = v;
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'checked') {
      el.checked = Boolean(v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// A labelled form field: returns {wrap, input}. kind: 'text', 'password', 'textarea',
// 'select', 'file', 'search', 'email', 'datetime-local'.
export function field(label, kind, attrs = {}, hint = null) {
  const id = newId(attrs.name || 'field');
  let input;
  const a = { id, ...attrs };
  if (hint) a['aria-describedby'] = `${id}-hint`;
  if (kind === 'textarea') input = h('textarea', a);
  else if (kind === 'select') {
    const { options, ...rest } = a;
    input = h('select', rest, (options || []).map(([value, text]) => h('option', { value }, text)));
  } else input = h('input', { type: kind, ...a });
  const wrap = h('div.field', h('label', { for: id }, label), input,
    hint ? h('p.hint', { id: `${id}-hint` }, hint) : null);
  return { wrap, input };
}

// A checkbox with its label after it. role="switch" when `asSwitch`.
export function checkbox(label, attrs = {}, asSwitch = false) {
  const id = newId(attrs.name || 'check');
  const input = h('input', { type: 'checkbox', id, role: asSwitch ? 'switch' : null, ...attrs });
  const wrap = h('label', { class: asSwitch ? 'switch' : 'inline', for: id }, input, label);
  return { wrap, input };
}

// An alert region for error messages (role=alert: read out when filled).
export function alertBox() {
  return h('div.alert', { role: 'alert' });
}

export function showError(box, err) {
  box.textContent = err && err.message ? err.message : String(err);
}

// Short-lived message in the global status region (aria-live polite).
let statusTimer = null;
export function announce(text) {
  const s = document.getElementById('status');
  if (!s) return;
  s.textContent = text;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { s.textContent = ''; }, 6000);
}

// ---- formatting ----

// "2026-11-26 06:34 UTC": one format everywhere, whatever the browser's locale.
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function daysUntil(iso) {
  const t = new Date(iso).getTime();
  return Math.floor((t - Date.now()) / 86400000);
}

// A validity badge: expired, expiring within 30 days, or valid.
export function validityBadge(notAfter) {
  if (!notAfter) return null;
  const days = daysUntil(notAfter);
  if (new Date(notAfter).getTime() < Date.now()) return h('span.badge.bad', 'Expired');
  if (days < 30) return h('span.badge.warn', `Expires in ${days} day${days === 1 ? '' : 's'}`);
  return null;
}

export function badge(text, kind) {
  return h(`span.badge${kind ? `.${kind}` : ''}`, text);
}

export function shortFp(fp) {
  return fp && fp.length > 16 ? `${fp.slice(0, 12)}…${fp.slice(-4)}` : fp || '';
}

// A table; columns: [{label, cell(row) -> node|string, class}]. Rows become cards on phones
// (each cell is labelled with its column through data-label).
export function table(caption, columns, rows, empty) {
  if (!rows.length) return h('p.hint', empty || 'Nothing to show.');
  return h('div.table-wrap',
    h('table.responsive',
      caption ? h('caption', caption) : null,
      h('thead', h('tr', columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
      h('tbody', rows.map((r) => h('tr', columns.map((c) =>
        h('td', { 'data-label': c.label, class: c.class }, h('div.cell', c.cell(r)))))))));
}

// ---- files ----

// Offer `data` (string or Blob) as a download named `name`.
export function download(name, data, type = 'text/plain') {
  const blob = data instanceof Blob ? data : new Blob([data], { type });
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    announce('Copied to the clipboard.');
  } catch (e) {
    announce('Copying is not allowed here: select the text and copy it by hand.');
  }
}

// A file picker with a drop zone around it: the native file input stays visible and
// keyboard-usable; dropping a file anywhere on the zone picks it too. onFile(file) is called
// with the chosen or dropped file.
export function dropZone(label, accept, onFile, hint) {
  const id = newId('file');
  const input = h('input', { type: 'file', id, accept });
  const name = h('span.hint', { 'aria-live': 'polite' }, 'No file chosen.');
  const zone = h('div.dropzone',
    h('label', { for: id }, label),
    h('p.hint', hint || 'Drop the file here, or choose it:'), input, h('br'), name);
  const pick = (f) => {
    if (!f) return;
    name.textContent = `Chosen: ${f.name} (${f.size} bytes)`;
    onFile(f);
  };
  input.addEventListener('change', () => pick(input.files[0]));
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer.files.length) pick(e.dataTransfer.files[0]);
  });
  return {
    wrap: h('div.field', zone),
    input,
    reset() { input.value = ''; name.textContent = 'No file chosen.'; },
  };
}

export function bytesToBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

// ---- dialogs ----

// A modal confirmation; resolves true when confirmed. Focus returns to the opener.
export function confirmDialog(title, text, confirmLabel, danger = true) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = newId('dlg');
    const ok = h('button', { type: 'button', class: danger ? 'danger' : null }, confirmLabel);
    const cancel = h('button.secondary', { type: 'button' }, 'Cancel');
    const dlg = h('dialog', { 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title), h('p', text), h('div.actions', cancel, ok));
    const done = (v) => {
      dlg.close();
      dlg.remove();
      if (opener && opener.focus) opener.focus();
      resolve(v);
    };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// A page heading row: h1 plus optional actions.
export function pageHead(title, ...actions) {
  return h('div.page-head', h('h1', { id: 'page-title' }, title), actions);
}

// A pager for Cumulocity collections ({statistics: {currentPage, totalPages}}).
export function pager(stats, count, pageSize, go) {
  const page = stats && stats.currentPage ? stats.currentPage : 1;
  const pages = stats && stats.totalPages ? stats.totalPages : null;
  const prev = h('button.secondary', { type: 'button', disabled: page <= 1, onclick: () => go(page - 1) }, 'Previous page');
  const more = pages ? page < pages : count >= pageSize;
  const next = h('button.secondary', { type: 'button', disabled: !more, onclick: () => go(page + 1) }, 'Next page');
  return h('nav.pager', { 'aria-label': 'Pages' }, prev,
    h('span', pages ? `Page ${page} of ${Math.max(pages, 1)}` : `Page ${page}`), next);
}
