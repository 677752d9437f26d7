// One result of the playground: a request entry with its response (images, or the error), its live status while it
// waits, and its actions: reuse settings, same seed (per image), download (per image), delete.
//
// While a request waits, <ResultLive> shows its status (queue position, step i of n, ETA), the latest live preview
// and a Cancel button; the playground feeds it from the thread's event stream.
import { html, useState } from '../lib.js';
import { fileName, formatBytes, formatDate, plural } from '../format.js';

function statusText(entry) {
  const p = entry.progress;
  if (entry.status === 'running') {
    if (p && p.steps) {
      const image = p.images > 1 ? ` · image ${Math.min(p.image + 1, p.images)} of ${p.images}` : '';
      const eta = typeof entry.eta_seconds === 'number' ? ` · about ${entry.eta_seconds} s left` : '';
      return `Generating: step ${p.step} of ${p.steps}${image}${eta}`;
    }
    return 'Generating…';
  }
  if (typeof entry.queue_position === 'number' && entry.queue_position > 0) return `Queued: ${entry.queue_position} ahead…`;
  return 'Queued…';
}

function progressValue(entry) {
  const p = entry.progress;
  if (!p || !p.steps) return null;
  const images = p.images || 1;
  return { value: (p.image || 0) * p.steps + p.step, max: images * p.steps };
}

/** Status, progress bar, preview image and Cancel of a request that waits for its response. */
export function ResultLive({ entry, preview, onCancel }) {
  const prog = progressValue(entry);
  const [cancelling, setCancelling] = useState(false);
  async function cancel() {
    setCancelling(true);
    try {
      await onCancel();
    } catch {
      setCancelling(false);
    }
  }
  return html`
    <div class="live" role="status" data-testid="entry-status">
      <span class="spinner" aria-hidden="true"></span>
      <span>${statusText(entry)}</span>
      ${prog && html`<progress value=${prog.value} max=${prog.max} aria-label="Generation progress"></progress>`}
      ${onCancel && html`<button type="button" class="small" disabled=${cancelling} onClick=${cancel} aria-label="Cancel this request">${cancelling ? 'Cancelling…' : 'Cancel'}</button>`}
    </div>
    ${preview && html`<img class="preview" src=${preview} alt="Preview of the image being generated" />`}
  `;
}

/** "a red circle" for the card's name; the first positive prompt. */
export function mainPrompt(content) {
  const prompts = Array.isArray(content?.prompts) ? content.prompts : [];
  return (prompts.find((p) => Number(p.weight) > 0) ?? prompts[0] ?? { text: '' }).text;
}

export function ResultCard({ request, response, onReuse, onSameSeed, onDelete, onView, preview, onCancel }) {
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const c = request.content || {};
  const prompts = Array.isArray(c.prompts) ? c.prompts : [];
  const images = response && Array.isArray(response.content) ? response.content : [];
  const title = mainPrompt(c) || 'Request';
  const failed = (response && response.error) || (request.error && request.error !== 'None') || ['failed', 'cancelled'].includes(request.status);
  const errorText = (response && response.error) || (request.error !== 'None' && request.error) || `The request was ${request.status}.`;
  const credits = response ? response.credits : 0;
  const params = [
    c.engine,
    c.resolution,
    c.images && plural(c.images, 'image'),
    c.steps && `${c.steps} steps`,
    c.style,
    c.sampler,
    c.cfg_scale !== undefined && c.cfg_scale !== null && `CFG ${c.cfg_scale}`,
    c.seed ? `seed ${c.seed}` : null,
  ].filter(Boolean);

  async function remove() {
    setDeleting(true);
    try {
      await onDelete(request);
    } finally {
      setDeleting(false);
      setConfirming(false);
    }
  }

  return html`
    <article class="result card" aria-label=${`Result: ${title}`} data-entry=${request.guid}>
      <header class="result-head">
        <div class="result-prompts">
          ${prompts.map(
            (p, i) => html`<p key=${i} class=${Number(p.weight) < 0 ? 'prompt negative' : 'prompt'}>
              ${Number(p.weight) < 0 ? html`<span class="badge">avoid</span> ` : ''}${p.text}${Math.abs(Number(p.weight)) !== 1 ? html` <span class="muted small">(weight ${p.weight})</span>` : ''}
            </p>`,
          )}
        </div>
        <p class="params muted small">${params.join(' · ')}</p>
        <p class="muted small">${formatDate(request.created_at)}${credits ? ` · ${plural(credits, 'credit')}` : ''}</p>
      </header>
      ${request.waiting_response && html`<${ResultLive} entry=${request} preview=${preview} onCancel=${onCancel} />`}
      ${!request.waiting_response && failed && html`<p class="alert error" data-testid="result-error">${errorText}</p>`}
      ${images.length > 0 &&
      html`<ul class="shots" aria-label="Images">
        ${images.map(
          (img, i) => html`<li key=${img.url} class="shot">
            <button type="button" class="thumb" onClick=${() => onView({ ...img, alt: `${title} (image ${i + 1}, seed ${img.seed})` })} aria-label=${`View image ${i + 1} full size`}>
              <img src=${img.thumbnail_url} alt=${`${title} (image ${i + 1})`} loading="lazy" />
            </button>
            <p class="shot-meta small muted">${img.dimensions}${img.filesize ? ` · ${formatBytes(img.filesize)}` : ''}${img.seed !== undefined ? ` · seed ${img.seed}` : ''}</p>
            <div class="shot-actions">
              <button type="button" class="small" onClick=${() => onSameSeed(request, img.seed)} aria-label=${`Same seed as image ${i + 1} (${img.seed})`}>Same seed</button>
              <a class="button small" href=${img.url} download=${fileName(img.url)} aria-label=${`Download image ${i + 1}`}>Download</a>
            </div>
          </li>`,
        )}
      </ul>`}
      <footer class="result-actions">
        <button type="button" class="small" onClick=${() => onReuse(request)}>Reuse settings</button>
        ${confirming
          ? html`<span class="confirm" role="group" aria-label="Confirm deletion">
              <span class="small">${request.waiting_response ? 'Cancel it and refund its credits?' : `Delete this request${images.length ? ` and its ${plural(images.length, 'image')}` : ''}?`}</span>
              <button type="button" class="small danger" disabled=${deleting} onClick=${remove}>Yes, delete</button>
              <button type="button" class="small" onClick=${() => setConfirming(false)}>Keep</button>
            </span>`
          : html`<button type="button" class="small danger" onClick=${() => setConfirming(true)}>Delete</button>`}
      </footer>
    </article>
  `;
}
