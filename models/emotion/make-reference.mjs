// Produces the port-fidelity reference for lib/emotion's TF.js graph runner: runs the npm
// @vladmandic/human mini-Xception expression model (models/emotion.json + emotion.bin) with the
// npm @tensorflow/tfjs package (pure-JS CPU backend) on fixed 64x64 grey inputs and writes
//   tests/emotion/data/port_inputs.u8     N x 64 x 64 bytes; the model input is byte / 127.5 - 1
//   tests/emotion/data/port_reference.txt per input: 7 logits (conv2d_5/BiasAdd, spatially averaged)
//                                          and 7 softmax outputs, one input per line
// Run once (set-up time, never at run time):
//   node models/emotion/make-reference.mjs third_party/npm tests/emotion/data
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const npmDir = path.resolve(process.argv[2] || 'third_party/npm');
const outDir = path.resolve(process.argv[3] || 'tests/emotion/data');
const require = createRequire(path.join(npmDir, 'node_modules', 'x.js'));
const tf = require('@tensorflow/tfjs');
await tf.setBackend('cpu');

const modelDir = path.join(npmDir, 'node_modules', '@vladmandic', 'human', 'models');
const modelJson = JSON.parse(fs.readFileSync(path.join(modelDir, 'emotion.json'), 'utf8'));
const weightData = fs.readFileSync(path.join(modelDir, 'emotion.bin'));
const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights);
const handler = tf.io.fromMemory({
  modelTopology: modelJson.modelTopology,
  weightSpecs,
  weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
  format: modelJson.format, generatedBy: modelJson.generatedBy, convertedBy: modelJson.convertedBy,
});
const model = await tf.loadGraphModel(handler);

// Fixed inputs as bytes (exactly representable, so our C++ side feeds bit-identical floats).
const W = 64, H = 64;
const inputs = [];
{ // 0: pseudo-random (LCG), exercises every weight
  const q = new Uint8Array(W * H); let s = 12345;
  for (let i = 0; i < q.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; q[i] = (s >>> 16) & 255; }
  inputs.push(q);
}
{ // 1: diagonal gradient
  const q = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) q[y * W + x] = Math.floor(((x + y) * 255) / 126);
  inputs.push(q);
}
{ // 2: a crude cartoon face (bright oval, dark eyes, a smiling mouth) on a dark background
  const q = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const dx = (x - 32) / 24, dy = (y - 32) / 30;
    let v = dx * dx + dy * dy < 1 ? 200 : 40;
    const eye = (ex) => (x - ex) ** 2 + (y - 24) ** 2 < 9;
    if (eye(22) || eye(42)) v = 30;
    const my = 44 + ((x - 32) ** 2) / 40;
    if (x > 20 && x < 44 && Math.abs(y - my) < 1.5) v = 50;
    q[y * W + x] = v;
  }
  inputs.push(q);
}
{ // 3: constant mid grey
  inputs.push(new Uint8Array(W * H).fill(128));
}

const outName = 'Identity';
const logitName = 'StatefulPartitionedCall/model_1/global_average_pooling2d_1/Mean';
const lines = [
  '# tfjs ' + tf.version.tfjs + ' (cpu backend), @vladmandic/human ' +
    JSON.parse(fs.readFileSync(path.join(npmDir, 'node_modules', '@vladmandic', 'human', 'package.json'))).version +
    ' models/emotion.json; per line: 7 pre-softmax means, then 7 softmax outputs',
];
for (const q of inputs) {
  const x = tf.tensor4d(Float32Array.from(q, (b) => b / 127.5 - 1), [1, H, W, 1]);
  const [prob, logit] = model.execute(x, [outName, logitName]);
  const p = await prob.data(), l = await logit.data();
  lines.push([...l, ...p].map((v) => v.toPrecision(9)).join(' '));
  tf.dispose([x, prob, logit]);
}
fs.mkdirSync(outDir, { recursive: true });
const all = new Uint8Array(inputs.length * W * H);
inputs.forEach((q, i) => all.set(q, i * W * H));
fs.writeFileSync(path.join(outDir, 'port_inputs.u8'), all);
fs.writeFileSync(path.join(outDir, 'port_reference.txt'), lines.join('\n') + '\n');
console.log(lines.join('\n'));
