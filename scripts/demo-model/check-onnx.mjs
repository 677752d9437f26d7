// Numerical check of the exported demo model with onnxruntime-node against torch reference outputs.
//   /usr/bin/python3 scripts/demo-model/eval.py --ckpt /tmp/demo.pt --no-eval --ref /tmp/demo-ref.json
//   node scripts/demo-model/check-onnx.mjs models/demo /tmp/demo-ref.json
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';

const dir = process.argv[2] ?? 'models/demo';
const ref = JSON.parse(fs.readFileSync(process.argv[3] ?? '/tmp/demo-ref.json', 'utf8'));
const opts = { intraOpNumThreads: 1, interOpNumThreads: 1 };
// Latent side (unet/config.json sample_size): 16 for the 4x VAE at 64 px.
const L = JSON.parse(fs.readFileSync(path.join(dir, 'unet', 'config.json'), 'utf8')).sample_size;
const sess = (c) => ort.InferenceSession.create(path.join(dir, c, 'model.onnx'), opts);
let worst = 0;
function cmp(name, got, want) {
  let m = 0;
  let s = 0;
  for (let i = 0; i < want.length; i++) {
    m = Math.max(m, Math.abs(got[i] - want[i]));
    s = Math.max(s, Math.abs(want[i]));
  }
  if (got.length !== want.length) throw new Error(`${name}: length ${got.length} != ${want.length}`);
  console.log(`${name}: max |diff| ${m.toExponential(2)} (max |ref| ${s.toFixed(3)})`);
  worst = Math.max(worst, m / Math.max(1, s));
}

// Tokenizer agreement: ids written by the python encoder.
const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer', 'vocab.json'), 'utf8'));
console.log('vocab size', Object.keys(vocab).length, 'eot', vocab['<|endoftext|>']);

const te = await sess('text_encoder');
console.log('text_encoder inputs', te.inputNames, 'outputs', te.outputNames);
const ids = new ort.Tensor('int32', Int32Array.from(ref.ids), [2, 77]);
const t0 = await te.run({ input_ids: ids });
cmp('last_hidden_state', t0.last_hidden_state.data, ref.last_hidden_state);
cmp('pooler_output', t0.pooler_output.data, ref.pooler_output);
const D = t0.last_hidden_state.dims[2];

const unet = await sess('unet');
console.log('unet inputs', unet.inputNames, JSON.stringify(unet.inputMetadata ?? ''));
const u = await unet.run({
  sample: new ort.Tensor('float32', Float32Array.from(ref.sample), [2, 4, L, L]),
  timestep: new ort.Tensor('float32', Float32Array.from([ref.timestep]), [1]),
  encoder_hidden_states: new ort.Tensor('float32', Float32Array.from(ref.last_hidden_state), [2, 77, D]),
});
cmp('out_sample', u.out_sample.data, ref.out_sample);
// Dynamic spatial size: 48x40 latents (96x80 px with the 2x VAE).
const u2 = await unet.run({
  sample: new ort.Tensor('float32', new Float32Array(2 * 4 * 48 * 40).fill(0.1), [2, 4, 48, 40]),
  timestep: new ort.Tensor('float32', Float32Array.from([10]), [1]),
  encoder_hidden_states: new ort.Tensor('float32', Float32Array.from(ref.last_hidden_state), [2, 77, D]),
});
console.log('unet 48x40 ->', u2.out_sample.dims.join('x'));

const dec = await sess('vae_decoder');
const d = await dec.run({ latent_sample: new ort.Tensor('float32', Float32Array.from(ref.latent), [1, 4, L, L]) });
cmp('vae_decoder sample', d.sample.data, ref.decoded);
console.log('vae_decoder out dims', d.sample.dims.join('x'));
const enc = await sess('vae_encoder');
const e = await enc.run({ sample: new ort.Tensor('float32', Float32Array.from(ref.image), [1, 3, 64, 64]) });
cmp('vae_encoder latent_sample', e.latent_sample.data, ref.encoded);

// Timing of one 64x64 image, 20 steps, CFG batch 2 (UNet only + TE + VAE).
const opts2 = { intraOpNumThreads: 2, interOpNumThreads: 1 };
const [te2, un2, de2] = await Promise.all(['text_encoder', 'unet', 'vae_decoder'].map((c) =>
  ort.InferenceSession.create(path.join(dir, c, 'model.onnx'), opts2)));
const run = async () => {
  const h = await te2.run({ input_ids: ids });
  let x = new Float32Array(2 * 4 * L * L).fill(0.5);
  for (let i = 0; i < 20; i++) {
    const o = await un2.run({
      sample: new ort.Tensor('float32', x, [2, 4, L, L]),
      timestep: new ort.Tensor('float32', Float32Array.from([999 - i * 50]), [1]),
      encoder_hidden_states: h.last_hidden_state,
    });
    x = Float32Array.from(o.out_sample.data);
  }
  await de2.run({ latent_sample: new ort.Tensor('float32', x.slice(0, 4 * L * L), [1, 4, L, L]) });
};
await run();
const ts = [];
for (let k = 0; k < 5; k++) {
  const a = performance.now();
  await run();
  ts.push(performance.now() - a);
}
ts.sort((a, b) => a - b);
console.log(`raw ORT: TE + 20 UNet(batch 2) + VAE decode, 2 threads: median ${ts[2].toFixed(1)} ms`);
if (worst > 1e-3) {
  console.error('FAIL: relative difference', worst);
  process.exit(1);
}
console.log('OK, worst relative diff', worst.toExponential(2));
