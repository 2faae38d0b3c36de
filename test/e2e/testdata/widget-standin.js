/*
 * TEST FIXTURE, NOT MICROSOFT'S WIDGET. A stand-in for the Dynamics 365
 * Omnichannel live chat widget (the script-tag widget), used by the browser
 * tests in test/e2e. It implements only the documented contract a token
 * provider meets, so the tests can prove chattoken's client.js against it:
 *
 *   - raises "lcw:ready" on window once it has loaded;
 *   - exposes Microsoft.Omnichannel.LiveChatWidget.SDK with
 *     setAuthTokenProvider(fn)   throws when fn is not a function
 *     getAuthTokenProvider()     the registered provider, or undefined
 *     removeAuthTokenProvider()
 *     startChat()                calls fn(callback), allowing 10 seconds;
 *   - raises "lcw:error" (a CustomEvent, detail.errorCode) with
 *     2  the provider threw,
 *     3  no token: the callback got none, or was not called within 10 s,
 *     4  an invalid token: not three dot-separated parts, or a payload that is
 *        not a JSON object with a numeric exp in the future (13 digits are
 *        read as milliseconds, as the React widget does),
 *     8  no provider registered (the widget's "client function not found");
 *   - on success raises "lcw:chatStarted" with detail.token.
 *
 * It talks to nobody: no Omnichannel service is involved. Results are kept
 * for the test to read:
 *   document.body.dataset.widgetState      loading, ready, starting, started, error
 *   document.body.dataset.widgetErrorCode  the last errorCode
 *   document.body.dataset.widgetElapsedMs  ms from startChat to the outcome
 *   window.lcwStandin                      {state, token, errorCode, elapsedMs, message, events}
 * and shown in a small panel at the bottom right of the page.
 */
(function () {
  'use strict';

  var TIMEOUT_MS = 10000; // the widget's documented budget for the provider

  var state = {
    state: 'loading',
    token: null,
    errorCode: null,
    elapsedMs: null,
    message: '',
    events: [],
  };
  window.lcwStandin = state;

  var provider;
  var attempt = 0; // outcomes of an earlier startChat are ignored
  var panel;

  function setState(name, message) {
    state.state = name;
    state.message = message || '';
    if (document.body) {
      document.body.dataset.widgetState = name;
      if (state.errorCode != null) document.body.dataset.widgetErrorCode = String(state.errorCode);
      else delete document.body.dataset.widgetErrorCode;
      if (state.elapsedMs != null) document.body.dataset.widgetElapsedMs = String(state.elapsedMs);
      else delete document.body.dataset.widgetElapsedMs;
    }
    render();
  }

  function raise(name, detail) {
    state.events.push({ name: name, detail: detail });
    window.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function fail(errorCode, message, startedAt) {
    state.errorCode = errorCode;
    state.elapsedMs = Math.round(performance.now() - startedAt);
    setState('error', message);
    raise('lcw:error', { errorCode: errorCode, message: message });
  }

  function base64UrlDecode(text) {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new Error('not base64url');
    var b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var bytes = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  }

  // checkToken returns why token is not acceptable, or '' when it is.
  function checkToken(token) {
    var parts = token.split('.');
    if (parts.length !== 3 || !parts[0] || !parts[1] || !parts[2]) return 'not three dot-separated parts';
    var payload;
    try {
      payload = JSON.parse(base64UrlDecode(parts[1]));
    } catch (err) {
      return 'the payload is not base64url JSON: ' + err.message;
    }
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return 'the payload is not a JSON object';
    if (typeof payload.exp !== 'number' || !isFinite(payload.exp)) return 'exp is missing or not a number';
    var expMs = String(Math.trunc(payload.exp)).length >= 13 ? payload.exp : payload.exp * 1000;
    if (expMs <= Date.now()) return 'the token has expired';
    return '';
  }

  function startChat() {
    var startedAt = performance.now();
    var mine = ++attempt;
    state.token = null;
    state.errorCode = null;
    state.elapsedMs = null;
    setState('starting', 'asking the page for a token');

    if (typeof provider !== 'function') {
      fail(8, 'no auth token provider is registered', startedAt);
      return;
    }
    var settled = false;
    var timer = setTimeout(function () {
      if (settled || mine !== attempt) return;
      settled = true;
      fail(3, 'the provider did not call back within ' + TIMEOUT_MS / 1000 + ' s', startedAt);
    }, TIMEOUT_MS);

    function callback(token) {
      if (settled || mine !== attempt) return;
      settled = true;
      clearTimeout(timer);
      if (typeof token !== 'string' || token === '') {
        fail(3, 'the provider called back with no token', startedAt);
        return;
      }
      var why = checkToken(token);
      if (why) {
        fail(4, 'invalid token: ' + why, startedAt);
        return;
      }
      state.token = token;
      state.elapsedMs = Math.round(performance.now() - startedAt);
      setState('started', 'chat started with a token');
      raise('lcw:chatStarted', { token: token });
    }

    try {
      provider(callback); // unbound, as the widget calls it
    } catch (err) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fail(2, 'the provider threw: ' + (err && err.message ? err.message : err), startedAt);
    }
  }

  var SDK = {
    setAuthTokenProvider: function (fn) {
      if (typeof fn !== 'function') {
        throw new TypeError('setAuthTokenProvider: the auth token provider must be a function');
      }
      provider = fn;
    },
    getAuthTokenProvider: function () { return provider; },
    removeAuthTokenProvider: function () { provider = undefined; },
    startChat: startChat,
  };

  var ms = (window.Microsoft = window.Microsoft || {});
  var oc = (ms.Omnichannel = ms.Omnichannel || {});
  oc.LiveChatWidget = oc.LiveChatWidget || {};
  oc.LiveChatWidget.SDK = SDK;

  // --- The panel: what a person looking at the page (or a screenshot) sees.

  function render() {
    if (!panel) return;
    var title = panel.querySelector('.lcw-standin-title');
    var body = panel.querySelector('.lcw-standin-body');
    panel.dataset.state = state.state;
    title.textContent = 'Chat widget stand-in · ' + state.state;
    var lines = [];
    if (state.message) lines.push(state.message);
    if (state.errorCode != null) lines.push('lcw:error errorCode ' + state.errorCode);
    if (state.elapsedMs != null) lines.push('after ' + state.elapsedMs + ' ms');
    if (state.token) {
      try {
        var claims = JSON.parse(base64UrlDecode(state.token.split('.')[1]));
        lines.push('sub: ' + claims.sub);
        lines.push('expires in ' + Math.round(claims.exp - Date.now() / 1000) + ' s');
        if (typeof claims.lwicontexts === 'string') {
          var context = JSON.parse(claims.lwicontexts);
          Object.keys(context).forEach(function (k) { lines.push(k + ': ' + context[k]); });
        }
      } catch (ignored) { /* the token was checked already */ }
    }
    body.textContent = lines.join('\n');
  }

  function mountPanel() {
    var style = document.createElement('link');
    style.rel = 'stylesheet';
    style.href = new URL('widget-standin.css', script.src).href;
    document.head.appendChild(style);
    panel = document.createElement('aside');
    panel.className = 'lcw-standin';
    panel.setAttribute('aria-live', 'polite');
    var title = document.createElement('div');
    title.className = 'lcw-standin-title';
    var body = document.createElement('div');
    body.className = 'lcw-standin-body';
    panel.appendChild(title);
    panel.appendChild(body);
    document.body.appendChild(panel);
  }

  var script = document.currentScript;

  // The real widget loads asynchronously and raises lcw:ready later, so a
  // page must listen for it rather than call the SDK at once: ready comes
  // after the page's own scripts have run.
  function ready() {
    mountPanel();
    setState('ready', 'waiting for startChat()');
    setTimeout(function () { raise('lcw:ready', {}); }, 0);
  }
  if (document.readyState === 'complete') ready();
  else window.addEventListener('load', ready);
})();
