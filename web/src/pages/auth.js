// Log in and register. Both open a session (HttpOnly cookie) and then reload it into the app.
import { html, useEffect, useState } from '../lib.js';
import { get, post } from '../api.js';
import { errorText, fieldError } from '../format.js';

function CredentialsForm({ title, submitLabel, endpoint, onLogin, footer, autocomplete, passwordHint, minLength, withInvite }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [invite, setInvite] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post(endpoint, withInvite ? { email, password, invite } : { email, password });
      await onLogin();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const fields = ['email', 'password', 'invite'];
  const anyFieldError = fields.some((f) => fieldError(error, f));
  return html`
    <section class="page narrow">
      <h1>${title}</h1>
      <form class="card stack" onSubmit=${submit} novalidate>
        <label>Email
          <input type="email" name="email" autocomplete="email" required value=${email} onInput=${(e) => setEmail(e.currentTarget.value)} />
        </label>
        ${fieldError(error, 'email') && html`<p class="field-error" role="alert">${fieldError(error, 'email')}</p>`}
        <label>Password
          <input type="password" name="password" autocomplete=${autocomplete} required minlength=${minLength ?? 1} value=${password}
            onInput=${(e) => setPassword(e.currentTarget.value)} />
        </label>
        ${passwordHint && !fieldError(error, 'password') && html`<p class="hint muted small">${passwordHint}</p>`}
        ${fieldError(error, 'password') && html`<p class="field-error" role="alert">${fieldError(error, 'password')}</p>`}
        ${withInvite &&
        html`<label>Invite code
            <input type="text" name="invite" autocomplete="off" spellcheck="false" required value=${invite} onInput=${(e) => setInvite(e.currentTarget.value)} />
          </label>
          ${fieldError(error, 'invite')
            ? html`<p class="field-error" role="alert">${fieldError(error, 'invite')}</p>`
            : html`<p class="hint muted small">Registration on this server is by invitation: paste the code you were given.</p>`}`}
        ${error && !anyFieldError && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
        <button type="submit" class="primary" disabled=${busy}>${busy ? 'Please wait…' : submitLabel}</button>
      </form>
      <p class="muted">${footer}</p>
    </section>
  `;
}

export function LoginPage({ onLogin }) {
  return html`<${CredentialsForm} title="Log in" submitLabel="Log in" endpoint="/auth/login" autocomplete="current-password"
    onLogin=${onLogin} footer=${html`No account yet? <a href="#/register">Create one</a>.`} />`;
}

export function RegisterPage({ onLogin }) {
  // How registration works here (open, by invite or closed) and the password rules: GET /auth/signup.
  const [policy, setPolicy] = useState(null);
  useEffect(() => {
    get('/auth/signup')
      .then(setPolicy)
      .catch(() => setPolicy({ mode: 'open', password_min_length: 10 }));
  }, []);
  const footer = html`Already registered? <a href="#/login">Log in</a>.`;
  if (!policy) return html`<p class="boot">Loading…</p>`;
  if (policy.mode === 'closed') {
    return html`
      <section class="page narrow">
        <h1>Create an account</h1>
        <p class="alert warn" role="status">Registration is closed on this server. Ask its operator for an account.</p>
        <p class="muted">${footer}</p>
      </section>
    `;
  }
  const min = policy.password_min_length;
  return html`<${CredentialsForm} title="Create an account" submitLabel="Create account" endpoint="/auth/register"
    autocomplete="new-password" minLength=${min} withInvite=${policy.mode === 'invite'}
    passwordHint=${`At least ${min} characters. Not a common password, and not your email. A few unrelated words make a good one.`}
    onLogin=${onLogin} footer=${footer} />`;
}
