// Playground: the user's threads, a form with every generation parameter, and the thread's entries
// (thumbnails, full-size view, download) with a live status while a response is pending.
import { html, useEffect, useMemo, useRef, useState } from '../lib.js';
import { get, post, request } from '../api.js';
import { errorText, fieldError, formatBytes, formatDate, plural } from '../format.js';
import { EntryForm } from './entry-form.js';

const POLL_MS = 1000;

function navigate(path) {
  location.hash = `#${path}`;
}

export function PlaygroundPage({ threadGuid, onCreditsChange }) {
  const [threads, setThreads] = useState(null);
  const [pages, setPages] = useState({ loaded: 1, last: 1 });
  const [error, setError] = useState(null);
  const [creating, setCreating] = useState(false);

  // Threads come newest first, 20 a page; "Show older threads" loads the next page.
  const loadThreads = async (upTo = pages.loaded) => {
    try {
      const all = [];
      let last = 1;
      for (let page = 1; page <= upTo; page++) {
        const json = await request('GET', `/threads?page=${page}`);
        all.push(...(json.data ?? []));
        last = json.meta ? json.meta.last_page : 1;
        if (page >= last) break;
      }
      setThreads(all);
      setPages({ loaded: Math.min(upTo, last), last });
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    loadThreads(1);
  }, []);

  async function newThread() {
    setCreating(true);
    setError(null);
    try {
      const thread = await post('/threads', { ai_version_code: 'stablediffusion_text2img' });
      await loadThreads();
      navigate(`/playground/${thread.guid}`);
    } catch (err) {
      setError(err);
    } finally {
      setCreating(false);
    }
  }

  return html`
    <div class="playground">
      <aside class="threads" aria-label="Threads">
        <button type="button" class="primary block" onClick=${newThread} disabled=${creating}>New thread</button>
        ${error && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
        ${threads && threads.length === 0 && html`<p class="muted">No threads yet.</p>`}
        <ul class="thread-list">
          ${(threads ?? []).map(
            (t) => html`<li key=${t.guid}>
              <a href=${`#/playground/${t.guid}`} aria-current=${t.guid === threadGuid ? 'page' : undefined}>
                <span class="thread-title">${t.title}</span>
                <span class="muted small">${formatDate(t.created_at)}</span>
              </a>
            </li>`,
          )}
        </ul>
        ${pages.loaded < pages.last && html`<button type="button" class="small block" onClick=${() => loadThreads(pages.loaded + 1)}>Show older threads</button>`}
      </aside>
      <section class="thread-view">
        ${threadGuid
          ? html`<${ThreadView} key=${threadGuid} guid=${threadGuid} thread=${(threads ?? []).find((t) => t.guid === threadGuid)}
              onCreditsChange=${onCreditsChange} />`
          : html`<div class="empty card">
              <h1>Playground</h1>
              <p>Pick a thread on the left, or start a <strong>new thread</strong> to generate images.</p>
            </div>`}
      </section>
    </div>
  `;
}

function ThreadView({ guid, thread, onCreditsChange }) {
  const [entries, setEntries] = useState(null);
  const [error, setError] = useState(null);
  const [viewing, setViewing] = useState(null);
  const timer = useRef(null);
  const wasPending = useRef(false);

  const pending = useMemo(() => (entries ?? []).some((e) => e.type === 'request' && e.waiting_response), [entries]);

  async function load() {
    try {
      const list = await get(`/threads/${guid}/entries`);
      setEntries(Array.isArray(list) ? list : []);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }

  useEffect(() => {
    load();
    return () => clearTimeout(timer.current);
  }, [guid]);

  // Poll while a request waits for its response; refresh the balance when it settles.
  useEffect(() => {
    clearTimeout(timer.current);
    if (pending) timer.current = setTimeout(load, POLL_MS);
    else if (wasPending.current) onCreditsChange();
    wasPending.current = pending;
  }, [entries, pending, error]);

  async function submit(payload) {
    const entry = await post(`/threads/${guid}/entry`, payload);
    setEntries((list) => [...(list ?? []), entry]);
    onCreditsChange();
  }

  const requests = new Map((entries ?? []).filter((e) => e.type === 'request').map((e) => [e.guid, e]));
  return html`
    <header class="thread-head">
      <h1>${thread ? thread.title : 'Thread'}</h1>
      <span class="muted mono small">${guid}</span>
    </header>
    ${error && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
    <div class="entries" aria-live="polite">
      ${entries && entries.length === 0 && html`<p class="muted">No entries yet. Fill in the form below and press Generate.</p>`}
      ${(entries ?? []).map((entry) =>
        entry.type === 'request'
          ? html`<${RequestEntry} key=${entry.guid} entry=${entry} />`
          : html`<${ResponseEntry} key=${entry.guid} entry=${entry} request=${requests.get(entry.request_guid)} onView=${setViewing} />`,
      )}
    </div>
    ${pending && html`<p class="status-line" role="status" data-testid="pending-status">Waiting for the response…</p>`}
    <${EntryForm} onSubmit=${submit} busy=${pending} />
    ${viewing && html`<${ImageViewer} image=${viewing} onClose=${() => setViewing(null)} />`}
  `;
}

function fileName(url) {
  return url.split('?')[0].split('/').pop() || 'image.png';
}

function statusText(entry) {
  const p = entry.progress;
  if (entry.status === 'running' || (p && p.step !== undefined)) {
    if (p && p.steps) {
      const image = p.images > 1 ? ` · image ${Math.min(p.image + 1, p.images)} of ${p.images}` : '';
      return `Generating: step ${p.step} of ${p.steps}${image}`;
    }
    return 'Generating…';
  }
  if (entry.status === 'queued' || entry.waiting_response) {
    return entry.queue_position ? `Queued (position ${entry.queue_position})` : 'Queued…';
  }
  return entry.status ?? (entry.waiting_response ? 'Pending' : 'Done');
}

function progressValue(entry) {
  const p = entry.progress;
  if (!p || !p.steps) return null;
  const images = p.images || 1;
  const done = (p.image || 0) * p.steps + p.step;
  return { value: done, max: images * p.steps };
}

function RequestEntry({ entry }) {
  const c = entry.content || {};
  const prompts = Array.isArray(c.prompts) ? c.prompts : [];
  const prog = entry.waiting_response ? progressValue(entry) : null;
  return html`
    <article class="entry request card" aria-label="Request">
      <div class="prompts">
        ${prompts.map(
          (p, i) => html`<p key=${i} class=${p.weight < 0 ? 'prompt negative' : 'prompt'}>
            <span class="badge">${p.weight < 0 ? 'negative' : 'positive'} ${p.weight}</span> ${p.text}
          </p>`,
        )}
      </div>
      <p class="params muted small">
        ${[c.engine, c.resolution, c.images && plural(c.images, 'image'), c.steps && `${c.steps} steps`, c.style, c.sampler,
          c.cfg_scale !== undefined && c.cfg_scale !== null && `cfg ${c.cfg_scale}`, c.seed ? `seed ${c.seed}` : null]
          .filter(Boolean)
          .join(' · ')}
        ${' · '}${formatDate(entry.created_at)}${entry.credits ? ` · ${entry.credits} credit${entry.credits === 1 ? '' : 's'}` : ''}
      </p>
      ${entry.waiting_response &&
      html`<div class="live" role="status" data-testid="entry-status">
        <span class="spinner" aria-hidden="true"></span>
        <span>${statusText(entry)}</span>
        ${prog && html`<progress value=${prog.value} max=${prog.max} aria-label="Generation progress"></progress>`}
      </div>`}
      ${!entry.waiting_response && entry.status && entry.status !== 'done' && html`<p class="muted small">Status: ${entry.status}</p>`}
      ${entry.error && entry.error !== 'None' && html`<p class="alert error">${entry.error}</p>`}
    </article>
  `;
}

function ResponseEntry({ entry, onView }) {
  const images = Array.isArray(entry.content) ? entry.content : [];
  return html`
    <article class="entry response card" aria-label="Response">
      ${entry.error && entry.error !== 'None' && html`<p class="alert error">${entry.error}</p>`}
      <div class="gallery">
        ${images.map(
          (img, i) => html`<figure key=${img.url} class="shot">
            <button type="button" class="thumb" onClick=${() => onView(img)} aria-label=${`View image ${i + 1} full size`}>
              <img src=${img.thumbnail_url} alt=${`Generated image ${i + 1} (${img.dimensions})`} loading="lazy" />
            </button>
            <figcaption class="small">
              <span>${img.dimensions}${img.filesize ? ` · ${formatBytes(img.filesize)}` : ''}${img.seed !== undefined ? ` · seed ${img.seed}` : ''}</span>
              <a href=${img.url} download=${fileName(img.url)}>Download</a>
            </figcaption>
          </figure>`,
        )}
      </div>
      <p class="muted small">${formatDate(entry.created_at)}${entry.credits ? ` · ${entry.credits} credit${entry.credits === 1 ? '' : 's'}` : ''}</p>
    </article>
  `;
}

function ImageViewer({ image, onClose }) {
  const dialog = useRef(null);
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    const onCancel = () => onClose();
    d.addEventListener('close', onCancel);
    return () => d.removeEventListener('close', onCancel);
  }, []);
  return html`
    <dialog ref=${dialog} class="viewer" aria-label="Full-size image">
      <img src=${image.url} alt=${`Full-size image (${image.dimensions})`} />
      <div class="viewer-bar">
        <span class="muted small">${image.dimensions}${image.filesize ? ` · ${formatBytes(image.filesize)}` : ''}</span>
        <a class="button" href=${image.url} download=${fileName(image.url)}>Download</a>
        <a class="button" href=${image.url} target="_blank" rel="noopener">Open in new tab</a>
        <button type="button" onClick=${() => dialog.current.close()}>Close</button>
      </div>
    </dialog>
  `;
}
