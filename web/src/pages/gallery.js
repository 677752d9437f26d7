// Gallery: every image of the account, newest first (GET /images), with its thread, seed and a download.
import { html, useEffect, useState } from '../lib.js';
import { request } from '../api.js';
import { errorText, fileName, formatDate } from '../format.js';
import { ImageViewer } from '../viewer.js';

const PER_PAGE = 24;

export function GalleryPage() {
  const [page, setPage] = useState(1);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [viewing, setViewing] = useState(null);

  useEffect(() => {
    let live = true;
    request('GET', `/images?page=${page}&per_page=${PER_PAGE}`)
      .then((json) => live && (setResult(json), setError(null)))
      .catch((err) => live && setError(err));
    return () => {
      live = false;
    };
  }, [page]);

  const images = result ? result.data : [];
  const meta = result ? result.meta : null;
  return html`
    <section class="page wide">
      <h1>Gallery</h1>
      <p class="muted">Every image you generated, newest first. ${meta && meta.total > 0 ? `${meta.total} in all.` : ''}</p>
      ${error && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
      ${result && images.length === 0 && html`<p class="card">No images yet. <a href="#/playground">Open the playground</a> to make some.</p>`}
      <ul class="gallery-grid">
        ${images.map(
          (img) => html`<li key=${`${img.entry_guid}:${img.position}`} class="gallery-item card">
            <button type="button" class="thumb" onClick=${() => setViewing({ ...img, alt: img.prompt })} aria-label=${`View full size: ${img.prompt}`}>
              <img src=${img.thumbnail_url} alt=${img.prompt} loading="lazy" />
            </button>
            <p class="gallery-prompt">${img.prompt}</p>
            <p class="small muted">${img.dimensions} · seed ${img.seed} · ${formatDate(img.created_at)}</p>
            <div class="shot-actions">
              <a class="small" href=${`#/playground/${img.thread_guid}`}>${img.thread_title}</a>
              <a class="button small" href=${img.url} download=${fileName(img.url)} aria-label=${`Download: ${img.prompt}`}>Download</a>
            </div>
          </li>`,
        )}
      </ul>
      ${meta &&
      meta.last_page > 1 &&
      html`<nav class="pager" aria-label="Gallery pages">
        <button type="button" disabled=${page <= 1} onClick=${() => setPage(page - 1)}>Previous</button>
        <span>Page ${meta.current_page} of ${meta.last_page}</span>
        <button type="button" disabled=${page >= meta.last_page} onClick=${() => setPage(page + 1)}>Next</button>
      </nav>`}
      ${viewing && html`<${ImageViewer} image=${viewing} onClose=${() => setViewing(null)} />`}
    </section>
  `;
}
