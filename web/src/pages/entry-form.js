// The request form: every parameter of POST /threads/{guid}/entry, with the engine's own lists and ranges.
import { html, useEffect, useState } from '../lib.js';
import { get } from '../api.js';
import { errorText, fieldError } from '../format.js';

const DEFAULT_ENGINE = 'stable-diffusion-xl-1024-v0-9';

/** Reads an engine field (`steps.min` style paths), with a fallback while engines load. */
function field(engine, path, fallback) {
  let value = engine;
  for (const key of path.split('.')) value = value == null ? undefined : value[key];
  return value ?? fallback;
}

let enginesCache = null;
function loadEngines() {
  enginesCache ??= get('/engines').catch((err) => {
    enginesCache = null;
    throw err;
  });
  return enginesCache;
}

const PROMPT_LABELS = ['Positive prompt', 'Negative prompt'];

export function EntryForm({ onSubmit, busy }) {
  const [engines, setEngines] = useState([]);
  const [engineId, setEngineId] = useState('');
  const [resolution, setResolution] = useState('');
  const [prompts, setPrompts] = useState([
    { text: '', weight: 1 },
    { text: '', weight: -1 },
  ]);
  const [images, setImages] = useState(1);
  const [steps, setSteps] = useState('');
  const [style, setStyle] = useState('');
  const [seed, setSeed] = useState(0);
  const [cfg, setCfg] = useState('');
  const [sampler, setSampler] = useState('');
  const [error, setError] = useState(null);
  const [sending, setSending] = useState(false);

  useEffect(() => {
    loadEngines()
      .then((list) => {
        const usable = Array.isArray(list) ? list : [];
        setEngines(usable);
        const initial = usable.find((e) => e.id === DEFAULT_ENGINE) ?? usable[0];
        if (initial) selectEngine(initial, true);
      })
      .catch(setError);
  }, []);

  const engine = engines.find((e) => e.id === engineId);
  const resolutions = field(engine, 'resolutions', []);
  const styles = field(engine, 'styles', []);
  const samplers = field(engine, 'samplers', []);

  function selectEngine(next, first = false) {
    setEngineId(next.id);
    const list = field(next, 'resolutions', []);
    setResolution((current) => (list.includes(current) ? current : list[0] ?? ''));
    if (first) {
      setSteps(field(next, 'steps.default', 30));
      setCfg(field(next, 'cfg_scale.default', 7));
    }
  }

  function setPrompt(index, key, value) {
    setPrompts((list) => list.map((p, i) => (i === index ? { ...p, [key]: value } : p)));
  }

  async function submit(event) {
    event.preventDefault();
    setError(null);
    const payload = {
      type: 'request',
      engine: engineId,
      resolution,
      prompts: prompts.filter((p) => p.text.trim() !== '').map((p) => ({ text: p.text, weight: Number(p.weight) })),
      images: Number(images),
      steps: Number(steps),
      cfg_scale: Number(cfg),
    };
    if (Number(seed) > 0) payload.seed = Number(seed);
    if (style) payload.style = style;
    if (sampler) payload.sampler = sampler;
    setSending(true);
    try {
      await onSubmit(payload);
      setSeed(0);
    } catch (err) {
      setError(err);
    } finally {
      setSending(false);
    }
  }

  const fe = (name) => fieldError(error, name);
  return html`
    <form class="card entry-form" onSubmit=${submit} aria-label="New request">
      <h2>New request</h2>
      <div class="grid engine-row">
        <label>Engine
          <select name="engine" value=${engineId} onChange=${(e) => { const next = engines.find((x) => x.id === e.currentTarget.value); if (next) selectEngine(next); }}>
            ${engines.map((e) => html`<option key=${e.id} value=${e.id}>${e.name ? `${e.name} (${e.id})` : e.id}</option>`)}
          </select>
        </label>
        <label>Resolution
          <select name="resolution" value=${resolution} onChange=${(e) => setResolution(e.currentTarget.value)}>
            ${resolutions.map((r) => html`<option key=${r} value=${r}>${r}</option>`)}
          </select>
        </label>
      </div>
      ${prompts.map(
        (p, i) => html`<div class="prompt-row" key=${i}>
          <label class="grow">${PROMPT_LABELS[i] ?? `Prompt ${i + 1}`}
            <textarea name=${`prompts[${i}][text]`} rows="2" maxlength="2000" value=${p.text}
              placeholder=${i === 0 ? 'What you want to see' : i === 1 ? 'What to avoid (optional)' : ''}
              onInput=${(e) => setPrompt(i, 'text', e.currentTarget.value)}></textarea>
          </label>
          <label class="weight">${`${PROMPT_LABELS[i] ?? `Prompt ${i + 1}`} weight`}
            <input type="number" name=${`prompts[${i}][weight]`} step="0.1" min="-10" max="10" value=${p.weight}
              onInput=${(e) => setPrompt(i, 'weight', e.currentTarget.value)} />
          </label>
          ${i >= 2 && html`<button type="button" class="small" aria-label=${`Remove prompt ${i + 1}`}
            onClick=${() => setPrompts((list) => list.filter((_, j) => j !== i))}>Remove</button>`}
        </div>`,
      )}
      ${fe('prompts') && html`<p class="field-error">${fe('prompts')}</p>`}
      ${prompts.length < 10 && html`<button type="button" class="small" onClick=${() => setPrompts((list) => [...list, { text: '', weight: 1 }])}>Add prompt</button>`}
      <div class="grid">
        <label>Images
          <input type="number" name="images" min="1" max="10" value=${images} onInput=${(e) => setImages(e.currentTarget.value)} />
        </label>
        <label>Steps
          <input type="number" name="steps" min=${field(engine, 'steps.min', 10)} max=${field(engine, 'steps.max', 150)} value=${steps}
            onInput=${(e) => setSteps(e.currentTarget.value)} />
        </label>
        <label>Style
          <select name="style" value=${style} onChange=${(e) => setStyle(e.currentTarget.value)}>
            <option value="">(none)</option>
            ${styles.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}
          </select>
        </label>
        <label>Seed
          <input type="number" name="seed" min="0" max="4294967295" value=${seed} onInput=${(e) => setSeed(e.currentTarget.value)}
            title="0 picks a random seed" />
        </label>
        <label>CFG scale
          <input type="number" name="cfg_scale" step="0.5" min=${field(engine, 'cfg_scale.min', 0)} max=${field(engine, 'cfg_scale.max', 35)} value=${cfg}
            onInput=${(e) => setCfg(e.currentTarget.value)} />
        </label>
        <label>Sampler
          <select name="sampler" value=${sampler} onChange=${(e) => setSampler(e.currentTarget.value)}>
            <option value="">(automatic)</option>
            ${samplers.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}
          </select>
        </label>
      </div>
      ${error && html`<p class="alert error" role="alert">${errorText(error)}</p>`}
      <div class="actions">
        <button type="submit" class="primary" disabled=${sending || !engineId}>${sending ? 'Sending…' : 'Generate'}</button>
        ${busy && html`<span class="muted small">A request is still running; new ones queue behind it.</span>`}
      </div>
    </form>
  `;
}
