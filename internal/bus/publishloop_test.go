package bus

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPublishLoop: items are published in queue order; the stream is
// ensured again until it exists (OnReady once); what is still queued when
// ctx ends is published with a context that is not cancelled.
func TestPublishLoop(t *testing.T) {
	queue := make(chan int, 10)
	var ready atomic.Bool
	var ensures, onReady atomic.Int32
	var mu sync.Mutex
	var got []int
	var cancelledPublish atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- PublishLoop[int]{
			Queue: queue, Ready: &ready, RetryEvery: 5 * time.Millisecond,
			Ensure: func(context.Context) error {
				if ensures.Add(1) < 3 {
					return errors.New("no stream yet")
				}
				return nil
			},
			OnReady: func() { onReady.Add(1) },
			Publish: func(pctx context.Context, v int) {
				if pctx.Err() != nil {
					cancelledPublish.Store(true)
				}
				mu.Lock()
				got = append(got, v)
				mu.Unlock()
			},
		}.Run(ctx)
	}()
	queue <- 1
	queue <- 2
	for deadline := time.Now().Add(10 * time.Second); !ready.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream was never ensured")
		}
	}
	cancel()
	// Queued after the end: the drain publishes them, or Run has already
	// returned and they stay queued; both are what a producer may see.
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got[:2], []int{1, 2}) || onReady.Load() != 1 || ensures.Load() != 3 || cancelledPublish.Load() {
		t.Errorf("published %v, OnReady %d times, Ensure %d times, a publish cancelled: %v",
			got, onReady.Load(), ensures.Load(), cancelledPublish.Load())
	}
}

// TestPublishLoopDrains: what is queued when ctx has ended is still
// published, with a context that is not cancelled.
func TestPublishLoopDrains(t *testing.T) {
	queue := make(chan int, 10)
	for i := range 5 {
		queue <- i
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var ready atomic.Bool
	ready.Store(true)
	var got []int
	err := PublishLoop[int]{Queue: queue, Ready: &ready, Ensure: func(context.Context) error { return nil },
		Publish: func(pctx context.Context, v int) {
			if pctx.Err() == nil {
				got = append(got, v)
			}
		}}.Run(ctx)
	if err != nil || len(got) != 5 {
		t.Errorf("drained %v (err %v), want all 5 with a live context", got, err)
	}
}
