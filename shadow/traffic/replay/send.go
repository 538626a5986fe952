package replay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

// answer is one replayed answer: as compared, and as written down
// (redacted) for the report.
type answer struct {
	answer diff.Answer
	shown  record.Answer
}

// request builds the request of x for the side p: the recorded method,
// path, query and body; the recorded headers less hop-by-hop ones and
// those carrying a redaction mark; then cfg.Header.
func (r *runner) request(ctx context.Context, x recording.Exchange, p mirror.Paths) (*http.Request, error) {
	path, query, hasQuery := strings.Cut(x.Path, "?")
	u := *p.New
	u.Path, u.RawPath = p.ForNew(path), ""
	u.RawQuery = ""
	if hasQuery {
		u.RawQuery = query
	}
	var body io.Reader
	if b := x.RequestBody.Bytes(); len(b) > 0 {
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, x.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("replay %s %s: %w", x.Method, path, err)
	}
	for k, vs := range x.RequestHeader {
		if skipHeader(k) || redacted(vs) {
			continue
		}
		req.Header[k] = vs
	}
	for k, vs := range r.cfg.Header {
		req.Header[k] = vs
	}
	return req, nil
}

// redacted reports whether a recorded header value is (or holds) a
// secret's mark: such a header is sent only when Config.Header restores it.
func redacted(vs []string) bool {
	for _, v := range vs {
		if strings.Contains(v, redact.Prefix) || strings.TrimSpace(v) == redact.Plain {
			return true
		}
	}
	return false
}

// skipHeader: the hop-by-hop headers, and those the transport or the
// proxy in front of the recorded side wrote.
func skipHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Content-Length", "Host", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", mirror.HeaderName:
		return true
	}
	return false
}

// send sends x to p and returns the answer, redacted like the recording.
func (r *runner) send(ctx context.Context, x recording.Exchange, p mirror.Paths) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := r.request(ctx, x, p)
	if err != nil {
		return answer{}, err
	}
	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	var buf bytes.Buffer
	n, err := io.Copy(io.MultiWriter(h, &capped{&buf, r.cfg.MaxBodyBytes}), resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("replay %s %s: read answer: %w", x.Method, req.URL.Path, err)
	}
	latency := time.Since(start)
	var sum [32]byte
	h.Sum(sum[:0])

	// Redacted as the recorder redacts: the request's secrets first, so
	// that their echoes in the answer are replaced too.
	rx := r.red.Exchange()
	rx.Header(req.Header)
	rx.Query(req.URL.RawQuery)
	ct := resp.Header.Get("Content-Type")
	hdr := rx.Header(resp.Header)
	text, ok := rx.Body(ct, buf.Bytes())
	for _, vs := range hdr {
		for i, v := range vs {
			vs[i] = rx.Text(v)
		}
	}
	text = rx.FinishBody(text)
	truncated := !ok || n > int64(buf.Len()) || x.Answer.Body.Truncated
	a := answer{
		answer: diff.Answer{Status: resp.StatusCode, Header: hdr, ContentType: ct, Body: []byte(text),
			Truncated: truncated, Size: n, Hash: sum},
		shown: record.Answer{Status: resp.StatusCode, Header: hdr, Body: text, BodyTruncated: truncated, Size: n,
			LatencyMS: float64(latency.Microseconds()) / 1000},
	}
	return a, nil
}

// recordedAnswer is the recorded legacy answer in the comparator's terms.
func recordedAnswer(a recording.Answer) diff.Answer {
	out := diff.Answer{Status: a.Status, Header: a.Header, ContentType: a.Header.Get("Content-Type"),
		Body: a.Body.Bytes(), Truncated: a.Body.Truncated, Size: a.Size}
	if raw, err := hex.DecodeString(a.SHA256); err == nil && len(raw) == len(out.Hash) {
		copy(out.Hash[:], raw)
	}
	return out
}

func shownRecorded(a recording.Answer) record.Answer {
	return record.Answer{Status: a.Status, Header: a.Header, Body: a.Body.Text, BodyTruncated: a.Body.Truncated,
		Size: a.Size, LatencyMS: a.LatencyMS}
}

// capped writes up to n bytes to w and drops the rest.
type capped struct {
	w *bytes.Buffer
	n int64
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.n - int64(c.w.Len()); room > 0 {
		c.w.Write(p[:min(int64(len(p)), room)])
	}
	return len(p), nil
}
