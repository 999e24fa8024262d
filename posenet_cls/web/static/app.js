// The page: webcam, photo or video -> BlazePose -> the classifier -> skeleton, label, confidence, "unknown",
// smoothing over time, a repetition count for the chosen exercise preset, frames per second. It uses only the
// public API of posenet.js (window.posenet), as a developer's page would.
//
// URL options: ?backend=wasm|webgpu|auto (default auto), &exercise=NAME (preselect a preset), &autostart=webcam,
// &showclass=1 (with an exercise, show the pose class too).
//
// With an exercise the page speaks about it, as `predict --exercise` does: its name, reps and phase (or the
// hold), the last rep's form for a second after the rep; the pose class only where the model has a class of the
// exercise's name or "show the pose class" is ticked (document.body.dataset.label always has it).

import { backendFromUrl, install, UNKNOWN } from './posenet.js';
import { ExerciseTracker, formText, Smoother } from './coaching.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const api = install({ backend: backendFromUrl() });
const view = $('view'), ctx = view.getContext('2d'), video = $('video');
let posenet = null, run = 0;
const STEP_S = 1 / 30;  // a video file is stepped through at 30 frames a second of its time

/** What the page shows, also on document.body.dataset for tests and scripts: label, reps, fps, frames. */
function show(state) {
  const unknown = state.label === UNKNOWN || state.label === 'no person';
  $('label').textContent = state.label;
  $('label').classList.toggle('unknown', unknown);
  $('confidence').textContent = state.confidence == null ? '-' : state.confidence.toFixed(2);
  $('best').textContent = state.best ?? '-';
  $('novelty').textContent = state.novelty == null ? '-' : state.novelty.toFixed(2);
  $('reason').textContent = state.unknown_reason ? `unknown: ${state.unknown_reason}` : '';
  const probs = $('probabilities');
  probs.replaceChildren(...Object.entries(state.probabilities || {}).sort((a, b) => b[1] - a[1]).slice(0, 3)
    .map(([c, p]) => {
      const li = document.createElement('li');
      li.textContent = `${c} ${p.toFixed(2)}`;
      const bar = document.createElement('span');
      bar.style.width = `${Math.round(p * 80)}px`;
      li.append(bar);
      return li;
    }));
  Object.assign(document.body.dataset, { label: state.label, best: state.best ?? '' });
}

function showExercise(tracker, frame) {
  $('reps').textContent = tracker && tracker.ex.kind !== 'hold' ? String(frame.reps) : '-';
  $('hold').textContent = tracker && tracker.ex.kind === 'hold' ? `${frame.holdS.toFixed(1)} s` : '-';
  document.body.dataset.reps = tracker ? String(frame.reps) : '';
  document.body.dataset.hold = tracker && tracker.ex.kind === 'hold' ? frame.holdS.toFixed(2) : '';
}

/** Exercise names ignore case and treat '_' and ' ' as '-' (exercises.normalise_name). */
const normalise = (name) => name.trim().toLowerCase().replace(/[_ ]/g, '-');

/** Whether the pose class is shown beside an exercise: the model has a class of its name, or the user asked. */
function classShown(name) {
  return !name || $('showclass').checked || posenet.classes.some((c) => normalise(c) === name);
}

/** The exercise's lines (the tag of `predict --exercise`): `squat: 2 reps, down`, then the form line, if any. */
function showCoach(name, head, form) {
  const on = Boolean(name);
  $('coach').hidden = !on;
  $('coach').textContent = on ? head : '';
  $('form').textContent = on && form ? form : '';
  $('pose-class').hidden = $('probabilities').hidden = !classShown(name);
  Object.assign(document.body.dataset, { coach: on ? head : '', form: on && form ? form : '' });
}

/** The head line of an exercise frame: reps and phase, or the hold. */
function coachHead(tracker, frame, person) {
  const ex = tracker.ex;
  const head = ex.kind === 'hold'
    ? `${ex.name}: ${frame.holdS > 0 ? `holding ${frame.holdS.toFixed(1)} s` : 'not holding'} (best ${tracker.timer.longest.toFixed(1)} s)`
    : `${ex.name}: ${frame.reps} rep${frame.reps === 1 ? '' : 's'}${frame.phase ? `, ${frame.phase}` : ''}`;
  return person ? head : `${head} (no person)`;
}

/** The source drawn full size with the skeleton (edges from the schema) on top. */
function draw(source, width, height, landmarks, unknown) {
  if (view.width !== width || view.height !== height) [view.width, view.height] = [width, height];
  ctx.drawImage(source, 0, 0, width, height);
  if (!landmarks) return;
  const line = Math.max(2, Math.round(Math.min(width, height) / 160));
  ctx.lineWidth = line;
  ctx.strokeStyle = unknown ? '#f0b43c' : '#3cdc78';
  for (const [a, b] of posenet.config.schema.edges) {
    const [p, q] = [landmarks[a], landmarks[b]];
    ctx.globalAlpha = Math.max(0.25, Math.min(p[3], q[3]));
    ctx.beginPath();
    ctx.moveTo(p[0] * width, p[1] * height);
    ctx.lineTo(q[0] * width, q[1] * height);
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
  ctx.fillStyle = '#fff';
  for (const [x, y, , v] of landmarks) {
    if (v < 0.5) continue;
    ctx.beginPath();
    ctx.arc(x * width, y * height, line * 1.3, 0, 2 * Math.PI);
    ctx.fill();
  }
}

/** Label a photo: one classifyImage call, as `posenet-cls predict` does for a photo. */
async function photo(file) {
  const id = ++run;
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const result = await posenet.classifyImage(file);
  if (id !== run) return;
  const { width, height } = result.width ? result : bitmap;
  const scale = bitmap.width / width;
  draw(bitmap, Math.round(width * scale), Math.round(height * scale), result.landmarks, result.label === UNKNOWN);
  show(result.status === 'pose' ? result : { label: result.status === 'no_pose' ? 'no person' : result.status });
  showExercise(null, {});
  const name = $('exercise').value, ex = name ? posenet.config.coaching.exercises[name] : null;
  if (ex && ex.kind !== 'auto' && result.landmarks) {  // a photo: the one-frame case (exercises.exercise_photo)
    const one = new ExerciseTracker(ex, posenet.config.coaching).photo(result.landmarks, width / height);
    const phase = ex.kind === 'hold' ? (one.phase ? 'holding' : 'not in position') : one.phase || 'between up and down';
    showCoach(name, `${name}: ${phase}`, Object.keys(one.values).length ? formText(one) : '');
    document.body.dataset.phase = one.phase || '';
  } else {
    showCoach(name, ex && ex.kind === 'auto' ? `${name}: counts videos only` : `${name}: no person`, '');
    document.body.dataset.phase = '';
  }
  $('status').textContent = `${file.name}: ${result.status}${result.attempt ? ` (${result.attempt})` : ''}`;
  $('fps').textContent = '';
}

/** Wait for the video's next frame (at most 200 ms); the wait also lets the browser paint and handle input. */
function nextFrame() {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 200);
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => { clearTimeout(timer); resolve(); });
  });
}

/** Step a paused video file to its next frame (1/30 s on); false at the end. Every frame is processed. */
async function seekNext() {
  if (video.currentTime + STEP_S > video.duration) return false;
  const seeked = new Promise((resolve) => video.addEventListener('seeked', resolve, { once: true }));
  video.currentTime += STEP_S;
  await seeked;
  return true;
}

/**
 * Frames of the webcam as fast as BlazePose and the classifier go (times from the clock), or every frame of a
 * video file, stepped through (times from the video).
 */
async function frames(label, file = false) {
  const id = ++run;
  posenet.resetTracking();
  const smoother = new Smoother(posenet.config.coaching.window_s);
  const name = $('exercise').value;
  const tracker = name ? new ExerciseTracker(posenet.config.coaching.exercises[name], posenet.config.coaching) : null;
  let lastForm = null, formUntil = -Infinity;  // a rep's verdict stays up for form_show_s
  const classes = posenet.classes;
  let count = 0, fps = null, last = performance.now();
  $('stop').disabled = false;
  $('status').textContent = label;
  let first = true;
  while (id === run && !video.ended) {
    if (file) {
      if (!first && !(await seekNext())) break;
      first = false;
    } else {
      await nextFrame();
    }
    if (video.readyState < 2) continue;
    const t = file ? video.currentTime : performance.now() / 1000;
    const { landmarks, world, width, height } = await posenet.trackFrame(video);
    let state = { label: 'no person' };
    if (landmarks) {
      const { probabilities, novelty } = await posenet.scores(landmarks, world);
      const smooth = smoother.update(t, novelty === null ? probabilities : [...probabilities, novelty]);
      const answer = posenet.decide(smooth.slice(0, classes.length), novelty === null ? null : smooth[classes.length]);
      state = { ...answer, novelty: novelty === null ? null : smooth[classes.length],
                probabilities: Object.fromEntries(classes.map((c, i) => [c, smooth[i]])) };
    } else {
      smoother.update(t, null);
    }
    if (id !== run) break;
    draw(video, width, height, landmarks, state.label === UNKNOWN);
    show(state);
    const frame = tracker ? tracker.update(t, landmarks, width / height) : {};
    showExercise(tracker, frame);
    if (tracker) {
      if (frame.form) [lastForm, formUntil] = [frame.form, t + (tracker.ex.kind === 'hold' ? 0 : posenet.config.coaching.form_show_s)];
      const form = lastForm && t <= formUntil ? (lastForm.rep ? `rep ${lastForm.rep}: ` : '') + formText(lastForm) : '';
      showCoach(name, coachHead(tracker, frame, Boolean(landmarks)), form);
      document.body.dataset.phase = frame.phase || '';
    } else {
      showCoach('', '', '');
    }
    const now = performance.now();
    fps = fps === null ? 1000 / (now - last) : 0.9 * fps + 0.1 * (1000 / (now - last));
    last = now;
    count += 1;
    $('fps').textContent = `${fps.toFixed(1)} fps`;
    Object.assign(document.body.dataset, { frames: String(count), fps: fps.toFixed(2) });
  }
  if (id === run) $('status').textContent = `${label}: done, ${count} frames`;
}

function stop() {
  run += 1;
  if (video.srcObject) video.srcObject.getTracks().forEach((track) => track.stop());
  video.srcObject = null;
  video.pause();
  $('stop').disabled = true;
}

async function webcam() {
  stop();
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    $('status').textContent = `no webcam: ${err.message || err}`;
    return;
  }
  await video.play();
  await frames('webcam');
}

async function file(event) {
  const chosen = event.target.files[0];
  if (!chosen) return;
  stop();
  if (chosen.type.startsWith('video/')) {
    video.src = URL.createObjectURL(chosen);
    await new Promise((resolve) => video.addEventListener('loadeddata', resolve, { once: true }));
    await frames(chosen.name, true);
  } else {
    await photo(chosen);
  }
}

api.ready.then((p) => {
  posenet = p;
  for (const [name, ex] of Object.entries(p.config.coaching.exercises)) {
    const option = new Option(`${name} (${ex.kind})`, name);
    $('exercise').append(option);
  }
  if (params.get('exercise')) $('exercise').value = params.get('exercise');
  $('showclass').checked = params.get('showclass') === '1';
  $('backend').textContent = p.backend;
  $('ort').textContent = p.config.onnxruntime_web;
  $('status').textContent = `ready: ${p.classes.length} classes`;
  $('webcam').disabled = $('file').disabled = false;
  $('webcam').onclick = webcam;
  $('file').onchange = file;
  $('stop').onclick = stop;
  document.body.dataset.state = 'ready';
  if (params.get('autostart') === 'webcam') webcam();
}, (err) => {
  $('status').textContent = `failed to load: ${err.message || err}`;
  document.body.dataset.state = 'failed';
});
