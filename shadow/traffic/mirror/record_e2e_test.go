package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/report"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// TestRecordedRedacted sends requests carrying every kind of secret through
// a shadowed route whose two sides disagree, in those secrets too, and
// reads the records back from a real JetStream: no secret is in the bytes
// of any message, nor in the report over them; secrets are hashed with the
// recorder's key, equal ones equal, different ones different, the same in
// the diffs as in the bodies and headers next to them. Every secret value
// contains "s3cret".
func TestRecordedRedacted(t *testing.T) {
	ns := testenv.MustStartNATS(t)
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := []byte("e2e-redaction-key-0123")
	rec, err := record.New(ctx, record.Config{Conn: nc, RedactKey: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRec := context.WithCancel(ctx)
	recDone := make(chan struct{})
	go func() { defer close(recDone); _ = rec.Run(rctx) }()
	t.Cleanup(func() { stopRec(); <-recDone })
	red, err := redact.New(redact.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	mark := red.Mark

	side := func(name string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Set-Cookie", "sid=s3cret-sid-"+name+"; Path=/")
			w.Header().Set("X-Auth-Token", "s3cret-same-token")
			if r.URL.Path == "/login" {
				w.Header().Set("Content-Type", "text/plain")
				fmt.Fprintf(w, "welcome\npassword=s3cret-hunter-%s\n", name)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"side":%q,"token":"s3cret-token-%s","user":{"password":"s3cret-same-pw"},`+
				`"card":{"cvv":"s3cret-cvv-%s","pin":"s3cret-same-pin"},"otp":"s3cret-otp-%s"}`, name, name, name, name)
		}
	}
	legacy, nw := newBackend(t, side("legacy")), newBackend(t, side("new"))
	s := start(t, legacy.url(t), nw.url(t), 0, Config{Recorder: rec},
		Route{Sample: 1, UnsafeMethods: true, Rules: diff.Rules{Headers: []string{"Set-Cookie", "X-Auth-Token"}}})
	secretHeaders := http.Header{
		"X-Api-Key": {"s3cret-api-key"}, "X-Auth-Token": {"s3cret-auth-token"}, "X-Csrf-Token": {"s3cret-csrf"},
		"Authorization": {"Bearer s3cret-bearer"}, "Cookie": {"sid=s3cret-cookie; theme=dark"}, "X-Trace": {"visible"},
	}
	with := func(ct string) http.Header {
		h := secretHeaders.Clone()
		h.Set("Content-Type", ct)
		return h
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("user", "bob")
	_ = mw.WriteField("password", "s3cret-multipart-pw")
	_ = mw.Close()
	requests := []struct{ path, ct, body string }{
		{"/orders?id=7&key=s3cret-qkey&sig=s3cret-qsig&code=s3cret-qcode&token=s3cret-qtoken", "application/json",
			`{"order":{"payment":{"pwd":"s3cret-pwd","pin":"s3cret-pin","otp":"s3cret-otp","cvv":"s3cret-cvv"},"n":1}}`},
		{"/login", "application/x-www-form-urlencoded", "user=bob&password=s3cret-form-pw"},
		{"/upload", mw.FormDataContentType(), mp.String()},
	}
	for i, r := range requests {
		s.do(t, http.MethodPost, r.path, r.body, with(r.ct))
		waitFor(t, "the comparison of "+r.path, func() bool { return s.stats(t).Compared >= uint64(i+1) })
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, record.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]record.Mismatch{}
	var recs []record.Mismatch
	for range requests {
		msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("%d records on %s, want %d: %v", len(recs), record.StreamName, len(requests), err)
		}
		if raw := string(msg.Data()); strings.Contains(raw, "s3cret") || strings.Contains(raw, "3cret") {
			t.Errorf("a secret is in the record:\n%s", raw)
		}
		var m record.Mismatch
		if err := json.Unmarshal(msg.Data(), &m); err != nil {
			t.Fatal(err)
		}
		p, _, _ := strings.Cut(m.Path, "?")
		byPath[p] = m
		recs = append(recs, m)
	}

	orders, login, upload := byPath["/orders"], byPath["/login"], byPath["/upload"]
	diffOf := func(m record.Mismatch, path string) diff.Diff {
		for _, d := range m.Diffs {
			if d.Path == path {
				return d
			}
		}
		t.Errorf("%s: no diff at %s in %+v", m.Path, path, m.Diffs)
		return diff.Diff{}
	}
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	token, cookie, loginLine := diffOf(orders, "$.token"), diffOf(orders, "header:Set-Cookie"), diffOf(login, "body:line:2")
	checks := []struct {
		name      string
		got, want any
	}{
		{"query", orders.Path, "/orders?id=7&key=" + mark("s3cret-qkey") + "&sig=" + mark("s3cret-qsig") +
			"&code=" + mark("s3cret-qcode") + "&token=" + mark("s3cret-qtoken")},
		{"x-api-key", orders.RequestHeader.Get("X-Api-Key"), mark("s3cret-api-key")},
		{"x-auth-token", orders.RequestHeader.Get("X-Auth-Token"), mark("s3cret-auth-token")},
		{"x-csrf-token", orders.RequestHeader.Get("X-Csrf-Token"), mark("s3cret-csrf")},
		{"authorization", orders.RequestHeader.Get("Authorization"), mark("Bearer s3cret-bearer")},
		{"cookie", orders.RequestHeader.Get("Cookie"), mark("sid=s3cret-cookie; theme=dark")},
		{"other header", orders.RequestHeader.Get("X-Trace"), "visible"},
		// Kept as sent but for the secrets (key order too).
		{"json request", orders.RequestBody, `{"order":{"payment":{"pwd":"` + mark("s3cret-pwd") + `","pin":"` +
			mark("s3cret-pin") + `","otp":"` + mark("s3cret-otp") + `","cvv":"` + mark("s3cret-cvv") + `"},"n":1}}`},
		{"form request", login.RequestBody, "user=bob&password=" + mark("s3cret-form-pw")},
		{"multipart request", upload.RequestBody, strings.Replace(mp.String(), "s3cret-multipart-pw", mark("s3cret-multipart-pw"), 1)},
		// Different secrets: a difference, each side hashed as its body shows it.
		{"token diff", [2]string{string(token.Legacy), string(token.New)}, [2]string{str(mark("s3cret-token-legacy")), str(mark("s3cret-token-new"))}},
		{"token in the legacy body", strings.Contains(orders.Legacy.Body, `"token":`+str(mark("s3cret-token-legacy"))), true},
		{"cvv diff", string(diffOf(orders, "$.card.cvv").New), str(mark("s3cret-cvv-new"))},
		{"otp diff", string(diffOf(orders, "$.otp").Legacy), str(mark("s3cret-otp-legacy"))},
		{"set-cookie diff", [2]string{string(cookie.Legacy), string(cookie.New)},
			[2]string{str(mark("sid=s3cret-sid-legacy; Path=/")), str(mark("sid=s3cret-sid-new; Path=/"))}},
		{"set-cookie header", orders.New.Header.Get("Set-Cookie"), mark("sid=s3cret-sid-new; Path=/")},
		{"the diff line", [2]string{string(loginLine.Legacy), string(loginLine.New)},
			[2]string{str("password=" + mark("s3cret-hunter-legacy")), str("password=" + mark("s3cret-hunter-new"))}},
		{"the body next to it", login.Legacy.Body, "welcome\npassword=" + mark("s3cret-hunter-legacy") + "\n"},
		{"redaction", orders.Redaction, record.Hashed},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s =\n %v\nwant\n %v", c.name, c.got, c.want)
		}
	}
	// Equal secrets: no difference, and the same hash on both sides.
	for _, p := range []string{"$.user.password", "$.card.pin", "header:X-Auth-Token"} {
		for _, d := range orders.Diffs {
			if d.Path == p {
				t.Errorf("equal secrets reported as a difference: %+v", d)
			}
		}
	}
	if same := `"password":` + str(mark("s3cret-same-pw")); !strings.Contains(orders.Legacy.Body, same) || !strings.Contains(orders.New.Body, same) {
		t.Errorf("an equal secret hashes differently:\n%s\n%s", orders.Legacy.Body, orders.New.Body)
	}
	if mark("s3cret-token-legacy") == mark("s3cret-token-new") {
		t.Error("different secrets hash equal")
	}

	// What `ficus report` renders from these records (it reads them with
	// report.Read, which re-checks nothing here: they are hashed).
	rep := report.Build(recs, time.Now().Add(-time.Hour), time.Now())
	for format, render := range map[string]func(report.Report, io.Writer) error{
		"text": report.Report.Text, "json": report.Report.JSON, "html": report.Report.HTML,
	} {
		var out bytes.Buffer
		if err := render(rep, &out); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "3cret") || !strings.Contains(out.String(), redact.Prefix) {
			t.Errorf("%s report: a secret is in it, or no hash:\n%s", format, out.String())
		}
	}
}
