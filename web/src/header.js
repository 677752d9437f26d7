// The top bar: navigation and the "My account" menu (balance, usage, applications, log out).
import { html, useEffect, useRef } from './lib.js';

export function Header({ session, route, onLogout }) {
  const menu = useRef(null);
  // Close the menu after navigating.
  useEffect(() => {
    if (menu.current) menu.current.open = false;
  }, [route.path]);
  // ...and after a click anywhere outside it, or Escape.
  useEffect(() => {
    const close = (event) => {
      const el = menu.current;
      if (el && el.open && (event.type === 'keydown' ? event.key === 'Escape' : !el.contains(event.target))) el.open = false;
    };
    document.addEventListener('click', close);
    document.addEventListener('keydown', close);
    return () => {
      document.removeEventListener('click', close);
      document.removeEventListener('keydown', close);
    };
  }, []);

  const here = (prefix) => (route.path.startsWith(prefix) ? 'page' : undefined);
  return html`
    <header class="topbar">
      <a class="brand" href=${session ? '#/playground' : '#/login'}>sdapi</a>
      ${session &&
      html`<nav aria-label="Main">
        <a href="#/playground" aria-current=${here('/playground')}>Playground</a>
        <a href="#/gallery" aria-current=${here('/gallery')}>Gallery</a>
        <a href="/docs" target="_blank" rel="noopener">API docs</a>
      </nav>
      <details class="menu" ref=${menu}>
        <summary>My account</summary>
        <div class="menu-panel">
          <p class="menu-user">${session.user.email}</p>
          <p class="menu-balance">Balance: <strong data-testid="balance">${session.user.credits}</strong> credits</p>
          <a href="#/account/usage" aria-current=${here('/account/usage')}>Usage & credits</a>
          <a href="#/account/applications" aria-current=${here('/account/applications')}>Applications & tokens</a>
          <button type="button" class="link" onClick=${onLogout}>Log out</button>
        </div>
      </details>`}
    </header>
  `;
}
