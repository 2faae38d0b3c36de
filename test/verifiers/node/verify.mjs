// Verifies one chattoken token with jose (npm), a JWT implementation that is
// not ours, for the Go test beside this folder (test/verifiers).
//
// Input, one JSON object on stdin:
//   {"token": "...", "alg": "RS256" | "HS256", "issuer": "...", "lwicontexts": {...},
//    "pem": "-----BEGIN PUBLIC KEY-----..."   RS256: verify with this key
//    "jwks_url": "http://.../jwks.json"      RS256: verify with createRemoteJWKSet instead
//    "secret_hex": "..."}                    HS256: the secret's bytes, hex
//
// Exit 0 with the verified claims as JSON on stdout; exit 1 with
// "rejected: ..." on stderr when the token is refused (signature, iss, exp,
// nbf, lwicontexts); exit 2 on anything else (bad input, a bug here), so the
// Go test never mistakes a broken script for a rejected token.
import * as jose from "jose";

class Rejected extends Error {}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function keyFor(input) {
  if (input.alg === "HS256") return Promise.resolve(new Uint8Array(Buffer.from(input.secret_hex, "hex")));
  if (input.alg !== "RS256") throw new Error(`unsupported alg ${input.alg}`);
  if (input.jwks_url) return Promise.resolve(jose.createRemoteJWKSet(new URL(input.jwks_url)));
  return jose.importSPKI(input.pem, "RS256", { extractable: true });
}

// sameJSON is strict equality of JSON values: same types (no "1" == 1 or
// true == 1), same keys, no extra ones.
function sameJSON(a, b) {
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameJSON(a[k], b[k]));
}

function checkLwicontexts(claim, want) {
  // Omnichannel reads lwicontexts as a string holding a JSON object, not as an object.
  if (typeof claim !== "string") throw new Rejected(`lwicontexts is a ${typeof claim}, want a string`);
  let got;
  try {
    got = JSON.parse(claim);
  } catch (e) {
    throw new Rejected(`lwicontexts does not parse as JSON: ${e.message}`);
  }
  if (got === null || typeof got !== "object" || Array.isArray(got)) throw new Rejected(`lwicontexts is not a JSON object: ${claim}`);
  if (!sameJSON(got, want)) throw new Rejected(`lwicontexts is ${claim}, want ${JSON.stringify(want)}`);
}

async function main() {
  const input = JSON.parse(await readStdin());
  const key = await keyFor(input);
  try {
    // jose checks exp and nbf against the clock (no tolerance by default);
    // requiredClaims makes a token without them a failure, not a pass.
    const { payload, protectedHeader } = await jose.jwtVerify(input.token, key, {
      algorithms: [input.alg],
      issuer: input.issuer,
      requiredClaims: ["iss", "exp", "nbf"],
    });
    checkLwicontexts(payload.lwicontexts, input.lwicontexts);
    if (input.alg === "RS256" && input.pem) {
      // docs/keys.md promises kid = the RFC 7638 thumbprint of the key: ask jose's own.
      const thumbprint = await jose.calculateJwkThumbprint(await jose.exportJWK(key), "sha256");
      if (protectedHeader.kid !== thumbprint) throw new Rejected(`kid ${protectedHeader.kid} is not the key's RFC 7638 thumbprint ${thumbprint}`);
    }
    process.stdout.write(JSON.stringify(payload));
  } catch (e) {
    if (e instanceof jose.errors.JOSEError || e instanceof Rejected) {
      process.stderr.write(`rejected: ${e.code ?? "check"}: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}

main().catch((e) => {
  process.stderr.write(`verify.mjs failed: ${e.stack ?? e}\n`);
  process.exitCode = 2;
});
