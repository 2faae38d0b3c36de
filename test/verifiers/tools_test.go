package verifiers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// A verifier is one JWT implementation that is not ours. prepare finds its
// tools, skipping the test (or failing it under CI=true) where they are
// missing, and returns the function that runs it on one token.
type verifier struct {
	name    string
	algs    []string
	prepare func(t *testing.T, alg string) verifyFunc
}

// verifyFunc checks one token as the case asks and returns its claims. A
// token the implementation refuses is a *rejection; anything else that goes
// wrong (the tool crashed, its output is not what it should be) fails the
// test at once, so a broken verifier can never pass for one that rejects.
type verifyFunc func(t *testing.T, c verifyCase) (map[string]any, error)

var verifiers = []verifier{
	{"jose", []string{"RS256", "HS256"}, prepareJose(false)},
	{"jose-remote-jwks", []string{"RS256"}, prepareJose(true)},
	{"pyjwt", []string{"RS256", "HS256"}, preparePyJWT},
	{"openssl", []string{"RS256", "HS256"}, prepareOpenSSL},
}

// scriptTimeout bounds one run of a verifier script: a hung JWKS fetch must
// fail the test, not stall the suite.
const scriptTimeout = time.Minute

// prepareJose runs node/verify.mjs with the jose that node/package-lock.json
// pins; viaJWKS makes it fetch the key with createRemoteJWKSet instead of
// being handed the PEM.
func prepareJose(viaJWKS bool) func(t *testing.T, alg string) verifyFunc {
	return func(t *testing.T, _ string) verifyFunc {
		t.Helper()
		node := harness.RequireTool(t, "node")
		installed := harness.RequireNPMPackage(t, "node", "jose")
		t.Logf("jose %s on node %s", installed, toolVersion(t, node, "--version"))
		script, err := filepath.Abs("node/verify.mjs")
		if err != nil {
			t.Fatal(err)
		}
		return func(t *testing.T, c verifyCase) (map[string]any, error) {
			in := newScriptInput(c)
			if viaJWKS {
				in.PEM, in.JWKSURL = "", c.key.JWKSURL
			}
			return runScript(t, in, node, script)
		}
	}
}

// debianPython is Debian's interpreter, named in full: python3-jwt installs
// PyJWT for it alone, and a python3 earlier on the PATH (pyenv) lacks it.
const debianPython = "/usr/bin/python3"

// preparePyJWT runs python/verify.py with Debian's PyJWT. -I (isolated)
// keeps PYTHONPATH and the user's site-packages from slipping in another.
func preparePyJWT(t *testing.T, alg string) verifyFunc {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		harness.MissingTool(t, debianPython+" (Debian python3)", "is not installed")
	}
	// RS256 needs python3-cryptography, which python3-jwt only recommends.
	probe := "import sys, jwt, jwt.algorithms; print(jwt.__version__, jwt.__file__); sys.exit(0 if jwt.algorithms.has_crypto else 3)"
	out, err := exec.Command(debianPython, "-I", "-c", probe).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		if alg == "RS256" {
			harness.MissingTool(t, "python3-cryptography (Debian package)", "is not importable by "+debianPython+"; PyJWT needs it for RS256")
		}
	default:
		harness.MissingTool(t, "python3-jwt (Debian package)", "is not importable by "+debianPython+": "+strings.TrimSpace(lastLine(out)))
	}
	t.Logf("PyJWT %s", strings.TrimSpace(string(out)))
	script, err := filepath.Abs("python/verify.py")
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, c verifyCase) (map[string]any, error) {
		return runScript(t, newScriptInput(c), debianPython, "-I", script)
	}
}

// scriptInput is what node/verify.mjs and python/verify.py read on stdin.
type scriptInput struct {
	Token       string         `json:"token"`
	Alg         string         `json:"alg"`
	Issuer      string         `json:"issuer"`
	LWIContexts map[string]any `json:"lwicontexts"`
	PEM         string         `json:"pem,omitempty"`
	JWKSURL     string         `json:"jwks_url,omitempty"`
	SecretHex   string         `json:"secret_hex,omitempty"`
}

func newScriptInput(c verifyCase) scriptInput {
	in := scriptInput{Token: c.token, Alg: c.alg, Issuer: c.issuer, LWIContexts: c.lwicontexts, PEM: c.key.PEM}
	if c.key.Secret != nil {
		in.SecretHex = hex.EncodeToString(c.key.Secret)
	}
	return in
}

// runScript runs a verifier script with in on stdin. Its contract: exit 0
// and the verified claims on stdout, or exit 1 and "rejected: ..." on
// stderr; anything else is a broken script and fails the test.
func runScript(t *testing.T, in scriptInput, name string, args ...string) (map[string]any, error) {
	t.Helper()
	input, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(input), &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		var claims map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &claims); err != nil {
			t.Fatalf("%s accepted the token but printed no claims (%v): %s", filepath.Base(args[len(args)-1]), err, stdout.Bytes())
		}
		return claims, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1 && strings.HasPrefix(stderr.String(), "rejected: "):
		return nil, &rejection{strings.TrimPrefix(stderr.String(), "rejected: ")}
	default:
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
		return nil, nil
	}
}

// prepareOpenSSL checks signatures with the openssl command line, which
// knows nothing of JWTs: the test splits the token, gives openssl the signed
// bytes and the signature, and checks the claims itself.
func prepareOpenSSL(t *testing.T, _ string) verifyFunc {
	t.Helper()
	openssl := harness.RequireTool(t, "openssl")
	t.Logf("%s", toolVersion(t, openssl, "version"))
	return func(t *testing.T, c verifyCase) (map[string]any, error) {
		t.Helper()
		header, payload, sig := splitToken(t, c.token)
		if alg := decodeSegment(t, header)["alg"]; alg != c.alg {
			return nil, &rejection{fmt.Sprintf("header alg %v, want %s", alg, c.alg)}
		}
		dir := t.TempDir()
		data := writeFile(t, dir, "data.txt", []byte(header+"."+payload))
		switch c.alg {
		case "RS256":
			// dgst -verify checks an RSASSA-PKCS1-v1_5 SHA-256 signature, which is RS256.
			cmd := exec.Command(openssl, "dgst", "-sha256",
				"-verify", writeFile(t, dir, "pub.pem", []byte(c.key.PEM)),
				"-signature", writeFile(t, dir, "sig.bin", sig), data)
			out, err := cmd.CombinedOutput()
			switch {
			case err == nil && strings.Contains(string(out), "Verified OK"):
			case strings.Contains(string(out), "Verification failure"):
				return nil, &rejection{"openssl dgst -verify: signature: Verification failure"}
			default:
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
		case "HS256":
			cmd := exec.Command(openssl, "dgst", "-sha256", "-mac", "HMAC",
				"-macopt", "hexkey:"+hex.EncodeToString(c.key.Secret), "-binary", data)
			mac, err := cmd.Output()
			if err != nil || len(mac) != 32 {
				t.Fatalf("openssl dgst -mac HMAC: %v (%d bytes)", err, len(mac))
			}
			if !hmac.Equal(mac, sig) {
				return nil, &rejection{"openssl dgst -mac HMAC: signature differs from the HMAC-SHA256 openssl computes"}
			}
		default:
			t.Fatalf("no openssl check for %s", c.alg)
		}
		claims := decodeSegment(t, payload)
		return claims, checkClaims(claims, c)
	}
}

// checkClaims is, for the openssl case, what the JWT libraries check for
// the other verifiers: iss, exp in the future, nbf not, and lwicontexts a
// string holding exactly the expected object.
func checkClaims(claims map[string]any, c verifyCase) error {
	now := float64(time.Now().Unix())
	if claims["iss"] != c.issuer {
		return &rejection{fmt.Sprintf("iss is %s, want %q", jsonText(claims["iss"]), c.issuer)}
	}
	if exp, ok := claims["exp"].(float64); !ok || exp <= now {
		return &rejection{fmt.Sprintf("exp %s is not a time in the future", jsonText(claims["exp"]))}
	}
	if nbf, ok := claims["nbf"].(float64); !ok || nbf > now {
		return &rejection{fmt.Sprintf("nbf %s is not a time already passed", jsonText(claims["nbf"]))}
	}
	s, ok := claims["lwicontexts"].(string)
	if !ok {
		return &rejection{fmt.Sprintf("lwicontexts is %T, want a string", claims["lwicontexts"])}
	}
	var got any
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		return &rejection{fmt.Sprintf("lwicontexts does not parse as JSON: %v", err)}
	}
	// The expected object as JSON would give it (float64 numbers), so that
	// DeepEqual compares values, not Go types.
	raw, _ := json.Marshal(c.lwicontexts)
	var want any
	_ = json.Unmarshal(raw, &want)
	if !reflect.DeepEqual(got, want) {
		return &rejection{fmt.Sprintf("lwicontexts is %s, want %s", s, raw)}
	}
	return nil
}

// jsonText shows a claim as the token has it (a time as 1795539033, not 1.795539033e+09).
func jsonText(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(raw)
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func toolVersion(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", tool, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
