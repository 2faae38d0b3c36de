/*
 * chattoken client: hands the Dynamics 365 Omnichannel chat widget a token
 * for the visitor signed in to this site. No dependencies.
 *
 *   <script src="/chat-auth/client.js"></script>
 *
 * Script-tag widget: enter "chattoken.authTokenProvider" as the JavaScript
 * client function, or call
 *   Microsoft.Omnichannel.LiveChatWidget.SDK.setAuthTokenProvider(chattoken.authTokenProvider)
 * after the widget's "lcw:ready" event.
 * omnichannel-chat-sdk and the React LiveChatWidget: pass chattoken.getAuthToken
 * as getAuthToken.
 *
 * Optional hooks, read on every token request, so they may be assigned at
 * any time:
 *   chattoken.context = () => ({ msdyn_pageurl: location.href });  // or a Promise of one
 *   chattoken.headers = () => ({ Authorization: 'Bearer ' + accessToken });
 *
 * Failures are reported at once (the widget would otherwise wait 10 s): the
 * callback gets no token, the Promise rejects with an Error whose `kind` is
 * "unauthenticated", "timeout", "network", "http", "invalid_response" or
 * "hook", and a "chattoken:error" event with the same detail is dispatched on
 * window.
 */
(function () {
  'use strict';

  // The token endpoint sits beside this script, whatever path prefix the
  // site serves chattoken under: /chat-auth/client.js -> /chat-auth/token.
  var script = document.currentScript;
  var tokenURL = new URL('token', (script && script.src) || location.href).href;
  // The widget allows 10 s; giving up at 8 s leaves it time to report.
  var TIMEOUT_MS = 8000;

  // Keep hooks a page assigned before this script loaded.
  var api = window.chattoken || {};
  window.chattoken = api;

  function failure(kind, message, extra) {
    var err = new Error('chattoken: ' + message);
    err.name = 'ChattokenError';
    err.kind = kind;
    if (extra) {
      err.status = extra.status;
      err.code = extra.code;
    }
    return err;
  }

  // callHook runs an optional page hook; its result may be a Promise.
  function callHook(name) {
    var hook = api[name];
    if (typeof hook !== 'function') return Promise.resolve(undefined);
    return new Promise(function (resolve) { resolve(hook()); }).then(function (value) {
      if (value != null && (typeof value !== 'object' || Array.isArray(value))) {
        throw failure('hook', 'chattoken.' + name + ' must return an object');
      }
      return value;
    }, function (err) {
      throw failure('hook', 'chattoken.' + name + ' failed: ' + (err && err.message ? err.message : err));
    });
  }

  function request(context, extraHeaders, signal) {
    var headers = {};
    if (extraHeaders) {
      Object.keys(extraHeaders).forEach(function (k) { headers[k] = String(extraHeaders[k]); });
    }
    var init = { method: 'GET', credentials: 'include', cache: 'no-store', headers: headers, signal: signal };
    if (context) {
      init.method = 'POST';
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify({ context: context });
    }
    return fetch(tokenURL, init).then(function (response) {
      return response.json().then(null, function () { return null; }).then(function (body) {
        if (response.ok) {
          if (body && typeof body.token === 'string' && body.token.split('.').length === 3) return body.token;
          throw failure('invalid_response', 'the answer from ' + tokenURL + ' holds no token');
        }
        var extra = { status: response.status, code: body && body.code };
        if (response.status === 401) throw failure('unauthenticated', 'not signed in', extra);
        var why = body && body.detail ? ': ' + body.detail : '';
        throw failure('http', tokenURL + ' answered ' + response.status + (extra.code ? ' ' + extra.code : '') + why, extra);
      });
    }, function (err) {
      if (err && err.name === 'AbortError') throw err;
      throw failure('network', 'could not reach ' + tokenURL + ': ' + (err && err.message ? err.message : err));
    });
  }

  // getAuthToken resolves to the JWT, or rejects within TIMEOUT_MS with a
  // ChattokenError. It never uses `this`, so it works passed on unbound.
  function getAuthToken() {
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timer;
    var timeout = new Promise(function (resolve, reject) {
      timer = setTimeout(function () {
        if (controller) controller.abort();
        reject(failure('timeout', 'no token from ' + tokenURL + ' within ' + TIMEOUT_MS / 1000 + ' s'));
      }, TIMEOUT_MS);
    });
    var work = Promise.all([callHook('context'), callHook('headers')]).then(function (hooks) {
      return request(hooks[0], hooks[1], controller ? controller.signal : undefined);
    });
    // After a timeout the aborted request rejects too; nobody awaits it.
    work.then(null, function () {});
    return Promise.race([work, timeout]).then(function (token) {
      clearTimeout(timer);
      return token;
    }, function (err) {
      clearTimeout(timer);
      if (err && err.kind) {
        try {
          window.dispatchEvent(new CustomEvent('chattoken:error', {
            detail: { kind: err.kind, message: err.message, status: err.status, code: err.code }
          }));
        } catch (ignored) { /* reporting must never hide the failure */ }
      }
      throw err;
    });
  }

  // authTokenProvider is the script-tag widget's shape: callback(jwt), or
  // callback() with no token on failure so the widget reports it at once.
  function authTokenProvider(callback) {
    getAuthToken().then(function (token) { callback(token); }, function (err) {
      if (window.console) console.warn(err && err.message ? err.message : err);
      callback();
    });
  }

  api.getAuthToken = getAuthToken;
  api.authTokenProvider = authTokenProvider;
  api.tokenURL = tokenURL;
})();
