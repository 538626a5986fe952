package main

import (
	"log/slog"

	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/redact"
)

// redactKey is the key secrets in mismatch records are hashed with:
// shadow.redact.key, else one generated once next to the embedded NATS
// store (where the records are, and as private as its credentials), else —
// an external NATS, no directory of ficus's own — nil, which gives a key for
// this process only: equal secrets then hash equal within it, not across
// restarts or ficus instances.
func redactKey(cfg *config.Config, log *slog.Logger) ([]byte, error) {
	if k := cfg.Shadow.Redact.Key.Reveal(); k != "" {
		return []byte(k), nil
	}
	if cfg.NATS.UseEmbedded() {
		return redact.LoadOrCreateKey(cfg.NATS.Embedded.StoreDir)
	}
	log.Warn("shadow.redact.key is not set: secrets in mismatch records are hashed with a key of this process, " +
		"so their hashes do not compare across restarts or ficus instances; set it, the same on every ficus")
	return nil, nil
}
