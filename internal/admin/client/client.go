// Package client is the one Go client of ficus's admin API: `ficus routes`,
// the demo, ficusbench and the end-to-end tests all talk to a running ficus
// through it. Its answers are the types the server encodes (see package
// internal/admin/api for the map of endpoints to types), so a field renamed
// on one side breaks the build of the other.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the admin listener's URL, e.g. http://127.0.0.1:9901
	// (required; a trailing slash is ignored).
	BaseURL string
	// Token is sent as "Authorization: Bearer <token>" when set (admin.token).
	Token string
	// HTTP sends the requests [a new http.Client over http.DefaultTransport].
	HTTP *http.Client
	// Timeout bounds each call, on top of the caller's context [10s].
	Timeout time.Duration
}

// Client calls one ficus's admin API. It is safe for concurrent use.
type Client struct {
	base, token string
	http        *http.Client
	timeout     time.Duration
}

// New returns a client; it sends nothing until called.
func New(cfg Config) *Client {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Client{base: strings.TrimRight(cfg.BaseURL, "/"), token: cfg.Token, http: cfg.HTTP, timeout: cfg.Timeout}
}

// maxAnswer bounds an answer read into memory: far above any figure the
// API serves, far below what would hurt the caller.
const maxAnswer = 8 << 20

// StatusError is an answer other than 2xx: which request, the status, and
// the server's reason, which is the body (ficus answers {"error": "..."}).
type StatusError struct {
	Method, Path string
	// Code is the status code, Status its line ("503 Service Unavailable").
	Code   int
	Status string
	// Body is the answer's body, surrounding space trimmed.
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %s: %s", e.Method, e.Path, e.Status, e.Body)
}

// ErrNotFound matches (errors.Is) a StatusError of 404 or 405: nothing is
// served at the path — a part this ficus does not run (no shadow, no
// compare_data), an older ficus without the endpoint, or an unknown name.
var ErrNotFound = errors.New("not served by this ficus")

// Is makes errors.Is(err, ErrNotFound) true for 404 and 405.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && (e.Code == http.StatusNotFound || e.Code == http.StatusMethodNotAllowed)
}

// Get decodes the JSON answer to GET path (which may carry a query) into
// out; nil out discards it. It is for endpoints without a method here.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.call(ctx, http.MethodGet, path, nil, out)
}

// GetText returns the answer to GET path as text, whatever its type.
func (c *Client) GetText(ctx context.Context, path string) (string, error) {
	code, status, body, err := c.roundTrip(ctx, http.MethodGet, path, nil)
	if err != nil {
		return "", err
	}
	if err := statusError(http.MethodGet, path, code, status, body); err != nil {
		return "", err
	}
	return string(body), nil
}

// call sends one request, refuses an answer other than 2xx and decodes the
// body into out (unless nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	code, status, body, err := c.roundTrip(ctx, method, path, in)
	if err != nil {
		return err
	}
	if err := statusError(method, path, code, status, body); err != nil {
		return err
	}
	return decode(method, path, body, out)
}

func statusError(method, path string, code int, status string, body []byte) error {
	if code/100 == 2 {
		return nil
	}
	return &StatusError{Method: method, Path: path, Code: code, Status: status, Body: strings.TrimSpace(string(body))}
}

func decode(method, path string, body []byte, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// roundTrip sends one request (in, when not nil, as its JSON body) and
// returns the answer's status and whole body, whatever the status.
func (c *Client) roundTrip(ctx context.Context, method, path string, in any) (code int, status string, body []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, "", nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, "", nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if method != http.MethodGet && method != http.MethodHead {
		// The listener refuses a change without it, body or not: it is
		// what keeps cross-site form posts out (internal/admin/guard.go).
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return 0, "", nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if len(body) > maxAnswer {
		return 0, "", nil, fmt.Errorf("%s %s: answer larger than %d MiB", method, path, maxAnswer>>20)
	}
	return resp.StatusCode, resp.Status, body, nil
}
