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
 * Optional settings and hooks, read on every token request, so they may be
 * assigned at any time (a hook is given the widget's name, or undefined):
 *   chattoken.context = (widget) => ({ msdyn_pageurl: location.href });  // or a Promise of one
 *   chattoken.headers = (widget) => ({ Authorization: 'Bearer ' + accessToken });
 *   chattoken.widget = 'sales';  // a named widget of the schema: asks token?widget=sales
 *   chattoken.optional = true;   // sign-in is optional: a signed-out visitor gets null
 * A page with two widgets passes each its own functions:
 *   chattoken.forWidget('support').getAuthToken (and .authTokenProvider).
 *
 * Sign-in optional: when the widget calls getAuthToken({isMidAuthEnabled:
 * true}), or chattoken.optional is true, a signed-out visitor (401) is no
 * failure: the Promise resolves null, with no event and no warning, so the
 * chat starts anonymously. The callback form is given no options, so there
 * only chattoken.optional makes it callback(null), silently.
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

  // callHook runs an optional page hook for widget; its result may be a
  // Promise.
  function callHook(name, widget) {
    var hook = api[name];
    if (typeof hook !== 'function') return Promise.resolve(undefined);
    return new Promise(function (resolve) { resolve(hook(widget)); }).then(function (value) {
      if (value != null && (typeof value !== 'object' || Array.isArray(value))) {
        throw failure('hook', 'chattoken.' + name + ' must return an object');
      }
      return value;
    }, function (err) {
      throw failure('hook', 'chattoken.' + name + ' failed: ' + (err && err.message ? err.message : err));
    });
  }

  function request(url, context, extraHeaders, signal) {
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
    return fetch(url, init).then(function (response) {
      return response.json().then(null, function () { return null; }).then(function (body) {
        if (response.ok) {
          if (body && typeof body.token === 'string' && body.token.split('.').length === 3) return body.token;
          throw failure('invalid_response', 'the answer from ' + url + ' holds no token');
        }
        var extra = { status: response.status, code: body && body.code };
        if (response.status === 401) throw failure('unauthenticated', 'not signed in', extra);
        var why = body && body.detail ? ': ' + body.detail : '';
        throw failure('http', url + ' answered ' + response.status + (extra.code ? ' ' + extra.code : '') + why, extra);
      });
    }, function (err) {
      if (err && err.name === 'AbortError') throw err;
      throw failure('network', 'could not reach ' + url + ': ' + (err && err.message ? err.message : err));
    });
  }

  // fetchToken resolves to a JWT from url, or rejects within TIMEOUT_MS with
  // a ChattokenError.
  function fetchToken(url, widget) {
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timer;
    var timeout = new Promise(function (resolve, reject) {
      timer = setTimeout(function () {
        if (controller) controller.abort();
        reject(failure('timeout', 'no token from ' + url + ' within ' + TIMEOUT_MS / 1000 + ' s'));
      }, TIMEOUT_MS);
    });
    var work = Promise.all([callHook('context', widget), callHook('headers', widget)]).then(function (hooks) {
      return request(url, hooks[0], hooks[1], controller ? controller.signal : undefined);
    });
    // After a timeout the aborted request rejects too; nobody awaits it.
    work.then(null, function () {});
    return Promise.race([work, timeout]).then(function (token) {
      clearTimeout(timer);
      return token;
    }, function (err) {
      clearTimeout(timer);
      throw err;
    });
  }

  // report tells the page's own telemetry why the widget got no token.
  function report(err) {
    if (!err || !err.kind) return;
    try {
      window.dispatchEvent(new CustomEvent('chattoken:error', {
        detail: { kind: err.kind, message: err.message, status: err.status, code: err.code }
      }));
    } catch (ignored) { /* reporting must never hide the failure */ }
  }

  // provider returns both widget shapes for the widget called name, or, when
  // name is undefined, for whichever widget chattoken.widget names at each
  // call. Every call asks the service, so no widget is ever handed a token
  // minted for another.
  function provider(name) {
    // getAuthToken resolves to the JWT, to null for a signed-out visitor
    // when sign-in is optional, or rejects within TIMEOUT_MS with a
    // ChattokenError. It never uses `this`, so it works passed on unbound.
    function getAuthToken(options) {
      var optional = api.optional === true || (options != null && options.isMidAuthEnabled === true);
      var widget = name === undefined ? api.widget : name;
      var token = widget == null || typeof widget === 'string'
        ? fetchToken(widget ? tokenURL + '?widget=' + encodeURIComponent(widget) : tokenURL, widget || undefined)
        : Promise.reject(failure('hook', 'chattoken.widget must be a string'));
      return token.then(null, function (err) {
        if (optional && err && err.kind === 'unauthenticated') return null;
        report(err);
        throw err;
      });
    }

    // authTokenProvider is the script-tag widget's shape: callback(jwt), or
    // callback() with no token on failure so the widget reports it at once.
    // The widget passes no options here, so only chattoken.optional makes a
    // signed-out visitor's null (callback(null)) silent.
    function authTokenProvider(callback) {
      getAuthToken().then(function (token) { callback(token); }, function (err) {
        if (window.console) console.warn(err && err.message ? err.message : err);
        callback();
      });
    }

    return { getAuthToken: getAuthToken, authTokenProvider: authTokenProvider };
  }

  var byPage = provider(undefined);
  var getAuthToken = byPage.getAuthToken;
  var authTokenProvider = byPage.authTokenProvider;

  // forWidget is for a page with several widgets: each gets the functions of
  // its own named widget.
  function forWidget(name) {
    if (typeof name !== 'string' || name === '') {
      throw new TypeError('chattoken.forWidget: the widget name must be a non-empty string');
    }
    return provider(name);
  }

  api.getAuthToken = getAuthToken;
  api.authTokenProvider = authTokenProvider;
  api.forWidget = forWidget;
  api.tokenURL = tokenURL;
})();
