"""Verifies one chattoken token with PyJWT, a JWT implementation that is not
ours, for the Go test beside this folder (test/verifiers).

Run it with Debian's interpreter, isolated: /usr/bin/python3 -I verify.py.
PyJWT is Debian's python3-jwt (RS256 also needs python3-cryptography); a
python3 earlier on the PATH (pyenv) need not have either.

Input, one JSON object on stdin:
  {"token": "...", "alg": "RS256" | "HS256", "issuer": "...", "lwicontexts": {...},
   "pem": "-----BEGIN PUBLIC KEY-----..."    (RS256)
   "secret_hex": "..."}                      (HS256: the secret's bytes, hex)

Exit 0 with the verified claims as JSON on stdout; exit 1 with "rejected: ..."
on stderr when the token is refused (signature, iss, exp, nbf, lwicontexts);
anything else (bad input, a bug here) is a traceback and exit 2, so the Go
test never mistakes a broken script for a rejected token.
"""

import json
import sys

import jwt


class Rejected(Exception):
    pass


def same_json(a, b):
    """Strict equality of JSON values: unlike ==, "1" != 1 and True != 1."""
    number = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, number) and isinstance(b, number):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def no_constants(name):
    # json.loads would otherwise accept NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not JSON")


def check_lwicontexts(claim, want):
    # Omnichannel reads lwicontexts as a string holding a JSON object.
    if not isinstance(claim, str):
        raise Rejected(f"lwicontexts is a {type(claim).__name__}, want a string")
    try:
        got = json.loads(claim, parse_constant=no_constants)
    except ValueError as e:
        raise Rejected(f"lwicontexts does not parse as JSON: {e}") from e
    if not isinstance(got, dict):
        raise Rejected(f"lwicontexts is not a JSON object: {claim}")
    if not same_json(got, want):
        raise Rejected(f"lwicontexts is {claim}, want {json.dumps(want)}")


def main():
    inp = json.load(sys.stdin)
    alg = inp["alg"]
    if alg == "RS256":
        key = inp["pem"]
    elif alg == "HS256":
        key = bytes.fromhex(inp["secret_hex"])
    else:
        raise ValueError(f"unsupported alg {alg}")
    try:
        # PyJWT checks exp and nbf against the clock (leeway 0) by default;
        # "require" makes a token without them a failure, not a pass.
        claims = jwt.decode(
            inp["token"],
            key,
            algorithms=[alg],
            issuer=inp["issuer"],
            options={"require": ["iss", "exp", "nbf"]},
        )
        check_lwicontexts(claims.get("lwicontexts"), inp["lwicontexts"])
    except (jwt.InvalidTokenError, Rejected) as e:
        print(f"rejected: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(claims, sys.stdout)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 - any other failure is the script's, not the token's
        import traceback

        traceback.print_exc()
        sys.exit(2)
