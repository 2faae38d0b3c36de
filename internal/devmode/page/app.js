// chattoken dev page: no framework, no build step, read it top to bottom.
//
// The token comes from client.js, the same script a site includes
// (<script src="/chat-auth/client.js">), loaded just before this file: the
// button calls chattoken.authTokenProvider(callback) exactly as the chat
// widget would. This file only drives the demo: the demo sign-in, and the
// token decoded and verified in the browser with WebCrypto.
//
// Every URL is relative (no leading slash), so the page also works when
// chattoken is served under a path prefix such as /chat-auth/.
'use strict';

// The context variables the page sends with every token request: only
// "request" variables of the schema (dev mode's schema has msdyn_pageurl).
// client.js reads this hook on every request, so a page may set it any time.
window.chattoken = window.chattoken || {};
window.chattoken.context = () => ({ msdyn_pageurl: location.href });

// problemOf reads a failed answer's problem+json body (RFC 9457). Any other
// body gets a stand-in with the same fields.
async function problemOf(response) {
  let body = null;
  if (/^application\/(problem\+)?json\b/i.test(response.headers.get('Content-Type') || '')) {
    body = await response.json().catch(() => null);
  }
  if (!body || typeof body !== 'object') body = {};
  return {
    status: response.status,
    code: typeof body.code === 'string' ? body.code : 'http_' + response.status,
    detail: typeof body.detail === 'string' ? body.detail : response.statusText,
    request_id: body.request_id || response.headers.get('X-Request-Id') || '',
  };
}

// problemOfError describes what a fetch chain threw in the same shape: a
// problem passes through, a network failure gets status 0.
function problemOfError(err) {
  if (!(err instanceof Error)) return err;
  return { status: 0, code: 'network_error', detail: err.message };
}

// problemOfChattokenError turns the detail of client.js's "chattoken:error"
// event ({kind, message, status, code}) into the same shape.
function problemOfChattokenError(detail) {
  return {
    status: detail.status || 0,
    code: detail.code || detail.kind || 'unknown',
    detail: String(detail.message || '').replace(/^chattoken: /, ''),
  };
}

// ---------------------------------------------------------------------------
// The demo page.
// ---------------------------------------------------------------------------

(() => {
  const RS256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const $ = (id) => document.getElementById(id);
  const pretty = (value) => JSON.stringify(value, null, 2);
  const path = (relative) => new URL(relative, location.href).pathname;

  // For the browser test: idle, pending, then verified, invalid or error.
  const setTokenState = (name) => {
    document.body.dataset.tokenState = name;
  };

  // --- Session: demo sign-in, sign-out and "who am I" ----------------------

  async function refreshWhoami() {
    const whoami = $('whoami');
    const doc = $('whoami-doc');
    doc.hidden = true;
    try {
      const response = await fetch('dev/whoami', { credentials: 'same-origin', cache: 'no-store' });
      if (response.status === 401) {
        whoami.textContent = 'Not signed in. Sign in above, or ask for a token now to see the 401 the widget would get.';
        $('signout').disabled = true;
        document.body.dataset.session = 'signed-out';
        return;
      }
      if (!response.ok) throw await problemOf(response);
      const session = await response.json();
      whoami.textContent = `Signed in as ${session.name || '(no name)'}, sub ${session.sub}. ` +
        'chattoken sees this session document:';
      doc.textContent = pretty(session);
      doc.hidden = false;
      $('signout').disabled = false;
      document.body.dataset.session = 'signed-in';
    } catch (err) {
      whoami.textContent = 'Could not check the session: ' + formatProblem(problemOfError(err));
      document.body.dataset.session = 'error';
    }
  }

  $('signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('signin-error').hidden = true;
    try {
      const response = await fetch('dev/signin', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          name: $('signin-name').value.trim(),
          cart_total: $('signin-cart').valueAsNumber,
          vip: $('signin-vip').checked,
        }),
      });
      if (!response.ok) throw await problemOf(response);
      $('signout').disabled = false;
    } catch (err) {
      showProblem($('signin-error'), 'Sign-in failed.', problemOfError(err));
    }
    await refreshWhoami();
  });

  $('signout').addEventListener('click', async () => {
    $('signin-error').hidden = true;
    try {
      const response = await fetch('dev/signout', { method: 'POST', credentials: 'same-origin' });
      if (!response.ok) throw await problemOf(response);
    } catch (err) {
      showProblem($('signin-error'), 'Sign-out failed.', problemOfError(err));
    }
    await refreshWhoami();
  });

  // --- Token: ask the way the widget does, then decode and verify ----------

  // client.js gives the widget's callback no reason for a failure; it
  // reports the reason in a "chattoken:error" event on window.
  let lastFailure = null;
  window.addEventListener('chattoken:error', (event) => {
    lastFailure = problemOfChattokenError(event.detail || {});
  });

  $('get-token').addEventListener('click', async () => {
    const button = $('get-token');
    button.disabled = true;
    resetToken();
    setTokenState('pending');
    $('token-status').textContent = 'Calling chattoken.authTokenProvider(callback)…';
    lastFailure = null;

    // Passed on unbound, as the widget calls it.
    const provider = window.chattoken.authTokenProvider;
    try {
      if (typeof provider !== 'function') {
        $('token-status').textContent = 'client.js did not load, so there is no token provider.';
        showProblem($('token-error'), 'No token provider.',
          { status: 0, code: 'no_client_js', detail: 'chattoken.authTokenProvider is not a function' });
        setTokenState('error');
        return;
      }
      const token = await new Promise((resolve) => provider(resolve));
      if (!token) {
        $('token-status').textContent = 'The callback got no token: the widget would report error 3 (no token).';
        showProblem($('token-error'), 'No token.', lastFailure ||
          { status: 0, code: 'unknown', detail: 'the provider gave no reason' });
        setTokenState('error');
        return;
      }
      const result = await showToken(token);
      $('token-status').textContent = {
        verified: 'The callback got a token, and every check below passed.',
        invalid: 'The callback got a token, but it fails a check below.',
        error: 'The callback got a token, but a check could not be completed.',
      }[result];
      setTokenState(result);
    } catch (err) {
      showProblem($('token-error'), 'The page failed while checking the token.',
        { status: 0, code: 'page_error', detail: String(err && err.message || err) });
      setTokenState('error');
    } finally {
      button.disabled = false;
    }
  });

  let expiryTimer = 0;

  function resetToken() {
    clearInterval(expiryTimer);
    $('token-error').hidden = true;
    delete $('token-error').dataset.status;
    delete $('token-error').dataset.code;
    $('token-result').hidden = true;
    for (const id of ['token-raw', 'token-header', 'token-payload']) {
      $(id).textContent = '';
    }
    for (const id of ['token-context', 'token-exp', 'token-verify', 'token-kid']) {
      $(id).textContent = '';
      $(id).className = '';
      delete $(id).dataset.check;
    }
  }

  // showToken shows the token and runs the checks, and says how they went:
  // "verified", "invalid" (the token is wrong) or "error" (a check could not run).
  async function showToken(token) {
    $('token-result').hidden = false;
    $('token-raw').textContent = token;

    const parts = token.split('.');
    let header, payload;
    try {
      if (parts.length !== 3) throw new Error(`expected 3 dot-separated parts, got ${parts.length}`);
      header = decodePart(parts[0]);
      payload = decodePart(parts[1]);
    } catch (err) {
      showProblem($('token-error'), 'This is not a JWT.',
        { status: 0, code: 'invalid_token', detail: err.message });
      return 'invalid';
    }
    $('token-header').textContent = pretty(header);
    $('token-payload').textContent = pretty(payload);

    const results = [
      showContext(payload.lwicontexts),
      showExpiry(payload.exp),
      await checkSignature(parts, header),
      await checkKid(parts, header),
    ];
    if (results.includes('bad')) return 'invalid';
    if (results.includes('error')) return 'error';
    return 'verified';
  }

  // lwicontexts must be a string holding a JSON object: show that object.
  function showContext(raw) {
    const el = $('token-context');
    if (raw === undefined) {
      el.textContent = '(no lwicontexts claim: no context variables are configured)';
      return 'ok';
    }
    try {
      if (typeof raw !== 'string') throw new Error(`it must be a string holding JSON, not ${typeof raw}`);
      el.textContent = pretty(JSON.parse(raw));
      return 'ok';
    } catch (err) {
      el.textContent = 'lwicontexts is wrong: ' + err.message;
      el.className = 'check-bad';
      return 'bad';
    }
  }

  function showExpiry(exp) {
    if (!Number.isInteger(exp)) return mark('token-exp', 'bad', 'exp is missing or not whole seconds');
    if (exp > 1e12) return mark('token-exp', 'bad', 'exp looks like milliseconds; it must be seconds');
    const at = new Date(exp * 1000).toLocaleString();
    const render = () => {
      const left = Math.floor(exp - Date.now() / 1000);
      return left > 0
        ? mark('token-exp', 'ok', `expires ${at} (local time), in ${left} s`)
        : mark('token-exp', 'bad', `expired at ${at} (local time), ${-left} s ago`);
    };
    expiryTimer = setInterval(render, 1000);
    return render();
  }

  // The check Microsoft's servers make: the signature against the public key URL.
  async function checkSignature(parts, header) {
    const url = path('publickey');
    if (header.alg !== 'RS256') {
      return mark('token-verify', 'bad', `alg is ${header.alg}; Omnichannel accepts only RS256`);
    }
    let key;
    try {
      if (!crypto.subtle) throw new Error('WebCrypto needs a secure context: open the page on 127.0.0.1 or https');
      const response = await fetch('publickey', { credentials: 'same-origin', cache: 'no-store' });
      if (!response.ok) throw await problemOf(response);
      key = await crypto.subtle.importKey('spki', pemToDer(await response.text()), RS256, false, ['verify']);
    } catch (err) {
      return mark('token-verify', 'error', `could not load ${url}: ${describe(err)}`);
    }
    return (await verify(key, parts))
      ? mark('token-verify', 'ok', `signature verified against ${url}`)
      : mark('token-verify', 'bad', `signature does NOT verify against ${url}`);
  }

  // The header's kid must name a key in the JWKS, and that key must verify too.
  async function checkKid(parts, header) {
    const url = path('.well-known/jwks.json');
    if (typeof header.kid !== 'string' || header.kid === '') {
      return mark('token-kid', 'bad', 'the header has no kid');
    }
    let jwk;
    try {
      const response = await fetch('.well-known/jwks.json', { credentials: 'same-origin', cache: 'no-store' });
      if (!response.ok) throw await problemOf(response);
      const jwks = await response.json();
      jwk = (Array.isArray(jwks.keys) ? jwks.keys : []).find((k) => k.kid === header.kid);
      if (!jwk) return mark('token-kid', 'bad', `kid ${header.kid} is not in ${url}`);
    } catch (err) {
      return mark('token-kid', 'error', `could not load ${url}: ${describe(err)}`);
    }
    let key;
    try {
      key = await crypto.subtle.importKey('jwk', { kty: jwk.kty, n: jwk.n, e: jwk.e }, RS256, false, ['verify']);
    } catch (err) {
      return mark('token-kid', 'bad', `kid ${header.kid} is in ${url}, but its key is unusable: ${describe(err)}`);
    }
    return (await verify(key, parts))
      ? mark('token-kid', 'ok', `kid ${header.kid} is in ${url}, and that key verifies the signature too`)
      : mark('token-kid', 'bad', `kid ${header.kid} is in ${url}, but that key does NOT verify the signature`);
  }

  // A JWS signature covers the ASCII bytes of "header.payload" as sent.
  async function verify(key, parts) {
    try {
      const signed = new TextEncoder().encode(parts[0] + '.' + parts[1]);
      return await crypto.subtle.verify(RS256, key, base64UrlToBytes(parts[2]), signed);
    } catch {
      return false; // a malformed signature does not verify
    }
  }

  // --- Small helpers ---------------------------------------------------------

  function base64UrlToBytes(text) {
    if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('not base64url');
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  function decodePart(part) {
    const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64UrlToBytes(part)));
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('a part is not a JSON object');
    return value;
  }

  function pemToDer(pem) {
    const match = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/.exec(pem);
    if (!match) throw new Error('the answer is not a PEM "PUBLIC KEY" block');
    return Uint8Array.from(atob(match[1].replace(/\s+/g, '')), (c) => c.charCodeAt(0));
  }

  // mark shows one check's outcome ("ok", "bad" or "error") and returns it.
  function mark(id, outcome, text) {
    const el = $(id);
    el.textContent = { ok: '✓ ', bad: '✗ ', error: '? ' }[outcome] + text;
    el.className = 'check-' + outcome;
    el.dataset.check = outcome;
    return outcome;
  }

  function formatProblem(problem) {
    return `${problem.status ? 'HTTP ' + problem.status : 'No answer'} · ${problem.code}\n${problem.detail}` +
      (problem.request_id ? `\nrequest_id ${problem.request_id}` : '');
  }

  function describe(err) {
    return err instanceof Error ? err.message : formatProblem(err).replace(/\n/g, ' · ');
  }

  function showProblem(el, title, problem) {
    el.textContent = title + '\n' + formatProblem(problem);
    el.dataset.status = String(problem.status);
    el.dataset.code = problem.code;
    el.hidden = false;
  }

  // --- Start -----------------------------------------------------------------

  $('wire-publickey').textContent = new URL('publickey', location.href).href;
  $('wire-client').textContent = new URL('client.js', location.href).href;
  $('wire-token').textContent = new URL('token', location.href).href;
  setTokenState('idle');
  refreshWhoami();
})();
