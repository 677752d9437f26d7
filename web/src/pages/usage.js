// My account: the credit balance and the ledger (grants, what each request cost, refunds).
import { html, useEffect, useState } from '../lib.js';
import { request } from '../api.js';
import { errorText, formatDate } from '../format.js';

const KIND_LABEL = { grant: 'Grant', reserve: 'Reserved', charge: 'Charged', refund: 'Refund' };

export function UsagePage({ session, onChange }) {
  const [page, setPage] = useState(1);
  const [ledger, setLedger] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let live = true;
    request('GET', `/account/ledger?page=${page}`)
      .then((json) => live && setLedger(json))
      .catch((err) => live && setError(err));
    onChange();
    return () => {
      live = false;
    };
  }, [page]);

  const rows = ledger ? ledger.data : [];
  const meta = ledger ? ledger.meta : null;
  return html`
    <section class="page">
      <h1>Usage & credits</h1>
      <div class="card balance-card">
        <p class="muted">Signed in as ${session.user.email}</p>
        <p class="balance"><span data-testid="account-balance">${session.user.credits}</span> credits available</p>
        <p class="muted">Each image costs credits when its request is accepted; a failed or cancelled request is refunded.</p>
      </div>
      <h2>Ledger</h2>
      ${error && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
      ${ledger && rows.length === 0 && html`<p class="muted">No credit movements yet.</p>`}
      ${rows.length > 0 &&
      html`<div class="table-wrap"><table class="table cards" aria-label="Credit ledger">
        <thead><tr><th>Date</th><th>Kind</th><th>Description</th><th class="num">Credits</th><th class="num">Balance after</th></tr></thead>
        <tbody>
          ${rows.map(
            (row) => html`<tr key=${row.id}>
              <td data-label="Date">${formatDate(row.created_at)}</td>
              <td data-label="Kind"><span class=${`badge kind-${row.kind}`}>${KIND_LABEL[row.kind] ?? row.kind}</span></td>
              <td data-label="Description">${row.reason}${row.entry_guid ? html` <span class="muted mono">(${row.entry_guid.slice(0, 8)})</span>` : ''}</td>
              <td data-label="Credits" class="num">${row.amount > 0 ? `+${row.amount}` : row.amount}${row.kind === 'charge' ? html` <span class="muted">(${row.billed} billed)</span>` : ''}</td>
              <td data-label="Balance after" class="num">${row.balance_after}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>`}
      ${meta &&
      meta.last_page > 1 &&
      html`<nav class="pager" aria-label="Ledger pages">
        <button type="button" disabled=${page <= 1} onClick=${() => setPage(page - 1)}>Previous</button>
        <span>Page ${meta.current_page} of ${meta.last_page}</span>
        <button type="button" disabled=${page >= meta.last_page} onClick=${() => setPage(page + 1)}>Next</button>
      </nav>`}
    </section>
  `;
}
