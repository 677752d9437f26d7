import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import { bytesToUnicode } from '../../src/engine/tokenizer/bpe.ts';
import { ClipTokenizer } from '../../src/engine/tokenizer/clip-tokenizer.ts';

// OpenAI's CLIP merge list and the golden tokenizations (test/fixtures/README.md says where they come from).
const CLIP_DIR = fileURLToPath(new URL('../fixtures/clip/', import.meta.url));
const BPE_FILE = join(CLIP_DIR, 'bpe_simple_vocab_16e6.txt.gz');
const GOLDEN_FILE = join(CLIP_DIR, 'tokenize-golden.json');

const BOS = 49406;
const EOS = 49407;

/** docs/engine-reference.md §3.1: the Hugging Face vocab.json / merges.txt pair derived from OpenAI's merge list. */
function buildClipFiles(): { vocab: Record<string, number>; merges: string[] } {
  const lines = gunzipSync(readFileSync(BPE_FILE)).toString('utf8').split('\n');
  const merges = lines.slice(1, 49152 - 256 - 2 + 1);
  const table = bytesToUnicode();
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const bytes = [...Array(256).keys()];
  // bytes_to_unicode() dict order: printable bytes first, then the remapped ones.
  const alphabet = [...bytes.filter(printable), ...bytes.filter((b) => !printable(b))].map((b) => table[b]);
  const tokens = [...alphabet, ...alphabet.map((c) => `${c}</w>`), ...merges.map((m) => m.split(' ').join('')), '<|startoftext|>', '<|endoftext|>'];
  const vocab: Record<string, number> = {};
  tokens.forEach((token, id) => {
    vocab[token] = id;
  });
  return { vocab, merges };
}

function isEngineError(code: string, pattern?: RegExp) {
  return (err: unknown): boolean => err instanceof EngineError && err.code === code && (pattern === undefined || pattern.test(err.message));
}

describe('ClipTokenizer with the CLIP vocabulary', () => {
  let root: string;
  let files: { vocab: Record<string, number>; merges: string[] };
  let sd1: ClipTokenizer;

  /** Writes a tokenizer folder; `extra` maps file name → JSON value or raw text. */
  function writeFolder(name: string, extra: Record<string, unknown> = {}): string {
    const dir = join(root, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(files.vocab));
    writeFileSync(join(dir, 'merges.txt'), `#version: 0.2\n${files.merges.join('\n')}\n`);
    for (const [file, value] of Object.entries(extra)) {
      writeFileSync(join(dir, file), typeof value === 'string' ? value : JSON.stringify(value));
    }
    return dir;
  }

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'sdapi-clip-'));
    files = buildClipFiles();
    sd1 = await ClipTokenizer.fromDirectory(
      writeFolder('sd1', {
        'special_tokens_map.json': { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', pad_token: '<|endoftext|>', unk_token: '<|endoftext|>' },
        'tokenizer_config.json': { model_max_length: 77, pad_token: '<|endoftext|>' },
      }),
    );
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('builds the 49,408-token vocabulary with the documented ids', () => {
    assert.equal(Object.keys(files.vocab).length, 49408);
    assert.equal(files.vocab['!'], 0);
    assert.equal(files.vocab['!</w>'], 256);
    assert.equal(files.vocab['<|startoftext|>'], BOS);
    assert.equal(files.vocab['<|endoftext|>'], EOS);
    assert.deepEqual([sd1.bosId, sd1.eosId, sd1.padId, sd1.maxLength], [BOS, EOS, EOS, 77]);
  });

  it('tokenizes every case of tokenize-golden.json', () => {
    const golden = JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) as { text: string; ids: number[] }[];
    assert.ok(golden.length > 0);
    for (const { text, ids } of golden) assert.deepEqual(sd1.tokenize(text), ids, JSON.stringify(text));
  });

  const table: [string, number[]][] = [
    ['a photograph of an astronaut riding a horse', [49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407]],
    ['Hello, World!', [49406, 3306, 267, 1002, 256, 49407]],
    ['A sample prompt', [49406, 320, 9542, 20198, 49407]],
    ['', [49406, 49407]],
    ["a cat's  TOY\t(red:1.2)", [49406, 320, 2368, 568, 5988, 263, 736, 281, 272, 269, 273, 264, 49407]],
    ['photo of 1024x768 café', [49406, 1125, 539, 272, 271, 273, 275, 343, 278, 277, 279, 15304, 49407]],
    ['sailing ship in storm by Leonardo da Vinci', [49406, 11003, 1158, 530, 2819, 638, 20282, 1140, 30199, 49407]],
    ["don't", [49406, 847, 713, 49407]],
  ];
  for (const [text, ids] of table) {
    it(`tokenizes ${JSON.stringify(text)} (docs/engine-reference.md §3.6)`, () => {
      assert.deepEqual(sd1.tokenize(text), ids);
    });
  }

  it('normalises to NFC before tokenizing (decomposed é equals composed é)', () => {
    assert.deepEqual(sd1.tokenize('photo of 1024x768 cafe\u0301'), sd1.tokenize('photo of 1024x768 café'));
  });

  it('pads SD1 prompts with <|endoftext|> (49407) to 77 ids', () => {
    const ids = sd1.encode('a photograph of an astronaut riding a horse');
    assert.equal(ids.length, 77);
    assert.deepEqual(ids.slice(0, 10), table[0][1]);
    assert.deepEqual(ids.slice(10), Array(67).fill(EOS));
  });

  it("pads SD2 prompts with '!' (0): special_tokens_map.json overrides tokenizer_config.json", async () => {
    const sd2 = await ClipTokenizer.fromDirectory(
      writeFolder('sd2', {
        'special_tokens_map.json': { bos_token: { content: '<|startoftext|>', lstrip: false }, eos_token: { content: '<|endoftext|>' }, pad_token: '!' },
        'tokenizer_config.json': { model_max_length: 77, pad_token: { __type: 'AddedToken', content: '<|endoftext|>' } },
      }),
    );
    assert.equal(sd2.padId, 0);
    const ids = sd2.encode('a photograph of an astronaut riding a horse');
    assert.deepEqual(ids.slice(0, 10), table[0][1]);
    assert.deepEqual(ids.slice(10), Array(67).fill(0));
  });

  it('takes pad_token from tokenizer_config.json (string or { content }) when the special tokens map has none', async () => {
    const a = await ClipTokenizer.fromDirectory(writeFolder('cfg-pad', { 'tokenizer_config.json': { pad_token: { content: '!' } } }));
    assert.equal(a.padId, 0);
    const b = await ClipTokenizer.fromDirectory(writeFolder('bare'));
    assert.equal(b.padId, EOS);
    assert.equal(b.maxLength, 77);
  });

  it('uses a sane model_max_length and ignores the 1e30 sentinel', async () => {
    const short = await ClipTokenizer.fromDirectory(writeFolder('len-32', { 'tokenizer_config.json': { model_max_length: 32 } }));
    assert.equal(short.encode('a cat').length, 32);
    const sentinel = await ClipTokenizer.fromDirectory(writeFolder('len-huge', { 'tokenizer_config.json': { model_max_length: 1e30 } }));
    assert.equal(sentinel.maxLength, 77);
    const overridden = await ClipTokenizer.fromDirectory(writeFolder('len-opt', { 'tokenizer_config.json': { model_max_length: 32 } }), { maxLength: 16 });
    assert.equal(overridden.maxLength, 16);
  });

  it('truncates a 100-word prompt to 75 content tokens + EOS', () => {
    const words = Array.from({ length: 100 }, (_, i) => (i % 2 ? 'cat' : 'photo'));
    const full = sd1.tokenize(words.join(' '));
    assert.equal(full.length, 102);
    const ids = sd1.encode(words.join(' '));
    assert.equal(ids.length, 77);
    assert.deepEqual(ids.slice(0, 76), full.slice(0, 76));
    assert.equal(ids[76], EOS);
  });

  it('turns written special tokens into their ids, as the reference tokenizers do', () => {
    assert.deepEqual(sd1.tokenize('a <|endoftext|> cat'), [BOS, 320, EOS, 2368, EOS]);
  });

  it('fromDirectorySync reads the same folder', () => {
    const sync = ClipTokenizer.fromDirectorySync(join(root, 'sd1'));
    assert.deepEqual(sync.encode('Hello, World!'), sd1.encode('Hello, World!'));
  });

  it('fromVocab matches fromDirectory', () => {
    const tokenizer = ClipTokenizer.fromVocab(files.vocab, files.merges, { padToken: '!' });
    assert.deepEqual(tokenizer.tokenize("don't"), [BOS, 847, 713, EOS]);
    assert.equal(tokenizer.padId, 0);
  });

  describe('bad folders', () => {
    it('reports a missing folder as model_not_found', async () => {
      await assert.rejects(ClipTokenizer.fromDirectory(join(root, 'nope')), isEngineError('model_not_found', /nope/));
      assert.throws(() => ClipTokenizer.fromDirectorySync(join(root, 'nope')), isEngineError('model_not_found'));
    });

    it('names a missing vocab.json or merges.txt', async () => {
      const dir = writeFolder('no-vocab');
      rmSync(join(dir, 'vocab.json'));
      await assert.rejects(ClipTokenizer.fromDirectory(dir), isEngineError('model_invalid', /vocab\.json: the file is missing/));
      const dir2 = writeFolder('no-merges');
      rmSync(join(dir2, 'merges.txt'));
      await assert.rejects(ClipTokenizer.fromDirectory(dir2), isEngineError('model_invalid', /merges\.txt: the file is missing/));
    });

    it('names broken JSON and malformed merges', async () => {
      await assert.rejects(
        ClipTokenizer.fromDirectory(writeFolder('bad-json', { 'vocab.json': '{"a": 1,' })),
        isEngineError('model_invalid', /vocab\.json: invalid JSON/),
      );
      await assert.rejects(
        ClipTokenizer.fromDirectory(writeFolder('bad-ids', { 'vocab.json': '{"a": "one"}' })),
        isEngineError('model_invalid', /vocab\.json: ids must be non-negative integers/),
      );
      await assert.rejects(
        ClipTokenizer.fromDirectory(writeFolder('bad-merges', { 'merges.txt': '#version: 0.2\na b\nabc\n' })),
        isEngineError('model_invalid', /merges\.txt: line 3/),
      );
      await assert.rejects(
        ClipTokenizer.fromDirectory(writeFolder('bad-map', { 'special_tokens_map.json': '[1, 2]' })),
        isEngineError('model_invalid', /special_tokens_map\.json: expected a JSON object/),
      );
      await assert.rejects(
        ClipTokenizer.fromDirectory(writeFolder('bad-pad-type', { 'special_tokens_map.json': { pad_token: 7 } })),
        isEngineError('model_invalid', /pad_token/),
      );
    });

    it('rejects a pad token that is not in the vocabulary', async () => {
      await assert.rejects(
        ClipTokenizer.fromDirectory(writeFolder('bad-pad', { 'special_tokens_map.json': { pad_token: '<pad>' } })),
        isEngineError('model_invalid', /pad token "<pad>" is not in the vocabulary/),
      );
    });
  });
});

describe('ClipTokenizer.fromVocab (synthetic vocabulary)', () => {
  const vocab = { '<|startoftext|>': 0, '<|endoftext|>': 1, c: 2, a: 3, 't</w>': 4, ca: 5, 'cat</w>': 6, 'x</w>': 7 };

  it('applies merges by rank and pads with EOS by default', () => {
    const tokenizer = ClipTokenizer.fromVocab(vocab, ['c a', 'ca t</w>'], { maxLength: 6 });
    assert.deepEqual(tokenizer.encode('CAT'), [0, 6, 1, 1, 1, 1]);
    assert.deepEqual(tokenizer.tokenize('cat x'), [0, 6, 7, 1]);
  });

  it('falls back to single characters for a symbol missing from the vocabulary, skipping unknown ones', () => {
    // The merge "ca t</w>" produces "cat</w>", absent here: fall back to "c", "a", "t</w>".
    const { 'cat</w>': _cat, ...withoutCat } = vocab;
    const tokenizer = ClipTokenizer.fromVocab(withoutCat, ['c a', 'ca t</w>']);
    assert.deepEqual(tokenizer.tokenize('cat'), [0, 2, 3, 4, 1]);
    // "z</w>" is in neither form: skipped.
    assert.deepEqual(tokenizer.tokenize('z'), [0, 1]);
  });

  it('rejects missing special tokens and a bad maxLength with invalid_argument', () => {
    assert.throws(() => ClipTokenizer.fromVocab({ a: 0 }, []), isEngineError('invalid_argument', /bos token/));
    assert.throws(() => ClipTokenizer.fromVocab(vocab, [], { padToken: '!' }), isEngineError('invalid_argument', /pad token "!"/));
    assert.throws(() => ClipTokenizer.fromVocab(vocab, [], { maxLength: 1 }), isEngineError('invalid_argument', /maxLength/));
  });
});
