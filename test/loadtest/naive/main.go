// Command naive is the comparison point of the load test: a token
// endpoint written the way one usually is, with net/http and golang-jwt, an
// in-memory map of sessions and jwt.NewWithClaims(MapClaims).SignedString on
// every request. No logging, no metrics, no validation beyond the map.
//
//	naive -addr 127.0.0.1:8081 -alg HS256 -key secret.txt
//	naive -addr 127.0.0.1:8081 -alg RS256 -key signing.pem
//
// The sessions are the load test's reused ones: cookie s=1..1000, subject
// c-<n>.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	alg := flag.String("alg", "HS256", "HS256 or RS256")
	keyFile := flag.String("key", "", "HS256: the secret; RS256: a PEM private key")
	sessions := flag.Int("sessions", 1000, "sessions s=1..N")
	flag.Parse()

	data, err := os.ReadFile(*keyFile)
	if err != nil {
		log.Fatal(err)
	}
	var method jwt.SigningMethod
	var key any
	switch *alg {
	case "HS256":
		method, key = jwt.SigningMethodHS256, data
	case "RS256":
		method = jwt.SigningMethodRS256
		if key, err = jwt.ParseRSAPrivateKeyFromPEM(data); err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("unknown alg %q", *alg)
	}

	var mu sync.RWMutex
	store := map[string]string{}
	for i := 1; i <= *sessions; i++ {
		store[strconv.Itoa(i)] = "c-" + strconv.Itoa(i)
	}

	http.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("s")
		if err != nil {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		mu.RLock()
		sub, ok := store[c.Value]
		mu.RUnlock()
		if !ok {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		now := time.Now()
		tok := jwt.NewWithClaims(method, jwt.MapClaims{
			"sub": sub,
			"iss": "https://shop.example",
			"iat": now.Unix(),
			"nbf": now.Add(-30 * time.Second).Unix(),
			"exp": now.Add(15 * time.Minute).Unix(),
		})
		signed, err := tok.SignedString(key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"token": signed, "expires_in": 900})
	})
	http.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
