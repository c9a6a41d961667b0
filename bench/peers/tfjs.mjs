// TensorFlow.js on its WebGPU backend, on the same Dawn adapter (navigator.gpu from
// bench/gpu.mjs). LSTM and GRU are tf.layers.lstm / tf.layers.gru (sigmoid recurrent
// activation, not tfjs's default hard sigmoid); minGRU is written with tf ops the way a
// user would (input projections for all steps at once, then the elementwise recurrence);
// training is model.trainOnBatch with Adam.
import { ADAM, swapTB, tfjsWeights } from '../cases.mjs';

export const name = 'tfjs-webgpu';

let tf;

async function load() {
  if (tf) return tf;
  // navigator.gpu must exist before the backend module loads (it checks at import time)
  tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not initialize its webgpu backend');
  await tf.ready();
  return tf;
}

function recurrentLayer(c, returnSequences = true) {
  const options = { units: c.H, returnSequences, inputShape: [c.T, c.I], recurrentActivation: 'sigmoid', activation: 'tanh',
    // the weights are set from the case; skip tfjs's slow orthogonal init of the recurrent kernel
    kernelInitializer: 'zeros', recurrentInitializer: 'zeros' };
  return c.family === 'lstm' ? tf.layers.lstm(options) : tf.layers.gru({ ...options, resetAfter: false });
}

function setWeights(model, c, params) {
  tfjsWeights(c, params).forEach((weights, k) => {
    const layer = model.layers[k];
    layer.setWeights(weights.map((w, i) => tf.tensor(w, layer.getWeights()[i].shape)));
  });
}

export async function prepare(c, data) {
  await load();
  const { B, T, I, H } = c;
  const x = tf.tensor3d(swapTB(data.x, T, B, I), [B, T, I]);
  if (c.kind === 'train') {
    const model = tf.sequential();
    model.add(recurrentLayer(c));
    model.add(tf.layers.dense({ units: c.O, activation: 'softmax' }));
    model.compile({ optimizer: tf.train.adam(ADAM.learningRate, ADAM.beta1, ADAM.beta2, ADAM.epsilon), loss: 'categoricalCrossentropy' });
    setWeights(model, c, data.params);
    const y = tf.tensor3d(swapTB(data.target, T, B, c.O), [B, T, c.O]);
    return {
      run: async () => Number(await model.trainOnBatch(x, y)),
      dispose: () => {
        x.dispose();
        y.dispose();
        model.dispose();
      },
    };
  }
  if (c.family === 'mingru') {
    const p = Object.fromEntries(Object.entries(data.params).map(([k, v]) => [k, v]));
    const WzT = tf.tensor2d(p.Wz, [H, I]).transpose();
    const WnT = tf.tensor2d(p.Wn, [H, I]).transpose();
    const WyT = tf.tensor2d(p.Wy, [c.O, H]).transpose();
    const bz = tf.tensor1d(p.bz);
    const bn = tf.tensor1d(p.bn);
    const by = tf.tensor1d(p.by);
    const xs = tf.tensor2d(data.x, [T * B, I]); // [T, B, I] flattened: rows t*B + b
    const forward = () =>
      tf.tidy(() => {
        const z = tf.sigmoid(tf.add(tf.matMul(xs, WzT), bz)).reshape([T, B, H]);
        const n = tf.add(tf.matMul(xs, WnT), bn).reshape([T, B, H]);
        const zs = tf.unstack(z);
        const ns = tf.unstack(n);
        let h = tf.zeros([B, H]);
        const hs = [];
        for (let t = 0; t < T; t++) {
          h = tf.add(tf.mul(tf.sub(1, zs[t]), h), tf.mul(zs[t], ns[t]));
          hs.push(h);
        }
        const hAll = tf.stack(hs).reshape([T * B, H]);
        const y = tf.softmax(tf.add(tf.matMul(hAll, WyT), by));
        return [hAll, y];
      });
    return {
      run: async () => {
        const [h, y] = forward();
        const out = { h: await h.data(), y: await y.data() };
        h.dispose();
        y.dispose();
        return out;
      },
      outputs: (r) => r, // already [T, B, N]
      dispose: () => tf.dispose([WzT, WnT, WyT, bz, bn, by, xs, x]),
    };
  }
  const model = tf.sequential();
  model.add(recurrentLayer(c));
  setWeights(model, c, data.params);
  return {
    run: async () => {
      const y = model.predict(x, { batchSize: B });
      const out = await y.data();
      y.dispose();
      return out;
    },
    outputs: (r) => ({ h: swapTB(r, B, T, H) }),
    dispose: () => {
      x.dispose();
      model.dispose();
    },
  };
}

export function backendInfo() {
  return tf ? { backend: tf.getBackend(), version: tf.version.tfjs } : undefined;
}
