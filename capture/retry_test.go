package capture

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestRunWithRetry(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Run("transient failures are retried until success", func(t *testing.T) {
		calls := 0
		ctx, cancel := context.WithCancel(context.Background())
		err := RunWithRetry(ctx, log, time.Millisecond, 4*time.Millisecond, func(context.Context) error {
			calls++
			if calls == 3 {
				cancel() // the source runs until ctx ends
				return context.Canceled
			}
			return errors.New("server went away")
		})
		if err != nil || calls != 3 {
			t.Fatalf("err %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("a permanent error stops at once", func(t *testing.T) {
		calls := 0
		err := RunWithRetry(context.Background(), log, time.Millisecond, time.Millisecond, func(context.Context) error {
			calls++
			return Permanent(errors.New("table has no primary key"))
		})
		if !IsPermanent(err) || calls != 1 {
			t.Fatalf("err %v after %d calls", err, calls)
		}
	})
}
