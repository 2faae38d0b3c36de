package keys

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// NextSuffix marks a key file that is published but does not sign yet.
const NextSuffix = ".next.pem"

// Options change how key files are read.
type Options struct {
	// AllowWorldReadable accepts private key files whose mode lets any user
	// read them.
	AllowWorldReadable bool
	// lastUsed returns the shared "last signed" clock for a kid, so a
	// Store can follow a key across reloads. Nil gives every key its own.
	lastUsed func(kid string) *atomic.Int64
}

// Load reads the signing key for alg ("RS256" or "HS256") from path. For
// RS256, path may also be a directory: every *.pem file in it is published,
// and the one whose name sorts last, among those not ending in ".next.pem",
// signs.
func Load(path, alg string, opt Options) (*Set, error) {
	return load(path, alg, opt, time.Now())
}

func load(path, alg string, opt Options, now time.Time) (*Set, error) {
	fi, err := os.Stat(path)
	if err != nil {
		// The *PathError says which file and why, never its contents.
		return nil, err
	}
	switch alg {
	case "RS256":
		if fi.IsDir() {
			return loadRSADir(path, opt, now)
		}
		key, err := readRSAFile(path, opt)
		if err != nil {
			return nil, err
		}
		pub, err := newPublishedKey(&key.PublicKey, filepath.Base(path), false)
		if err != nil {
			return nil, err
		}
		set, err := newRSASet(key, []PublishedKey{pub}, now, opt.used(pub.KID))
		if err != nil {
			return nil, err
		}
		set.SignerWritten = fi.ModTime()
		return set, nil
	case "HS256":
		if fi.IsDir() {
			return nil, errors.New("an HS256 secret must be a file, not a directory")
		}
		data, err := readPrivateFile(path, opt)
		if err != nil {
			return nil, err
		}
		set, err := NewHMACSet(data)
		if err != nil {
			return nil, err
		}
		set.Signer.lastUsed = opt.used("")
		set.SignerWritten = fi.ModTime()
		return set, nil
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
}

func (o Options) used(kid string) *atomic.Int64 {
	if o.lastUsed == nil {
		return new(atomic.Int64)
	}
	return o.lastUsed(kid)
}

// loadRSADir reads every key of a key directory.
func loadRSADir(dir string, opt Options, now time.Time) (*Set, error) {
	names, err := KeyFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no *.pem key file in directory %s", dir)
	}
	var published []PublishedKey
	var signer *rsa.PrivateKey
	var signerFile string
	seen := map[string]string{}
	for _, name := range names {
		key, err := readRSAFile(filepath.Join(dir, name), opt)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		next := strings.HasSuffix(name, NextSuffix)
		pub, err := newPublishedKey(&key.PublicKey, name, next)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if other, dup := seen[pub.KID]; dup {
			return nil, fmt.Errorf("%s and %s hold the same key", other, name)
		}
		seen[pub.KID] = name
		published = append(published, pub)
		if !next {
			// names are sorted, so the last non-next key wins.
			signer, signerFile = key, name
		}
	}
	if signer == nil {
		return nil, fmt.Errorf("no key in %s can sign: every key file ends in %s", dir, NextSuffix)
	}
	set, err := newRSASet(signer, published, now, opt.used(Thumbprint(&signer.PublicKey)))
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(filepath.Join(dir, signerFile)); err == nil {
		set.SignerWritten = fi.ModTime()
	}
	return set, nil
}

// KeyFiles lists the key files of a directory in sorted order: *.pem,
// skipping hidden entries such as the "..data" links of a Kubernetes
// Secret volume.
func KeyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".pem") {
			continue
		}
		// A Secret volume's files are symlinks: judge what they point at.
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func readRSAFile(path string, opt Options) (*rsa.PrivateKey, error) {
	data, err := readPrivateFile(path, opt)
	if err != nil {
		return nil, err
	}
	return ParseRSAPrivateKey(data)
}

// readPrivateFile reads a file holding secret key material, refusing one
// that every user of the machine may read.
func readPrivateFile(path string, opt Options) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if mode := fi.Mode().Perm(); mode&0o004 != 0 && !opt.AllowWorldReadable {
		return nil, fmt.Errorf("%s is readable by every user (mode %#o): chmod 600 it, or set CHATTOKEN_ALLOW_WORLD_READABLE_KEY=true", filepath.Base(path), mode)
	}
	return os.ReadFile(path)
}
