// My account → Applications: create, rename, delete; per application, generate (shown once), list and revoke tokens,
// and show or rotate the webhook signing secret.
import { html, useEffect, useRef, useState } from '../lib.js';
import { del, get, patch, post } from '../api.js';
import { errorText, fieldError, formatDate } from '../format.js';

export function ApplicationsPage() {
  const [apps, setApps] = useState(null);
  const [name, setName] = useState('');
  const [error, setError] = useState(null);

  const load = () =>
    get('/applications')
      .then(setApps)
      .catch(setError);
  useEffect(() => {
    load();
  }, []);

  async function create(event) {
    event.preventDefault();
    setError(null);
    try {
      await post('/applications', { name });
      setName('');
      await load();
    } catch (err) {
      setError(err);
    }
  }

  return html`
    <section class="page">
      <h1>Applications & tokens</h1>
      <p class="muted">An application groups the bearer tokens one program uses. Send a token as <code>Authorization: Bearer …</code> to the <a
        href="/docs" target="_blank" rel="noopener">JSON API</a>.</p>
      <form class="card inline-form" onSubmit=${create}>
        <label>Application name
          <input name="application-name" required maxlength="100" value=${name} onInput=${(e) => setName(e.currentTarget.value)} placeholder="e.g. My script" />
        </label>
        <button type="submit" class="primary">Create application</button>
      </form>
      ${error && html`<p class="alert error" role="alert">${fieldError(error, 'name') || errorText(error)}</p>`}
      ${apps && apps.length === 0 && html`<p class="muted">No applications yet. Create one to generate a token.</p>`}
      ${apps && apps.map((app) => html`<${ApplicationCard} key=${app.id} app=${app} onChange=${load} />`)}
    </section>
  `;
}

function ApplicationCard({ app, onChange }) {
  const [renaming, setRenaming] = useState(false);
  const [newName, setNewName] = useState(app.name);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [tokens, setTokens] = useState(null);
  const [tokenName, setTokenName] = useState('');
  const [fresh, setFresh] = useState(null);
  const [error, setError] = useState(null);

  const loadTokens = () =>
    get(`/applications/${app.id}/tokens`)
      .then(setTokens)
      .catch(setError);
  useEffect(() => {
    loadTokens();
  }, [app.id]);

  async function run(action) {
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err);
    }
  }

  const rename = (event) => {
    event.preventDefault();
    return run(async () => {
      await patch(`/applications/${app.id}`, { name: newName });
      setRenaming(false);
      await onChange();
    });
  };
  const remove = () => run(async () => {
    await del(`/applications/${app.id}`);
    await onChange();
  });
  const generate = (event) => {
    event.preventDefault();
    return run(async () => {
      const token = await post(`/applications/${app.id}/tokens`, { name: tokenName || 'default' });
      setFresh(token);
      setTokenName('');
      await loadTokens();
    });
  };
  const revoke = (token) => run(async () => {
    await del(`/applications/${app.id}/tokens/${token.id}`);
    await loadTokens();
  });

  return html`
    <article class="card app-card" aria-label=${`Application ${app.name}`}>
      <header class="app-head">
        ${renaming
          ? html`<form class="inline-form" onSubmit=${rename}>
              <label>New name for ${app.name}
                <input name="rename" required maxlength="100" value=${newName} onInput=${(e) => setNewName(e.currentTarget.value)} />
              </label>
              <button type="submit" class="primary">Save</button>
              <button type="button" onClick=${() => setRenaming(false)}>Cancel</button>
            </form>`
          : html`<h2>${app.name}</h2>
              <span class="muted">created ${formatDate(app.created_at)}</span>
              <span class="spacer"></span>
              <button type="button" onClick=${() => { setNewName(app.name); setRenaming(true); }}>Rename</button>
              ${confirmDelete
                ? html`<button type="button" class="danger" onClick=${remove}>Confirm delete</button>
                    <button type="button" onClick=${() => setConfirmDelete(false)}>Keep</button>`
                : html`<button type="button" class="danger" onClick=${() => setConfirmDelete(true)}>Delete</button>`}`}
      </header>
      ${confirmDelete && html`<p class="alert warn">Deleting “${app.name}” revokes all of its tokens at once.</p>`}
      ${error && html`<p class="alert error" role="alert">${fieldError(error, 'name') || errorText(error)}</p>`}
      ${fresh && html`<${FreshToken} token=${fresh} onDone=${() => setFresh(null)} />`}
      <${WebhookSecret} app=${app} />
      <form class="inline-form" onSubmit=${generate}>
        <label>Token name
          <input name="token-name" maxlength="100" value=${tokenName} onInput=${(e) => setTokenName(e.currentTarget.value)} placeholder="default" />
        </label>
        <button type="submit" class="primary">Generate token</button>
      </form>
      ${tokens && tokens.length === 0 && html`<p class="muted">No tokens yet.</p>`}
      ${tokens &&
      tokens.length > 0 &&
      html`<div class="table-wrap"><table class="table cards" aria-label=${`Tokens of ${app.name}`}>
        <thead><tr><th>Name</th><th>Prefix</th><th>Created</th><th>Last used</th><th>Status</th><th><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${tokens.map(
            (t) => html`<tr key=${t.id}>
              <td data-label="Name">${t.name}</td>
              <td data-label="Prefix" class="mono">${t.prefix}…</td>
              <td data-label="Created">${formatDate(t.created_at)}</td>
              <td data-label="Last used">${t.last_used_at ? formatDate(t.last_used_at) : 'never'}</td>
              <td data-label="Status">${t.revoked_at ? html`<span class="badge kind-refund">revoked</span>` : html`<span class="badge kind-grant">active</span>`}</td>
              <td class="actions-cell">${!t.revoked_at && html`<button type="button" class="danger small" aria-label=${`Revoke token ${t.name}`} onClick=${() => revoke(t)}>Revoke</button>`}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>`}
    </article>
  `;
}

function FreshToken({ token, onDone }) {
  const [copied, setCopied] = useState(false);
  const input = useRef(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(token.token);
    } catch {
      // Clipboard API unavailable (plain http on another host): select the text so Ctrl+C works.
      input.current.select();
      document.execCommand && document.execCommand('copy');
    }
    setCopied(true);
  }
  return html`
    <div class="fresh-token" role="status">
      <p><strong>Copy your new token now.</strong> It is shown only once; the server keeps only a hash of it.</p>
      <div class="inline-form">
        <label>New token
          <input ref=${input} class="mono" readonly value=${token.token} data-testid="new-token" onFocus=${(e) => e.currentTarget.select()} />
        </label>
        <button type="button" class="primary" onClick=${copy}>${copied ? 'Copied' : 'Copy'}</button>
        <button type="button" onClick=${onDone}>Done</button>
      </div>
    </div>
  `;
}

// The application's webhook signing secret (Standard Webhooks, whsec_…): hidden until asked for; rotating keeps the old
// one signing for 24 h, so receivers can switch over without losing a delivery.
function WebhookSecret({ app }) {
  const [secret, setSecret] = useState(null);
  const [confirmRotate, setConfirmRotate] = useState(false);
  const [error, setError] = useState(null);
  const base = `/applications/${app.id}/webhooks/secret`;
  async function run(action) {
    setError(null);
    try {
      setSecret(await action());
    } catch (err) {
      setError(err);
    }
  }
  const show = () => run(() => get(base));
  const rotate = () => run(async () => {
    const next = await post(`${base}/rotate`);
    setConfirmRotate(false);
    return next;
  });
  return html`
    <section class="webhook-secret" aria-label=${`Webhook secret of ${app.name}`}>
      <h3>Webhook secret</h3>
      <p class="muted">Requests sent with this application's tokens may name a <code>webhook</code>; each call is signed with this secret
        (headers <code>webhook-id</code>, <code>webhook-timestamp</code>, <code>webhook-signature</code>, as in Standard Webhooks).</p>
      ${error && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
      ${secret
        ? html`<div class="inline-form">
            <label>Signing secret
              <input class="mono" readonly value=${secret.secret} data-testid="webhook-secret" onFocus=${(e) => e.currentTarget.select()} />
            </label>
            <button type="button" onClick=${() => setSecret(null)}>Hide</button>
          </div>
          ${secret.previous_secret_expires_at &&
          html`<p class="muted" role="status">The previous secret also signs until ${formatDate(secret.previous_secret_expires_at)}.</p>`}`
        : html`<button type="button" onClick=${show}>Show webhook secret</button>`}
      ${confirmRotate
        ? html`<p class="alert warn">A new secret signs from now on; the current one keeps signing for 24 hours.</p>
            <button type="button" class="danger" onClick=${rotate}>Confirm rotation</button>
            <button type="button" onClick=${() => setConfirmRotate(false)}>Keep</button>`
        : html`<button type="button" onClick=${() => setConfirmRotate(true)}>Rotate secret</button>`}
    </section>
  `;
}
