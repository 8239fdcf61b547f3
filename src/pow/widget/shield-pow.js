// tower-shield proof-of-work widget (ECURTIY-compatible API). Plain JavaScript, no build step.
//
// Widget:       <div class="shield-pow" data-sitekey="eck_live_..."></div>
//               <script src="/captcha/widget/shield-pow.js" defer></script>
//   data-api       API base URL (default: the directory above this script, e.g. /captcha)
//   data-callback  name of a global function called with the token
//   data-name      name of the hidden input carrying the token in a form (default "shield-pow-token")
//   Events on the element: "shield-pow:verified" (detail {token, expiresAt}),
//   "shield-pow:expired", "shield-pow:error" (detail {code, message}).
// Interstitial: the PowLayer's challenge page embeds its challenge in
//   <script type="application/json" id="shield-pow-config">; this script solves it and reloads.
(function () {
  'use strict';
  var script = document.currentScript;
  var scriptUrl = script && script.src ? script.src : location.href;
  var sessionStart = performance.now();
  var stats = { hashRate: 0, hashes: 0, solveMs: 0, workers: 0 };

  // ---- behavioural data: pointer direction entropy, interaction count, session length
  var bins = [0, 0, 0, 0, 0, 0, 0, 0], moves = 0, interactions = 0, lastX = null, lastY = null;
  document.addEventListener('pointermove', function (e) {
    if (lastX !== null) {
      var dx = e.clientX - lastX, dy = e.clientY - lastY;
      if (dx || dy) {
        bins[Math.floor((Math.atan2(dy, dx) + Math.PI) / (2 * Math.PI) * 8) & 7]++;
        moves++;
      }
    }
    lastX = e.clientX; lastY = e.clientY;
  }, { passive: true, capture: true });
  ['pointerdown', 'keydown', 'touchstart'].forEach(function (t) {
    document.addEventListener(t, function () { interactions++; }, { passive: true, capture: true });
  });
  function behavioral() {
    var h = 0;
    for (var i = 0; i < 8; i++) if (bins[i]) { var p = bins[i] / moves; h -= p * Math.log2(p); }
    return {
      mouseEntropy: Math.round(h * 1000) / 1000,
      interactionCount: interactions,
      sessionDuration: Math.round(performance.now() - sessionStart)
    };
  }
  function toHex(buf) {
    return Array.prototype.map.call(new Uint8Array(buf), function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  // A coarse browser digest (the seed's "fingerprint"): no canvas or audio probing.
  function fingerprint() {
    var parts = [navigator.userAgent, navigator.language, screen.width + 'x' + screen.height,
      screen.colorDepth, (Intl.DateTimeFormat().resolvedOptions().timeZone || ''), navigator.hardwareConcurrency || 0];
    if (!(window.crypto && crypto.subtle)) return Promise.resolve('');
    return crypto.subtle.digest('SHA-256', new TextEncoder().encode(parts.join('|'))).then(toHex, function () { return ''; });
  }
  // WebCrypto double-checks a solution before it is sent, where available.
  function checkWithWebCrypto(prefix, nonce, difficulty) {
    if (!(window.crypto && crypto.subtle)) return Promise.resolve(true);
    return crypto.subtle.digest('SHA-256', new TextEncoder().encode(prefix + String(nonce))).then(function (d) {
      var b = new Uint8Array(d), bits = 0;
      for (var i = 0; i < b.length; i++) {
        if (b[i] === 0) { bits += 8; continue; }
        bits += Math.clz32(b[i]) - 24; break;
      }
      return bits >= difficulty;
    }, function () { return true; });
  }

  // ---- solving in Web Workers from this script's directory (same origin)
  function solve(challenge, workerUrl, onProgress) {
    var n = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));
    var started = performance.now(), done = false, workers = [], counts = [];
    var expected = Math.pow(2, challenge.difficulty);
    return new Promise(function (resolve, reject) {
      function finish(err, nonce) {
        if (done) return;
        done = true;
        workers.forEach(function (w) { w.terminate(); });
        if (err) return reject(err);
        var total = counts.reduce(function (a, b) { return a + b; }, 0);
        var ms = Math.max(1, performance.now() - started);
        stats = { hashRate: Math.round(total / ms * 1000), hashes: total, solveMs: Math.round(ms), workers: n };
        window.ShieldPow.stats = stats;
        resolve({ nonce: nonce, solveTimeMs: Math.round(ms) });
      }
      for (var i = 0; i < n; i++) {
        (function (i) {
          var w;
          try { w = new Worker(workerUrl); } catch (e) { return finish(e); }
          counts[i] = 0;
          w.onmessage = function (ev) {
            var m = ev.data || {};
            if (m.type === 'progress') {
              counts[i] = m.hashes;
              var total = counts.reduce(function (a, b) { return a + b; }, 0);
              onProgress && onProgress(1 - Math.exp(-total / expected));
            } else if (m.type === 'found') {
              counts[i] = m.hashes;
              finish(null, m.nonce);
            } else if (m.type === 'error') {
              finish(new Error(m.message));
            }
          };
          w.onerror = function (e) { finish(new Error('solver failed: ' + (e.message || 'worker error'))); };
          w.postMessage({ prefix: challenge.prefix, difficulty: challenge.difficulty, start: i, step: n });
          workers.push(w);
        })(i);
      }
    });
  }

  function postJson(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (j) { j.__status = res.status; return j; });
    });
  }
  function errorOf(j) {
    var e = (j && j.error) || {};
    return { code: e.code || 'NETWORK_ERROR', message: e.message || 'The verification service did not answer.' };
  }
  var RETRYABLE = { CHALLENGE_EXPIRED: 1, INVALID_SOLUTION: 1 };
  function expired(ch) { return !ch || Date.parse(ch.expiresAt) - Date.now() < 10000; }

  // ---- the widget
  var counter = 0;
  function Widget(el) {
    this.el = el;
    this.siteKey = el.getAttribute('data-sitekey') || '';
    var api = el.getAttribute('data-api') || new URL('..', scriptUrl).href;
    this.api = api.replace(/\/+$/, '');
    this.workerUrl = new URL('worker.js', scriptUrl).href;
    this.challenge = null;
    this.busy = false;
    var id = 'shield-pow-' + (++counter);
    el.classList.add('sp-widget');
    el.innerHTML =
      '<div class="sp-row">' +
      '<input type="checkbox" class="sp-check" id="' + id + '-box" aria-describedby="' + id + '-status">' +
      '<label class="sp-label" for="' + id + '-box">I am human</label>' +
      '<span class="sp-brand" aria-hidden="true">proof of work</span></div>' +
      '<div class="sp-progress" role="progressbar" aria-label="Verification progress" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0" hidden><div class="sp-bar"></div></div>' +
      '<div class="sp-status" id="' + id + '-status" role="status" aria-live="polite"></div>' +
      '<button type="button" class="sp-retry" hidden>Try again</button>' +
      '<input type="hidden" name="' + (el.getAttribute('data-name') || 'shield-pow-token') + '" value="">';
    this.box = el.querySelector('.sp-check');
    this.progress = el.querySelector('.sp-progress');
    this.bar = el.querySelector('.sp-bar');
    this.status = el.querySelector('.sp-status');
    this.retry = el.querySelector('.sp-retry');
    this.input = el.querySelector('input[type=hidden]');
    var self = this;
    this.box.addEventListener('change', function () {
      if (self.box.checked && !self.busy && !self.input.value) self.run(0);
      else if (!self.busy && self.input.value) self.box.checked = true;
    });
    this.retry.addEventListener('click', function () { self.retry.hidden = true; self.run(0); });
    this.say('');
    this.fetchChallenge().then(function (ch) {
      if (ch && ch.mode === 'invisible') {
        el.classList.add('sp-invisible');
        self.run(0);
      }
    });
  }
  Widget.prototype.say = function (text, state) {
    this.status.textContent = text;
    this.el.setAttribute('data-state', state || 'idle');
  };
  Widget.prototype.fetchChallenge = function () {
    var self = this;
    return postJson(this.api + '/api/challenge', { siteKey: this.siteKey }).then(function (j) {
      if (!j.challengeId) { self.fail(errorOf(j)); return null; }
      self.challenge = j;
      return j;
    }, function () { self.fail(errorOf(null)); return null; });
  };
  Widget.prototype.setProgress = function (f) {
    var pct = Math.min(99, Math.round(f * 100));
    this.progress.setAttribute('aria-valuenow', String(pct));
    this.bar.style.width = pct + '%';
  };
  Widget.prototype.run = function (attempt) {
    var self = this;
    this.busy = true;
    this.box.checked = true;
    this.box.disabled = true;
    this.progress.hidden = false;
    this.setProgress(0);
    this.say('Verifying you are human…', 'solving');
    var ready = expired(this.challenge) ? this.fetchChallenge() : Promise.resolve(this.challenge);
    ready.then(function (ch) {
      if (!ch) throw { code: 'NETWORK_ERROR', message: 'Could not get a challenge.' };
      self.challenge = null; // a challenge is solved once
      return solve(ch, self.workerUrl, function (f) { self.setProgress(f); }).then(function (sol) {
        return checkWithWebCrypto(ch.prefix, sol.nonce, ch.difficulty).then(function (ok) {
          if (!ok) throw { code: 'SOLVER_ERROR', message: 'The solver produced a wrong answer.' };
          return fingerprint();
        }).then(function (fp) {
          return postJson(self.api + '/api/verify', {
            challengeId: ch.challengeId, nonce: sol.nonce, solveTimeMs: sol.solveTimeMs,
            fingerprint: fp, behavioral: behavioral()
          });
        });
      });
    }).then(function (j) {
      if (j.success && j.token) return self.succeed(j);
      var e = errorOf(j);
      if (RETRYABLE[e.code] && attempt < 2) { self.busy = false; return self.run(attempt + 1); }
      throw e;
    }).catch(function (e) { self.fail(e && e.code ? e : { code: 'ERROR', message: String(e && e.message || e) }); });
  };
  Widget.prototype.succeed = function (j) {
    var self = this;
    this.busy = false;
    this.input.value = j.token;
    this.el.setAttribute('data-token', j.token);
    this.setProgress(1);
    this.bar.style.width = '100%';
    this.progress.setAttribute('aria-valuenow', '100');
    this.box.disabled = false;
    this.say('Verified. Thank you.', 'verified');
    this.el.dispatchEvent(new CustomEvent('shield-pow:verified', { bubbles: true, detail: { token: j.token, expiresAt: j.expiresAt } }));
    var cb = this.el.getAttribute('data-callback');
    if (cb && typeof window[cb] === 'function') window[cb](j.token);
    var ttl = Date.parse(j.expiresAt) - Date.now();
    clearTimeout(this.expiry);
    this.expiry = setTimeout(function () { self.expire(); }, Math.max(1000, ttl - 5000));
  };
  Widget.prototype.expire = function () {
    this.input.value = '';
    this.el.removeAttribute('data-token');
    this.box.checked = false;
    this.progress.hidden = true;
    this.el.dispatchEvent(new CustomEvent('shield-pow:expired', { bubbles: true }));
    if (this.el.classList.contains('sp-invisible')) return this.run(0);
    this.say('Verification expired. Please verify again.', 'expired');
  };
  Widget.prototype.fail = function (e) {
    this.busy = false;
    this.box.checked = false;
    this.box.disabled = false;
    this.progress.hidden = true;
    this.retry.hidden = false;
    this.say('Verification failed: ' + e.message, 'failed');
    this.el.setAttribute('data-error', e.code);
    this.el.dispatchEvent(new CustomEvent('shield-pow:error', { bubbles: true, detail: e }));
  };

  // ---- the PowLayer's interstitial page
  function interstitial(cfgEl) {
    var cfg = JSON.parse(cfgEl.textContent);
    var status = document.getElementById('shield-pow-status');
    var bar = document.getElementById('shield-pow-bar');
    var progress = document.getElementById('shield-pow-progress');
    var retry = document.getElementById('shield-pow-retry');
    function say(t, state) { status.textContent = t; document.body.setAttribute('data-state', state); }
    function attempt(ch, n) {
      say('Checking your browser. This takes a few seconds…', 'solving');
      return solve(ch, cfg.workerUrl, function (f) {
        var pct = Math.min(99, Math.round(f * 100));
        bar.style.width = pct + '%';
        progress.setAttribute('aria-valuenow', String(pct));
      }).then(function (sol) {
        var b = behavioral();
        var q = new URLSearchParams({
          challengeId: ch.challengeId, nonce: String(sol.nonce), solveTimeMs: String(sol.solveTimeMs),
          mouseEntropy: String(b.mouseEntropy), interactionCount: String(b.interactionCount),
          sessionDuration: String(b.sessionDuration)
        });
        return fetch(cfg.verifyUrl + '?' + q.toString(), { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json' } })
          .then(function (r) { return r.json(); });
      }).then(function (j) {
        if (j.success) {
          bar.style.width = '100%';
          progress.setAttribute('aria-valuenow', '100');
          say('Done. Loading the page…', 'verified');
          location.reload();
          return;
        }
        var e = errorOf(j);
        if (RETRYABLE[e.code] && n < 2) {
          return fetch(cfg.challengeUrl, { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json' } })
            .then(function (r) { return r.json(); })
            .then(function (c) { return attempt(c, n + 1); });
        }
        throw e;
      }).catch(function (e) {
        say('Verification failed: ' + (e.message || e) + '.', 'failed');
        retry.hidden = false;
      });
    }
    retry.addEventListener('click', function () { location.reload(); });
    var ch = cfg.challenge;
    if (expired(ch)) {
      fetch(cfg.challengeUrl, { method: 'POST', credentials: 'same-origin' }).then(function (r) { return r.json(); })
        .then(function (c) { attempt(c, 0); });
    } else {
      attempt(ch, 0);
    }
  }

  // Measures this browser's solver: all workers on an unsolvable difficulty for `ms`.
  function benchmark(ms) {
    var n = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)), counts = [], workers = [];
    var workerUrl = new URL('worker.js', scriptUrl).href;
    return new Promise(function (resolve) {
      for (var i = 0; i < n; i++) {
        (function (i) {
          var w = new Worker(workerUrl);
          counts[i] = 0;
          w.onmessage = function (ev) { if (ev.data && ev.data.type === 'progress') counts[i] = ev.data.hashes; };
          w.postMessage({ prefix: 'benchmark-' + Math.random().toString(16).slice(2, 18), difficulty: 64, start: i, step: n });
          workers.push(w);
        })(i);
      }
      setTimeout(function () {
        workers.forEach(function (w) { w.terminate(); });
        var total = counts.reduce(function (a, b) { return a + b; }, 0);
        resolve({ hashRate: Math.round(total / ms * 1000), hashes: total, ms: ms, workers: n });
      }, ms);
    });
  }

  window.ShieldPow = {
    stats: stats,
    benchmark: benchmark,
    render: function (el) { return el.__shieldPow || (el.__shieldPow = new Widget(el)); }
  };
  function init() {
    var cfg = document.getElementById('shield-pow-config');
    if (cfg) return interstitial(cfg);
    Array.prototype.forEach.call(document.querySelectorAll('.shield-pow'), window.ShieldPow.render);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
