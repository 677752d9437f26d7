import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { requestCost } from '../../src/services/credits/pricing.ts';
import { fileId } from '../../src/services/generation/image-producer.ts';
import { encodeImage } from '../../src/services/generation/image-encoder.ts';
import { insertTextChunk, parametersText, parseParametersText, readTextChunks } from '../../src/services/generation/png-text.ts';

describe('requestCost()', () => {
  it('prices the tutorial request at 10 credits', () => {
    assert.equal(requestCost({ images: 2, steps: 45, width: 1024, height: 1024 }), 10);
  });
  it('charges at least one credit per image and rounds half up', () => {
    assert.equal(requestCost({ images: 1, steps: 10, width: 512, height: 512 }), 1);
    assert.equal(requestCost({ images: 3, steps: 10, width: 1024, height: 1024 }), 3);
    assert.equal(requestCost({ images: 1, steps: 150, width: 1024, height: 1024 }), 17);
    assert.equal(requestCost({ images: 1, steps: 27, width: 1024, height: 1024 }), 3);
    assert.equal(requestCost({ images: 1, steps: 13, width: 1024, height: 1024 }), 1);
    assert.equal(requestCost({ images: 10, steps: 150, width: 1536, height: 640 }), 160);
  });
});

describe('PNG parameters chunk', () => {
  it('writes the A1111 "parameters" text after IHDR with a valid CRC', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#123456' } }).png().toBuffer();
    const text = parametersText({ prompt: 'a cat', negativePrompt: 'dog', steps: 45, sampler: 'euler', cfgScale: 7, seed: 42, width: 1024, height: 1024, model: 'demo' });
    assert.equal(text, 'a cat\nNegative prompt: dog\nSteps: 45, Sampler: euler, CFG scale: 7, Seed: 42, Size: 1024x1024, Model: demo');
    const withText = insertTextChunk(png, 'parameters', text);
    assert.equal(withText.toString('latin1', 37, 41), 'tEXt');
    assert.deepEqual(readTextChunks(withText), { parameters: text });
    const decoded = await sharp(withText).raw().toBuffer({ resolveWithObject: true });
    assert.equal(decoded.info.width, 4);
    const meta = await sharp(withText).metadata();
    assert.equal(meta.format, 'png');
  });
  it('parseParametersText() reads the text back as A1111 /png-info does', () => {
    const text = parametersText({ prompt: 'a cat,\non two lines', negativePrompt: 'dog', steps: 45, sampler: 'DPM++ 2M', cfgScale: 7.5, seed: 42, width: 512, height: 768, model: 'demo', style: 'anime' });
    assert.deepEqual(parseParametersText(text), {
      Prompt: 'a cat,\non two lines',
      'Negative prompt': 'dog',
      Steps: '45',
      Sampler: 'DPM++ 2M',
      'CFG scale': '7.5',
      Seed: '42',
      Size: '512x768',
      'Size-1': '512',
      'Size-2': '768',
      Model: 'demo',
      Style: 'anime',
    });
    // An empty prompt, a quoted value holding commas, and text that is all prompt.
    const empty = parseParametersText('\nSteps: 4, Sampler: Euler, Lora hashes: "a: 1, b: 2", Seed: 1');
    assert.equal(empty.Prompt, '');
    assert.equal(empty['Lora hashes'], 'a: 1, b: 2');
    assert.equal(empty.Seed, '1');
    assert.deepEqual(parseParametersText('just a prompt: with a colon'), { Prompt: 'just a prompt: with a colon', 'Negative prompt': '' });
    // Text from an uploaded PNG: long lines without a colon and long blank runs must not make the patterns backtrack.
    const hostile = `x\n${'a b '.repeat(250_000)}\n${' '.repeat(500_000)}y`;
    assert.equal(parseParametersText(hostile).Prompt.length, hostile.length);
    assert.equal(parseParametersText(`x\n${'ab'.repeat(2000)}: 1, b: 2, c: 3`).Prompt.startsWith('x\nabab'), true, 'a settings line over 4,000 characters is prompt');
  });
  it('encodeImage() upscales to the target size and makes a ≤256 px JPEG thumbnail', async () => {
    const rgb = new Uint8Array(88 * 48 * 3).fill(200);
    const out = await encodeImage({ width: 88, height: 48, rgb }, { width: 1344, height: 768 }, 'p');
    assert.deepEqual([out.width, out.height], [1344, 768]);
    const t = await sharp(out.thumbnail).metadata();
    assert.deepEqual([t.format, t.width, t.height], ['jpeg', 256, 146]);
    assert.equal(readTextChunks(out.png).parameters, 'p');
  });
});

describe('fileId()', () => {
  it('is a stable v4-shaped UUID per job and image', () => {
    assert.equal(fileId('job', 0), fileId('job', 0));
    assert.notEqual(fileId('job', 0), fileId('job', 1));
    assert.match(fileId('job', 3), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
