package keys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// AllowedBits are the RSA sizes keygen offers.
var AllowedBits = []int{2048, 3072, 4096}

// FileTimeFormat names key files by their UTC creation time, so that a new
// key sorts after the old ones.
const FileTimeFormat = "20060102T150405Z"

// GenerateRSA returns a new RSA private key of one of AllowedBits.
func GenerateRSA(bits int) (*rsa.PrivateKey, error) {
	for _, b := range AllowedBits {
		if b == bits {
			return rsa.GenerateKey(rand.Reader, bits)
		}
	}
	return nil, fmt.Errorf("unsupported key size %d: use 2048, 3072 or 4096", bits)
}

// WriteRSA writes key as PKCS#8 PEM into dir, in a new file named by the
// time now, readable by its owner only. With next the name ends in
// ".next.pem": published, not signing. It never overwrites a file.
func WriteRSA(dir string, key *rsa.PrivateKey, now time.Time, next bool) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("encoding the key: %w", err)
	}
	suffix := ".pem"
	if next {
		suffix = NextSuffix
	}
	path := filepath.Join(dir, now.UTC().Format(FileTimeFormat)+suffix)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}
