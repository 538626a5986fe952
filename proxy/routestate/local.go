package routestate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// LocalFileName is the name of the last-known route state file inside a
// process's data directory.
const LocalFileName = "route-state.json"

// localState is the content of the last-known route state file: what this
// process last applied, so that a restart during a NATS outage serves it
// instead of the config file's seed weights (a route rolled out to 100 must
// not snap back to 0 because a pod restarted while NATS was away).
type localState struct {
	Routes  map[string]State `json:"routes"`
	SavedAt time.Time        `json:"saved_at"`
}

// loadLocal reads the file; a missing file is an empty state.
func loadLocal(path string) (map[string]State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read last-known route state: %w", err)
	}
	var ls localState
	if err := json.Unmarshal(b, &ls); err != nil {
		return nil, fmt.Errorf("read last-known route state %s: %w", path, err)
	}
	if ls.Routes == nil {
		ls.Routes = map[string]State{}
	}
	return ls.Routes, nil
}

// saveLocal replaces the file atomically: a temporary file in the same
// directory, fsynced, renamed over the old one, then the directory fsynced
// so the rename itself survives a power cut. A crash at any point leaves
// either the old file or the new one, never a torn one.
func saveLocal(path string, routes map[string]State) error {
	b, err := json.MarshalIndent(localState{Routes: routes, SavedAt: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save last-known route state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+LocalFileName+".*")
	if err != nil {
		return fmt.Errorf("save last-known route state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("save last-known route state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("save last-known route state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save last-known route state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save last-known route state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
