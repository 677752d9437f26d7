// Image-to-image and inpainting inputs of the request form: the init image (file picker or drag and drop, or an
// image of ours through "Use as init image"), the image strength slider, and for inpainting a mask painter (brush
// and eraser on a canvas over the image) or an uploaded mask. Images travel as data: URLs (the page's CSP allows
// data: images) or as the url of an image of the account, which the server looks up.
import { html, useEffect, useRef, useState } from '../lib.js';

export const IMAGE_MAX_BYTES = 10 * 1024 * 1024;
const TYPES = ['image/png', 'image/jpeg', 'image/webp'];
/** The painted strokes, opaque (the canvas is shown translucent over the image); the mask sent is white where painted. */
const STROKE = 'rgb(236, 72, 153)';

/** A picked or dropped file as a data: URL, or an error message. */
function readFile(file) {
  return new Promise((resolve) => {
    if (!file) return resolve({ error: 'No file was chosen.' });
    if (!TYPES.includes(file.type)) return resolve({ error: 'Choose a PNG, JPEG or WebP image.' });
    if (file.size > IMAGE_MAX_BYTES) return resolve({ error: 'The image may not be larger than 10 MB.' });
    const reader = new FileReader();
    reader.onload = () => resolve({ url: String(reader.result), name: file.name });
    reader.onerror = () => resolve({ error: 'The file could not be read.' });
    reader.readAsDataURL(file);
  });
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('The image could not be loaded.'));
    img.src = src;
  });
}

function FieldError({ id, messages }) {
  if (!messages || messages.length === 0) return null;
  return html`<p class="field-error" id=${id}>${messages.join(' ')}</p>`;
}

export function ImageInputs({ values, errors, onChange, inputs }) {
  const [localError, setLocalError] = useState(null);
  const [dragging, setDragging] = useState(false);
  const initError = localError ? [localError] : errors.init_image;

  async function useFile(file) {
    const read = await readFile(file);
    if (read.error) return setLocalError(read.error);
    setLocalError(null);
    onChange('init_image', { init_image: read.url, init_name: read.name, mask_image: '' });
  }

  function onDrop(event) {
    event.preventDefault();
    setDragging(false);
    useFile(event.dataTransfer && event.dataTransfer.files[0]);
  }

  const strength = Number(values.image_strength);
  // An engine whose model has no VAE encoder takes no image (GET /engines says so); an init image already chosen stays, so the 422 can say why.
  if (inputs && inputs.inpainting === null && !values.init_image) {
    return html`<p class="muted small">This engine cannot start from an image: choose another engine for image-to-image or inpainting.</p>`;
  }
  return html`
    <fieldset class=${`image-input${dragging ? ' dragging' : ''}`} aria-describedby=${initError ? 'f-init-image-error' : undefined}
      onDragOver=${(e) => { e.preventDefault(); setDragging(true); }} onDragLeave=${() => setDragging(false)} onDrop=${onDrop} data-testid="image-input">
      <legend>Start from an image <span class="muted small">(optional)</span></legend>
      ${values.init_image
        ? html`<div class="init-preview">
            <img src=${values.init_image} alt=${`Init image${values.init_name ? `: ${values.init_name}` : ''}`} />
            <button type="button" class="small" onClick=${() => onChange('init_image', { init_image: '', init_name: '', inpaint: false, mask_image: '' })}>Remove image</button>
          </div>`
        : html`<p class="muted small">Drop a PNG, JPEG or WebP here (up to 10 MB), or choose one. The result keeps its composition.</p>`}
      <div class="field">
        <label for="f-init-image">${values.init_image ? 'Replace init image' : 'Init image'}</label>
        <input id="f-init-image" type="file" accept=${TYPES.join(',')} aria-invalid=${initError ? 'true' : undefined}
          aria-describedby=${initError ? 'f-init-image-error' : undefined} onChange=${(e) => useFile(e.currentTarget.files[0])} />
        <${FieldError} id="f-init-image-error" messages=${initError} />
      </div>
      ${values.init_image &&
      html`<div class="field">
          <label for="f-image-strength">Image strength: <output for="f-image-strength">${Number.isFinite(strength) ? strength.toFixed(2) : values.image_strength}</output></label>
          <input id="f-image-strength" type="range" min="0" max="1" step="0.05" value=${values.image_strength}
            aria-describedby=${errors.image_strength ? 'f-image-strength-hint f-image-strength-error' : 'f-image-strength-hint'}
            aria-invalid=${errors.image_strength ? 'true' : undefined} onInput=${(e) => onChange('image_strength', { image_strength: Number(e.currentTarget.value) })} />
          <p class="muted small" id="f-image-strength-hint">Close to 1 keeps the image; close to 0 changes it freely. Credits count the steps it leaves to run.</p>
          <${FieldError} id="f-image-strength-error" messages=${errors.image_strength} />
        </div>
        <div class="check">
          <input id="f-inpaint" type="checkbox" checked=${values.inpaint} onChange=${(e) => onChange('inpaint', { inpaint: e.currentTarget.checked })} />
          <label for="f-inpaint">Inpaint: repaint only a masked part</label>
        </div>
        ${values.inpaint && html`<${MaskPainter} values=${values} errors=${errors} onChange=${onChange} />`}`}
    </fieldset>
  `;
}

/** Brush and eraser on a canvas the size of the init image; every finished stroke sends the mask up as a PNG. */
function MaskPainter({ values, errors, onChange }) {
  const canvas = useRef(null);
  const [tool, setTool] = useState('brush');
  const [size, setSize] = useState(24);
  const [error, setError] = useState(null);
  const drawing = useRef(null);

  // The canvas takes the init image's size; a mask already in the form (reuse settings, an upload) is painted in.
  useEffect(() => {
    let stale = false;
    (async () => {
      try {
        const image = await loadImage(values.init_image);
        if (stale || !canvas.current) return;
        const c = canvas.current;
        c.width = image.naturalWidth;
        c.height = image.naturalHeight;
        c.getContext('2d').clearRect(0, 0, c.width, c.height);
        if (values.mask_image) await paintMask(values.mask_image, values.mask_source === 'MASK_IMAGE_BLACK');
      } catch (err) {
        setError(err.message);
      }
    })();
    return () => {
      stale = true;
    };
  }, [values.init_image]);

  async function paintMask(src, inverted) {
    const c = canvas.current;
    const mask = await loadImage(src);
    const scratch = document.createElement('canvas');
    scratch.width = c.width;
    scratch.height = c.height;
    const sctx = scratch.getContext('2d');
    sctx.drawImage(mask, 0, 0, c.width, c.height);
    const data = sctx.getImageData(0, 0, c.width, c.height);
    const out = c.getContext('2d').createImageData(c.width, c.height);
    for (let i = 0; i < data.data.length; i += 4) {
      const luma = 0.299 * data.data[i] + 0.587 * data.data[i + 1] + 0.114 * data.data[i + 2];
      if (luma >= 128 !== inverted) out.data.set([236, 72, 153, 255], i);
    }
    c.getContext('2d').putImageData(out, 0, 0);
    send();
  }

  /** The painted area as a PNG mask: white = repaint, black = keep. */
  function send() {
    const c = canvas.current;
    if (!c || !c.width) return;
    const painted = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    const out = new ImageData(c.width, c.height);
    for (let i = 0; i < painted.data.length; i += 4) {
      const v = painted.data[i + 3] >= 128 ? 255 : 0;
      out.data[i] = v;
      out.data[i + 1] = v;
      out.data[i + 2] = v;
      out.data[i + 3] = 255;
    }
    const scratch = document.createElement('canvas');
    scratch.width = c.width;
    scratch.height = c.height;
    scratch.getContext('2d').putImageData(out, 0, 0);
    onChange('mask_image', { mask_image: scratch.toDataURL('image/png'), mask_source: 'MASK_IMAGE_WHITE' });
  }

  function point(event) {
    const c = canvas.current;
    const rect = c.getBoundingClientRect();
    return { x: ((event.clientX - rect.left) * c.width) / rect.width, y: ((event.clientY - rect.top) * c.height) / rect.height, scale: c.width / rect.width };
  }

  function stroke(from, to) {
    const ctx = canvas.current.getContext('2d');
    ctx.globalCompositeOperation = tool === 'eraser' ? 'destination-out' : 'source-over';
    ctx.strokeStyle = STROKE;
    ctx.fillStyle = STROKE;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.lineWidth = size * to.scale;
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x + 0.01, to.y);
    ctx.stroke();
  }

  function down(event) {
    event.preventDefault();
    event.currentTarget.setPointerCapture?.(event.pointerId);
    const p = point(event);
    drawing.current = p;
    stroke(p, p);
  }
  function move(event) {
    if (!drawing.current) return;
    const p = point(event);
    stroke(drawing.current, p);
    drawing.current = p;
  }
  function up() {
    if (!drawing.current) return;
    drawing.current = null;
    send();
  }

  function clear() {
    const c = canvas.current;
    c.getContext('2d').clearRect(0, 0, c.width, c.height);
    onChange('mask_image', { mask_image: '', mask_source: 'MASK_IMAGE_WHITE' });
  }

  async function upload(file) {
    const read = await readFile(file);
    if (read.error) return setError(read.error);
    setError(null);
    try {
      await paintMask(read.url, false);
    } catch (err) {
      setError(err.message);
    }
  }

  const maskError = error ? [error] : (errors.mask_image ?? errors.mask_source);
  return html`
    <div class="mask-painter" role="group" aria-labelledby="mask-title">
      <p id="mask-title" class="mask-title">Mask: paint what to repaint</p>
      <div class="mask-tools">
        <span role="group" aria-label="Mask tool" class="tool-group">
          <button type="button" class="small" aria-pressed=${tool === 'brush' ? 'true' : 'false'} onClick=${() => setTool('brush')}>Brush</button>
          <button type="button" class="small" aria-pressed=${tool === 'eraser' ? 'true' : 'false'} onClick=${() => setTool('eraser')}>Eraser</button>
        </span>
        <label class="brush-size" for="f-brush-size">Size <input id="f-brush-size" type="range" min="4" max="96" step="4" value=${size} onInput=${(e) => setSize(Number(e.currentTarget.value))} /></label>
        <button type="button" class="small" onClick=${clear}>Clear mask</button>
      </div>
      <div class="mask-stage">
        <img src=${values.init_image} alt="" />
        <canvas ref=${canvas} aria-label="Mask canvas: drag to paint the area to repaint" data-testid="mask-canvas"
          onPointerDown=${down} onPointerMove=${move} onPointerUp=${up} onPointerCancel=${up} onPointerLeave=${up}></canvas>
      </div>
      <div class="field">
        <label for="f-mask-image">Or upload a mask <span class="muted small">(white = repaint)</span></label>
        <input id="f-mask-image" type="file" accept=${TYPES.join(',')} aria-invalid=${maskError ? 'true' : undefined}
          aria-describedby=${maskError ? 'f-mask-image-error' : undefined} onChange=${(e) => upload(e.currentTarget.files[0])} />
        <${FieldError} id="f-mask-image-error" messages=${maskError} />
      </div>
      <div class="field">
        <label for="f-mask-blur">Mask blur (px)</label>
        <input id="f-mask-blur" type="number" min="0" max="64" step="1" inputmode="numeric" value=${values.mask_blur}
          aria-invalid=${errors.mask_blur ? 'true' : undefined} aria-describedby=${errors.mask_blur ? 'f-mask-blur-error' : undefined}
          onInput=${(e) => onChange('mask_blur', { mask_blur: e.currentTarget.value })} />
        <${FieldError} id="f-mask-blur-error" messages=${errors.mask_blur} />
      </div>
    </div>
  `;
}
