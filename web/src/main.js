// Entry point: loads the session, routes on the URL hash and renders the page.
import { html, render, useCallback, useEffect, useState } from './lib.js';
import { get, post, setCsrfToken } from './api.js';
import { LoginPage, RegisterPage } from './pages/auth.js';
import { UsagePage } from './pages/usage.js';
import { ApplicationsPage } from './pages/applications.js';
import { PlaygroundPage } from './pages/playground.js';
import { Header } from './header.js';

function currentRoute() {
  const path = (location.hash || '#/').replace(/^#/, '') || '/';
  const parts = path.split('/').filter(Boolean);
  return { path, parts };
}

export function navigate(path) {
  if (location.hash !== `#${path}`) location.hash = `#${path}`;
}

function App() {
  const [route, setRoute] = useState(currentRoute());
  const [session, setSession] = useState(undefined);

  const refreshSession = useCallback(async () => {
    try {
      const data = await get('/auth/session');
      setCsrfToken(data.csrf_token ?? null);
      setSession(data.user ? data : null);
    } catch {
      setCsrfToken(null);
      setSession(null);
    }
  }, []);

  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    const onUnauthenticated = () => {
      setCsrfToken(null);
      setSession(null);
    };
    window.addEventListener('hashchange', onHash);
    window.addEventListener('sdapi:unauthenticated', onUnauthenticated);
    refreshSession();
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('sdapi:unauthenticated', onUnauthenticated);
    };
  }, []);

  const logout = useCallback(async () => {
    try {
      await post('/auth/logout');
    } finally {
      setCsrfToken(null);
      setSession(null);
      navigate('/login');
    }
  }, []);

  if (session === undefined) return html`<p class="boot">Loading…</p>`;

  const [first, second] = route.parts;
  const publicPage = first === 'login' || first === 'register';
  if (!session && !publicPage) {
    navigate('/login');
    return null;
  }
  if (session && (publicPage || !first)) {
    navigate('/playground');
    return null;
  }

  let page;
  if (first === 'login') page = html`<${LoginPage} onLogin=${refreshSession} />`;
  else if (first === 'register') page = html`<${RegisterPage} onLogin=${refreshSession} />`;
  else if (first === 'account' && second === 'applications') page = html`<${ApplicationsPage} />`;
  else if (first === 'account') page = html`<${UsagePage} session=${session} onChange=${refreshSession} />`;
  else if (first === 'playground') page = html`<${PlaygroundPage} threadGuid=${second} onCreditsChange=${refreshSession} key=${'pg'} />`;
  else page = html`<section class="page"><h1>Not found</h1><p><a href="#/playground">Go to the playground</a></p></section>`;

  return html`
    <${Header} session=${session} route=${route} onLogout=${logout} />
    <main id="main">${page}</main>
  `;
}

render(html`<${App} />`, document.getElementById('app'));
