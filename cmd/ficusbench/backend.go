package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// payload is the 1 KiB (1024 bytes) JSON document every backend (Go or nginx) returns.
var payload = func() string {
	var b strings.Builder
	b.WriteString(`{"id":42,"kind":"order","items":[`)
	for i := 0; b.Len() < 950; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","qty":%d}`, i, i%7+1)
	}
	b.WriteString(`],"pad":"`)
	for b.Len() < 1022 {
		b.WriteByte('x')
	}
	b.WriteString(`"}`)
	return b.String() // exactly 1024 bytes
}()

// backendCmd serves payload on every -listen address until ctx ends.
func backendCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "comma-separated host:port list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body := []byte(payload)
	clen := []string{strconv.Itoa(len(body))}
	ctype := []string{"application/json"}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hdr := w.Header()
		hdr["Content-Type"] = ctype
		hdr["Content-Length"] = clen
		_, _ = w.Write(body)
	})
	errc := make(chan error, 4)
	var srvs []*http.Server
	for _, addr := range strings.Split(*listen, ",") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("backend listen %q: %w", addr, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		srvs = append(srvs, srv)
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("backend serve: %w", err)
	}
	for _, s := range srvs {
		if err := s.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}
