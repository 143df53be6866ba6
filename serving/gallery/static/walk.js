// Walks between latents: spherical interpolation, frames asked for in chunks.

export function slerp(a, b, t) {
  const norm = (v) => Math.hypot(...v) || 1;
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  const cos = Math.min(1, Math.max(-1, dot / (norm(a) * norm(b))));
  const omega = Math.acos(cos);
  if (omega < 1e-4) return a.map((x, i) => x + (b[i] - x) * t);
  const s = Math.sin(omega);
  const wa = Math.sin((1 - t) * omega) / s;
  const wb = Math.sin(t * omega) / s;
  return a.map((x, i) => wa * x + wb * b[i]);
}

// Latents from keyframe to keyframe, `steps` per leg; with `loop` the last leg returns to the
// first keyframe (and the first frame is not repeated), else the last keyframe ends it.
export function walkLatents(keyframes, steps, loop) {
  const legs = loop ? keyframes.length : keyframes.length - 1;
  const latents = [];
  for (let leg = 0; leg < legs; leg++) {
    const a = keyframes[leg];
    const b = keyframes[(leg + 1) % keyframes.length];
    for (let step = 0; step < steps; step++) latents.push(slerp(a, b, step / steps));
  }
  if (!loop) latents.push(keyframes[keyframes.length - 1]);
  return latents;
}

export function chunks(list, size) {
  const out = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

// Parses "3, 17 42" into seeds; throws a readable message on anything else.
export function parseSeeds(text) {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const seeds = parts.map(Number);
  const bad = parts.filter((p, i) => !Number.isSafeInteger(seeds[i]) || seeds[i] < 0);
  if (bad.length) throw new Error(`walk seeds must be whole numbers >= 0, not ${bad.join(", ")}`);
  if (seeds.length < 2) throw new Error("a walk needs at least two seeds, e.g. 3, 17, 42");
  return seeds;
}
