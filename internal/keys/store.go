package keys

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Store holds the current key Set and swaps in a new one when the key files
// change. Readers never wait: Current is one atomic load, and a request that
// already holds a Set keeps using it, so a reload never disturbs one in
// flight.
type Store struct {
	path, alg string
	opt       Options
	// lifetime is the token lifetime: a key that signed more recently than
	// this is still needed by verifiers.
	lifetime time.Duration
	log      zerolog.Logger
	now      func() time.Time

	cur atomic.Pointer[Set]

	mu          sync.Mutex // serializes reloads; guards the fields below
	used        map[string]*atomic.Int64
	fingerprint [sha256.Size]byte
	onReload    func(error)
}

// OnReload sets a function told the result of every reload (nil: success).
// Set it before Watch starts.
func (s *Store) OnReload(fn func(error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onReload = fn
}

// NewStore loads the keys at path once; an error here is a configuration
// mistake. lifetime is the token lifetime.
func NewStore(path, alg string, allowWorldReadable bool, lifetime time.Duration, log zerolog.Logger) (*Store, error) {
	s := &Store{
		path: path, alg: alg, lifetime: lifetime, log: log, now: time.Now,
		used: map[string]*atomic.Int64{},
	}
	s.opt = Options{AllowWorldReadable: allowWorldReadable, lastUsed: s.lastUsed}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fingerprint, _ = fingerprint(path)
	set, err := load(path, alg, s.opt, s.now())
	if err != nil {
		return nil, err
	}
	s.cur.Store(set)
	return s, nil
}

// Current returns the key set to use now.
func (s *Store) Current() *Set { return s.cur.Load() }

// lastUsed is Options.lastUsed; s.mu is held.
func (s *Store) lastUsed(kid string) *atomic.Int64 {
	u, ok := s.used[kid]
	if !ok {
		u = new(atomic.Int64)
		s.used[kid] = u
	}
	return u
}

// Reload reads the key files again. A failure keeps the current keys and is
// logged with its reason: the service is never left without a signing key.
func (s *Store) Reload(reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fingerprint, _ = fingerprint(s.path)
	return s.reloadLocked(reason)
}

func (s *Store) reloadLocked(reason string) error {
	old := s.Current()
	set, err := load(s.path, s.alg, s.opt, s.now())
	if s.onReload != nil {
		s.onReload(err)
	}
	if err != nil {
		s.log.Error().Err(err).Str("reason", reason).Str("kid", old.Signer.KID).
			Msg("key reload failed: still signing with the previous keys")
		return err
	}
	s.cur.Store(set)
	s.warnRemoved(old, set)
	ev := s.log.Info().Str("reason", reason).Str("kid", set.Signer.KID).Int("published", len(set.Keys))
	if old.Signer.KID != set.Signer.KID {
		ev = ev.Str("previous_kid", old.Signer.KID)
	}
	ev.Msg("keys reloaded")
	return nil
}

// warnRemoved warns about every key that is no longer published although it
// signed a token that may still be alive: verifiers will now refuse it.
func (s *Store) warnRemoved(old, cur *Set) {
	kept := map[string]bool{cur.Signer.KID: true}
	for _, k := range cur.Keys {
		kept[k.KID] = true
	}
	now := s.now()
	for _, k := range old.Keys {
		if kept[k.KID] {
			continue
		}
		if last := s.lastUsed(k.KID).Load(); last != 0 && now.Sub(time.Unix(last, 0)) < s.lifetime {
			s.log.Warn().Str("kid", k.KID).Str("file", k.File).
				Time("last_signed", time.Unix(last, 0)).
				Time("tokens_valid_until", time.Unix(last, 0).Add(s.lifetime)).
				Msg("a key that signed tokens less than one token lifetime ago is no longer published: those tokens will fail verification")
		}
		delete(s.used, k.KID)
	}
}

// Watch reloads when the key files change and rebuilds the published
// bodies every RebuildEvery, checking every interval until ctx ends.
// Comparing file contents (not modification times or inotify events) also
// catches Kubernetes' atomic symlink swap of a Secret volume.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.check()
	}
}

func (s *Store) check() {
	s.mu.Lock()
	defer s.mu.Unlock()
	fp, err := fingerprint(s.path)
	if err == nil && fp != s.fingerprint {
		s.fingerprint = fp
		_ = s.reloadLocked("key files changed")
		return
	}
	cur := s.Current()
	if s.now().Sub(cur.BuiltAt) >= RebuildEvery {
		set, err := cur.Rebuilt(s.now())
		if err != nil {
			s.log.Error().Err(err).Msg("rebuilding the published keys failed")
			return
		}
		s.cur.Store(set)
	}
}

// fingerprint hashes the names and contents of the key files at path, so
// that any change, however it is made, is noticed.
func fingerprint(path string) ([sha256.Size]byte, error) {
	h := sha256.New()
	files := []string{path}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		names, err := KeyFiles(path)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		files = files[:0]
		for _, n := range names {
			files = append(files, filepath.Join(path, n))
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		fi, _ := os.Stat(f)
		h.Write([]byte(f))
		h.Write([]byte{0})
		if fi != nil {
			h.Write([]byte(fi.Mode().String()))
		}
		h.Write(data)
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
