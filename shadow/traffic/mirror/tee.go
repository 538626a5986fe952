package mirror

import (
	"crypto/sha256"
	"hash"
	"io"
	"sync"
)

// reqTee copies up to max bytes of a request body as the primary transport
// reads it. It never reads on its own, so the primary request sees exactly
// the bytes and timing it would without shadowing. The transport may still
// be writing the body when the response is done, hence the lock.
type reqTee struct {
	rc  io.ReadCloser
	max int64

	mu       sync.Mutex
	buf      []byte
	n        int64
	complete bool // EOF was seen and every byte fit in buf
}

func (t *reqTee) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	t.mu.Lock()
	if n > 0 {
		t.n += int64(n)
		if room := t.max - int64(len(t.buf)); room > 0 {
			t.buf = append(t.buf, p[:min(int64(n), room)]...)
		}
	}
	if err == io.EOF {
		t.complete = t.n == int64(len(t.buf))
	}
	t.mu.Unlock()
	return n, err
}

func (t *reqTee) Close() error { return t.rc.Close() }

// copyOut returns the body read so far and whether it is the whole body.
func (t *reqTee) copyOut() ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf, t.complete
}

// respTee copies up to max bytes of the response body as the client reads
// it and hashes all of it; when the body is finished (EOF or Close) it
// calls done once with what it saw.
type respTee struct {
	rc   io.ReadCloser
	max  int64
	buf  []byte
	n    int64
	h    hash.Hash
	eof  bool
	once sync.Once
	done func(t *respTee)
}

// newRespTee tees rc; size is the body's announced length (-1 unknown),
// to size the copy once: it is held in the queue, spare capacity included.
func newRespTee(rc io.ReadCloser, max, size int64, done func(*respTee)) *respTee {
	t := &respTee{rc: rc, max: max, h: sha256.New(), done: done}
	if size > 0 {
		t.buf = make([]byte, 0, min(size, max))
	}
	return t
}

func (t *respTee) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 {
		t.h.Write(p[:n])
		t.n += int64(n)
		if room := t.max - int64(len(t.buf)); room > 0 {
			t.buf = append(t.buf, p[:min(int64(n), room)]...)
		}
	}
	if err == io.EOF {
		t.eof = true
		t.finish()
	}
	return n, err
}

func (t *respTee) Close() error {
	err := t.rc.Close()
	t.finish()
	return err
}

func (t *respTee) finish() { t.once.Do(func() { t.done(t) }) }

func (t *respTee) sum() [32]byte {
	var s [32]byte
	copy(s[:], t.h.Sum(nil))
	return s
}
