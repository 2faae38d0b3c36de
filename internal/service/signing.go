package service

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/token"
)

// tokenReuseSize bounds the remembered tokens (about 1 KiB each); with the
// session cache's default it keeps peak memory under 40 MiB under load.
const tokenReuseSize = 5_000

// Signing is what minting a token needs, built from the configuration.
type Signing struct {
	Store  *keys.Store
	Minter *token.Minter
	Claims token.Assembler
}

// NewSigning loads the keys and the context schema and signs one token as a
// self-test. Every failure names the variable at fault.
func NewSigning(cfg *config.Config, log zerolog.Logger) (*Signing, error) {
	store, err := keys.NewStore(cfg.SigningKeyFile, cfg.SigningAlg, cfg.AllowWorldReadableKey, cfg.TokenTTL, log)
	if err != nil {
		return nil, config.Errorf("SIGNING_KEY_FILE", "%v", err)
	}
	minter := &token.Minter{
		Issuer:    cfg.Issuer,
		TTL:       cfg.TokenTTL,
		ClockSkew: cfg.ClockSkew,
		Keys:      store.Current,
		Now:       time.Now,
	}
	if err := minter.SelfTest(); err != nil {
		return nil, config.Errorf("SIGNING_KEY_FILE", "%v", err)
	}
	if cfg.TokenReuse {
		minter.Reuse = token.NewReuse(tokenReuseSize, cfg.TokenTTL)
	}
	// The file's every widget is checked here, so that a mistake in any of
	// them stops the service at start rather than at that widget's first chat.
	widgets := lwicontext.Empty()
	if cfg.ContextFile != "" {
		if widgets, err = lwicontext.Load(cfg.ContextFile, cfg.MaxContextBytes); err != nil {
			return nil, config.Errorf("CONTEXT_FILE", "%v", err)
		}
	}
	return &Signing{
		Store:  store,
		Minter: minter,
		Claims: token.Assembler{Subject: cfg.Subject, SubjectGUID: cfg.SubjectFormat == config.SubjectGUID,
			Identity: cfg.IdentityClaims, Context: widgets},
	}, nil
}
