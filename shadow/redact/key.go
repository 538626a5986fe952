package redact

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFile is the file, in a data directory, that keeps a generated key: 64
// hex digits (256 bits) and a newline, mode 0600.
const KeyFile = "ficus-shadow-redact.key"

// NewKey returns a random key.
func NewKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate the redaction key: %w", err)
	}
	return k, nil
}

// LoadOrCreateKey returns the key kept in dir, generating it on first use.
// Hashes are comparable only under one key, so the key must outlive
// restarts; it must also stay away from whoever reads the records, or
// short secrets could be guessed from their hashes.
func LoadOrCreateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFile)
	k, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("redaction key: %w", err)
	}
	fresh, err := NewKey()
	if err != nil {
		return nil, err
	}
	// Written whole under a temporary name and linked into place, which
	// fails if the name is taken: two processes starting at once on one
	// directory end up with the same key, and no reader sees half a file.
	tmp, err := os.CreateTemp(dir, ".ficus-shadow-redact-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("redaction key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(fresh) + "\n")
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return readKey(path)
	case err != nil:
		return nil, fmt.Errorf("redaction key: %w", err)
	}
	return fresh, nil
}

func readKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("redaction key: %w", err)
	}
	k, err := hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(k) < 16 {
		// The content is a secret: say only where.
		return nil, fmt.Errorf("redaction key: %s does not hold a key of at least 32 hex digits "+
			"(delete it to generate a new one; earlier hashes then no longer compare)", path)
	}
	return k, nil
}

// LoadKey returns the key kept in dir, or nil when there is none; unlike
// LoadOrCreateKey it never writes (for readers such as `ficus replay`).
func LoadKey(dir string) ([]byte, error) {
	k, err := readKey(filepath.Join(dir, KeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return k, err
}
