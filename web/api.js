// The REST client of the UI. The browser holds the session only as the HttpOnly cookie
// certgate_session (set by POST /ui/session); the password is sent once and never kept. Every
// request other than GET/HEAD carries X-XSRF-TOKEN with the session's CSRF token, which the
// server hands out in the body of POST/GET /ui/session.

export const session = {
  tenant: null,
  user: null,
  roles: [],
  management: false,
  csrf: null,
};

export class ApiError extends Error {
  constructor(status, error, message) {
    super(message);
    this.status = status;
    this.error = error;
  }
}

let onSignedOut = () => {};

// setSignedOutHandler: fn(message) runs when a request finds the session gone (401).
export function setSignedOutHandler(fn) {
  onSignedOut = fn;
}

function setSession(s) {
  session.tenant = s ? s.tenant : null;
  session.user = s ? s.user : null;
  session.roles = s ? s.roles || [] : [];
  session.management = s ? Boolean(s.management) : false;
  session.csrf = s ? s.csrfToken : null;
}

export function hasRole(...roles) {
  return roles.some((r) => session.roles.includes(r));
}

// api(method, path, opts): opts.json (a body sent as JSON), opts.form (FormData), opts.body
// with opts.contentType, opts.accept, opts.raw (return the Response), opts.quiet401 (do not
// treat a 401 as the end of the session). Resolves to the parsed JSON (null for no body);
// rejects with ApiError carrying the server's own message.
export async function api(method, path, opts = {}) {
  const headers = {
    Accept: opts.accept || 'application/json',
    'X-Requested-With': 'XMLHttpRequest',
  };
  if (method !== 'GET' && method !== 'HEAD' && session.csrf) {
    headers['X-XSRF-TOKEN'] = session.csrf;
  }
  let body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = opts.form; // the browser writes the multipart Content-Type with its boundary
  } else if (opts.body !== undefined) {
    body = opts.body;
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', `The server could not be reached (${e.message}).`);
  }
  if (!r.ok) {
    let error = '';
    let message = `${r.status} ${r.statusText}`;
    try {
      const e = await r.json();
      error = e.error || '';
      message = e.message || e.error || message;
    } catch (ignored) {
      // not JSON: keep the status line
    }
    if (r.status === 401 && !opts.quiet401) {
      setSession(null);
      onSignedOut(message);
    }
    if (r.status === 429) {
      const retry = r.headers.get('Retry-After');
      if (retry) message += ` (retry after ${retry} s)`;
    }
    throw new ApiError(r.status, error, message);
  }
  if (opts.raw) return r;
  if (r.status === 204) return null;
  const text = await r.text();
  return text ? JSON.parse(text) : null;
}

// The session: who is signed in (null when nobody).
export async function loadSession() {
  try {
    setSession(await api('GET', '/ui/session', { quiet401: true }));
    return session.user ? session : null;
  } catch (e) {
    if (e.status === 401) {
      setSession(null);
      return null;
    }
    throw e;
  }
}

export async function signIn(tenant, user, password) {
  const s = await api('POST', '/ui/session', { json: { tenant, user, password }, quiet401: true });
  setSession(s);
  return session;
}

export async function signOut() {
  try {
    await api('DELETE', '/ui/session', { quiet401: true });
  } finally {
    setSession(null);
  }
}

// Paths of the caller's own tenant.
export function tenantPath(rest) {
  return `/tenant/tenants/${encodeURIComponent(session.tenant)}${rest}`;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
