// Playground: the request form (always on screen: a sticky left panel on desktop, the top panel on a phone), the
// thread's results newest first, and the user's threads. Generating without a thread opens one; a thread is titled
// after its first prompt and can be renamed or deleted here.
import { html, useEffect, useMemo, useRef, useState } from '../lib.js';
import { del, get, patch, post, request } from '../api.js';
import { errorText, fieldError, formatDate } from '../format.js';
import { ImageViewer } from '../viewer.js';
import { clearedBy, defaultForm, DEFAULT_ENGINE, EntryForm, formErrors, formFromRequest, payloadOf } from './entry-form.js';
import { ResultCard } from './result-card.js';

const POLL_MS = 1000;
/** With the event stream open, polling is only a safety net. */
const LIVE_POLL_MS = 5000;
const QUOTE_DEBOUNCE_MS = 300;
const AI_VERSION = 'stablediffusion_text2img';

function navigate(path) {
  location.hash = `#${path}`;
}

let enginesCache = null;
function loadEngines() {
  enginesCache ??= get('/engines').catch((err) => {
    enginesCache = null;
    throw err;
  });
  return enginesCache;
}

export function PlaygroundPage({ threadGuid, session, onCreditsChange }) {
  const [engines, setEngines] = useState([]);
  const [values, setValues] = useState(defaultForm(null));
  const [errors, setErrors] = useState({});
  const [generalError, setGeneralError] = useState(null);
  const [sending, setSending] = useState(false);
  const [quote, setQuote] = useState(null);
  const [threads, setThreads] = useState(null);
  const [pages, setPages] = useState({ loaded: 1, last: 1 });
  const [threadsError, setThreadsError] = useState(null);
  const [threadsOpen, setThreadsOpen] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const quoteSeq = useRef(0);

  useEffect(() => {
    loadEngines()
      .then((list) => {
        const usable = Array.isArray(list) ? list : [];
        setEngines(usable);
        setValues((current) => (current.engine ? current : defaultForm(usable.find((e) => e.id === DEFAULT_ENGINE) ?? usable[0])));
      })
      .catch((err) => setGeneralError(errorText(err)));
  }, []);

  // Threads come newest first, 20 a page; "Show older threads" loads the next page.
  async function loadThreads(upTo = pages.loaded) {
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
      setThreadsError(null);
    } catch (err) {
      setThreadsError(err);
    }
  }
  useEffect(() => {
    loadThreads(1);
  }, []);
  useEffect(() => setThreadsOpen(false), [threadGuid]);

  // The price on the Generate button: POST /quote with the form's body, debounced; a body the server refuses has no price.
  useEffect(() => {
    if (!values.engine) return undefined;
    const seq = ++quoteSeq.current;
    const timer = setTimeout(async () => {
      try {
        const { payload } = payloadOf(values);
        // The price does not depend on the prompt: quote before one is typed, with a stand-in.
        if (!payload.prompts.some((p) => Number(p.weight) > 0)) payload.prompts = [{ text: 'price', weight: 1 }, ...payload.prompts];
        const data = await post('/quote', payload);
        if (seq === quoteSeq.current) setQuote(data.credits);
      } catch {
        if (seq === quoteSeq.current) setQuote(null);
      }
    }, QUOTE_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [values]);

  function change(name, patchValues) {
    setValues((current) => ({ ...current, ...patchValues }));
    setErrors((current) => clearedBy(current, name));
    if (name === 'engine') setErrors((current) => clearedBy(clearedBy(current, 'resolution'), 'engine'));
  }

  function fill(next) {
    setValues(next);
    setErrors({});
    setGeneralError(null);
    // Bring the form into view on a phone, where it sits above the results.
    const form = document.getElementById('request-form');
    if (form && form.getBoundingClientRect().top < 0) form.scrollIntoView({ block: 'start' });
    document.getElementById('f-prompt-0')?.focus({ preventScroll: true });
  }
  const reuse = (entry) => fill(formFromRequest(entry.content || {}, engines));
  const sameSeed = (entry, seed) => fill(formFromRequest(entry.content || {}, engines, seed));

  async function submit(event) {
    event.preventDefault();
    setErrors({});
    setGeneralError(null);
    const { payload, rows } = payloadOf(values);
    setSending(true);
    try {
      let guid = threadGuid;
      if (!guid) {
        // Check first, so a refused request does not leave an empty thread behind.
        await post('/quote', payload);
        guid = (await post('/threads', { ai_version_code: AI_VERSION })).guid;
      }
      await post(`/threads/${guid}/entry`, payload);
      onCreditsChange();
      await loadThreads();
      if (guid !== threadGuid) navigate(`/playground/${guid}`);
      else setRefresh((n) => n + 1);
    } catch (err) {
      const fields = err && err.fields && Object.keys(err.fields).length > 0 ? formErrors(err.fields, rows) : null;
      if (err && err.status === 422 && fields) setErrors(fields);
      else setGeneralError(errorText(err));
    } finally {
      setSending(false);
    }
  }

  const current = (threads ?? []).find((t) => t.guid === threadGuid);
  return html`
    <div class="playground">
      <aside class=${`threads${threadsOpen ? ' open' : ''}`} aria-label="Threads">
        <div class="threads-bar">
          <a class="button primary" href="#/playground" aria-current=${threadGuid ? undefined : 'page'}>New thread</a>
          <button type="button" class="threads-toggle" aria-expanded=${threadsOpen ? 'true' : 'false'} aria-controls="thread-list"
            onClick=${() => setThreadsOpen(!threadsOpen)}>${threadsOpen ? 'Hide threads' : `Threads${threads ? ` (${threads.length}${pages.loaded < pages.last ? '+' : ''})` : ''}`}</button>
        </div>
        <div class="thread-list-wrap" id="thread-list">
          ${threadsError && html`<p class="alert error" role="alert">${errorText(threadsError)}</p>`}
          ${threads && threads.length === 0 && html`<p class="muted small">No threads yet: your first Generate opens one.</p>`}
          <ul class="thread-list">
            ${(threads ?? []).map(
              (t) => html`<li key=${t.guid}>
                <a href=${`#/playground/${t.guid}`} aria-current=${t.guid === threadGuid ? 'page' : undefined}>
                  <span class="thread-title">${t.title}</span>
                  <span class="muted small">${formatDate(t.updated_at)}</span>
                </a>
              </li>`,
            )}
          </ul>
          ${pages.loaded < pages.last && html`<button type="button" class="small block" onClick=${() => loadThreads(pages.loaded + 1)}>Show older threads</button>`}
        </div>
      </aside>
      <section class="form-panel card" id="request-form" aria-label="Request">
        <${EntryForm} engines=${engines} values=${values} errors=${errors} generalError=${generalError} onChange=${change} onSubmit=${submit}
          sending=${sending} quote=${quote} balance=${session?.user?.credits} />
      </section>
      <section class="results-panel" aria-label="Results">
        ${threadGuid
          ? html`<${ThreadResults} key=${threadGuid} guid=${threadGuid} thread=${current} refresh=${refresh} onReuse=${reuse} onSameSeed=${sameSeed}
              onCreditsChange=${onCreditsChange} onThreadsChange=${() => loadThreads()} />`
          : html`<div class="empty">
              <h1>Playground</h1>
              <p>Describe what you want to see and press <strong>Generate</strong>: a new thread opens with your first request,
                named after its prompt. The price is on the button before you send anything.</p>
              <p class="muted small">Your threads are in the Threads list; every image you make is also in the <a href="#/gallery">gallery</a>.</p>
            </div>`}
      </section>
    </div>
  `;
}

function ThreadResults({ guid, thread: listed, refresh, onReuse, onSameSeed, onCreditsChange, onThreadsChange }) {
  const [entries, setEntries] = useState(null);
  // A thread beyond the loaded pages of the list (an old link) is read on its own.
  const [fetched, setFetched] = useState(null);
  useEffect(() => {
    if (!listed) get(`/threads/${guid}`).then(setFetched, () => setFetched(null));
  }, [guid, listed]);
  const thread = listed ?? fetched;
  const [error, setError] = useState(null);
  const [viewing, setViewing] = useState(null);
  const timer = useRef(null);
  const wasPending = useRef(false);
  // Live previews by request guid, and whether the thread's event stream is open (then it drives the updates).
  const [previews, setPreviews] = useState({});
  const [live, setLive] = useState(false);

  const pending = useMemo(() => (entries ?? []).some((e) => e.type === 'request' && e.waiting_response), [entries]);

  // While a request waits: follow the thread's events (status, step i of n, previews, the result).
  useEffect(() => {
    if (!pending || typeof EventSource === 'undefined') return undefined;
    const source = new EventSource(`/api/v1/threads/${guid}/events`);
    const patchEntry = (id, change) => setEntries((list) => list && list.map((e) => (e.guid === id ? { ...e, ...change } : e)));
    const on = (name, handle) =>
      source.addEventListener(name, (ev) => {
        try {
          handle(JSON.parse(ev.data));
        } catch {
          // a malformed event changes nothing; the next poll corrects the view
        }
      });
    source.onopen = () => setLive(true);
    source.onerror = () => setLive(false); // EventSource reconnects (with Last-Event-ID) by itself; polling covers the gap
    on('queued', (d) => patchEntry(d.entry_guid, { queue_position: d.queue_position }));
    on('started', (d) => patchEntry(d.entry_guid, { status: 'running' }));
    on('progress', (d) => patchEntry(d.entry_guid, { status: 'running', progress: { step: d.step, steps: d.steps, image: d.image, images: d.images }, eta_seconds: d.eta_seconds }));
    on('preview', (d) => setPreviews((p) => ({ ...p, [d.entry_guid]: d.data_url })));
    for (const name of ['completed', 'failed', 'cancelled']) {
      on(name, (d) => {
        setPreviews((p) => {
          const next = { ...p };
          delete next[d.entry_guid];
          return next;
        });
        load();
      });
    }
    return () => {
      source.close();
      setLive(false);
    };
  }, [guid, pending]);

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
  }, [guid, refresh]);

  // Poll while a request waits for its response; refresh the balance when it settles.
  useEffect(() => {
    clearTimeout(timer.current);
    if (pending) timer.current = setTimeout(load, live ? LIVE_POLL_MS : POLL_MS);
    else if (wasPending.current) onCreditsChange();
    wasPending.current = pending;
  }, [entries, pending, error, live]);

  async function cancelEntry(entry) {
    try {
      await post(`/threads/${guid}/entries/${entry.guid}/cancel`);
      await load();
      onCreditsChange();
    } catch (err) {
      setError(err);
    }
  }

  async function deleteEntry(entry) {
    try {
      await del(`/threads/${guid}/entries/${entry.guid}`);
      await load();
      onCreditsChange();
    } catch (err) {
      setError(err);
    }
  }

  const responses = new Map((entries ?? []).filter((e) => e.type === 'response').map((e) => [e.request_guid, e]));
  const results = (entries ?? []).filter((e) => e.type === 'request').reverse();
  return html`
    <${ThreadHeader} guid=${guid} thread=${thread} count=${results.length} onChange=${onThreadsChange} />
    ${error && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
    ${pending && html`<p class="sr-only" role="status">Waiting for the response…</p>`}
    <div class="results">
      ${entries && results.length === 0 && html`<p class="muted">No requests in this thread yet. Fill in the form and press Generate.</p>`}
      ${results.map(
        (entry) => html`<${ResultCard} key=${entry.guid} request=${entry} response=${responses.get(entry.guid)} onReuse=${onReuse} onSameSeed=${onSameSeed}
          onDelete=${deleteEntry} onView=${setViewing} preview=${previews[entry.guid]} onCancel=${() => cancelEntry(entry)} />`,
      )}
    </div>
    ${viewing && html`<${ImageViewer} image=${viewing} onClose=${() => setViewing(null)} />`}
  `;
}

function ThreadHeader({ guid, thread, count, onChange }) {
  const [renaming, setRenaming] = useState(false);
  const [title, setTitle] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState(null);

  async function rename(event) {
    event.preventDefault();
    setError(null);
    try {
      await patch(`/threads/${guid}`, { title });
      setRenaming(false);
      await onChange();
    } catch (err) {
      setError(err);
    }
  }

  async function remove() {
    setError(null);
    try {
      await del(`/threads/${guid}`);
      await onChange();
      navigate('/playground');
    } catch (err) {
      setError(err);
    }
  }

  return html`
    <header class="thread-head">
      ${renaming
        ? html`<form class="inline-form rename" onSubmit=${rename} aria-label="Rename thread">
            <div class="field grow">
              <label for="thread-title">Thread title</label>
              <input id="thread-title" name="title" required maxlength="100" value=${title} onInput=${(e) => setTitle(e.currentTarget.value)}
                aria-invalid=${fieldError(error, 'title') ? 'true' : undefined} aria-describedby=${fieldError(error, 'title') ? 'thread-title-error' : undefined} />
              ${fieldError(error, 'title') && html`<p class="field-error" id="thread-title-error">${fieldError(error, 'title')}</p>`}
            </div>
            <button type="submit" class="primary">Save</button>
            <button type="button" onClick=${() => setRenaming(false)}>Cancel</button>
          </form>`
        : html`<h1>${thread ? thread.title : 'Thread'}</h1>
            <div class="thread-actions">
              <button type="button" class="small" onClick=${() => { setTitle(thread ? thread.title : ''); setError(null); setRenaming(true); }}>Rename</button>
              ${confirming
                ? html`<span class="confirm" role="group" aria-label="Confirm thread deletion">
                    <span class="small">Delete this thread${count ? ` and its ${count} request${count === 1 ? '' : 's'}` : ''}?</span>
                    <button type="button" class="small danger" onClick=${remove}>Yes, delete thread</button>
                    <button type="button" class="small" onClick=${() => setConfirming(false)}>Keep</button>
                  </span>`
                : html`<button type="button" class="small danger" onClick=${() => setConfirming(true)}>Delete thread</button>`}
            </div>`}
      ${error && !fieldError(error, 'title') && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
    </header>
  `;
}
