// The request form: every parameter of POST /threads/{guid}/entry, with the engine's own lists and ranges.
// It is controlled by the playground (so "reuse settings" and "same seed" can fill it), shows each 422 error at its
// field, and quotes the price on its button.
import { html } from '../lib.js';
import { plainMessage } from '../format.js';
import { ImageInputs } from './image-input.js';

export const DEFAULT_ENGINE = 'stable-diffusion-xl-1024-v0-9';
/** The engine a fresh install adds for the bundled demo model (engine-registry.ts defaultRegistry). */
const DEMO_ENGINE = { id: 'sdapi-demo-shapes', name: 'sdapi demo — coloured shapes' };
const PROMPT_LABELS = ['Positive prompt', 'Negative prompt'];
const promptLabel = (i) => PROMPT_LABELS[i] ?? `Prompt ${i + 1}`;
/** Fields the form has an input for; errors for any other go to the form's general alert. */
const FORM_FIELDS = ['engine', 'resolution', 'images', 'steps', 'style', 'seed', 'cfg_scale', 'sampler', 'init_image', 'image_strength', 'mask_image', 'mask_source', 'mask_blur', 'hires', 'hires.scale', 'hires.strength'];

/** The thread kind a form's request needs: text-to-image, image-to-image or inpainting. */
export function aiVersionOf(form) {
  if (!form.init_image) return 'stablediffusion_text2img';
  return form.inpaint ? 'stablediffusion_inpaint' : 'stablediffusion_img2img';
}

/** Reads an engine field (`steps.min` style paths), with a fallback while engines load. */
export function engineField(engine, path, fallback) {
  let value = engine;
  for (const key of path.split('.')) value = value == null ? undefined : value[key];
  return value ?? fallback;
}

/** The form's values for an engine, with its defaults. */
export function defaultForm(engine) {
  return {
    engine: engine ? engine.id : '',
    resolution: engineField(engine, 'resolutions', [])[0] ?? '',
    prompts: [
      { text: '', weight: 1 },
      { text: '', weight: -1 },
    ],
    images: 1,
    steps: engineField(engine, 'steps.default', 30),
    style: '',
    seed: 0,
    cfg_scale: engineField(engine, 'cfg_scale.default', 7),
    sampler: '',
    init_image: '',
    init_name: '',
    image_strength: 0.35,
    inpaint: false,
    mask_image: '',
    mask_source: 'MASK_IMAGE_WHITE',
    mask_blur: 0,
    hires: false,
    hires_scale: 2,
    hires_strength: 0.7,
  };
}

/** The form's values from a request entry's `content` (reuse settings); `seed` overrides (same seed). */
export function formFromRequest(content, engines, seed) {
  const engine = engines.find((e) => e.id === content.engine);
  const base = defaultForm(engine ?? engines[0]);
  const prompts = (Array.isArray(content.prompts) ? content.prompts : []).map((p) => ({ text: String(p.text ?? ''), weight: Number(p.weight ?? 1) }));
  if (!prompts.some((p) => p.weight < 0)) prompts.push({ text: '', weight: -1 });
  return {
    ...base,
    engine: content.engine ?? base.engine,
    resolution: content.resolution ?? base.resolution,
    prompts: prompts.length > 0 ? prompts : base.prompts,
    images: content.images ?? 1,
    steps: content.steps ?? base.steps,
    style: content.style ?? '',
    seed: seed ?? content.seed ?? 0,
    cfg_scale: content.cfg_scale ?? base.cfg_scale,
    sampler: content.sampler ?? '',
    // Image requests: their inputs by the urls of the service's copies (the server looks them up in the account).
    init_image: content.init_image ?? '',
    init_name: '',
    image_strength: content.image_strength ?? (content.step_schedule_start !== undefined ? 1 - content.step_schedule_start : base.image_strength),
    inpaint: content.mask_source !== undefined,
    mask_image: content.mask_image ?? '',
    mask_source: content.mask_source ?? base.mask_source,
    mask_blur: content.mask_blur ?? 0,
    hires: content.hires !== undefined,
    hires_scale: content.hires?.scale ?? base.hires_scale,
    hires_strength: content.hires?.strength ?? base.hires_strength,
  };
}

/** A number field as typed: a number when it parses, else the text (so the server names it). */
function numberOrText(value) {
  const text = String(value).trim();
  return text !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
}

/**
 * The JSON body of the form, and for each of its prompts the form row it came from (empty rows are left out, so a
 * 422 on `prompts.1.text` may be about row 2).
 */
export function payloadOf(form) {
  const rows = [];
  const prompts = [];
  form.prompts.forEach((p, i) => {
    if (p.text.trim() === '') return;
    rows.push(i);
    prompts.push({ text: p.text, weight: numberOrText(p.weight) });
  });
  const payload = {
    type: 'request',
    engine: form.engine,
    resolution: form.resolution,
    prompts,
    images: numberOrText(form.images),
    steps: numberOrText(form.steps),
    cfg_scale: numberOrText(form.cfg_scale),
  };
  const seed = numberOrText(form.seed);
  if (seed !== 0 && seed !== '') payload.seed = seed;
  if (form.style) payload.style = form.style;
  if (form.sampler) payload.sampler = form.sampler;
  if (form.init_image) {
    payload.init_image = form.init_image;
    payload.image_strength = numberOrText(form.image_strength);
    if (form.inpaint) {
      if (form.mask_image && form.mask_source !== 'INIT_IMAGE_ALPHA') payload.mask_image = form.mask_image;
      payload.mask_source = form.mask_source;
      const blur = numberOrText(form.mask_blur);
      if (blur !== 0 && blur !== '') payload.mask_blur = blur;
    }
  }
  if (!form.init_image && form.hires) payload.hires = { scale: numberOrText(form.hires_scale), strength: numberOrText(form.hires_strength) };
  return { payload, rows };
}

/** A 422's `{field: [messages]}` with prompt indices mapped back to form rows. */
export function formErrors(fields, rows) {
  const out = {};
  for (const [key, messages] of Object.entries(fields ?? {})) {
    const m = /^prompts\.(\d+)(\..*)?$/.exec(key);
    const name = m ? `prompts.${rows[Number(m[1])] ?? m[1]}${m[2] ?? ''}` : key;
    out[name] = (Array.isArray(messages) ? messages : [String(messages)]).map(plainMessage);
  }
  return out;
}

/** The error keys an edit of `name` makes stale. */
export function clearedBy(errors, name) {
  const next = { ...errors };
  for (const key of Object.keys(next)) {
    if (key === name || key.startsWith(`${name}.`)) delete next[key];
  }
  if (name.startsWith('prompts')) delete next.prompts;
  return next;
}

function FieldError({ id, messages }) {
  if (!messages || messages.length === 0) return null;
  return html`<p class="field-error" id=${id}>${messages.join(' ')}</p>`;
}

/** Props of an input that may carry an error: aria-invalid and aria-describedby pointing at the message. */
function errorProps(errors, name, id) {
  return errors[name] ? { 'aria-invalid': 'true', 'aria-describedby': `${id}-error` } : {};
}

export function EntryForm({ engines, values, errors, onChange, onSubmit, sending, quote, balance, busy, generalError }) {
  const engine = engines.find((e) => e.id === values.engine);
  const demo = engines.some((e) => e.id === DEMO_ENGINE.id && e.name === DEMO_ENGINE.name);
  const resolutions = engineField(engine, 'resolutions', []);
  const styles = engineField(engine, 'styles', []);
  const samplers = engineField(engine, 'samplers', []);
  const set = (name, value) => onChange(name, { [name]: value });

  function selectEngine(id) {
    const next = engines.find((e) => e.id === id);
    if (!next) return;
    const list = engineField(next, 'resolutions', []);
    onChange('engine', { engine: id, resolution: list.includes(values.resolution) ? values.resolution : (list[0] ?? '') });
  }

  function setPrompt(index, key, value) {
    onChange(`prompts.${index}.${key}`, { prompts: values.prompts.map((p, i) => (i === index ? { ...p, [key]: value } : p)) });
  }

  const general = Object.entries(errors).filter(([key]) => !FORM_FIELDS.includes(key) && !key.startsWith('prompts'));
  const price = quote === null || quote === undefined ? '' : ` · ${quote} credit${quote === 1 ? '' : 's'}`;
  const short = quote !== null && quote !== undefined && typeof balance === 'number' && quote > balance;

  const input = (name, label, attrs = {}) => html`
    <div class="field">
      <label for=${`f-${name}`}>${label}</label>
      <input id=${`f-${name}`} name=${name} type="number" inputmode="numeric" value=${values[name]} ...${attrs} ...${errorProps(errors, name, `f-${name}`)}
        onInput=${(e) => set(name, e.currentTarget.value)} />
      <${FieldError} id=${`f-${name}-error`} messages=${errors[name]} />
    </div>`;

  return html`
    <form class="entry-form" onSubmit=${onSubmit} aria-label="New request" novalidate>
      <h2>New request</h2>
      <div class="field">
        <label for="f-engine">Engine</label>
        <select id="f-engine" name="engine" value=${values.engine} onChange=${(e) => selectEngine(e.currentTarget.value)} ...${errorProps(errors, 'engine', 'f-engine')}>
          ${engines.map((e) => html`<option key=${e.id} value=${e.id}>${e.name ? `${e.name} (${e.id})` : e.id}</option>`)}
        </select>
        <${FieldError} id="f-engine-error" messages=${errors.engine} />
        ${demo &&
        html`<p class="hint muted small" data-testid="demo-note">
          This server runs the sdapi demo model, whichever engine you pick: it draws coloured shapes (“a red circle on the
          left and a blue square on the right on a white background”). To serve a real model, see${' '}
          <a href="/app/docs/models.md" target="_blank" rel="noopener">docs/models.md</a>.
        </p>`}
      </div>
      <div class="field">
        <label for="f-resolution">Resolution</label>
        <select id="f-resolution" name="resolution" value=${values.resolution} onChange=${(e) => set('resolution', e.currentTarget.value)} ...${errorProps(errors, 'resolution', 'f-resolution')}>
          ${resolutions.includes(values.resolution) || !values.resolution ? null : html`<option value=${values.resolution}>${values.resolution}</option>`}
          ${resolutions.map((r) => html`<option key=${r} value=${r}>${r}</option>`)}
        </select>
        <${FieldError} id="f-resolution-error" messages=${errors.resolution} />
      </div>
      <fieldset class="prompts" aria-describedby=${errors.prompts ? 'f-prompts-error' : undefined}>
        <legend>Prompts</legend>
        ${values.prompts.map(
          (p, i) => html`<div class="prompt-row" key=${i}>
            <div class="field grow">
              <label for=${`f-prompt-${i}`}>${promptLabel(i)}</label>
              <textarea id=${`f-prompt-${i}`} name=${`prompts[${i}][text]`} rows="2" maxlength="2000" value=${p.text}
                placeholder=${i === 0 ? 'What you want to see' : i === 1 ? 'What to avoid (optional)' : ''}
                ...${errorProps(errors, `prompts.${i}.text`, `f-prompt-${i}`)}
                onInput=${(e) => setPrompt(i, 'text', e.currentTarget.value)}></textarea>
              <${FieldError} id=${`f-prompt-${i}-error`} messages=${errors[`prompts.${i}.text`] ?? errors[`prompts.${i}`]} />
            </div>
            <div class="field weight">
              <label for=${`f-weight-${i}`}>Weight<span class="sr-only"> of ${promptLabel(i).toLowerCase()}</span></label>
              <input id=${`f-weight-${i}`} type="number" name=${`prompts[${i}][weight]`} step="0.1" value=${p.weight}
                ...${errorProps(errors, `prompts.${i}.weight`, `f-weight-${i}`)}
                onInput=${(e) => setPrompt(i, 'weight', e.currentTarget.value)} />
              <${FieldError} id=${`f-weight-${i}-error`} messages=${errors[`prompts.${i}.weight`]} />
            </div>
            ${i >= 2 &&
            html`<button type="button" class="small remove" aria-label=${`Remove prompt ${i + 1}`}
              onClick=${() => onChange('prompts', { prompts: values.prompts.filter((_, j) => j !== i) })}>Remove</button>`}
          </div>`,
        )}
        <${FieldError} id="f-prompts-error" messages=${errors.prompts} />
        ${values.prompts.length < 10 &&
        html`<button type="button" class="small" onClick=${() => onChange('prompts', { prompts: [...values.prompts, { text: '', weight: 1 }] })}>Add prompt</button>`}
      </fieldset>
      <${ImageInputs} values=${values} errors=${errors} onChange=${onChange} inputs=${engine ? engine.inputs : undefined} />
      <div class="grid">
        ${input('images', 'Images', { min: 1, max: 10 })}
        ${input('steps', 'Steps', { min: engineField(engine, 'steps.min', 10), max: engineField(engine, 'steps.max', 150) })}
        <div class="field">
          <label for="f-style">Style</label>
          <select id="f-style" name="style" value=${values.style} onChange=${(e) => set('style', e.currentTarget.value)} ...${errorProps(errors, 'style', 'f-style')}>
            <option value="">(none)</option>
            ${styles.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}
          </select>
          <${FieldError} id="f-style-error" messages=${errors.style} />
        </div>
        ${input('seed', 'Seed', { min: 0, max: 4294967295, title: '0 picks a random seed' })}
        ${input('cfg_scale', 'CFG scale', { step: 0.5, inputmode: 'decimal', min: engineField(engine, 'cfg_scale.min', 0), max: engineField(engine, 'cfg_scale.max', 35) })}
        <div class="field">
          <label for="f-sampler">Sampler</label>
          <select id="f-sampler" name="sampler" value=${values.sampler} onChange=${(e) => set('sampler', e.currentTarget.value)} ...${errorProps(errors, 'sampler', 'f-sampler')}>
            <option value="">(automatic)</option>
            ${samplers.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}
          </select>
          <${FieldError} id="f-sampler-error" messages=${errors.sampler} />
        </div>
      </div>
      ${!values.init_image && engineField(engine, 'inputs.hires', false) &&
      html`<div class="hires">
        <div class="check">
          <input id="f-hires" type="checkbox" checked=${values.hires} onChange=${(e) => onChange('hires', { hires: e.currentTarget.checked })} />
          <label for="f-hires">Hires fix: upscale, then refine</label>
        </div>
        ${values.hires &&
        html`<div class="grid">
          <div class="field">
            <label for="f-hires-scale">Upscale by</label>
            <input id="f-hires-scale" type="number" min="1" max="4" step="0.25" inputmode="decimal" value=${values.hires_scale}
              ...${errorProps(errors, 'hires.scale', 'f-hires-scale')} onInput=${(e) => onChange('hires.scale', { hires_scale: e.currentTarget.value })} />
            <${FieldError} id="f-hires-scale-error" messages=${errors['hires.scale']} />
          </div>
          <div class="field">
            <label for="f-hires-strength">Refine strength</label>
            <input id="f-hires-strength" type="number" min="0" max="1" step="0.05" inputmode="decimal" value=${values.hires_strength}
              ...${errorProps(errors, 'hires.strength', 'f-hires-strength')} onInput=${(e) => onChange('hires.strength', { hires_strength: e.currentTarget.value })} />
            <${FieldError} id="f-hires-strength-error" messages=${errors['hires.strength']} />
          </div>
        </div>`}
        <${FieldError} id="f-hires-error" messages=${errors.hires} />
      </div>`}
      <p class="hint muted small">Seed 0 picks a random one; image <em>i</em> of a request uses seed + <em>i</em>.</p>
      ${(generalError || general.length > 0) &&
      html`<div class="alert error" role="alert">
        ${generalError && html`<p>${generalError}</p>`}
        ${general.map(([key, messages]) => html`<p key=${key}>${messages.join(' ')}</p>`)}
      </div>`}
      <div class="actions">
        <button type="submit" class="primary generate" disabled=${sending || !values.engine} data-testid="generate">
          ${sending ? 'Sending…' : `Generate${price}`}
        </button>
        ${typeof balance === 'number' && html`<span class=${short ? 'warn-text small' : 'muted small'}>${short ? `Not enough credits: you have ${balance}.` : `Balance: ${balance} credits`}</span>`}
      </div>
      ${(quote === null || quote === undefined) && values.engine && html`<p class="muted small" data-testid="no-price">The price shows once the form is valid.</p>`}
      ${busy && html`<p class="muted small">A request is still running; new ones queue behind it.</p>`}
    </form>
  `;
}
