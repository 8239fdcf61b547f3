// The demo home page's "try it" forms: each calls the real endpoint on this origin and
// shows the status and the JSON answer (as text, never as markup, cut at 16 KiB).
// The Auspex form signs its request here with WebCrypto, exactly as the seed's code does.
(function () {
  'use strict';
  var MAX_SHOWN = 16384;
  var enc = new TextEncoder();

  function $(id) { return document.getElementById(id); }
  function val(form, name) { return String(form.elements[name].value || '').trim(); }

  function show(out, status, text) {
    var body = text;
    try { body = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON: as it is */ }
    if (body.length > MAX_SHOWN) body = body.slice(0, MAX_SHOWN) + '\n... (cut at ' + MAX_SHOWN + ' characters)';
    out.textContent = status + '\n' + body;
    out.setAttribute('data-status', String(status));
  }

  function call(out, url, init) {
    out.textContent = 'sending...';
    out.removeAttribute('data-status');
    init = init || {};
    init.credentials = 'same-origin';
    init.headers = Object.assign({ accept: 'application/json' }, init.headers || {});
    return fetch(url, init).then(function (r) {
      return r.text().then(function (t) { show(out, r.status, t); return { status: r.status, text: t }; });
    }, function (e) {
      out.textContent = 'request failed: ' + e;
      out.setAttribute('data-status', 'error');
      return null;
    });
  }

  function postJson(out, url, body, headers) {
    return call(out, url, {
      method: 'POST',
      headers: Object.assign({ 'content-type': 'application/json' }, headers || {}),
      body: JSON.stringify(body),
    });
  }

  function onSubmit(id, fn) {
    var form = $(id);
    if (!form) return;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      fn(form, $(form.getAttribute('data-answer')));
    });
  }

  // ---- Auspex Verus signing (the seed's scheme, WebCrypto HMAC-SHA256 / SHA-256)
  function hex(buf) {
    var b = new Uint8Array(buf), s = '';
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
    return s;
  }
  function hmac(key, data) {
    var raw = typeof key === 'string' ? enc.encode(key) : key;
    return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
      .then(function (k) { return crypto.subtle.sign('HMAC', k, enc.encode(data)); })
      .then(function (sig) { return new Uint8Array(sig); });
  }
  function sha256hex(s) {
    return crypto.subtle.digest('SHA-256', enc.encode(s)).then(hex);
  }
  // -> {amzDate, authorization}
  function signVerus(keyId, secret, method, uri, body) {
    var amzDate = new Date().toISOString().replace(/[-:]/g, '').split('.')[0] + 'Z';
    var dateStamp = amzDate.slice(0, 8);
    var scope = dateStamp + '/verus/aws4_request';
    var signedHeaders = 'x-amz-date';
    return sha256hex(body).then(function (payloadHash) {
      var canonical = method + '\n' + uri + '\n\n' + 'x-amz-date:' + amzDate + '\n' + '\n' + signedHeaders + '\n' + payloadHash;
      return sha256hex(canonical);
    }).then(function (requestHash) {
      var toSign = 'HMAC-SHA256\n' + amzDate + '\n' + scope + '\n' + requestHash;
      return hmac('AWS4' + secret, dateStamp)
        .then(function (k) { return hmac(k, 'verus'); })
        .then(function (k) { return hmac(k, 'aws4_request'); })
        .then(function (k) { return hmac(k, toSign); })
        .then(function (sig) {
          return {
            amzDate: amzDate,
            authorization: 'HMAC-SHA256 Credential=' + keyId + '/' + scope + ', SignedHeaders=' + signedHeaders + ', Signature=' + hex(sig),
          };
        });
    });
  }

  onSubmit('try-techsec', function (form, out) {
    var body = { ipAddress: val(form, 'ipAddress'), hostName: val(form, 'hostName'), requestPath: val(form, 'requestPath'), userAgent: val(form, 'userAgent') };
    var path = val(form, 'version') === '/api/verify' ? '/api/verify' : '/api/v2/verify';
    if (path === '/api/v2/verify') body.requestMethod = 'GET';
    postJson(out, path, body, { 'X-API-Key': val(form, 'key') });
  });

  onSubmit('try-auspex', function (form, out) {
    var signed = $('auspex-signed');
    if (!window.crypto || !crypto.subtle) {
      signed.textContent = 'WebCrypto is only available in a secure context: open this page over https or on localhost / 127.0.0.1.';
      out.textContent = 'not sent';
      return;
    }
    var body = JSON.stringify({ ipAddress: val(form, 'ipAddress') });
    signVerus(val(form, 'keyId'), val(form, 'secret'), 'POST', '/verus/classify', body).then(function (s) {
      signed.textContent = 'X-Amz-Date: ' + s.amzDate + '\nAuthorization: ' + s.authorization;
      return call(out, '/verus/classify', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-Amz-Date': s.amzDate, Authorization: s.authorization },
        body: body,
      });
    }).catch(function (e) { out.textContent = 'signing failed: ' + e; });
  });

  onSubmit('try-jwt', function (form, out) {
    call(out, '/api/jwt/token', { method: 'POST', headers: { 'X-API-Key': val(form, 'key') } }).then(function (r) {
      if (!r || r.status !== 200) return;
      try {
        var t = JSON.parse(r.text).token;
        if (typeof t === 'string' && t.length < 8192) $('me-token').value = t;
      } catch (e) { /* shown as it is */ }
    });
  });

  onSubmit('try-me', function (form, out) {
    call(out, '/api/jwt/me', { headers: { Authorization: 'Bearer ' + val(form, 'token') } });
  });

  onSubmit('try-lookup', function (form, out) {
    var kind = val(form, 'kind'), v = val(form, 'value');
    if (kind === 'email') postJson(out, '/api/lookup/email', { email: v });
    else if (kind === 'url') postJson(out, '/api/lookup/url', { url: v });
    else call(out, '/api/lookup/ip/' + encodeURIComponent(v));
  });

  onSubmit('try-ecurtiy', function (form, out) {
    postJson(out, '/captcha/api/challenge', { siteKey: val(form, 'siteKey') });
  });
})();
