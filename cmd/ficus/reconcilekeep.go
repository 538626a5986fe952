package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/internal/bus"
	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile/progresskv"
)

// reconcileKeep is how a `ficus reconcile` run keeps its progress: the
// store (nil when NATS is not reachable and neither --resume nor --fresh
// asks for it), the progress to continue, and how to let NATS go.
type reconcileKeep struct {
	store *progresskv.Store
	saved *reconcile.Saved
	close func()
}

// openReconcileKeep reaches NATS as `ficus report` does (nats.url, else the
// embedded server of a running ficus) and reads the kept progress of
// compare_data name. resume and fresh are the flags; with neither, kept
// progress is refused (the operator says which they mean) and an unreachable
// NATS only means the run's progress is not kept.
func openReconcileKeep(ctx context.Context, cfg *config.Config, name string, resume, fresh bool, log *slog.Logger) (*reconcileKeep, error) {
	flag := "--resume"
	if fresh {
		flag = "--fresh"
	}
	b, err := reconcileBus(ctx, cfg)
	if err != nil {
		if resume || fresh {
			return nil, fmt.Errorf("%s needs NATS, where the progress is kept (bucket %s): %w", flag, progresskv.Bucket(name), err)
		}
		log.Warn("reconcile: NATS is not reachable, so this run's progress is not kept: a stopped run cannot be resumed",
			"compare", name, "err", err)
		return &reconcileKeep{close: func() {}}, nil
	}
	k := &reconcileKeep{store: progresskv.New(b.JS, name), close: func() { _ = closeBus(b) }}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	saved, err := k.store.Load(lctx)
	if err != nil {
		k.close()
		if resume || fresh {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		// As without NATS: a plain run works as it did before progress was kept.
		log.Warn("reconcile: the progress bucket cannot be read, so this run's progress is not kept",
			"compare", name, "err", err)
		return &reconcileKeep{close: func() {}}, nil
	}
	switch {
	case fresh:
		if err := k.store.Delete(lctx); err != nil {
			k.close()
			return nil, err
		}
		if saved != nil {
			log.Info("reconcile: --fresh: the kept progress is discarded", "compare", name, "bucket", k.store.Bucket())
		}
	case resume && saved == nil:
		log.Info("reconcile: --resume: no progress is kept, so the run starts from the beginning", "compare", name)
	case resume:
		k.saved = saved
		log.Info("reconcile: continuing the kept progress", "compare", name, "pass", saved.Pass,
			"ranges_left", len(saved.Todo), "differences", len(saved.Differences), "started", saved.Started.UTC().Format(time.RFC3339))
	case saved != nil:
		k.close()
		return nil, fmt.Errorf("an earlier run's progress is kept in bucket %s (started %s, pass %d, %d difference(s) so far): "+
			"continue it with --resume, or discard it and start over with --fresh",
			k.store.Bucket(), saved.Started.UTC().Format(time.RFC3339), saved.Pass, len(saved.Differences))
	}
	return k, nil
}

// checkpoint is reconcile.Config.Checkpoint, or nil without a store.
func (k *reconcileKeep) checkpoint() func(context.Context, reconcile.Checkpoint) error {
	if k.store == nil {
		return nil
	}
	return k.store.Save
}

// done drops the progress of a run that finished: the next run starts anew.
func (k *reconcileKeep) done(log *slog.Logger) {
	if k.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.store.Delete(ctx); err != nil {
		log.Warn("reconcile: could not drop the finished run's progress; the next run needs --fresh", "err", err)
	}
}

// reconcileBus connects to the NATS of cfg without starting the embedded
// server (that is ficus run's): nats.url, else a running ficus's embedded
// server with the credentials it uses. It fails at once when NATS does not
// answer, rather than connecting in the background.
func reconcileBus(ctx context.Context, cfg *config.Config) (*bus.Bus, error) {
	quiet := slog.New(slog.DiscardHandler)
	bc := busConfig(cfg, quiet)
	bc.Name = "ficus-reconcile"
	if len(bc.URLs) == 0 {
		ec, err := bus.EmbeddedClientConfig(bc.Embedded)
		if err != nil {
			return nil, fmt.Errorf("find the embedded NATS of a running ficus: %w", err)
		}
		ec.Name, ec.Logger = bc.Name, quiet
		bc = ec
	}
	b, err := bus.Open(ctx, bc)
	if err != nil {
		return nil, err
	}
	if err := b.Ready(ctx); err != nil {
		_ = closeBus(b)
		return nil, err
	}
	return b, nil
}

// reconcileOutputFlag takes --output FORMAT FILE (two words, as the flag is
// spelled; --output=FORMAT FILE too) out of args, since package flag knows
// only one value per flag.
func reconcileOutputFlag(args []string) (rest []string, format, file string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(rest, args[i:]...), format, file, nil
		case a == "--output" || a == "-output":
			if i+2 >= len(args) {
				return nil, "", "", errors.New("--output wants a format and a file: --output jsonl FILE")
			}
			format, file = args[i+1], args[i+2]
			i += 2
		case strings.HasPrefix(a, "--output=") || strings.HasPrefix(a, "-output="):
			if i+1 >= len(args) {
				return nil, "", "", errors.New("--output wants a format and a file: --output jsonl FILE")
			}
			_, format, _ = strings.Cut(a, "=")
			file = args[i+1]
			i++
		default:
			rest = append(rest, a)
		}
	}
	if format != "" && format != "jsonl" {
		return nil, "", "", fmt.Errorf("--output: the only format is jsonl, got %q", format)
	}
	if format != "" && (file == "" || strings.HasPrefix(file, "-")) {
		return nil, "", "", errors.New("--output wants a format and a file: --output jsonl FILE")
	}
	return rest, format, file, nil
}

// writeFileAtomically writes path through a temporary file in its
// directory, renamed into place once complete: a reader never sees half a
// file, and a failed run leaves no partial one.
func writeFileAtomically(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }() // after the rename, nothing to remove
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
