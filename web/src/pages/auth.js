// Log in and register. Both open a session (HttpOnly cookie) and then reload it into the app.
import { html, useState } from '../lib.js';
import { post } from '../api.js';
import { errorText, fieldError } from '../format.js';

function CredentialsForm({ title, submitLabel, endpoint, onLogin, footer, autocomplete, passwordHint }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post(endpoint, { email, password });
      await onLogin();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return html`
    <section class="page narrow">
      <h1>${title}</h1>
      <form class="card stack" onSubmit=${submit} novalidate>
        <label>Email
          <input type="email" name="email" autocomplete="email" required value=${email} onInput=${(e) => setEmail(e.currentTarget.value)} />
        </label>
        ${fieldError(error, 'email') && html`<p class="field-error" role="alert">${fieldError(error, 'email')}</p>`}
        <label>Password
          <input type="password" name="password" autocomplete=${autocomplete} required minlength="8" value=${password}
            onInput=${(e) => setPassword(e.currentTarget.value)} />
        </label>
        ${passwordHint && !fieldError(error, 'password') && html`<p class="hint muted small">${passwordHint}</p>`}
        ${fieldError(error, 'password') && html`<p class="field-error" role="alert">${fieldError(error, 'password')}</p>`}
        ${error && !fieldError(error, 'email') && !fieldError(error, 'password') && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
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
  return html`<${CredentialsForm} title="Create an account" submitLabel="Create account" endpoint="/auth/register"
    autocomplete="new-password" passwordHint="At least 8 characters." onLogin=${onLogin} footer=${html`Already registered? <a href="#/login">Log in</a>.`} />`;
}
