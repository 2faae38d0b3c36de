package keys

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/testkeys"
	"github.com/chattoken/chattoken/test/harness"
)

// keyPool hands out distinct test keys.
func keyPool() []*rsa.PrivateKey {
	return []*rsa.PrivateKey{testkeys.RSA(0), testkeys.RSA(1), testkeys.RSA(2), testkeys.RSA(3)}
}

func writeKey(t *testing.T, dir, name string, key *rsa.PrivateKey, mode os.FileMode) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, testkeys.PEM(key), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is masked by umask
		t.Fatal(err)
	}
}

func kids(set *Set) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	return out
}

func TestLoadDirectory(t *testing.T) {
	t.Parallel()
	k := keyPool()
	dir := t.TempDir()
	writeKey(t, dir, "20261101T000000Z.pem", k[0], 0o600)
	writeKey(t, dir, "20261123T164500Z.pem", k[1], 0o600)
	writeKey(t, dir, "20261201T000000Z.next.pem", k[2], 0o600)
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o700); err != nil {
		t.Fatal(err)
	}

	set, err := Load(dir, "RS256", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The last name that is not .next signs; every key is published.
	if set.Signer.KID != Thumbprint(&k[1].PublicKey) {
		t.Errorf("signer %s, want the key of 20261123T164500Z.pem", set.Signer.KID)
	}
	want := []string{Thumbprint(&k[0].PublicKey), Thumbprint(&k[1].PublicKey), Thumbprint(&k[2].PublicKey)}
	if strings.Join(kids(set), ",") != strings.Join(want, ",") {
		t.Errorf("published %v, want %v", kids(set), want)
	}
	if !set.Published.Several || !set.Keys[2].Next || set.Keys[0].Next {
		t.Errorf("Several %v, Next flags %v %v", set.Published.Several, set.Keys[0].Next, set.Keys[2].Next)
	}
	if !bytes.Equal(set.Published.PEM, set.Keys[1].PEM) {
		t.Error("the PEM body is not the signing key's")
	}

	// Omnichannel's array: kid, base64 of the whole PEM, expiry a day ahead.
	var array []struct {
		KID       string `json:"kid"`
		PublicKey string `json:"publicKey"`
		Expiry    int64  `json:"expiry"`
	}
	if err := json.Unmarshal(set.Published.Array, &array); err != nil {
		t.Fatal(err)
	}
	if len(array) != 3 {
		t.Fatalf("array has %d entries", len(array))
	}
	for i, e := range array {
		pemData, err := base64.StdEncoding.DecodeString(e.PublicKey)
		if err != nil || !bytes.Equal(pemData, set.Keys[i].PEM) || e.KID != want[i] {
			t.Errorf("entry %d: kid %s, publicKey is not the base64 of the PEM (%v)", i, e.KID, err)
		}
		if until := time.Until(time.Unix(e.Expiry, 0)); until < 24*time.Hour || until > ArrayExpiry {
			t.Errorf("entry %d expires in %s; want between a day and %s", i, until, ArrayExpiry)
		}
	}
	var jwks struct{ Keys []map[string]string }
	if err := json.Unmarshal(set.Published.JWKS, &jwks); err != nil || len(jwks.Keys) != 3 {
		t.Errorf("JWKS %s: %v", set.Published.JWKS, err)
	}
}

func TestLoadDirectoryRefusals(t *testing.T) {
	t.Parallel()
	k := keyPool()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		opt   Options
		want  string
	}{
		{"empty directory", func(*testing.T, string) {}, Options{}, "no *.pem key file"},
		{"only next keys", func(t *testing.T, dir string) {
			writeKey(t, dir, "a.next.pem", k[0], 0o600)
		}, Options{}, "no key in"},
		{"world-readable key", func(t *testing.T, dir string) {
			writeKey(t, dir, "a.pem", k[0], 0o644)
		}, Options{}, "readable by every user"},
		{"one bad key spoils the set", func(t *testing.T, dir string) {
			writeKey(t, dir, "a.pem", k[0], 0o600)
			if err := os.WriteFile(filepath.Join(dir, "b.pem"), []byte("junk"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, Options{}, "b.pem: no PEM block"},
		{"the same key twice", func(t *testing.T, dir string) {
			writeKey(t, dir, "a.pem", k[0], 0o600)
			writeKey(t, dir, "b.next.pem", k[0], 0o600)
		}, Options{}, "hold the same key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tt.setup(t, dir)
			if _, err := Load(dir, "RS256", tt.opt); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("world-readable allowed when asked", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeKey(t, dir, "a.pem", k[0], 0o644)
		if _, err := Load(dir, "RS256", Options{AllowWorldReadable: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(filepath.Join(dir, "a.pem"), "RS256", Options{}); err == nil {
			t.Error("a world-readable single key file was accepted")
		}
	})
	t.Run("HS256 directory", func(t *testing.T) {
		t.Parallel()
		if _, err := Load(t.TempDir(), "HS256", Options{}); err == nil {
			t.Error("a directory was accepted as an HS256 secret")
		}
	})
}

func TestSetRebuiltMovesExpiry(t *testing.T) {
	t.Parallel()
	set, err := NewRSASet(keyPool()[0])
	if err != nil {
		t.Fatal(err)
	}
	later, err := set.Rebuilt(set.BuiltAt.Add(2 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(later.Published.Array, set.Published.Array) || later.Signer.KID != set.Signer.KID ||
		!bytes.Equal(later.Published.PEM, set.Published.PEM) {
		t.Error("Rebuilt should change the array's expiry and nothing else")
	}
}

func TestStoreReload(t *testing.T) {
	t.Parallel()
	k := keyPool()
	dir := t.TempDir()
	writeKey(t, dir, "1.pem", k[0], 0o600)
	logs := &harness.LockedBuffer{}
	store, err := NewStore(dir, "RS256", false, 15*time.Minute, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	first := store.Current()
	first.Signer.MarkUsed(time.Now())

	// A broken file keeps the old keys and says why.
	if err := os.WriteFile(filepath.Join(dir, "2.pem"), []byte("half-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload("test"); err == nil {
		t.Fatal("Reload accepted a broken key file")
	}
	if store.Current() != first || !strings.Contains(logs.String(), "still signing with the previous keys") {
		t.Fatalf("a failed reload changed the keys or did not log: %s", logs)
	}

	// Publish the next key, then make it sign.
	writeKey(t, dir, "2.next.pem", k[1], 0o600)
	if err := os.Remove(filepath.Join(dir, "2.pem")); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if got := store.Current(); got.Signer.KID != first.Signer.KID || len(got.Keys) != 2 {
		t.Fatalf("after adding 2.next.pem: signer %s, %d keys", got.Signer.KID, len(got.Keys))
	}
	if err := os.Rename(filepath.Join(dir, "2.next.pem"), filepath.Join(dir, "2.pem")); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if got := store.Current(); got.Signer.KID != Thumbprint(&k[1].PublicKey) || len(got.Keys) != 2 {
		t.Fatalf("after the rename: signer %s, %d keys", got.Signer.KID, len(got.Keys))
	}

	// Removing the old key while its tokens live is warned about.
	if err := os.Remove(filepath.Join(dir, "1.pem")); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "less than one token lifetime ago") || !strings.Contains(logs.String(), first.Signer.KID) {
		t.Errorf("no warning about removing a key in use:\n%s", logs)
	}
	if got := store.Current(); len(got.Keys) != 1 || got.Published.Several {
		t.Errorf("after removing 1.pem: %d keys", len(got.Keys))
	}
}

// TestStoreWarnsWithinATokenLifetime drives the store's clock: removing a
// key is warned about while a token it signed may still be alive (less than
// one token lifetime since it last signed), and not once that lifetime has
// passed, when its tokens have all expired.
func TestStoreWarnsWithinATokenLifetime(t *testing.T) {
	t.Parallel()
	const lifetime = 15 * time.Minute
	signed := time.Unix(1795000000, 0)
	for _, tc := range []struct {
		since time.Duration // from the old key's last signature to its removal
		warn  bool
	}{
		{0, true},
		{lifetime - time.Second, true},
		{lifetime, false},
		{24 * time.Hour, false},
	} {
		t.Run(tc.since.String(), func(t *testing.T) {
			t.Parallel()
			k := keyPool()
			dir := t.TempDir()
			writeKey(t, dir, "1.pem", k[0], 0o600)
			writeKey(t, dir, "2.next.pem", k[1], 0o600)
			logs := &harness.LockedBuffer{}
			store, err := NewStore(dir, "RS256", false, lifetime, zerolog.New(logs))
			if err != nil {
				t.Fatal(err)
			}
			now := signed
			store.now = func() time.Time { return now }
			old := store.Current().Signer
			old.MarkUsed(signed)

			// The next key signs; the old one stays published.
			if err := os.Rename(filepath.Join(dir, "2.next.pem"), filepath.Join(dir, "2.pem")); err != nil {
				t.Fatal(err)
			}
			if err := store.Reload("test"); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(logs.String(), "no longer published") {
				t.Fatalf("warned while the old key is still published:\n%s", logs)
			}

			now = signed.Add(tc.since)
			if err := os.Remove(filepath.Join(dir, "1.pem")); err != nil {
				t.Fatal(err)
			}
			if err := store.Reload("test"); err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(logs.String(), "less than one token lifetime ago")
			switch {
			case warned != tc.warn:
				t.Fatalf("removed %s after the old key last signed: warned %v, want %v:\n%s", tc.since, warned, tc.warn, logs)
			case warned:
				until := signed.Add(lifetime).Format(time.RFC3339)
				if !strings.Contains(logs.String(), `"kid":"`+old.KID+`"`) || !strings.Contains(logs.String(), `"tokens_valid_until":"`+until) {
					t.Errorf("the warning does not name kid %s and its tokens' end %s:\n%s", old.KID, until, logs)
				}
			}
		})
	}
}

func TestStoreWatchNoticesASymlinkSwap(t *testing.T) {
	t.Parallel()
	k := keyPool()
	// The layout of a Kubernetes Secret volume: signing.pem -> ..data/signing.pem,
	// ..data -> ..2026_11_24_1, swapped atomically on update.
	dir := t.TempDir()
	for i, name := range []string{"..2026_11_24_1", "..2026_11_24_2"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		writeKey(t, filepath.Join(dir, name), "signing.pem", k[i], 0o600)
	}
	if err := os.Symlink("..2026_11_24_1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/signing.pem", filepath.Join(dir, "signing.pem")); err != nil {
		t.Fatal(err)
	}
	store, err := NewStore(dir, "RS256", false, time.Minute, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if store.Current().Signer.KID != Thumbprint(&k[0].PublicKey) {
		t.Fatal("the first key does not sign")
	}
	// Swap ..data atomically, as the kubelet does.
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink("..2026_11_24_2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	// check is what Watch runs on every tick.
	store.check()
	if store.Current().Signer.KID != Thumbprint(&k[1].PublicKey) {
		t.Fatal("the swapped key is not in use after a check")
	}
}

func TestStoreRebuildsHourly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeKey(t, dir, "1.pem", keyPool()[0], 0o600)
	store, err := NewStore(dir, "RS256", false, time.Minute, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	before := store.Current()
	now := before.BuiltAt.Add(RebuildEvery)
	store.now = func() time.Time { return now }
	store.check()
	after := store.Current()
	if after == before || !after.BuiltAt.Equal(now) || bytes.Equal(after.Published.Array, before.Published.Array) {
		t.Error("the published bodies were not rebuilt after an hour")
	}
}
