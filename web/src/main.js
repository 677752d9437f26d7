// Entry point: loads the session, routes on the URL hash and renders the page.
import { html, render, useCallback, useEffect, useState } from './lib.js';
import { get, post, setCsrfToken } from './api.js';
import { LoginPage, RegisterPage } from './pages/auth.js';
import { UsagePage } from './pages/usage.js';
import { ApplicationsPage } from './pages/applications.js';
import { PlaygroundPage } from './pages/playground.js';
import { GalleryPage } from './pages/gallery.js';
import { Header } from './header.js';

function currentRoute() {
  const path = (location.hash || '#/').replace(/^#/, '') || '/';
  const parts = path.split('/').filter(Boolean);
  return { path, parts };
}

export function navigate(path) {
  if (location.hash !== `#${path}`) location.hash = `#${path}`;
}

/** The skip link moves focus to the page (a hash link would change the route). */
function skipToMain(event) {
  event.preventDefault();
  document.getElementById('main')?.focus();
}

/** Each page's title, for the browser tab and screen readers. */
function pageTitle(first, second) {
  if (first === 'login') return 'Log in';
  if (first === 'register') return 'Create an account';
  if (first === 'gallery') return 'Gallery';
  if (first === 'account') return second === 'applications' ? 'Applications & tokens' : 'Usage & credits';
  return 'Playground';
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

  const [first, second] = route.parts;
  useEffect(() => {
    document.title = `${pageTitle(first, second)} · sdapi`;
  }, [first, second]);

  if (session === undefined) return html`<p class="boot">Loading…</p>`;

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
  else if (first === 'playground') page = html`<${PlaygroundPage} threadGuid=${second} session=${session} onCreditsChange=${refreshSession} key=${'pg'} />`;
  else if (first === 'gallery') page = html`<${GalleryPage} />`;
  else page = html`<section class="page"><h1>Not found</h1><p><a href="#/playground">Go to the playground</a></p></section>`;

  return html`
    <a class="skip-link" href="#main" onClick=${skipToMain}>Skip to content</a>
    <${Header} session=${session} route=${route} onLogout=${logout} />
    <main id="main" tabindex="-1">${page}</main>
  `;
}

render(html`<${App} />`, document.getElementById('app'));
