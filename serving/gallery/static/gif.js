// An animated GIF89a encoder: one global palette (exact colours when they fit, else median
// cut), LZW compression, a delay per frame, an endless loop, and optional 1-bit transparency.

const MAX_CODES = 4096;

// frames: [{rgba: Uint8ClampedArray | Uint8Array}] of width x height pixels, straight alpha.
// Pixels with alpha < 128 become transparent when `transparent`, else their colour is kept.
export function encodeGif(frames, width, height, { delayCs = 8, loop = true, transparent = false } = {}) {
  const colours = transparent ? 255 : 256;
  const palette = buildPalette(frames, colours, transparent);
  const transparentIndex = transparent ? palette.length : -1;
  const table = transparent ? [...palette, [0, 0, 0]] : palette;
  const tableBits = Math.max(1, Math.ceil(Math.log2(table.length)));
  const out = new ByteWriter();
  out.text("GIF89a");
  out.u16(width);
  out.u16(height);
  out.byte(0x80 | ((tableBits - 1) << 4) | (tableBits - 1)); // global table, its size
  out.byte(0); // background colour index
  out.byte(0); // pixel aspect ratio: unspecified
  for (let i = 0; i < 1 << tableBits; i++) {
    const [r, g, b] = table[i] || [0, 0, 0];
    out.byte(r);
    out.byte(g);
    out.byte(b);
  }
  if (loop) {
    out.bytes([0x21, 0xff, 11]);
    out.text("NETSCAPE2.0");
    out.bytes([3, 1, 0, 0, 0]); // loop forever
  }
  const lookup = paletteLookup(palette);
  for (const frame of frames) {
    const disposal = transparent ? 2 : 1; // restore to background: no ghost of the last frame
    out.bytes([0x21, 0xf9, 4, (disposal << 2) | (transparent ? 1 : 0)]);
    out.u16(delayCs);
    out.byte(Math.max(transparentIndex, 0));
    out.byte(0);
    out.byte(0x2c);
    out.u16(0);
    out.u16(0);
    out.u16(width);
    out.u16(height);
    out.byte(0); // no local table, not interlaced
    const indices = new Uint8Array(width * height);
    const rgba = frame.rgba;
    for (let p = 0; p < indices.length; p++) {
      const o = p * 4;
      indices[p] = transparent && rgba[o + 3] < 128
        ? transparentIndex
        : lookup(rgba[o], rgba[o + 1], rgba[o + 2]);
    }
    const minCodeSize = Math.max(2, tableBits);
    out.byte(minCodeSize);
    out.subBlocks(lzw(indices, minCodeSize));
  }
  out.byte(0x3b);
  return out.result();
}

// Up to `count` colours: the exact ones when few enough, else a median cut of 5-bit colours.
function buildPalette(frames, count, transparent) {
  const exact = new Map();
  const histogram = new Uint32Array(1 << 15);
  for (const { rgba } of frames) {
    for (let o = 0; o < rgba.length; o += 4) {
      if (transparent && rgba[o + 3] < 128) continue;
      const r = rgba[o], g = rgba[o + 1], b = rgba[o + 2];
      if (exact.size <= count) exact.set((r << 16) | (g << 8) | b, true);
      histogram[((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3)]++;
    }
  }
  if (exact.size <= count) {
    const palette = [...exact.keys()].map((c) => [c >> 16, (c >> 8) & 255, c & 255]);
    return palette.length ? palette : [[0, 0, 0]];
  }
  const entries = [];
  histogram.forEach((n, key) => {
    if (n) entries.push([((key >> 10) << 3) | 4, (((key >> 5) & 31) << 3) | 4, ((key & 31) << 3) | 4, n]);
  });
  return medianCut(entries, count);
}

function medianCut(entries, count) {
  const boxes = [entries];
  while (boxes.length < count) {
    let best = -1, bestChannel = 0, bestScore = 0;
    boxes.forEach((box, i) => {
      if (box.length < 2) return;
      for (let c = 0; c < 3; c++) {
        let low = 255, high = 0, weight = 0;
        for (const e of box) {
          low = Math.min(low, e[c]);
          high = Math.max(high, e[c]);
          weight += e[3];
        }
        const score = (high - low) * Math.sqrt(weight);
        if (score > bestScore) [best, bestChannel, bestScore] = [i, c, score];
      }
    });
    if (best < 0) break;
    const box = boxes[best].sort((a, b) => a[bestChannel] - b[bestChannel]);
    const total = box.reduce((sum, e) => sum + e[3], 0);
    let seen = 0, cut = 1;
    for (; cut < box.length - 1; cut++) {
      seen += box[cut - 1][3];
      if (seen * 2 >= total) break;
    }
    boxes.splice(best, 1, box.slice(0, cut), box.slice(cut));
  }
  return boxes.map((box) => {
    const sum = [0, 0, 0, 0];
    for (const e of box) for (let c = 0; c < 4; c++) sum[c] += c < 3 ? e[c] * e[3] : e[3];
    return [0, 1, 2].map((c) => Math.round(sum[c] / sum[3]));
  });
}

// (r, g, b) -> the nearest palette index, remembered per colour.
function paletteLookup(palette) {
  const cache = new Map();
  return (r, g, b) => {
    const key = (r << 16) | (g << 8) | b;
    let index = cache.get(key);
    if (index === undefined) {
      let best = Infinity;
      palette.forEach(([pr, pg, pb], i) => {
        const d = (pr - r) ** 2 + (pg - g) ** 2 + (pb - b) ** 2;
        if (d < best) [best, index] = [d, i];
      });
      cache.set(key, index);
    }
    return index;
  };
}

// GIF's variable-length LZW: codes packed least significant bit first.
function lzw(indices, minCodeSize) {
  const clearCode = 1 << minCodeSize;
  const endCode = clearCode + 1;
  const bits = new BitWriter();
  let codeSize = minCodeSize + 1;
  let nextCode = endCode + 1;
  let table = new Map();
  bits.write(clearCode, codeSize);
  let prefix = indices[0];
  for (let i = 1; i < indices.length; i++) {
    const k = indices[i];
    const key = (prefix << 8) | k;
    const code = table.get(key);
    if (code !== undefined) {
      prefix = code;
      continue;
    }
    bits.write(prefix, codeSize);
    if (nextCode === MAX_CODES) {
      bits.write(clearCode, codeSize);
      table = new Map();
      codeSize = minCodeSize + 1;
      nextCode = endCode + 1;
    } else {
      if (nextCode >= 1 << codeSize) codeSize++;
      table.set(key, nextCode++);
    }
    prefix = k;
  }
  bits.write(prefix, codeSize);
  bits.write(endCode, codeSize);
  return bits.result();
}

class BitWriter {
  constructor() {
    this.out = [];
    this.buffer = 0;
    this.count = 0;
  }
  write(code, size) {
    this.buffer |= code << this.count;
    this.count += size;
    while (this.count >= 8) {
      this.out.push(this.buffer & 255);
      this.buffer >>>= 8;
      this.count -= 8;
    }
  }
  result() {
    if (this.count > 0) this.out.push(this.buffer & 255);
    return this.out;
  }
}

class ByteWriter {
  constructor() {
    this.out = [];
  }
  byte(b) {
    this.out.push(b & 255);
  }
  bytes(list) {
    for (const b of list) this.byte(b);
  }
  u16(n) {
    this.byte(n);
    this.byte(n >> 8);
  }
  text(s) {
    for (const ch of s) this.byte(ch.charCodeAt(0));
  }
  subBlocks(data) {
    for (let i = 0; i < data.length; i += 255) {
      const block = data.slice(i, i + 255);
      this.byte(block.length);
      this.bytes(block);
    }
    this.byte(0);
  }
  result() {
    return new Uint8Array(this.out);
  }
}
