import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { encodePng, saveImageGrid } from '../../src/data/png';
import { memory, tensor, functions as torch } from '../../src/tensor';

// Pixel (x, y) of a decoded PNG as [r, g, b] (pngjs always decodes to RGBA).
function px(png: PNG, x: number, y: number): number[] {
  const o = (y * png.width + x) * 4;
  return [png.data[o], png.data[o + 1], png.data[o + 2]];
}

// 3 grayscale 2x3 images; pixel (y, x) of image k is (40k + 10y + x) / 255, so bytes are exact.
const VALUE = (k: number, y: number, x: number) => 40 * k + 10 * y + x + 1;
function pattern() {
  const v: number[] = [];
  for (let k = 0; k < 3; k++) for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) v.push(VALUE(k, y, x) / 255);
  return tensor(v, { shape: [3, 1, 2, 3] });
}

test('grid layout: nrow, padding, padValue; grayscale PNG with the exact pixel values', () => {
  const before = memory().liveTensors;
  const images = pattern();
  const png = PNG.sync.read(encodePng(images, { nrow: 2, padding: 1, padValue: 1 }));
  // 2 columns, 2 rows of 2x3 images with 1 pixel around each: width 2*(3+1)+1, height 2*(2+1)+1
  assert.equal(png.width, 9);
  assert.equal(png.height, 7);
  assert.equal(png.colorType, 0);
  for (let k = 0; k < 3; k++) {
    const left = (k % 2) * 4 + 1;
    const top = Math.floor(k / 2) * 3 + 1;
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) {
      const v = VALUE(k, y, x);
      assert.deepEqual(px(png, left + x, top + y), [v, v, v], `image ${k} pixel (${y}, ${x})`);
    }
  }
  for (const [x, y] of [[0, 0], [4, 1], [8, 6], [5, 4], [1, 3]]) assert.deepEqual(px(png, x, y), [255, 255, 255], `padding (${x}, ${y})`);
  // default: 8 per row, 2 pixels of black padding
  const wide = PNG.sync.read(encodePng(images));
  assert.equal(wide.width, 3 * (3 + 2) + 2);
  assert.equal(wide.height, 2 + 2 + 2);
  assert.deepEqual(px(wide, 0, 0), [0, 0, 0]);
  assert.deepEqual(px(wide, 2, 2), [1, 1, 1]);
  images.dispose();
  assert.equal(memory().liveTensors, before);
});

test('RGB images, uint8 input, a single image without padding, [H, W] input', () => {
  const rgb = torch.zeros([2, 3, 4, 5]);
  rgb.iset([0, 0], 1); // image 0 red
  rgb.iset([1, 2], 0.5); // image 1 half blue
  const png = PNG.sync.read(encodePng(rgb, { padding: 0 }));
  assert.equal(png.colorType, 2);
  assert.deepEqual([png.width, png.height], [10, 4]);
  assert.deepEqual(px(png, 0, 0), [255, 0, 0]);
  assert.deepEqual(px(png, 9, 3), [0, 0, 128]); // 0.5 * 255 rounds half up, like torchvision
  rgb.dispose();

  const u8 = tensor(new Uint8Array([0, 7, 200, 255]), { shape: [1, 1, 2, 2] });
  const one = PNG.sync.read(encodePng(u8, { padding: 5 }));
  assert.deepEqual([one.width, one.height], [2, 2]);
  assert.deepEqual([px(one, 0, 0)[0], px(one, 1, 0)[0], px(one, 0, 1)[0], px(one, 1, 1)[0]], [0, 7, 200, 255]);
  const hw = PNG.sync.read(encodePng(u8.reshape([2, 2])));
  assert.deepEqual(hw.data, one.data);
  u8.dispose();
});

test('value ranges: clipping of [0, 1], range [-1, 1], normalize by min/max (whole or each image)', () => {
  // values chosen away from the .5 rounding boundaries, so float32 rounding cannot move a byte
  const x = tensor([[[[-1, -0.6, 0, 0.2, 1, 2]]]]); // [1, 1, 1, 6]
  const row = (png: PNG) => Array.from({ length: png.width }, (_, i) => px(png, i, 0)[0]);
  assert.deepEqual(row(PNG.sync.read(encodePng(x))), [0, 0, 0, 51, 255, 255]);
  assert.deepEqual(row(PNG.sync.read(encodePng(x, { range: [-1, 1] }))), [0, 51, 128, 153, 255, 255]);
  assert.deepEqual(row(PNG.sync.read(encodePng(x, { normalize: true }))), [0, 34, 85, 102, 170, 255]);
  const two = tensor([[[[0, 6]]], [[[10, 30]]]], { dtype: 'float32' }); // two 1x2 images
  const whole = PNG.sync.read(encodePng(two, { normalize: true, padding: 1 }));
  const each = PNG.sync.read(encodePng(two, { normalize: true, scaleEach: true, padding: 1 }));
  const at = (png: PNG) => [px(png, 1, 1)[0], px(png, 2, 1)[0], px(png, 4, 1)[0], px(png, 5, 1)[0]];
  assert.deepEqual(at(whole), [0, 51, 85, 255]);
  assert.deepEqual(at(each), [0, 255, 0, 255]);
  const nan = tensor([[[[NaN, 1]]]]);
  assert.deepEqual(row(PNG.sync.read(encodePng(nan))), [0, 255]);
  for (const t of [x, two, nan]) t.dispose();
});

test('saveImageGrid writes the file atomically (creating its folder); errors are clear', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'png-test-'));
  try {
    const images = pattern();
    const file = path.join(dir, 'samples', 'grid.png');
    saveImageGrid(file, images, { nrow: 3 });
    assert.deepEqual(fs.readdirSync(path.join(dir, 'samples')), ['grid.png']); // no temp files left
    const png = PNG.sync.read(fs.readFileSync(file));
    assert.deepEqual([png.width, png.height], [3 * 5 + 2, 2 + 4]);
    assert.deepEqual(px(png, 2, 2), [1, 1, 1]);
    saveImageGrid(file, images.i([0, 1])); // overwrite
    assert.deepEqual(PNG.sync.read(fs.readFileSync(file)).width, 3);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'samples')), ['grid.png']);
    images.dispose();

    const two = torch.zeros([1, 2, 4, 4]);
    assert.throws(() => encodePng(two), /1 or 3 channels, got shape \[1, 2, 4, 4\]/);
    two.dispose();
    const ints = torch.zeros([1, 1, 2, 2], { dtype: 'int64' });
    assert.throws(() => encodePng(ints), /floating point or uint8, got int64/);
    ints.dispose();
    const ok = torch.zeros([2, 1, 2, 2]);
    assert.throws(() => encodePng(ok, { nrow: 0 }), /nrow must be a positive integer/);
    assert.throws(() => encodePng(ok, { range: [1, 1] }), /high > low/);
    assert.throws(() => saveImageGrid(path.join(dir, 'x.png'), ok, { padding: -1 }), /padding must be a non-negative integer/);
    assert.ok(!fs.existsSync(path.join(dir, 'x.png')));
    ok.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
