// Byte-level BPE: merge order against a merge table computed by hand, exact round trip on the
// whole Brown corpus with the shipped tokenizer, tokenizer.json save/load, the corpus split.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ByteLevelBPE, DEFAULT_SPECIALS, pretokenize } from '../../src/text/bpe';
import { brownDocuments, brownSplit, detokenize, splitOfDocument } from '../../src/text/corpus';
import { BROWN_TOKENIZER } from '../../src/text/data';
import { shippedFile } from '../../src/train/shipped';

test('pre-tokenisation follows GPT-2 (leading space kept on words, bytes as characters)', () => {
  assert.deepEqual(pretokenize("He's 12 dogs!  ok"), ['He', "'s", 'Ġ12', 'Ġdogs', '!', 'Ġ', 'Ġok']);
  assert.deepEqual(pretokenize('é'), ['Ã©']); // two UTF-8 bytes, two byte characters
});

test('merge order equals a hand-computed table (most frequent pair; ties to the smaller (left id, right id))', () => {
  // words: hug Ġhug Ġpug Ġpun Ġbun. Counts: u g 3 -> "ug"; then h ug, Ġ p, u n tie at 2 and h < u < Ġ
  // (Ġ is byte 32, written U+0120, so its id is above every letter's); then Ġ p; then five pairs of
  // count 1, taken by smallest left id, then right id (ids of merges grow with their order).
  const bpe = ByteLevelBPE.train(['hug hug pug pun bun'], { vocabSize: 1000, minFrequency: 1 });
  assert.deepEqual(bpe.merges, [['u', 'g'], ['h', 'ug'], ['u', 'n'], ['Ġ', 'p'], ['b', 'un'], ['Ġ', 'hug'], ['Ġ', 'bun'], ['Ġp', 'ug'], ['Ġp', 'un']]);
  assert.equal(bpe.vocabSize, 4 + 256 + 9);
  assert.deepEqual(bpe.tokens.slice(0, 4), [...DEFAULT_SPECIALS]);
  assert.equal(bpe.id('ug'), 260);
  // minFrequency 2 stops once no pair is seen twice
  const two = ByteLevelBPE.train(['hug hug pug pun bun'], { minFrequency: 2 });
  assert.deepEqual(two.merges, bpe.merges.slice(0, 4));
  // vocabSize bounds the merges
  assert.equal(ByteLevelBPE.train(['hug hug pug pun bun'], { vocabSize: 262, minFrequency: 1 }).merges.length, 2);
  // encoding applies the lowest-rank merge first: "hugs" -> h u g s -> h ug s -> hug s
  assert.deepEqual(bpe.encode('hugs pun').map((i) => bpe.tokens[i]), ['hug', 's', 'Ġpun']);
  // repeated pairs merge left to right: u u g -> u ug
  assert.deepEqual(bpe.encode('uug').map((i) => bpe.tokens[i]), ['u', 'ug']);
});

test('tokenizer.json: save and load give the same tokenizer; merges as pairs load too; bad files are clear errors', () => {
  const bpe = ByteLevelBPE.train(['hug hug pug pun bun', 'the cat sat on the mat'], { vocabSize: 300, minFrequency: 1 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-bpe-'));
  try {
    const file = path.join(dir, 'tokenizer.json');
    bpe.save(file);
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(json.model.type, 'BPE');
    assert.equal(json.pre_tokenizer.type, 'ByteLevel');
    assert.equal(json.model.vocab['<mask>'], 1);
    assert.deepEqual(json.added_tokens.map((a: { content: string }) => a.content), [...DEFAULT_SPECIALS]);
    const back = ByteLevelBPE.load(file);
    assert.deepEqual(back.tokens, bpe.tokens);
    assert.deepEqual(back.merges, bpe.merges);
    const s = 'the hug of a pun, 3 cats.';
    assert.deepEqual(back.encode(s), bpe.encode(s));
    json.model.merges = json.model.merges.map((m: string) => m.split(' '));
    assert.deepEqual(ByteLevelBPE.fromJSON(json).merges, bpe.merges);
    fs.writeFileSync(file, '{"model": {"type": "WordPiece"}}');
    assert.throws(() => ByteLevelBPE.load(file), /not a tokenizer.json with a BPE model/);
    fs.writeFileSync(file, 'nope');
    assert.throws(() => ByteLevelBPE.load(file), /is not JSON/);
    assert.throws(() => ByteLevelBPE.load(path.join(dir, 'absent.json')), /cannot read/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => ByteLevelBPE.train(['x'], { vocabSize: 100 }), /vocabSize must be an integer >= 260/);
  assert.throws(() => bpe.decode([5000]), /token id 5000 is outside 0\.\.\d+/);
});

test('Brown split: 400/50/50 documents by the documented rule; text has tags stripped and punctuation attached', () => {
  const docs = brownDocuments();
  assert.equal(docs.length, 500);
  assert.deepEqual([brownSplit('train').length, brownSplit('validation').length, brownSplit('test').length], [400, 50, 50]);
  assert.equal(splitOfDocument(0), 'test');
  assert.equal(splitOfDocument(5), 'validation');
  assert.deepEqual(brownSplit('test').slice(0, 2).map((d) => d.id), ['ca01', 'ca11']);
  assert.ok(docs[0].text.startsWith('The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.'), docs[0].text.slice(0, 200));
  assert.ok(!/\/(?:nn|at|vbd)\b/.test(docs[0].text));
  assert.equal(detokenize(['(', 'a', ',', 'b', ')', '``', 'c', "''", '.']), '(a, b) "c".');
  assert.throws(() => brownSplit('dev' as never), /split must be one of train, validation, test, got "dev"/);
});

test('the shipped Brown tokenizer round-trips the whole corpus exactly and is what training on the train split gives', () => {
  const bpe = ByteLevelBPE.load(shippedFile(BROWN_TOKENIZER));
  assert.equal(bpe.vocabSize, 4096);
  let tokens = 0;
  for (const d of brownDocuments()) {
    const ids = bpe.encode(d.text);
    tokens += ids.length;
    assert.equal(bpe.decode(ids), d.text, `round trip of ${d.id}`);
  }
  assert.ok(tokens > 1.5e6 && tokens < 1.8e6, `${tokens} tokens`);
  const again = ByteLevelBPE.train(brownSplit('train').map((d) => d.text), { vocabSize: 4096 });
  assert.deepEqual(again.merges, bpe.merges);
});
