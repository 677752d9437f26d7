// The full-size image dialog (playground and gallery): the image, its size, Download, Open in a new tab, Close.
import { html, useEffect, useRef } from './lib.js';
import { fileName, formatBytes } from './format.js';

export function ImageViewer({ image, onClose }) {
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
      <img src=${image.url} alt=${image.alt || `Full-size image (${image.dimensions})`} />
      <div class="viewer-bar">
        <span class="muted small">${image.dimensions}${image.filesize ? ` · ${formatBytes(image.filesize)}` : ''}${image.seed !== undefined ? ` · seed ${image.seed}` : ''}</span>
        <a class="button" href=${image.url} download=${fileName(image.url)}>Download</a>
        <a class="button" href=${image.url} target="_blank" rel="noopener">Open in new tab</a>
        <button type="button" onClick=${() => dialog.current.close()}>Close</button>
      </div>
    </dialog>
  `;
}
