package capturetest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/subject"
)

// oddNames: tables and columns named with spaces, mixed case, a dot, '$', a
// hyphen and non-ASCII letters are captured beside a plain table. Every change
// is on its documented subject (package capture/subject), the envelope keeps
// the real names, a wildcard subscriber sees every change, and the plain table
// is never held up by the others.
func oddNames[D DB](h *H[D]) {
	t, q := h.T, h.hs.Quote
	odd := []string{"Weird Table", "MixedCase", "a.b", "price$", "order-lines", "Größe", "顧客"}
	all := append([]string{"orders"}, odd...)
	idCol, textCol, numCol := "Id Col", "Mixed.Case$", "größe-x"
	var tables []string
	for _, n := range all {
		h.exec(fmt.Sprintf("CREATE TABLE %s (%s int PRIMARY KEY, %s varchar(20), %s int)", q(n), q(idCol), q(textCol), q(numCol)),
			fmt.Sprintf("INSERT INTO %s VALUES (1, 'snap', 10)", q(n)))
		tables = append(tables, h.hs.Schema+"."+n)
	}
	// A consumer of the whole source, subscribed before anything is published.
	sub, err := h.Conn.SubscribeSync("ficus.cdc." + SourceName + ".>")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	h.StartSource(tables...)

	row := func(id int, text string, num int) string {
		return fmt.Sprintf(`{%q:%d,%q:%q,%q:%d}`, idCol, id, textCol, text, numCol, num)
	}
	key := func(id int) string { return fmt.Sprintf(`{%q:%d}`, idCol, id) }
	// Snapshot: one read per table, in whatever table order.
	snap := map[string]Event{}
	for _, e := range h.Events(len(all), 30*time.Second) {
		table, _ := e.Source()["table"].(string)
		snap[table] = e
	}
	for _, n := range all {
		e, ok := snap[n]
		if !ok {
			t.Fatalf("no snapshot event of table %q; got %d tables", n, len(snap))
		}
		h.CheckEvent(e, n, "r", "null", row(1, "snap", 10), key(1), true)
	}
	// The documented tokens, spelled out.
	for n, tok := range map[string]string{"Weird Table": "Weird%20Table", "a.b": "a%2Eb", "price$": "price%24",
		"order-lines": "order-lines", "顧客": "%E9%A1%A7%E5%AE%A2"} {
		if want := "ficus.cdc." + SourceName + "." + h.hs.Schema + "." + tok; snap[n].Subject != want {
			t.Errorf("table %q: subject %q, want %q", n, snap[n].Subject, want)
		}
	}
	// Streaming: the plain table between each odd one, in commit order.
	var want []string
	for i, n := range odd {
		h.exec(fmt.Sprintf("INSERT INTO %s VALUES (%d, 'live', 20)", q(n), 2),
			fmt.Sprintf("INSERT INTO %s VALUES (%d, 'plain', 30)", q("orders"), 2+i))
		want = append(want, n, "orders")
	}
	for i, e := range h.Events(len(want), 30*time.Second) {
		if want[i] == "orders" {
			h.CheckEvent(e, "orders", "c", "null", row(2+i/2, "plain", 30), key(2+i/2), false)
		} else {
			h.CheckEvent(e, want[i], "c", "null", row(2, "live", 20), key(2), false)
		}
	}
	h.NoMore(300 * time.Millisecond)

	// The wildcard subscriber got every change, each on its table's subject.
	seen := map[string]int{}
	for len(seen) < len(all) || sum(seen) < len(all)+len(want) {
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("wildcard subscriber: %v after %v", err, seen)
		}
		if strings.HasSuffix(msg.Subject, "._ddl") {
			continue
		}
		seen[msg.Subject]++
	}
	for _, n := range all {
		s := subject.Table("ficus.cdc", SourceName, h.hs.Schema, n, "")
		if want := map[bool]int{true: 1 + len(odd), false: 2}[n == "orders"]; seen[s] != want {
			t.Errorf("wildcard subscriber: %d events on %q (table %q), want %d; all: %v", seen[s], s, n, want, seen)
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// tooLarge: a change NATS can never accept (over the server's max_payload,
// 1 MiB by default) stops the reader with a permanent error naming the table
// and sets ficus_capture_failed, instead of being retried for ever.
func tooLarge[D DB](h *H[D]) {
	t, q := h.T, h.hs.Quote
	h.exec(fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, body text)", q("Big Rows")))
	if h.hs.Connector == "mysql" {
		h.exec(fmt.Sprintf("ALTER TABLE %s MODIFY body longtext", q("Big Rows")))
	}
	src := h.NewSource(h.hs.Schema + ".Big Rows")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	h.hs.WaitStreaming(h)
	h.exec(fmt.Sprintf("INSERT INTO %s VALUES (1, 'fits')", q("Big Rows")),
		fmt.Sprintf("INSERT INTO %s VALUES (2, REPEAT('x', 1100000))", q("Big Rows")))
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatalf("Run still retrying a change over max_payload after a minute\nlogs:\n%s", h.Logs())
	}
	if !capture.IsPermanent(err) || !strings.Contains(err.Error(), h.hs.Schema+".Big Rows") || !strings.Contains(err.Error(), "maximum payload") {
		t.Fatalf("Run: %v; want a permanent error naming %s.Big Rows and the reason", err, h.hs.Schema)
	}
	if got := h.Metric("ficus_capture_failed", nil); got != 1 {
		t.Errorf("ficus_capture_failed = %v, want 1", got)
	}
	// The change before it was published.
	e := h.Events(1, 10*time.Second)[0]
	if table, _ := e.Source()["table"].(string); table != "Big Rows" || e.Op() != "c" {
		t.Errorf("first event: %s", e.Raw)
	}
}
