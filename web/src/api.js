// The public JSON API, called with the session cookie. Writes carry the session's CSRF token.

const BASE = '/api/v1';
let csrfToken = null;

export function setCsrfToken(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = body && typeof body === 'object' ? body.error ?? body : {};
    super(err.message || `Request failed (HTTP ${status})`);
    this.status = status;
    this.code = err.code;
    /** Field name → messages, for 422 answers. */
    this.fields = err.fields ?? body?.errors ?? {};
  }
}

/** Sends a request and returns the whole JSON body (`{data, meta?}`); throws ApiError on 4xx/5xx. */
export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const res = await fetch(BASE + path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  if (res.status !== 204) {
    try {
      json = await res.json();
    } catch {
      json = null;
    }
  }
  if (!res.ok) {
    // The session ended (expired, logged out elsewhere): let the app go back to the login page.
    if (res.status === 401) window.dispatchEvent(new Event('sdapi:unauthenticated'));
    throw new ApiError(res.status, json);
  }
  return json;
}

/** Like request(), returning only the `data` member. */
export async function api(method, path, body) {
  const json = await request(method, path, body);
  return json ? json.data : null;
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const patch = (path, body = {}) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);
