// posenet_cls in the browser: BlazePose and the pose classifier on onnxruntime-web (the wasm backend everywhere,
// WebGPU for BlazePose where the browser has it). The page uses this module; so can a developer:
//
//   import { load } from './posenet.js';                 // or, on the page: await window.posenet.ready
//   const posenet = await load();
//   const result = await posenet.classifyImage('photo.jpg');    // the fields of `posenet-cls predict --json`
//   const { landmarks, world } = await posenet.trackFrame(video);  // a video's next frame (tracking mode)
//   const answer = await posenet.classifyLandmarks(landmarks, { world });  // landmarks from elsewhere
//
// Landmarks are 33 x [x, y, z, visibility]; world, BlazePose's world landmarks 33 x [x, y, z] in metres, which a
// model whose metadata has `world` (config.model.world) reads too; other models ignore them.
//
// Everything shared with Python (landmark schema, the model's classes and thresholds, BlazePose's constants,
// joint angles, exercise presets) is read from config.json, written by `posenet-cls export --web`.

import * as ort from './vendor/ort.webgpu.min.mjs';
import { BlazePose } from './blazepose.js';

export const UNKNOWN = 'unknown';
export const LOW_CONFIDENCE = 'low confidence';
export const NOVEL = 'unlike the training poses';

/** The execution provider for BlazePose: 'webgpu' when asked for (or 'auto') and an adapter exists, else 'wasm'. */
async function chooseBackend(wanted) {
  if (wanted === 'wasm') return 'wasm';
  const adapter = globalThis.navigator?.gpu ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  if (adapter) return 'webgpu';
  if (wanted === 'webgpu') throw new Error('WebGPU was asked for, but this browser gives no WebGPU adapter');
  return 'wasm';
}

/** Load config.json, the three networks and onnxruntime-web from `base` (the site's folder URL). */
export async function load({ base = new URL('./', import.meta.url).href, backend = 'auto' } = {}) {
  const response = await fetch(new URL('config.json', base));
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = await response.json();
  ort.env.wasm.wasmPaths = new URL('vendor/', base).href;
  // Threads need cross-origin isolation (COOP/COEP headers), which a plain static server does not send.
  ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  ort.env.logLevel = 'error';
  const chosen = await chooseBackend(backend);
  const open = async (key, providers) => {
    const bytes = await (await fetch(new URL(config.models[key], base))).arrayBuffer();
    return ort.InferenceSession.create(bytes, { executionProviders: providers, graphOptimizationLevel: 'all' });
  };
  let used = chosen;
  let detector, landmark;
  try {
    [detector, landmark] = [await open('detector', [chosen]), await open('landmark', [chosen])];
  } catch (err) {
    if (chosen === 'wasm') throw err;
    used = 'wasm';  // a WebGPU adapter that cannot run the networks: fall back to the CPU
    [detector, landmark] = [await open('detector', ['wasm']), await open('landmark', ['wasm'])];
  }
  const classifier = await open('classifier', ['wasm']);  // tiny, and its novelty branch is an ONNX If
  return new Posenet(config, classifier, new BlazePose(ort, detector, landmark, config), used);
}

export class Posenet {
  /** The classifier session, BlazePose, and config.json; every network call goes through one queue. */
  constructor(config, classifier, blazepose, backend) {
    this.config = config;
    this.model = config.model;
    this.classes = config.model.classes;
    this.classifier = classifier;
    this.blazepose = blazepose;
    this.backend = backend;
    this.queue = Promise.resolve();
  }

  /** Run `job` after every call queued before it (onnxruntime-web sessions must not run concurrently). */
  serial(job) {
    const next = this.queue.then(job, job);
    this.queue = next.catch(() => {});
    return next;
  }

  /**
   * Probabilities (one per class) and novelty (or null) of one raw pose 33 x [x, y, z, visibility]. A model whose
   * metadata has `world` (config.model.world) also reads the pose's world landmarks 33 x [x, y, z] (metres,
   * hip-centred: BlazePose's, as trackFrame and classifyImage give them); other models ignore `world`.
   */
  async scores(landmarks, world = null) {
    const n = this.config.schema.landmarks.length, channels = this.config.schema.channels.length;
    if (!Array.isArray(landmarks) || landmarks.length !== n || landmarks.some((p) => p.length !== channels)) {
      throw new Error(`expected ${n} landmarks x ${channels} values (x, y, z, visibility)`);
    }
    const flat = Float32Array.from(landmarks.flat());
    const feeds = { [this.model.input.name]: new ort.Tensor('float32', flat, [1, n, channels]) };
    const reads = this.model.world;
    if (reads) {
      const [, wn, wc] = reads.shape;
      const expected = `pass world: ${wn} x ${wc} values (x, y, z in metres, BlazePose's world landmarks)`;
      if (world === null || world === undefined) throw new Error(`this model reads world landmarks too; ${expected}`);
      if (!Array.isArray(world) || world.length !== wn || world.some((p) => p?.length !== wc)) {
        const got = Array.isArray(world) ? `${world.length} x ${Array.isArray(world[0]) ? world[0].length : '?'}`
          : typeof world;
        throw new Error(`this model reads world landmarks too; ${expected}, got ${got}`);
      }
      feeds[reads.name] = new ort.Tensor('float32', Float32Array.from(world.flat()), [1, wn, wc]);
    }
    const novelty = this.model.novelty;
    if (novelty) feeds[novelty.flag] = new ort.Tensor('float32', Float32Array.of(1), []);
    const out = await this.serial(() => this.classifier.run(feeds));
    const probabilities = Array.from(out[this.model.output.name].data);
    if (!probabilities.every(Number.isFinite)) throw new Error('the pose gives non-finite probabilities');
    return { probabilities, novelty: novelty ? out[novelty.output].data[0] : null };
  }

  /** The answer for probabilities (raw or smoothed) and novelty: both "unknown" rules, thresholds from the model. */
  decide(probabilities, novelty, threshold = null) {
    let i = 0;
    probabilities.forEach((p, j) => { if (p > probabilities[i]) i = j; });
    const confidence = probabilities[i], best = this.classes[i];
    const limit = threshold ?? this.model.unknown_threshold ?? 0;
    const noveltyLimit = this.model.novelty ? this.model.novelty.threshold : null;
    let label = best, reason = null;
    if (confidence < limit) [label, reason] = [UNKNOWN, LOW_CONFIDENCE];
    else if (novelty !== null && noveltyLimit !== null && novelty > noveltyLimit) [label, reason] = [UNKNOWN, NOVEL];
    return { label, confidence, best, unknown_reason: reason };
  }

  /**
   * Classify landmarks from elsewhere (`world`: their world landmarks, for a model that reads them):
   * {status, label, confidence, best, probabilities, novelty, unknown_reason, landmarks, world}.
   */
  async classifyLandmarks(landmarks, { threshold = null, world = null } = {}) {
    const { probabilities, novelty } = await this.scores(landmarks, world);
    const answer = this.decide(probabilities, novelty, threshold);
    return { status: 'pose', label: answer.label, confidence: answer.confidence, best: answer.best,
             probabilities: Object.fromEntries(this.classes.map((c, i) => [c, probabilities[i]])),
             novelty, unknown_reason: answer.unknown_reason, landmarks, world };
  }

  /** Classify a photo (URL, Blob, <img>, <canvas>, <video>, ImageBitmap or ImageData), as `predict --json` does. */
  async classifyImage(source, { threshold = null } = {}) {
    const name = typeof source === 'string' ? source : (source?.name || source?.src || '<element>');
    let image;
    try {
      image = await toImage(source, this.config.blazepose.max_side);
    } catch (err) {
      return { source: name, status: 'unreadable', reason: String(err.message || err) };
    }
    const found = await this.serial(() => this.blazepose.photo(image));
    if (!found) return { source: name, status: 'no_pose', reason: 'no person found' };
    const result = await this.classifyLandmarks(found.keypoints, { threshold, world: found.world });
    return { source: name, ...result, attempt: found.attempt, width: image.width, height: image.height };
  }

  /**
   * The next frame of a video or webcam (tracking mode): {landmarks 33 x 4, world 33 x 3 (metres), width, height};
   * landmarks and world are null when no person is tracked.
   */
  async trackFrame(source) {
    const image = await toImage(source, this.config.blazepose.max_side);
    const found = await this.serial(() => this.blazepose.frame(image));
    return { landmarks: found ? found.keypoints : null, world: found ? found.world : null,
             width: image.width, height: image.height };
  }

  /** Forget the tracked person (a new video). */
  resetTracking() { this.blazepose.reset(); }
}

const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1) : null;

/** Any image source -> {data: RGBA, width, height}, upright per EXIF, on white, downscaled to `maxSide`. */
export async function toImage(source, maxSide) {
  if (source instanceof ImageData) return source;
  let drawable = source, owned = false;
  if (typeof source === 'string' || source instanceof Blob) {
    let blob = source;
    if (typeof source === 'string') {
      const response = await fetch(source);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      blob = await response.blob();
    }
    drawable = await createImageBitmap(blob, { imageOrientation: 'from-image', colorSpaceConversion: 'none' });
    owned = true;
  } else if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) {
    await source.decode();
  }
  const w0 = drawable.videoWidth || drawable.naturalWidth || drawable.width;
  const h0 = drawable.videoHeight || drawable.naturalHeight || drawable.height;
  if (!w0 || !h0) throw new Error('empty image');
  const scale = Math.max(w0, h0) > maxSide ? maxSide / Math.max(w0, h0) : 1;
  const width = Math.max(1, Math.round(w0 * scale)), height = Math.max(1, Math.round(h0 * scale));
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(drawable, 0, 0, width, height);
  if (owned) drawable.close();
  return ctx.getImageData(0, 0, width, height);
}

/**
 * `window.posenet`: `await posenet.ready` (the loaded Posenet), then `posenet.classifyImage(...)`,
 * `posenet.classifyLandmarks(...)`; `backend` is 'auto' (WebGPU where it exists), 'wasm' or 'webgpu'.
 */
export function install({ backend = 'auto', base } = {}) {
  const ready = load({ backend, base });
  const later = (method) => async (...args) => (await ready)[method](...args);
  globalThis.posenet = { ready, classifyImage: later('classifyImage'), classifyLandmarks: later('classifyLandmarks'),
                         trackFrame: later('trackFrame'), resetTracking: later('resetTracking') };
  return globalThis.posenet;
}

/** The backend asked for in the page's URL (?backend=wasm|webgpu|auto), default auto. */
export function backendFromUrl() {
  return new URLSearchParams(globalThis.location?.search || '').get('backend') || 'auto';
}
