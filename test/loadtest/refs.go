package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// binaries are what the load test builds into its temporary directory.
type binaries struct {
	chattoken, naive string
	tokenTest        string // go test -c ./internal/token
	httpapiTest      string // go test -c ./internal/httpapi
	// The OpenSSL build and its token benchmarks; empty when not built.
	chattokenOpenSSL, tokenTestOpenSSL string
}

const buildTimeout = 5 * time.Minute

func build(dir string, openssl bool) (binaries, error) {
	b := binaries{
		chattoken:   filepath.Join(dir, "chattoken"),
		naive:       filepath.Join(dir, "naive"),
		tokenTest:   filepath.Join(dir, "token.test"),
		httpapiTest: filepath.Join(dir, "httpapi.test"),
	}
	type step struct {
		env  []string
		args []string
	}
	pure := []string{"CGO_ENABLED=0"}
	steps := []step{
		// As `make build` builds it.
		{pure, []string{"build", "-trimpath", "-ldflags=-s -w", "-o", b.chattoken, "./cmd/chattoken"}},
		{pure, []string{"build", "-trimpath", "-o", b.naive, "./test/loadtest/naive"}},
		{pure, []string{"test", "-c", "-o", b.tokenTest, "./internal/token"}},
		{pure, []string{"test", "-c", "-o", b.httpapiTest, "./internal/httpapi"}},
	}
	if openssl {
		b.chattokenOpenSSL = filepath.Join(dir, "chattoken-openssl")
		b.tokenTestOpenSSL = filepath.Join(dir, "token-openssl.test")
		cgo := []string{"CGO_ENABLED=1"}
		steps = append(steps,
			// As `make build-openssl` builds it.
			step{cgo, []string{"build", "-tags", "openssl", "-trimpath", "-ldflags=-s -w", "-o", b.chattokenOpenSSL, "./cmd/chattoken"}},
			step{cgo, []string{"test", "-tags", "openssl", "-c", "-o", b.tokenTestOpenSSL, "./internal/token"}},
		)
	}
	for _, s := range steps {
		progress("go %s", strings.Join(s.args, " "))
		if _, err := runChildEnv(buildTimeout, s.env, "go", s.args...); err != nil {
			return b, err
		}
	}
	return b, nil
}

// opensslVariant reports whether the tree has files under the openssl
// build tag, and whether libcrypto's headers are there to build them.
func opensslVariant() (present, buildable bool) {
	list := func(tags ...string) string {
		args := append([]string{"list"}, tags...)
		args = append(args, "-f", "{{.ImportPath}} {{.GoFiles}} {{.CgoFiles}}", "./...")
		out, err := runChildEnv(time.Minute, []string{"CGO_ENABLED=1"}, "go", args...)
		if err != nil {
			return ""
		}
		return out
	}
	plain, tagged := list(), list("-tags", "openssl")
	present = plain != "" && tagged != "" && plain != tagged
	_, err := runChild(10*time.Second, "pkg-config", "--exists", "libcrypto")
	return present, err == nil
}

// benchLine is one line of `go test -bench` output.
type benchLine struct {
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
	Metrics     map[string]float64
}

var benchLineRE = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// goBench runs the benchmarks of a test binary matching re, pinned to the
// server's core.
func goBench(testBinary, re, benchtime string) (map[string]benchLine, string, usage, error) {
	out, use, err := runPinned(5*time.Minute, testBinary,
		"-test.run", "^$", "-test.bench", re, "-test.benchtime", benchtime, "-test.benchmem")
	if err != nil {
		return nil, out, use, err
	}
	return parseBench(out), out, use, nil
}

func parseBench(out string) map[string]benchLine {
	res := map[string]benchLine{}
	for line := range strings.SplitSeq(out, "\n") {
		m := benchLineRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		bl := benchLine{Metrics: map[string]float64{}}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				bl.NsPerOp = v
			case "B/op":
				bl.BytesPerOp = v
			case "allocs/op":
				bl.AllocsPerOp = v
			default:
				bl.Metrics[f[i+1]] = v
			}
		}
		res[m[1]] = bl
	}
	return res
}

var opensslSpeedRE = regexp.MustCompile(`(?m)^rsa\s+2048 bits\s+\S+\s+\S+\s+([0-9.]+)\s+([0-9.]+)`)

// opensslSpeed runs `openssl speed -seconds 3 rsa2048` pinned to the
// server's core and returns the signatures per second.
func opensslSpeed() (float64, string, usage, error) {
	out, use, err := runPinned(time.Minute, "openssl", "speed", "-seconds", "3", "rsa2048")
	if err != nil {
		return 0, out, use, err
	}
	m := opensslSpeedRE.FindStringSubmatch(out)
	if m == nil {
		return 0, out, use, fmt.Errorf("no rsa 2048 line in openssl speed's output:\n%s", out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v, out, use, nil
}

// writeKeys writes a new RSA-2048 key (PKCS#8 PEM) and an HS256 secret,
// both mode 0600, into dir.
func writeKeys(dir string) (rsaPath, hmacPath string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	rsaPath = filepath.Join(dir, "signing.pem")
	if err := os.WriteFile(rsaPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	hmacPath = filepath.Join(dir, "secret.txt")
	return rsaPath, hmacPath, os.WriteFile(hmacPath, []byte(randomHex(32)), 0o600)
}
