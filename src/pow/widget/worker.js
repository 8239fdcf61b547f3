// tower-shield proof-of-work solver, run as a Web Worker from the page's own origin.
// Finds a nonce such that SHA-256(prefix || decimal(nonce)) has `difficulty` leading
// zero bits. Pure JavaScript: one SHA-256 compression per try when the prefix and the
// digits fit one 64-byte block (the server's 32-character prefixes always do).
// Protocol: in  {prefix, difficulty, start, step}
//           out {type: "progress", hashes} every 65536 tries,
//               {type: "found", nonce, hashes}
'use strict';

var K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
]);
var H0 = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
]);
var W = new Int32Array(64);

// One compression of the 16 words in W[0..16] from state `h` (Int32Array(8)), in place.
function compress(h) {
  var i, t1, t2, x, y;
  for (i = 16; i < 64; i++) {
    x = W[i - 15];
    y = W[i - 2];
    W[i] = (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
      W[i - 7] + (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[i - 16] | 0;
  }
  var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (i = 0; i < 64; i++) {
    t1 = k + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      ((e & f) ^ (~e & g)) + K[i] + W[i] | 0;
    t2 = (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
      ((a & b) ^ (a & c) ^ (b & c)) | 0;
    k = g; g = f; f = e; e = d + t1 | 0; d = c; c = b; b = a; a = t1 + t2 | 0;
  }
  h[0] = h[0] + a | 0; h[1] = h[1] + b | 0; h[2] = h[2] + c | 0; h[3] = h[3] + d | 0;
  h[4] = h[4] + e | 0; h[5] = h[5] + f | 0; h[6] = h[6] + g | 0; h[7] = h[7] + k | 0;
}

// SHA-256 of a byte array (any length): the general path.
function sha256(bytes) {
  var n = bytes.length, total = ((n + 9 + 63) >> 6) << 6, buf = new Uint8Array(total), h = new Int32Array(H0);
  buf.set(bytes);
  buf[n] = 0x80;
  var bits = n * 8;
  buf[total - 4] = bits >>> 24; buf[total - 3] = bits >>> 16; buf[total - 2] = bits >>> 8; buf[total - 1] = bits;
  buf[total - 5] = Math.floor(n / 0x20000000);
  for (var off = 0; off < total; off += 64) {
    for (var j = 0; j < 16; j++) {
      var p = off + 4 * j;
      W[j] = buf[p] << 24 | buf[p + 1] << 16 | buf[p + 2] << 8 | buf[p + 3];
    }
    compress(h);
  }
  return h;
}

function ascii(s) {
  var out = new Uint8Array(s.length);
  for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

function zeroBitsOk(h, difficulty) {
  if (difficulty <= 0) return true;
  var i = 0;
  while (difficulty >= 32) {
    if (h[i] !== 0) return false;
    difficulty -= 32;
    i++;
  }
  return difficulty === 0 || (h[i] >>> (32 - difficulty)) === 0;
}

function run(msg) {
  var prefix = ascii(msg.prefix), difficulty = msg.difficulty | 0;
  var nonce = msg.start || 0, step = msg.step || 1, hashes = 0;
  var block = new Uint8Array(64), h = new Int32Array(8), L0 = prefix.length;
  var fast = L0 + 16 + 9 <= 64;
  block.set(fast ? prefix : []);
  // Words wholly inside the prefix never change (compress only writes W[16..64]).
  var fixed = fast ? L0 >> 2 : 0;
  for (var f = 0; f < fixed; f++) W[f] = block[4 * f] << 24 | block[4 * f + 1] << 16 | block[4 * f + 2] << 8 | block[4 * f + 3];
  for (;;) {
    var s = String(nonce);
    if (fast) {
      var L = L0, i;
      for (i = 0; i < s.length; i++) block[L++] = s.charCodeAt(i);
      block[L] = 0x80;
      for (i = L + 1; i < 62; i++) block[i] = 0;
      var bits = L * 8;
      block[62] = bits >>> 8; block[63] = bits & 0xff;
      for (i = fixed; i < 16; i++) {
        var p = 4 * i;
        W[i] = block[p] << 24 | block[p + 1] << 16 | block[p + 2] << 8 | block[p + 3];
      }
      h.set(H0);
      compress(h);
    } else {
      fixed = 0;
      var all = new Uint8Array(L0 + s.length);
      all.set(prefix);
      all.set(ascii(s), L0);
      h = sha256(all);
    }
    hashes++;
    if (zeroBitsOk(h, difficulty)) {
      postMessage({ type: 'found', nonce: nonce, hashes: hashes });
      return;
    }
    if ((hashes & 0xffff) === 0) postMessage({ type: 'progress', hashes: hashes });
    nonce += step;
    if (nonce > Number.MAX_SAFE_INTEGER) {
      postMessage({ type: 'error', message: 'nonce space exhausted' });
      return;
    }
  }
}

function hex(h) {
  var s = '';
  for (var i = 0; i < h.length; i++) s += ('00000000' + (h[i] >>> 0).toString(16)).slice(-8);
  return s;
}

if (typeof self !== 'undefined' && typeof self.postMessage === 'function' && typeof document === 'undefined') {
  self.onmessage = function (ev) {
    var m = ev.data || {};
    if (m.type === 'hash') {
      postMessage({ type: 'hash', id: m.id, hex: hex(sha256(ascii(m.text))) });
    } else {
      run(m);
    }
  };
}
