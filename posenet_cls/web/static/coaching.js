// Over time: probability smoothing, joint angles, and the exercise presets' repetition counter and hold timer.
// A port of posenet_cls/coaching (temporal.py, angles.py, exercises.py); angle definitions by landmark index,
// the presets and the default window come from config.json ("coaching"). Times are in seconds.

/** Exponential moving average with time constant `windowS`; a gap longer than the window starts afresh. */
export class Smoother {
  constructor(windowS) { this.windowS = windowS; this.state = null; this.t = null; }

  update(t, values) {
    if (values === null) {
      if (this.t !== null && t - this.t > this.windowS) this.state = null;
      return null;
    }
    if (this.state === null || this.t === null || this.windowS === 0 || t - this.t > this.windowS) {
      this.state = values.slice();
    } else {
      const alpha = 1 - Math.exp(-Math.max(t - this.t, 1e-6) / this.windowS);
      this.state = this.state.map((s, i) => s + alpha * (values[i] - s));
    }
    this.t = t;
    return this.state.slice();
  }
}

/** Angle in degrees between 2D vectors u and v; NaN when either has zero length. */
function between(u, v) {
  const nu = Math.hypot(...u), nv = Math.hypot(...v);
  const cos = (u[0] * v[0] + u[1] * v[1]) / (nu * nv);
  return (Math.acos(Math.min(1, Math.max(-1, cos))) * 180) / Math.PI;
}

/** Every named 2D joint angle (degrees) of a pose 33 x 4; `aspect` is the image's width / height. */
export function jointAngles(pose, aspect, coaching) {
  const p = pose.map(([x, y]) => [x * aspect, y]);
  const out = {};
  for (const [name, [a, b, c]] of Object.entries(coaching.angles)) {
    out[name] = between([p[a][0] - p[b][0], p[a][1] - p[b][1]], [p[c][0] - p[b][0], p[c][1] - p[b][1]]);
  }
  const mid = (ids) => [0, 1].map((k) => ids.reduce((s, i) => s + p[i][k], 0) / ids.length);
  const s = mid(coaching.shoulders), h = mid(coaching.hips);
  out[coaching.trunk_lean] = between([s[0] - h[0], s[1] - h[1]], [0, -1]);
  return out;
}

/** Per angle, the minimum visibility of the landmarks it is measured from. */
export function angleVisibility(pose, coaching) {
  const out = {};
  for (const [name, ids] of Object.entries(coaching.angles)) out[name] = Math.min(...ids.map((i) => pose[i][3]));
  out[coaching.trunk_lean] = Math.min(...[...coaching.shoulders, ...coaching.hips].map((i) => pose[i][3]));
  return out;
}

/**
 * Counts up -> down -> up cycles of a signal with hysteresis and minimum phase times (temporal.RepCounter).
 * `update` returns the rep completed at that frame ({index, start_s, bottom_s, end_s, time_down_s, time_up_s}).
 */
export class RepCounter {
  /** `expectedPeriod`: a function giving the movement's period in seconds, or null where unknown. */
  constructor({ up, down, min_phase_s: minPhase, max_gap_s: maxGap, min_period_frac: minPeriodFrac = 0 },
    expectedPeriod = null) {
    Object.assign(this, { up, down, minPhase, maxGap, minPeriodFrac, expectedPeriod, count: 0, phase: null,
      candidate: null, since: 0, last: null, lastEnd: null, periods: [], leftUp: 0, downSince: 0, downUntil: 0 });
  }

  zone(value) {
    const sign = this.up > this.down ? 1 : -1;
    if (sign * (value - this.up) >= 0) return 'up';
    if (sign * (value - this.down) <= 0) return 'down';
    return null;
  }

  update(t, value, valid = true) {
    if (!valid || value === null || !Number.isFinite(value)) {
      if (this.last !== null && t - this.last > this.maxGap) this.phase = this.candidate = null;
      return null;
    }
    this.last = t;
    const zone = this.zone(value);
    if (zone !== this.candidate) {
      if (this.phase === 'up' && this.candidate === 'up') this.leftUp = t;
      if (this.phase === 'down' && this.candidate === 'down') this.downUntil = t;
      [this.candidate, this.since] = [zone, t];
    }
    if (zone === null || zone === this.phase || t - this.since < this.minPhase) return null;
    const previous = this.phase;
    this.phase = zone;
    if (zone === 'down') {
      if (previous === null) this.phase = null;  // started at the bottom: wait for a real 'up'
      else this.downSince = this.since;
      return null;
    }
    if (previous !== 'down') {
      this.leftUp = t;
      return null;
    }
    if (this.tooShort(t)) return null;
    if (this.lastEnd !== null) this.periods.push(t - this.lastEnd);
    this.lastEnd = t;
    this.count += 1;
    const r3 = (v) => Math.round(v * 1000) / 1000;
    return { index: this.count, start_s: r3(this.leftUp), bottom_s: r3(this.downSince), end_s: r3(this.since),
      time_down_s: r3(this.downUntil - this.downSince), time_up_s: r3(this.since - this.downUntil) };
  }

  /** A cycle ending at t much shorter than the expected period, else the recent reps' median one (min_period_frac). */
  tooShort(t) {
    if (!this.minPeriodFrac || this.lastEnd === null) return false;
    const expected = this.expectedPeriod ? this.expectedPeriod() : null;
    if (expected !== null) return t - this.lastEnd < this.minPeriodFrac * expected;
    if (!this.periods.length) return false;
    const recent = this.periods.slice(-5).sort((a, b) => a - b), m = recent.length >> 1;
    const median = recent.length % 2 ? recent[m] : (recent[m - 1] + recent[m]) / 2;
    return t - this.lastEnd < this.minPeriodFrac * median;
  }
}

/** How long a condition holds; flickers up to `tolerance` seconds do not break a hold (temporal.HoldTimer). */
export class HoldTimer {
  constructor(tolerance) { Object.assign(this, { tolerance, start: null, lastOn: null, longest: 0 }); }

  update(t, active) {
    if (active) {
      if (this.start === null || (this.lastOn !== null && t - this.lastOn > this.tolerance)) this.start = t;
      this.lastOn = t;
      this.longest = Math.max(this.longest, t - this.start);
      return t - this.start;
    }
    if (this.lastOn !== null && t - this.lastOn > this.tolerance) this.start = this.lastOn = null;
    return 0;
  }
}

/** Signed degrees of the hip off the shoulder-ankle line (form.body_line, 2D): + sagging (toward +y), - piked. */
export function bodyLine(pose, aspect, [s, h, a]) {
  const p = (i) => [pose[i][0] * aspect, pose[i][1]];
  const [S, H, A] = [p(s), p(h), p(a)];
  const bend = 180 - between([S[0] - H[0], S[1] - H[1]], [A[0] - H[0], A[1] - H[1]]);
  const line = [A[0] - S[0], A[1] - S[1]], k = line[1] / (line[0] * line[0] + line[1] * line[1]);
  const across = [-k * line[0], 1 - k * line[1]];  // 'down', square to the line
  return Math.sign((H[0] - S[0]) * across[0] + (H[1] - S[1]) * across[1]) < 0 ? -bend : bend;
}

const TOP_WINDOW_S = 2.0, BUFFER_S = 30.0;

/** form.FormRecorder: each frame's check measures, judged per rep (`rep`), over a hold (`span`) or alone (`still`). */
export class FormRecorder {
  constructor(exercise, coaching) {
    Object.assign(this, { checks: exercise.checks, side: exercise.side, floor: exercise.min_visibility,
      coaching, frames: [], lastEnd: null, downIsSmaller: exercise.kind !== 'reps' || exercise.down < exercise.up });
    const names = new Set();
    for (const c of this.checks) if (c.angle) this.sideNames(c.angle, 'both').forEach((n) => names.add(n));
    this.names = [...names].sort();  // the browser has no world landmarks: every check is measured in the image
    this.smoother = new Smoother(exercise.smooth_s);
  }

  sideNames(angle, side) {
    if (!this.coaching.base_names.includes(angle) && angle !== this.coaching.body_line) return [angle];
    return side === 'left' || side === 'right' ? [`${side}_${angle}`] : [`left_${angle}`, `right_${angle}`];
  }

  update(t, pose, aspect, signal) {
    const values = Object.fromEntries(this.checks.map((c) => [c.name, null]));
    let smoothed = null;
    if (pose && this.names.length) {
      const angles = jointAngles(pose, aspect, this.coaching), vis = angleVisibility(pose, this.coaching);
      for (const [name, ids] of Object.entries(this.coaching.body_lines)) {
        angles[name] = bodyLine(pose, aspect, ids);
        vis[name] = Math.min(...ids.map((i) => pose[i][3]));
      }
      const vector = this.names.map((n) => angles[n]);
      const out = this.smoother.update(t, vector.every(Number.isFinite) ? vector : null);
      if (out) smoothed = { values: Object.fromEntries(this.names.map((n, i) => [n, out[i]])), vis };
    } else {
      this.smoother.update(t, null);
    }
    for (const c of smoothed ? this.checks : []) {
      if (!c.angle) continue;
      const names = this.sideNames(c.angle, c.kind === 'asymmetry' ? 'both' : this.side);
      const sided = names.map((n) => smoothed.values[n]), seen = names.map((n) => smoothed.vis[n] ?? 0);
      if (c.kind === 'asymmetry') {
        values[c.name] = sided.length === 2 && Math.min(...seen) >= this.floor ? Math.abs(sided[0] - sided[1]) : null;
      } else {
        values[c.name] = this.combine(sided, seen, c);
      }
    }
    this.frames.push({ t, signal, values });
    while (this.frames.length && this.frames[0].t < t - BUFFER_S) this.frames.shift();
  }

  combine(values, vis, check) {
    if (this.side === 'best') {
      const i = vis.indexOf(Math.max(...vis));
      return vis[i] >= this.floor && Number.isFinite(values[i]) ? values[i] : null;
    }
    const seen = values.filter((v, i) => vis[i] >= this.floor && Number.isFinite(v));
    if (!seen.length) return null;
    if (this.side === 'deeper') {
      if (check.kind === 'range') {  // nearest its range
        const lo = check.low ?? -Infinity, hi = check.high ?? Infinity, off = (v) => Math.max(lo - v, 0, v - hi);
        return seen.reduce((a, b) => (off(b) < off(a) ? b : a));
      }
      return this.downIsSmaller ? Math.min(...seen) : Math.max(...seen);
    }
    if (this.side === 'min') return Math.min(...seen);
    if (this.side === 'max') return Math.max(...seen);
    return seen.reduce((a, b) => a + b, 0) / seen.length;
  }

  rep(rep) {
    const inside = this.frames.filter((f) => rep.start_s <= f.t && f.t <= rep.end_s);
    const extreme = (frames, smaller) => frames.filter((f) => f.signal !== null)
      .reduce((a, b) => (a === null || (smaller ? b.signal < a.signal : b.signal > a.signal) ? b : a), null);
    const bottom = extreme(inside, this.downIsSmaller);
    const since = Math.max(rep.start_s - TOP_WINDOW_S, this.lastEnd ?? -Infinity);
    const top = extreme(this.frames.filter((f) => since <= f.t && f.t <= rep.start_s), !this.downIsSmaller);
    this.lastEnd = rep.end_s;
    const values = {};
    for (const c of this.checks) {
      if (c.kind === 'tempo') {
        values[c.name] = { down: rep.time_down_s, up: rep.time_up_s, rep: Math.round((rep.end_s - rep.start_s) * 1000) / 1000 }[c.phase];
      } else if (c.kind === 'bottom' || c.kind === 'asymmetry') {
        values[c.name] = bottom ? bottom.values[c.name] : null;
      } else if (c.kind === 'top') {
        values[c.name] = top ? top.values[c.name] : null;
      } else {
        values[c.name] = extent(inside.map((f) => f.values[c.name]));
      }
    }
    return verdict(this.checks, values);
  }

  span(start, end) {
    const inside = this.frames.filter((f) => start <= f.t && f.t <= end);
    const checks = this.checks.filter((c) => c.kind === 'range');
    return verdict(checks, Object.fromEntries(checks.map((c) => [c.name, extent(inside.map((f) => f.values[c.name]))])));
  }

  still(phase) {
    const last = this.frames.length ? this.frames[this.frames.length - 1].values : {};
    const judged = { range: true, bottom: phase === 'down', asymmetry: phase === 'down', top: phase === 'up' };
    const checks = this.checks.filter((c) => judged[c.kind]);
    return verdict(checks, Object.fromEntries(checks.map((c) => [c.name, last[c.name] ?? null])));
  }
}

function extent(values) {
  const seen = values.filter((v) => v !== null);
  return seen.length ? [Math.min(...seen), Math.max(...seen)] : null;
}

/** form.verdict: {values, faults, messages}; a value not measured is no fault. */
export function verdict(checks, values) {
  const passes = (c, v) => {
    if (v === null || v === undefined) return true;
    const [lo, hi] = Array.isArray(v) ? v : [v, v];
    return (c.low === null || lo >= c.low) && (c.high === null || hi <= c.high);
  };
  const faults = checks.filter((c) => !passes(c, values[c.name]));
  return { values, faults: faults.map((c) => c.name), messages: faults.map((c) => c.message) };
}

/** form.form_text: 'good form' or the faults' messages. */
export function formText(result) {
  return result.messages.length ? result.messages.join('; ') : 'good form';
}

/** One exercise preset (config.json's coaching.exercises entry) fed frame by frame: reps or the current hold. */
export class ExerciseTracker {
  constructor(exercise, coaching) {
    this.ex = exercise;
    this.coaching = coaching;
    this.auto = exercise.kind === 'auto' ? new AutoCounter(coaching.auto, coaching) : null;
    this.counter = exercise.kind === 'reps' ? new RepCounter(exercise) : null;
    this.timer = exercise.kind === 'hold' ? new HoldTimer(coaching.hold_tolerance_s) : null;
    this.smoother = new Smoother(exercise.smooth_s);
    this.form = exercise.checks && exercise.checks.length ? new FormRecorder(exercise, coaching) : null;
    const names = new Set();
    for (const [angle] of [...exercise.hold, ...exercise.when]) this.names(angle).forEach((n) => names.add(n));
    if (exercise.angle) this.names(exercise.angle).forEach((n) => names.add(n));
    this.needed = [...names].sort();
    this.holdS = 0;
  }

  get reps() { return this.auto ? this.auto.count : this.counter ? this.counter.count : 0; }

  /** The concrete angles an exercise's angle means: one, or a left/right pair. */
  names(angle) {
    if (!this.coaching.base_names.includes(angle)) return [angle];
    const side = this.ex.side;
    return side === 'left' || side === 'right' ? [`${side}_${angle}`] : [`left_${angle}`, `right_${angle}`];
  }

  /** One number from a left/right pair under the exercise's side rule; `cost` picks the 'deeper' side. */
  value(angle, smoothed, visibility, cost) {
    const names = this.names(angle), side = this.ex.side, floor = this.ex.min_visibility;
    const values = names.map((n) => smoothed[n]), vis = names.map((n) => visibility[n]);
    if (side === 'best') {
      const i = vis.indexOf(Math.max(...vis));
      return vis[i] >= floor ? values[i] : null;
    }
    const seen = values.filter((v, i) => vis[i] >= floor && Number.isFinite(v));
    if (!seen.length) return null;
    if (side === 'deeper') return seen.reduce((a, b) => (cost(b) < cost(a) ? b : a));
    if (side === 'min') return Math.min(...seen);
    if (side === 'max') return Math.max(...seen);
    return seen.reduce((a, b) => a + b, 0) / seen.length;
  }

  /** Feed one frame's pose (33 x 4) or null (no person) at time `t`; `aspect` is width / height. */
  update(t, pose, aspect) {
    if (this.auto) return { ...this.auto.update(t, pose, aspect), holdS: 0, phase: this.auto.counters[0][1].phase, form: null };
    const ex = this.ex;
    let smoothed = null, signal = null, valid = false;
    if (pose) {
      const angles = jointAngles(pose, aspect, this.coaching);
      const vector = this.needed.map((n) => angles[n]);
      const out = this.smoother.update(t, vector.every(Number.isFinite) ? vector : null);
      if (out) smoothed = Object.fromEntries(this.needed.map((n, i) => [n, out[i]]));
    } else {
      this.smoother.update(t, null);
    }
    if (smoothed) {
      const visibility = angleVisibility(pose, this.coaching);
      const outside = (lo, hi) => (v) => Math.max(lo - v, 0, v - hi);
      const met = (conds) => conds.every(([a, lo, hi]) => {
        const v = this.value(a, smoothed, visibility, outside(lo, hi));
        return v !== null && lo <= v && v <= hi;
      });
      valid = met(ex.when);
      if (ex.kind === 'hold') {
        valid = valid && met(ex.hold);
      } else {
        const sign = ex.down > ex.up ? 1 : -1;
        signal = this.value(ex.angle, smoothed, visibility, (v) => -sign * v);
        valid = valid && signal !== null;
      }
    }
    if (this.form) this.form.update(t, pose, aspect, valid ? signal : null);
    let phase = null, form = null;
    if (this.counter) {
      const rep = this.counter.update(t, signal, valid);
      phase = this.counter.phase;
      if (rep && this.form) form = { rep: rep.index, ...this.form.rep(rep) };
    }
    if (this.timer) {
      this.holdS = this.timer.update(t, valid);
      phase = this.holdS > 0 ? 'holding' : null;
      if (this.holdS > 0 && this.form) form = this.form.span(Math.max(t - 1, t - this.holdS), t);
    }
    return { signal, valid, reps: this.reps, holdS: this.holdS, phase, form };
  }

  /** The exercise in one photo (exercises.exercise_photo): its phase and the checks one frame can judge. */
  photo(pose, aspect) {
    const state = this.update(0, pose, aspect);
    let phase = null;
    if (this.ex.kind === 'reps' && state.valid && state.signal !== null) phase = this.counter.zone(state.signal);
    else if (this.ex.kind === 'hold' && state.valid) phase = 'holding';
    const judged = this.form && state.valid ? this.form.still(phase) : { values: {}, faults: [], messages: [] };
    return { exercise: this.ex.name, kind: this.ex.kind, phase, ...judged };
  }
}

/** numpy.percentile (linear interpolation) of an array, q in 0..100. */
function percentile(values, q) {
  const v = Float64Array.from(values).sort(), pos = (q / 100) * (v.length - 1), lo = Math.floor(pos);
  return lo + 1 < v.length ? v[lo] + (v[lo + 1] - v[lo]) * (pos - lo) : v[lo];
}

/** The eigenvector of the largest eigenvalue of a symmetric n x n matrix (arrays of rows). */
function topEigenvector(a) { return eigenvectors(a, 1)[0]; }

/** The eigenvectors of the k largest eigenvalues of a symmetric n x n matrix, largest first (cyclic Jacobi). */
function eigenvectors(a, k) {
  const n = a.length, m = a.map((row) => Float64Array.from(row));
  const v = Array.from({ length: n }, (_, i) => Float64Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p][q] * m[p][q];
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(m[p][q]) < 1e-300) continue;
        const theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {  // columns p, q
          const mkp = m[k][p], mkq = m[k][q];
          m[k][p] = c * mkp - s * mkq; m[k][q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {  // rows p, q
          const mpk = m[p][k], mqk = m[q][k];
          m[p][k] = c * mpk - s * mqk; m[q][k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq; v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j][j] - m[i][i]);
  return order.slice(0, k).map((best) => v.map((row) => row[best]));
}

/** The d x d scatter matrix (sum of r r^T) of centred rows of length d. */
function scatter(centred, d) {
  return Array.from({ length: d }, (_, i) =>
    Array.from({ length: d }, (_, j) => centred.reduce((s, r) => s + r[i] * r[j], 0)));
}

/** Unbiased, normalised autocorrelation of each column of x (n rows of k), lags 0..lags-1 (clip._autocorrelation). */
function autocorrelation(x, lags) {
  const n = x.length, k = x[0].length;
  const mean = Array.from({ length: k }, (_, j) => x.reduce((s, r) => s + r[j], 0) / n);
  const c = x.map((r) => r.map((v, j) => v - mean[j]));
  const out = [];
  for (let lag = 0; lag < lags; lag++) {
    const row = new Float64Array(k);
    for (let i = 0; i + lag < n; i++) for (let j = 0; j < k; j++) row[j] += c[i][j] * c[i + lag][j];
    out.push(row.map((v) => v / (n - lag)));
  }
  return out.map((row) => row.map((v, j) => v / Math.max(out[0][j], 1e-12)));
}

/** The period of components z (n rows of k) in frames and their mean autocorrelation there, or null
 * (clip.periodicity with the file counter's settings, `cfg`: min_period_s, max_period_s, min_cycles, peak_share). */
function periodicity(z, fps, cfg) {
  const lags = Math.min(Math.floor(cfg.max_period_s * fps), Math.floor(z.length / cfg.min_cycles));
  const low = Math.ceil(cfg.min_period_s * fps);
  if (lags <= low + 2) return null;
  const each = autocorrelation(z, lags), k = z[0].length;
  const mean = each.map((row) => row.reduce((s, v) => s + v, 0) / k);
  const variance = Array.from({ length: k }, (_, j) => z.reduce((s, r) => s + r[j] * r[j], 0) / z.length
    - (z.reduce((s, r) => s + r[j], 0) / z.length) ** 2);
  const total = Math.max(variance.reduce((s, v) => s + v, 0), 1e-12);
  const whole = each.map((row) => row.reduce((s, v, j) => s + v * variance[j], 0) / total);
  const peaks = [];  // scipy.signal.find_peaks(mean, height=0): local maxima (a plateau's middle)
  for (let i = 1; i < lags - 1; i++) {
    if (!(mean[i - 1] < mean[i])) continue;
    let j = i;
    while (j + 1 < lags - 1 && mean[j + 1] === mean[i]) j++;
    if (mean[j + 1] < mean[i] && mean[i] >= 0) {
      const p = (i + j) >> 1;
      if (p >= low && whole[p] > 0) peaks.push(p);
    }
    i = j;
  }
  if (!peaks.length) return null;
  const best = Math.max(...peaks.map((p) => mean[p]));
  const period = peaks.find((p) => mean[p] >= cfg.peak_share * best);
  return [period, mean[period]];
}

/** The rep counter of `--exercise auto` (posenet_cls/coaching/auto.py): cycles of the dominant movement, online. */
export class AutoCounter {
  constructor(cfg, coaching) {
    this.cfg = cfg;
    this.coaching = coaching;
    this.times = []; this.features = []; this.direction = null; this.first = null; this.last = null;
    this.warm = false; this.drift = null;
    const counter = { up: cfg.hysteresis, down: -cfg.hysteresis, min_phase_s: cfg.min_phase_s,
      max_gap_s: cfg.max_gap_s, min_period_frac: cfg.min_period_frac };
    const period = () => this.windowPeriod();
    this.counters = [[1, new RepCounter(counter, period)], [-1, new RepCounter(counter, period)]];  // until one settles
  }

  get count() { return this.counters[0][1].count; }

  /** The window's period in seconds from its first principal components' autocorrelation, or null (auto.py). */
  windowPeriod() {
    const cfg = this.cfg, n = this.features.length;
    if (n < 10) return null;
    const fps = (n - 1) / Math.max(this.times[n - 1] - this.times[0], 1e-6), d = this.features[0].length;
    const mean = Array.from({ length: d }, (_, j) => this.features.reduce((s, f) => s + f[j], 0) / n);
    const centred = this.features.map((f) => f.map((v, j) => v - mean[j]));
    const cov = scatter(centred, d);
    const dirs = eigenvectors(cov, cfg.period_components);
    const z = centred.map((r) => dirs.map((dir) => r.reduce((s, v, i) => s + v * dir[i], 0)));
    const found = periodicity(z, fps, cfg.period);
    return found === null || found[1] < cfg.min_periodicity ? null : found[0] / fps;
  }

  restart(t) { this.times = []; this.features = []; this.direction = null; this.first = t; this.warm = false; }

  motion(pose) {
    const out = [];
    for (const axis of [0, 1]) {
      const vals = this.cfg.joints.map((j) => pose[j][axis]);
      const lo = Math.min(...vals), span = Math.max(Math.max(...vals) - lo, 1e-6);
      out.push(vals.map((v) => (v - lo) / span));
    }
    return this.cfg.joints.flatMap((_, i) => [out[0][i], out[1][i]]);  // x0, y0, x1, y1, ...
  }

  walking(t, pose, aspect) {
    if (this.cfg.max_drift === null) return false;
    const mid = (ids) => [0, 1].map((k) => ids.reduce((s, i) => s + pose[i][k] * (k === 0 ? aspect : 1), 0) / ids.length);
    const h = mid(this.coaching.hips), s = mid(this.coaching.shoulders), torso = Math.hypot(s[0] - h[0], s[1] - h[1]);
    if (this.drift === null || torso <= 1e-6 || t <= this.drift[0]) { this.drift = [t, h[0], 0]; return false; }
    const [t0, x0, velocity] = this.drift, dt = t - t0;
    const alpha = 1 - Math.exp(-dt / this.cfg.drift_window_s);
    const v = velocity + alpha * ((h[0] - x0) / dt / torso - velocity);
    this.drift = [t, h[0], v];
    return Math.abs(v) > this.cfg.max_drift;
  }

  signal(t, feature) {
    const cfg = this.cfg;
    this.times.push(t); this.features.push(feature);
    while (this.times[0] < t - cfg.window_s) { this.times.shift(); this.features.shift(); }
    if (this.first === null || t - this.first < cfg.warmup_s || this.features.length < 3) return null;
    const n = this.features.length, d = feature.length;
    const mean = Array.from({ length: d }, (_, j) => this.features.reduce((s, f) => s + f[j], 0) / n);
    const centred = this.features.map((f) => f.map((v, j) => v - mean[j]));
    const cov = scatter(centred, d);
    let dir = topEigenvector(cov);
    if (this.direction && dir.reduce((s, v, i) => s + v * this.direction[i], 0) < 0) dir = dir.map((v) => -v);
    this.direction = dir;
    const projected = centred.map((r) => r.reduce((s, v, i) => s + v * dir[i], 0));
    const lo = percentile(projected, cfg.spread_percentile), hi = percentile(projected, 100 - cfg.spread_percentile);
    if (hi - lo < cfg.min_range) return null;
    const signal = projected.map((p) => (p - (lo + hi) / 2) / ((hi - lo) / 2));
    if (!this.warm) {  // the track's first signal: the warm-up frames get theirs too
      this.warm = true;
      for (let i = 0; i < signal.length - 1; i++) this.feed(this.times[i], signal[i]);
    }
    return signal[signal.length - 1];
  }

  feed(t, signal) {
    for (const [sign, counter] of this.counters) counter.update(t, signal === null ? null : sign * signal, signal !== null);
    if (this.counters.length === 2) {
      const settled = this.counters.filter(([, c]) => c.phase === 'up');
      if (settled.length) this.counters = settled.slice(0, 1);
    }
  }

  /** One frame's pose (33 x >=2) or null; `aspect` is width / height. Returns {signal, valid, reps}. */
  update(t, pose, aspect = 1) {
    let signal = null;
    if (pose && !this.cfg.joints.every((j) => Number.isFinite(pose[j][0]) && Number.isFinite(pose[j][1]))) pose = null;
    if (pose) {
      if (this.last === null || t - this.last > this.cfg.max_gap_s) this.restart(t);
      this.last = t;
      if (this.walking(t, pose, aspect)) this.restart(t);
      else signal = this.signal(t, this.motion(pose));
    }
    this.feed(t, signal);
    return { signal: signal === null ? null : this.counters[0][0] * signal, valid: signal !== null, reps: this.count };
  }
}
