// certgate web UI: the shell (sign-in, navigation, routing) and the overview page.
// Pages live in their own modules; every route is a hash (#/certificates/<fp>), so the
// server serves one page and the REST API does the rest.
import {
  api, session, loadSession, signIn, signOut, setSignedOutHandler, hasRole,
} from './api.js?v=__CERTGATE_UI_VERSION__';
import {
  h, clear, field, alertBox, showError, announce, pageHead, table,
} from './dom.js?v=__CERTGATE_UI_VERSION__';
import { certificatesPage, certificatePage } from './certs.js?v=__CERTGATE_UI_VERSION__';
import { devicesPage, devicePage, bulkPage } from './devices.js?v=__CERTGATE_UI_VERSION__';
import { revocationPage, auditPage, tenantsPage } from './admin.js?v=__CERTGATE_UI_VERSION__';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const whoName = document.getElementById('who-name');
const menuToggle = document.getElementById('menu-toggle');

let cleanup = null; // the current page's timers
let wanted = null; // the route asked for before signing in
let routed = false; // after the first page: move the focus to each new page's title

// ---- routing ----

const routes = [
  [/^overview$/, overviewPage],
  [/^certificates$/, certificatesPage],
  [/^certificates\/([0-9A-Fa-f]{1,64})$/, certificatePage],
  [/^devices$/, devicesPage],
  [/^devices\/([0-9]{1,18})$/, devicePage],
  [/^bulk-registration$/, bulkPage],
  [/^revocation$/, revocationPage],
  [/^audit$/, auditPage],
  [/^tenants$/, tenantsPage],
];

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  const [path, qs] = raw.split('?');
  return { path: path || 'overview', query: new URLSearchParams(qs || '') };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  if (!session.user) {
    wanted = location.hash && !location.hash.startsWith('#/signin') ? location.hash : null;
    signInPage();
    return;
  }
  const { path, query } = parseHash();
  const top = path.split('/')[0];
  for (const a of nav.querySelectorAll('a[data-page]')) {
    if (a.dataset.page === top) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  nav.classList.add('collapsed');
  menuToggle.setAttribute('aria-expanded', 'false');
  const ctx = {
    query,
    onLeave(fn) { cleanup = fn; },
    go,
  };
  clear(main);
  for (const [rx, page] of routes) {
    const m = rx.exec(path);
    if (m) {
      try {
        await page(main, ctx, ...m.slice(1));
      } catch (e) {
        if (e.status !== 401) {
          const box = alertBox();
          showError(box, e);
          main.append(box);
        }
      }
      focusTitle();
      return;
    }
  }
  main.append(pageHead('Page not found'), h('p', 'There is no such page. ', h('a', { href: '#/overview' }, 'Go to the overview.')));
  focusTitle();
}

function focusTitle() {
  if (!routed) {
    routed = true; // a freshly loaded page keeps the focus at its start (skip link first)
    return;
  }
  const t = document.getElementById('page-title');
  if (t) {
    t.setAttribute('tabindex', '-1');
    t.focus({ preventScroll: false });
  }
}

// ---- the shell ----

function showShell(signedIn) {
  nav.hidden = !signedIn;
  who.hidden = !signedIn;
  menuToggle.hidden = !signedIn;
  if (signedIn) {
    whoName.textContent = `${session.tenant}/${session.user}`;
    for (const li of nav.querySelectorAll('[data-needs="management"]')) {
      li.hidden = !(session.management && hasRole('ROLE_TENANT_MANAGEMENT_READ', 'ROLE_TENANT_MANAGEMENT_ADMIN'));
    }
  }
}

// The skip link must not change the hash: the hash is the route.
document.querySelector('.skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

menuToggle.addEventListener('click', () => {
  const open = nav.classList.toggle('collapsed') === false;
  menuToggle.setAttribute('aria-expanded', String(open));
});

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await signOut();
  } catch (e) {
    // the session is gone either way
  }
  showShell(false);
  signInPage('You have signed out.');
  history.replaceState(null, '', '#/signin');
});

setSignedOutHandler((message) => {
  // come back to this page after signing in again
  wanted = location.hash && !location.hash.startsWith('#/signin') ? location.hash : null;
  showShell(false);
  signInPage(`Your session has ended: sign in again. (${message})`);
});

function signInPage(notice) {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  showShell(false);
  for (const d of document.querySelectorAll('dialog')) {
    if (d.open) d.close();
    d.remove();
  }
  clear(main);
  const tenant = field('Tenant ID', 'text', { name: 'tenant', autocomplete: 'organization', spellcheck: 'false' },
    'For example t1234567, or management. May be left empty when your user name exists in one tenant only.');
  const user = field('User', 'text', { name: 'user', autocomplete: 'username', required: true, spellcheck: 'false' });
  const password = field('Password', 'password', { name: 'password', autocomplete: 'current-password', required: true });
  const err = alertBox();
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { 'aria-labelledby': 'page-title', novalidate: true },
    tenant.wrap, user.wrap, password.wrap, err, h('div.actions', button));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!user.input.value || !password.input.value) {
      err.textContent = 'Enter your user name and password.';
      (user.input.value ? password.input : user.input).focus();
      return;
    }
    button.disabled = true;
    try {
      await signIn(tenant.input.value.trim(), user.input.value.trim(), password.input.value);
      password.input.value = '';
      showShell(true);
      const target = wanted && wanted !== '#/signin' ? wanted : '#/overview';
      wanted = null;
      if (location.hash === target) route();
      else location.hash = target;
    } catch (ex) {
      password.input.value = '';
      showError(err, ex);
      password.input.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.append(
    h('div.panel.signin',
      h('h1', { id: 'page-title' }, 'Sign in to certgate'),
      notice ? h('p.notice', { role: 'status' }, notice) : null,
      form));
  (tenant.input.value ? user.input : tenant.input).focus();
}

// ---- overview ----

async function overviewPage(root, ctx) {
  const body = h('div');
  root.append(pageHead('Overview'), body);
  const refresh = async () => {
    const o = await api('GET', '/certgate/overview');
    clear(body);
    const cards = h('div.cards');
    const card = (value, label, href) => cards.append(h('div.card',
      h('span.value', value === undefined || value === null ? '—' : String(value)),
      href ? h('a.label', { href }, label) : h('span.label', label)));
    if (o.devices !== undefined) card(o.devices, 'Devices', '#/devices');
    if (o.broker && o.broker.wired && o.connectedNow !== undefined) {
      card(o.connectedNow, 'Connected now', '#/devices');
    } else if (o.devices !== undefined) {
      card('—', 'Connected now (MQTT broker not running)');
    }
    if (o.trustedCertificates) {
      const t = o.trustedCertificates;
      card(t.total, 'Trusted certificates', '#/certificates');
      card(`${t.proofOfPossessionComplete} of ${t.total}`, 'Proof of possession complete', '#/certificates');
    }
    body.append(cards);
    const b = o.broker || {};
    body.append(h('h2', 'MQTT connections'));
    if (!b.wired) {
      body.append(h('p.hint', 'The MQTT broker is not running in this server, so there are no connection figures.'));
    } else if (b.connectsTotal === undefined) {
      body.append(h('p.hint', 'Your role does not show connection figures.'));
    } else {
      body.append(h('p.hint', b.scope === 'instance'
        ? 'Figures for the whole instance (all tenants).'
        : 'Figures for this tenant: connections that reached one of its trusted certificates or its users.'));
      const rc = h('div.cards');
      rc.append(h('div.card', h('span.value', String(b.connectsLastMinute)), h('span.label', 'Connects in the last minute')));
      rc.append(h('div.card', h('span.value', String(b.scope === 'instance' ? b.sessionsOnline : b.devicesOnline)),
        h('span.label', b.scope === 'instance' ? 'Sessions online' : 'Devices online')));
      rc.append(h('div.card', h('span.value', String(b.connectsTotal)), h('span.label', 'Connects since start')));
      body.append(rc);
      const reasons = Object.keys(b.refusedLastMinute || {});
      body.append(table('Refused connects by reason', [
        { label: 'Reason', cell: (r) => r },
        { label: 'Last minute', class: 'num', cell: (r) => String(b.refusedLastMinute[r]) },
        { label: 'Since start', class: 'num', cell: (r) => String((b.refusedTotal || {})[r] || 0) },
      ], reasons, 'No refusals.'));
    }
    body.append(h('p.hint', `Updated ${new Date().toISOString().slice(11, 19)} UTC; refreshed every 10 seconds.`));
  };
  await refresh();
  const timer = setInterval(() => refresh().catch(() => {}), 10000);
  ctx.onLeave(() => clearInterval(timer));
}

// ---- start ----

window.addEventListener('hashchange', route);

(async () => {
  try {
    await loadSession();
  } catch (e) {
    clear(main);
    main.append(h('p.alert', { role: 'alert' }, `certgate could not be reached: ${e.message}`));
    return;
  }
  showShell(Boolean(session.user));
  if (session.user && (!location.hash || location.hash === '#/signin')) {
    history.replaceState(null, '', '#/overview');
  }
  route();
})();

export { announce };
