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

/** Counts up -> down -> up cycles of a signal with hysteresis and minimum phase times (temporal.RepCounter). */
export class RepCounter {
  constructor({ up, down, min_phase_s: minPhase, max_gap_s: maxGap }) {
    Object.assign(this, { up, down, minPhase, maxGap, count: 0, phase: null, candidate: null, since: 0, last: null });
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
      return;
    }
    this.last = t;
    const zone = this.zone(value);
    if (zone !== this.candidate) [this.candidate, this.since] = [zone, t];
    if (zone === null || zone === this.phase || t - this.since < this.minPhase) return;
    const previous = this.phase;
    this.phase = zone;
    if (zone === 'down' && previous === null) this.phase = null;  // started at the bottom: wait for a real 'up'
    if (zone === 'up' && previous === 'down') this.count += 1;
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

/** One exercise preset (config.json's coaching.exercises entry) fed frame by frame: reps or the current hold. */
export class ExerciseTracker {
  constructor(exercise, coaching) {
    this.ex = exercise;
    this.coaching = coaching;
    this.counter = exercise.kind === 'reps' ? new RepCounter(exercise) : null;
    this.timer = exercise.kind === 'hold' ? new HoldTimer(coaching.hold_tolerance_s) : null;
    this.smoother = new Smoother(exercise.smooth_s);
    const names = new Set();
    for (const [angle] of [...exercise.hold, ...exercise.when]) this.names(angle).forEach((n) => names.add(n));
    if (exercise.angle) this.names(exercise.angle).forEach((n) => names.add(n));
    this.needed = [...names].sort();
    this.holdS = 0;
  }

  get reps() { return this.counter ? this.counter.count : 0; }

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
    if (this.counter) this.counter.update(t, signal, valid);
    if (this.timer) this.holdS = this.timer.update(t, valid);
    return { signal, valid, reps: this.reps, holdS: this.holdS };
  }
}
