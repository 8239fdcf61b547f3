// The demo page: after the widget verifies, call the protected URL with the token.
(function () {
  'use strict';
  var out = document.getElementById('demo-result');
  var el = document.querySelector('.shield-pow');
  if (!el || !out) return;
  el.addEventListener('shield-pow:verified', function (ev) {
    var url = el.getAttribute('data-protected');
    document.getElementById('demo-token').textContent = ev.detail.token;
    if (!url) { out.textContent = 'Token ready: send it to your backend, which calls /api/validate.'; return; }
    fetch(url, { headers: { 'X-Shield-Token': ev.detail.token, accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.text().then(function (t) { out.textContent = r.status + ' ' + t; out.setAttribute('data-status', String(r.status)); }); })
      .catch(function (e) { out.textContent = 'request failed: ' + e; });
  });
})();
