// An offline OpenID provider on loopback for chattoken's jwt session mode
// tests (test fixture, never a production provider). It is the npm package
// oidc-provider, pinned by package-lock.json, configured for one thing: the
// client-credentials grant with JWT access tokens, one client per test user,
// so that a test gets a real provider-issued token for a user with one POST.
//
//   node server.mjs [--port N]        (or OIDC_PORT=N; default 0: any free port)
//
// The configuration is a JSON object in the environment variable
// OIDC_TEST_CONFIG:
//
//   {
//     "users":     [{"sub": "ann", "secret": "...", "claims": {"email": "..."}}],
//     "resources": [{"indicator": "https://api.example", "audience": "https://api.example",
//                    "scope": "chat", "ttl": 300, "age": 0}],
//     "signingKey": {...private RSA JWK...},   optional: generated at start when absent
//     "adminToken": "...",                     required for the /admin endpoints
//     "jwksDelayMs": 0                         optional: answer the JWKS this much later,
//                                              like a provider across a network
//   }
//
// Each user is a confidential client whose client_id is the user's subject:
// a client_credentials token's sub is its client_id. "claims" are added to
// that user's access tokens. A resource's "ttl" is the access token lifetime
// in seconds (default 300); its "age", when set, backdates iat and exp by
// that many seconds, for a token that has already expired.
//
// Once listening it prints one JSON line on stdout:
//   {"issuer": "http://127.0.0.1:PORT", "jwks_uri": "...", "token_endpoint": "...", "kid": "..."}
//
// Test-only endpoints, which need "Authorization: Bearer <adminToken>":
//   POST /admin/rotate  a new signing key: the JWKS then publishes the new
//                       key and the previous one, and new tokens carry the
//                       new kid. Answers {"kid": new, "previous": old}.
//   GET  /admin/stats   {"jwks_requests": N, "kid": current}: how often the
//                       JWKS was fetched, to check a client's refetch limit.
//
// It exits when its standard input closes, so it never outlives the test
// that started it, and on SIGTERM/SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const { values: args } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(args.port ?? process.env.OIDC_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`bad port ${args.port ?? process.env.OIDC_PORT}`);
}

let config;
try {
  config = JSON.parse(process.env.OIDC_TEST_CONFIG || '{}');
} catch (err) {
  fail(`OIDC_TEST_CONFIG is not JSON: ${err.message}`);
}
const users = new Map((config.users ?? []).map((u) => [u.sub, u]));
const resources = new Map((config.resources ?? []).map((r) => [r.indicator, r]));
if (users.size === 0) fail('OIDC_TEST_CONFIG names no users');
if (resources.size === 0) fail('OIDC_TEST_CONFIG names no resources');

function fail(message) {
  process.stderr.write(`oidc test provider: ${message}\n`);
  process.exit(2);
}

// A private RSA JWK for RS256 with a kid of its own.
function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
}

function clientMetadata(user) {
  return {
    client_id: user.sub,
    client_secret: user.secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  };
}

// build returns a provider that signs with keys[0] and publishes every key
// in keys.
function build(issuer, keys) {
  const signingKid = keys[0].kid;
  const provider = new Provider(issuer, {
    clients: [...users.values()].map(clientMetadata),
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A token request must name its resource: there is no default.
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx, indicator) => {
          const r = resources.get(indicator);
          if (!r) throw new errors.InvalidTarget();
          return {
            scope: r.scope ?? 'chat',
            audience: r.audience ?? indicator,
            accessTokenTTL: r.ttl ?? 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256', kid: signingKid } },
          };
        },
      },
    },
    formats: {
      customizers: {
        // A resource's "age" backdates its tokens, as if issued that many
        // seconds ago: the provider itself signs a token that has expired.
        jwt: async (_ctx, token, jwt) => {
          const age = token.resourceServer && resources.get(token.resourceServer.identifier())?.age;
          if (age) {
            jwt.payload.iat -= age;
            jwt.payload.exp -= age;
          }
        },
      },
    },
    extraTokenClaims: async (_ctx, token) => users.get(token.clientId)?.claims,
  });
  // A provider bug or a bad configuration above shows on stderr, which the
  // Go test prints when it fails; refused requests (a bad client secret, an
  // unknown resource) go there too.
  provider.on('server_error', (_ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
  provider.on('grant.error', (_ctx, err) => process.stderr.write(`grant.error: ${err.message} ${err.error_description ?? ''}\n`));
  return { provider, handler: provider.callback(), kid: signingKid };
}

let current;
let jwksRequests = 0;

const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path.startsWith('/admin/')) {
    admin(req, res, path);
    return;
  }
  if (path === '/jwks') {
    jwksRequests += 1;
    if (config.jwksDelayMs) {
      setTimeout(() => current.handler(req, res), config.jwksDelayMs);
      return;
    }
  }
  current.handler(req, res);
});

function sendJSON(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function admin(req, res, path) {
  const given = Buffer.from(req.headers.authorization ?? '');
  const want = Buffer.from(`Bearer ${config.adminToken ?? ''}`);
  if (!config.adminToken || given.length !== want.length || !crypto.timingSafeEqual(given, want)) {
    sendJSON(res, 401, { error: 'admin token required' });
    return;
  }
  if (req.method === 'POST' && path === '/admin/rotate') {
    const previous = current;
    const previousKeys = previous.keys;
    // The new key signs; the previous one stays published so that tokens
    // it signed keep verifying until they expire.
    const keys = [newSigningKey(), previousKeys[0]];
    current = { ...build(previous.provider.issuer, keys), keys };
    sendJSON(res, 200, { kid: current.kid, previous: previous.kid });
    return;
  }
  if (req.method === 'GET' && path === '/admin/stats') {
    sendJSON(res, 200, { jwks_requests: jwksRequests, kid: current.kid });
    return;
  }
  sendJSON(res, 404, { error: 'no such admin endpoint' });
}

server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const keys = [config.signingKey ? { alg: 'RS256', use: 'sig', ...config.signingKey } : newSigningKey()];
  if (!keys[0].kid) fail('signingKey has no kid');
  current = { ...build(issuer, keys), keys };
  process.stdout.write(`${JSON.stringify({
    issuer,
    jwks_uri: `${issuer}/jwks`,
    token_endpoint: `${issuer}/token`,
    kid: current.kid,
  })}\n`);
});
server.on('error', (err) => fail(err.message));

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
