// BlazePose (full) on onnxruntime-web with MediaPipe's pre- and post-processing: a port of the project's numpy
// pipeline (posenet_cls/pose/blazepose: anchors.py, geometry.py, pipeline.py). Every constant comes from
// config.json ("blazepose", "schema"), which `posenet-cls export --web` writes from those Python modules.
//
// An image is {data: RGBA bytes, width, height} (ImageData's layout). A region of interest (ROI) is
// [centre x, centre y, width, height] in pixels of its image and a rotation in radians (clockwise on screen).
// A pose is 33 x [x, y, z, visibility]: x, y normalised to the image, z on the scale of x. World landmarks are
// 33 x [x, y, z] in metres, hip-centred, x to the image's right, y down, z away from the camera (BlazePose's
// pose_world_landmarks, turned by the ROI's rotation as geometry.project_world does).

const sigmoid = (x) => 1 / (1 + Math.exp(-x));

/** Angles wrapped into [-pi, pi), as MediaPipe's NormalizeRadians. */
function normalizeRadians(a) {
  return a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));
}

/** Anchor centres (A x [x, y]) in the detector's output order (SsdAnchorsCalculator, fixed anchor size). */
export function ssdAnchors(size, strides, offset) {
  const out = [];
  let layer = 0;
  while (layer < strides.length) {
    let same = layer;
    while (same < strides.length && strides[same] === strides[layer]) same += 1;
    const perCell = 2 * (same - layer);
    const cells = Math.ceil(size / strides[layer]);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let k = 0; k < perCell; k++) out.push([(x + offset) / cells, (y + offset) / cells]);
      }
    }
    layer = same;
  }
  return out;
}

/** Grow a ROI to the tensor's aspect ratio (letterbox): [padded ROI, padding [left, top, right, bottom]]. */
export function padRoi(roi, outW, outH) {
  const [cx, cy, w, h, rot] = roi;
  const tensorAspect = outH / outW;
  const roiAspect = h / w;
  if (tensorAspect > roiAspect) {
    const v = (1 - roiAspect / tensorAspect) / 2;
    return [[cx, cy, w, w * tensorAspect, rot], [0, v, 0, v]];
  }
  const hz = (1 - tensorAspect / roiAspect) / 2;
  return [[cx, cy, h / tensorAspect, h, rot], [hz, 0, hz, 0]];
}

/**
 * A bilinear crop of the image through a rotated ROI into a float32 NHWC tensor scaled from [0, 255] to [low, high].
 * As ImageToTensor: tensor corners map onto the ROI's corners; outside the image, zero or the replicated edge.
 */
export function cropTensor(image, roi, outW, outH, replicate, low, high, out) {
  const { data, width, height } = image;
  const [cx, cy, w, h, rot] = roi;
  const cos = Math.cos(rot), sin = Math.sin(rot);
  const scale = (high - low) / 255;
  const tensor = out || new Float32Array(outW * outH * 3);
  const px = [0, 0, 0];
  const fetch = (x, y, k) => {
    if (replicate) {
      x = x < 0 ? 0 : x >= width ? width - 1 : x;
      y = y < 0 ? 0 : y >= height ? height - 1 : y;
    } else if (x < 0 || y < 0 || x >= width || y >= height) {
      return 0;
    }
    return data[(y * width + x) * 4 + k];
  };
  let o = 0;
  for (let v = 0; v < outH; v++) {
    const dy = (v / outH - 0.5) * h;
    for (let u = 0; u < outW; u++) {
      const dx = (u / outW - 0.5) * w;
      const sx = cx + cos * dx - sin * dy;
      const sy = cy + sin * dx + cos * dy;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      const inside = x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height;
      for (let k = 0; k < 3; k++) {
        let a, b, c, d;
        if (inside) {
          const i = (y0 * width + x0) * 4 + k;
          a = data[i]; b = data[i + 4]; c = data[i + width * 4]; d = data[i + width * 4 + 4];
        } else {
          a = fetch(x0, y0, k); b = fetch(x0 + 1, y0, k); c = fetch(x0, y0 + 1, k); d = fetch(x0 + 1, y0 + 1, k);
        }
        px[k] = Math.round((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy);
      }
      tensor[o++] = px[0] * scale + low;
      tensor[o++] = px[1] * scale + low;
      tensor[o++] = px[2] * scale + low;
    }
  }
  return tensor;
}

/** Points normalised to a letterboxed tensor -> normalised to the unpadded ROI (in place; z scales as x). */
function removeLetterbox(points, padding) {
  const [left, top, right, bottom] = padding;
  for (const p of points) {
    p[0] = (p[0] - left) / (1 - left - right);
    p[1] = (p[1] - top) / (1 - top - bottom);
    if (p.length > 2) p[2] = p[2] / (1 - left - right);
  }
  return points;
}

/** A ROI from two alignment points normalised to the image: centred on the first, side twice the distance. */
export function alignmentRoi(centre, scalePoint, width, height, targetAngle) {
  const cx = centre[0] * width, cy = centre[1] * height;
  const sx = scalePoint[0] * width, sy = scalePoint[1] * height;
  const side = 2 * Math.hypot(sx - cx, sy - cy);
  const rotation = normalizeRadians(targetAngle - Math.atan2(-(sy - cy), sx - cx));
  return [cx, cy, side, side, rotation];
}

export class OneEuro {
  /** MediaPipe's OneEuroFilter on an array of values sharing one clock (timestamps in microseconds). */
  constructor([minCutoff, beta, derivateCutoff]) {
    Object.assign(this, { minCutoff, beta, derivateCutoff, frequency: 30, lastNs: 0 });
    this.x = new LowPass();
    this.dx = new LowPass();
  }

  alpha(cutoff) {
    const te = 1 / this.frequency, tau = 1 / (2 * Math.PI * cutoff);
    return 1 / (1 + tau / te);
  }

  apply(tUs, valueScale, value) {
    const tNs = tUs * 1000;
    if (this.lastNs >= tNs) return value;
    if (this.lastNs !== 0 && tNs !== 0) this.frequency = 1 / ((tNs - this.lastNs) * 1e-9);
    this.lastNs = tNs;
    const raw = this.x.raw;
    const dvalue = value.map((v, i) => (raw ? (v - raw[i]) * valueScale * this.frequency : 0));
    const edvalue = this.dx.apply(dvalue, this.alpha(this.derivateCutoff));
    const alphas = edvalue.map((e) => this.alpha(this.minCutoff + this.beta * Math.abs(e)));
    return this.x.apply(value, alphas);
  }
}

export class LowPass {
  /** MediaPipe's LowPassFilter on an array of values; the first value passes through. */
  constructor() { this.raw = null; this.stored = null; }

  apply(value, alpha) {
    const stored = this.stored;
    const result = stored ? value.map((v, i) => {
      const a = typeof alpha === 'number' ? alpha : alpha[i];
      return a * v + (1 - a) * stored[i];
    }) : value.slice();
    this.raw = value.slice();
    this.stored = result;
    return result;
  }
}

export class BlazePose {
  /** The detector and landmark networks (onnxruntime-web sessions) and the constants of config.json. */
  constructor(ort, detector, landmark, config) {
    this.ort = ort;
    this.detector = detector;
    this.landmark = landmark;
    this.c = config.blazepose;
    this.schema = config.schema;
    this.anchors = ssdAnchors(this.c.detector_size, this.c.strides, this.c.anchor_offset);
    this.detTensor = new Float32Array(this.c.detector_size ** 2 * 3);
    this.lmTensor = new Float32Array(this.c.landmark_size ** 2 * 3);
    this.reset();
  }

  /** Forget the tracked person: the next frame is searched by the detector. */
  reset() {
    this.roi = null;
    this.tick = 1;
    this.filters = this.newFilters();
  }

  newFilters() {
    return { visibility: new LowPass(), landmarks: new OneEuro(this.c.filter_landmarks),
             world: new OneEuro(this.c.filter_world), aux: new OneEuro(this.c.filter_aux) };
  }

  landmarkRoi(centre, scalePoint, width, height) {
    const roi = alignmentRoi(centre, scalePoint, width, height, this.c.target_angle);
    const side = Math.max(roi[2], roi[3]) * this.c.roi_scale;
    return [roi[0], roi[1], side, side, roi[4]];
  }

  /** The landmark network's ROI from the detector's best detection, or null when nobody is found. */
  async detect(image) {
    const c = this.c, size = c.detector_size;
    const [padded, padding] = padRoi([image.width / 2, image.height / 2, image.width, image.height, 0], size, size);
    cropTensor(image, padded, size, size, false, -1, 1, this.detTensor);
    const feeds = { [c.input]: new this.ort.Tensor('float32', this.detTensor, [1, size, size, 3]) };
    const out = await this.detector.run(feeds);
    const boxes = out[c.detector_outputs[0]].data, logits = out[c.detector_outputs[1]].data;
    const candidates = [];
    for (let a = 0; a < this.anchors.length; a++) {
      const x = Math.min(Math.max(logits[a], -c.score_clip), c.score_clip);
      const score = sigmoid(x);
      if (score < c.min_confidence) continue;
      const r = boxes.subarray(a * c.box_coords, (a + 1) * c.box_coords), [ax, ay] = this.anchors[a];
      const bx = r[0] / size + ax, by = r[1] / size + ay, hw = r[2] / size / 2, hh = r[3] / size / 2;
      const row = [bx - hw, by - hh, bx + hw, by + hh];
      for (let k = 0; k < c.num_keypoints; k++) row.push(r[4 + 2 * k] / size + ax, r[5 + 2 * k] / size + ay);
      if (row[2] >= row[0] && row[3] >= row[1]) candidates.push({ row, score });
    }
    if (!candidates.length) return null;
    const merged = this.weightedNms(candidates);
    const keypoints = removeLetterbox([[merged[4], merged[5]], [merged[6], merged[7]]], padding);
    return this.landmarkRoi(keypoints[0], keypoints[1], image.width, image.height);
  }

  /** The first detection of MediaPipe's weighted NMS: the top box averaged with its overlaps, weighted by score. */
  weightedNms(candidates) {
    let top = candidates[0];
    for (const cand of candidates) if (cand.score > top.score) top = cand;
    const t = top.row, area = (t[2] - t[0]) * (t[3] - t[1]);
    const merged = new Array(t.length).fill(0);
    let total = 0;
    for (const cand of candidates) {
      const b = cand.row;
      const ix = Math.min(b[2], t[2]) - Math.max(b[0], t[0]), iy = Math.min(b[3], t[3]) - Math.max(b[1], t[1]);
      const inter = ix >= 0 && iy >= 0 ? ix * iy : 0;
      const union = (b[2] - b[0]) * (b[3] - b[1]) + area - inter;
      if (cand !== top && !(union > 0 && inter / union > this.c.nms_iou)) continue;
      for (let i = 0; i < b.length; i++) merged[i] += b[i] * cand.score;
      total += cand.score;
    }
    return merged.map((v) => v / total);
  }

  /** The landmark network on a ROI: {points (39 x [x, y, z, visibility, presence]) on the image, world, ok}. */
  async landmarks(image, roi) {
    const c = this.c, size = c.landmark_size;
    const [padded, padding] = padRoi(roi, size, size);
    cropTensor(image, padded, size, size, true, 0, 1, this.lmTensor);
    const feeds = { [c.input]: new this.ort.Tensor('float32', this.lmTensor, [1, size, size, 3]) };
    const out = await this.landmark.run(feeds);
    const [rawName, presenceName, heatmapName, worldName] = c.landmark_outputs;
    const raw = out[rawName].data, heatmap = out[heatmapName], worldRaw = out[worldName].data;
    const presence = out[presenceName].data[0];
    const points = [];
    for (let i = 0; i < c.num_points; i++) {
      const r = raw.subarray(i * c.num_values, (i + 1) * c.num_values);
      points.push([r[0] / size, r[1] / size, r[2] / size, sigmoid(r[3]), sigmoid(r[4])]);
    }
    this.refine(points, heatmap.data, heatmap.dims[1], heatmap.dims[2], heatmap.dims[3]);
    removeLetterbox(points, padding);
    const [cx, cy, w, h, rot] = roi, cos = Math.cos(rot), sin = Math.sin(rot);
    const W = image.width, H = image.height;
    let finite = true;
    for (const p of points) {
      const x = p[0] - 0.5, y = p[1] - 0.5;
      p[0] = (cos * x - sin * y) * (w / W) + cx / W;
      p[1] = (sin * x + cos * y) * (h / H) + cy / H;
      p[2] = p[2] * (w / W);
    }
    const n = this.schema.landmarks.length;
    for (let i = 0; i < n; i++) finite = finite && Number.isFinite(points[i][0]) && Number.isFinite(points[i][1]);
    const world = [];
    for (let i = 0; i < n; i++) {
      const [x, y, z] = worldRaw.subarray(i * 3, i * 3 + 3);
      world.push([cos * x - sin * y, sin * x + cos * y, z]);
    }
    return { points, world, ok: presence > c.min_confidence && finite };
  }

  /** RefineLandmarksFromHeatmap: x, y to the sigmoid-weighted mean of a kernel x kernel window (in place). */
  refine(points, hm, hmH, hmW, k) {
    const half = (this.c.heatmap_kernel - 1) >> 1;
    points.forEach((p, j) => {
      if (j >= k) return;
      const col = Math.trunc(p[0] * hmW), row = Math.trunc(p[1] * hmH);
      if (!(col >= 0 && col < hmW && row >= 0)) return;
      let total = 0, top = 0, wrow = 0, wcol = 0;
      for (let r = row - half; r <= row + half; r++) {
        if (r < 0 || r >= hmH) continue;
        for (let q = col - half; q <= col + half; q++) {
          if (q < 0 || q >= hmW) continue;
          const conf = sigmoid(hm[(r * hmW + q) * k + j]);
          total += conf; top = Math.max(top, conf); wrow += conf * r; wcol += conf * q;
        }
      }
      if (top >= this.c.heatmap_min_confidence && total > 0) {
        p[0] = wcol / hmW / total;
        p[1] = wrow / hmH / total;
      }
    });
  }

  /** Static mode on one image: {keypoints (33 x 4), world (33 x 3)} or null. */
  async still(image) {
    const roi = await this.detect(image);
    if (!roi) return null;
    const { points, world, ok } = await this.landmarks(image, roi);
    return ok ? { keypoints: points.slice(0, this.schema.landmarks.length).map((p) => p.slice(0, 4)), world } : null;
  }

  /** The pose in a photo, retried padded to a square, mirrored and turned as Python's predict does
   * (pose.common.photos_with_retries): {keypoints, world, attempt} or null. */
  async photo(image) {
    for (const attempt of this.c.attempts) {
      if (attempt === 'turned') {
        const found = await this.turned(image);
        if (found) return { ...found, attempt };
        continue;
      }
      const pad = attempt.includes('pad'), mirror = attempt.includes('mirror');
      let input = image, frame = null;
      if (pad) [input, frame] = padToSquare(image, this.c.pad_margin);
      if (mirror) input = mirrored(input);
      const found = await this.still(input);
      if (!found) continue;
      let { keypoints, world } = found;
      if (mirror) {  // a mirror's mirror is the original: x flipped (negated in metres), left and right swapped back
        keypoints = this.schema.mirror.map((i) => [1 - keypoints[i][0], ...keypoints[i].slice(1)]);
        world = this.schema.mirror.map((i) => [-world[i][0], world[i][1], world[i][2]]);
      }
      if (pad) keypoints = unpadded(keypoints, frame, image);  // world landmarks are in metres: padding leaves them
      return { keypoints, world, attempt };
    }
    return null;
  }

  /** The "turned" attempt (pose.common._turned): the padded photo a quarter turn either way, so that a body lying
   * or reaching sideways stands up for the detector; kept only when both turns find the same pose. The keypoints
   * are the two turns' mean; the world landmarks those of the first turn, turned back (pose.common.unturn). */
  async turned(image) {
    const [square, frame] = padToSquare(image, this.c.pad_margin);
    const found = [];
    for (const turns of [1, 3]) {
      const pose = await this.still(rotated(square, turns));
      if (!pose) return null;
      const unturned = pose.keypoints.map(([x, y, z, v]) => [...(turns === 1 ? [1 - y, x] : [y, 1 - x]), z, v]);
      const world = pose.world.map(([x, y, z]) => [...(turns === 1 ? [-y, x] : [y, -x]), z]);
      found.push({ keypoints: unpadded(unturned, frame, image), world });
    }
    const [a, b] = found.map((f) => f.keypoints);
    const gaps = a.flatMap((p, i) => [Math.abs(p[0] - b[i][0]), Math.abs(p[1] - b[i][1])]);
    if (median(gaps) >= this.c.turn_agreement) return null;
    return { keypoints: a.map((p, i) => p.map((value, j) => (value + b[i][j]) / 2)), world: found[0].world };
  }

  /** Tracking mode: the next frame of a sequence; {keypoints (33 x 4), world (33 x 3)}, both filtered, or null when
   * no person is tracked. */
  async frame(image) {
    this.tick += 1;
    const tUs = this.tick * this.c.frame_us;
    if (!this.roi) {
      this.roi = await this.detect(image);
      if (!this.roi) return this.lost();
    }
    const { points, world, ok } = await this.landmarks(image, this.roi);
    if (!ok) return this.lost();
    const n = this.schema.landmarks.length, [a0, a1] = this.c.aux_points;
    const W = image.width, H = image.height, f = this.filters;
    const keypoints = points.slice(0, n).map((p) => p.slice(0, 4));
    const aux = points.slice(a0, a1).map((p) => p.slice(0, 4));
    const scaleRoi = alignmentRoi(aux[0], aux[1], W, H, this.c.target_angle);
    const objectScale = (scaleRoi[2] + scaleRoi[3]) / 2;
    const vis = f.visibility.apply(keypoints.map((p) => p[3]), this.c.visibility_alpha);
    keypoints.forEach((p, i) => { p[3] = vis[i]; });
    if (objectScale >= 1e-6) {
      const smooth = (filter, pts) => {
        const flat = filter.apply(tUs, 1 / objectScale, pts.flatMap((p) => [p[0] * W, p[1] * H, p[2] * W]));
        pts.forEach((p, i) => { p[0] = flat[3 * i] / W; p[1] = flat[3 * i + 1] / H; p[2] = flat[3 * i + 2] / W; });
      };
      smooth(f.landmarks, keypoints);
      smooth(f.aux, aux);
    }
    const flat = f.world.apply(tUs, 1, world.flat());
    this.roi = this.landmarkRoi(aux[0], aux[1], W, H);
    return { keypoints, world: world.map((_, i) => flat.slice(3 * i, 3 * i + 3)) };
  }

  lost() {
    this.roi = null;
    this.filters.landmarks = new OneEuro(this.c.filter_landmarks);
    this.filters.aux = new OneEuro(this.c.filter_aux);
    return null;
  }
}

/** The image centred on a black square `margin` larger on each side: [image, [side, x0, y0]]. */
function padToSquare(image, margin) {
  const { width: w, height: h } = image;
  const side = Math.round(Math.max(w, h) * (1 + 2 * margin));
  const x0 = (side - w) >> 1, y0 = (side - h) >> 1;
  const data = new Uint8ClampedArray(side * side * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  for (let y = 0; y < h; y++) data.set(image.data.subarray(y * w * 4, (y + 1) * w * 4), ((y0 + y) * side + x0) * 4);
  return [{ data, width: side, height: side }, [side, x0, y0]];
}

/** Landmarks found on the padded square ``frame`` ([side, x0, y0]) of ``image``, mapped back to ``image``. */
function unpadded(keypoints, [side, x0, y0], image) {
  return keypoints.map(([x, y, z, v]) => [(x * side - x0) / image.width, (y * side - y0) / image.height,
    z * side / image.width, v]);
}

/** A square image turned a quarter ``turns`` (1 or 3) times counter-clockwise, as numpy's rot90. */
function rotated(image, turns) {
  const n = image.width;
  const src = new Uint32Array(image.data.buffer, image.data.byteOffset, n * n);
  const data = new Uint8ClampedArray(n * n * 4), dst = new Uint32Array(data.buffer);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) dst[y * n + x] = turns === 1 ? src[x * n + (n - 1 - y)] : src[(n - 1 - x) * n + y];
  }
  return { data, width: n, height: n };
}

/** The median of numbers, as numpy's (the mean of the middle two of an even count). */
function median(values) {
  const v = [...values].sort((p, q) => p - q), m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** The image flipped left to right. */
function mirrored(image) {
  const { width: w, height: h } = image;
  const src = new Uint32Array(image.data.buffer, image.data.byteOffset, w * h);
  const data = new Uint8ClampedArray(w * h * 4), dst = new Uint32Array(data.buffer);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) dst[y * w + x] = src[y * w + (w - 1 - x)];
  return { data, width: w, height: h };
}
