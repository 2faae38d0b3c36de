package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/chattoken/chattoken/internal/keys"
)

// runKeygen writes a new private key and prints what an Omnichannel admin
// needs: the public PEM and its kid.
func runKeygen(_ context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	bits := fs.Int("bits", 2048, "RSA key size: 2048, 3072 or 4096")
	out := fs.String("out", ".", "directory to write the private key into, as <UTC time>.pem with mode 0600")
	next := fs.Bool("next", false, "name it <UTC time>.next.pem: published by a key directory but not signing until renamed")
	if helped, err := parseFlags(fs, args, env, 0); helped || err != nil {
		return err
	}
	key, err := keys.GenerateRSA(*bits)
	if err != nil {
		return &usageError{msg: "keygen: " + err.Error()}
	}
	path, err := keys.WriteRSA(*out, key, time.Now(), *next)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	set, err := keys.NewRSASet(key)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(env.stderr, "wrote private key %s (mode 0600); keep it secret\n", path)
	fmt.Fprintf(env.stdout, "kid: %s\n%s", set.Signer.KID, set.Published.PEM)
	return nil
}
