package capturetest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/mask"
)

// MaskSecret is the hash secret of the masks scenario; every engine uses
// the same one, so their streams carry the same hashes for equal values.
const MaskSecret = "conformance-mask-secret-0123"

// hmacHex is the documented hash mask, computed here independently of
// package mask: hex HMAC-SHA256 of the value's text. Both engines' events
// are held to it, so equal inputs give equal hashes on every engine.
func hmacHex(text string) string {
	m := hmac.New(sha256.New, []byte(MaskSecret))
	m.Write([]byte(text))
	return hex.EncodeToString(m.Sum(nil))
}

// masks: capture.sources[].tables[].columns. The excluded column's planted
// value and the clear text of the masked ones appear in no byte of the
// stream (data or headers, snapshot and streaming, before, after and key,
// message ids included); the masked key column is masked in key, before and
// after; keep_last keeps the last characters of a non-ASCII string; hashes
// are the same after a reader restart.
func masks[D DB](h *H[D]) {
	t, q, schema := h.T, h.hs.Quote, h.hs.Schema
	h.exec(fmt.Sprintf("CREATE TABLE customers (%s varchar(100) PRIMARY KEY, ssn varchar(40), card varchar(40), points int, name varchar(40))", q("email")))
	h.fullBefore("customers")
	const (
		ssn   = "SSN-PLANTED-77310"
		email = "ann.planted@example.com"
		card  = "Kärtchen-卡-4111-9876"
		card2 = "Kärtchen-卡-5500-1234"
	)
	h.exec(fmt.Sprintf("INSERT INTO customers VALUES ('%s', '%s', '%s', 42, 'Ann')", email, ssn, card))
	m, err := mask.New(mask.Config{Secret: []byte(MaskSecret), Tables: map[string]mask.Table{schema + ".customers": {
		Exclude: []string{"ssn"},
		Mask: map[string]mask.Spec{"email": {Kind: mask.Hash}, "points": {Kind: mask.Hash},
			"card": {Kind: mask.KeepLast, N: 4}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	h.Mask = m
	h.StartSource(schema + ".customers")

	he := hmacHex(email)
	key := fmt.Sprintf(`{"email":%q}`, he)
	row := func(cardMasked, name string) string {
		return fmt.Sprintf(`{"email":%q,"card":%q,"points":%q,"name":%q}`, he, cardMasked, hmacHex("42"), name)
	}
	// keep_last:4 of "Kärtchen-卡-4111-9876": 20 characters, 16 of them starred.
	cardMasked, card2Masked := "****************9876", "****************1234"
	var all []Event
	snap := h.Events(1, 30*time.Second)
	h.CheckEvent(snap[0], "customers", "r", "null", row(cardMasked, "Ann"), key, true)
	clearID, err := capture.SnapshotID(SourceName, schema+".customers", capture.Row{{Name: "email", Value: email}},
		capture.Row{{Name: "email", Value: email}, {Name: "ssn", Value: ssn}, {Name: "card", Value: card},
			{Name: "points", Value: 42}, {Name: "name", Value: "Ann"}}, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The id ends in ":<key digest>:<row digest>", 16 hex digits each.
	if clearKey := clearID[len(clearID)-33 : len(clearID)-17]; strings.Contains(snap[0].ID(), clearKey) {
		t.Errorf("snapshot id %s carries the digest of the clear key", snap[0].ID())
	}
	all = append(all, snap...)

	h.exec(fmt.Sprintf("UPDATE customers SET card = '%s', name = 'Ann B' WHERE email = '%s'", card2, email))
	ev := h.Events(1, 30*time.Second)
	h.CheckEvent(ev[0], "customers", "u", row(cardMasked, "Ann"), row(card2Masked, "Ann B"), key, false)
	all = append(all, ev...)

	// A restarted reader (same secret) masks the same values the same way.
	h.Stop()
	h.exec(fmt.Sprintf("DELETE FROM customers WHERE email = '%s'", email))
	h.StartSource(schema + ".customers")
	ev = h.Events(1, 30*time.Second)
	h.CheckEvent(ev[0], "customers", "d", row(card2Masked, "Ann B"), "null", key, false)
	all = append(all, ev...)
	h.NoMore(300 * time.Millisecond)

	for _, e := range all {
		var hdr bytes.Buffer
		for k, vs := range e.Header {
			fmt.Fprintf(&hdr, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		raw := append(append([]byte(e.Subject), hdr.Bytes()...), e.Raw...)
		for _, clear := range []string{ssn, "SSN-PLANTED", email, "planted@", card, "4111", "5500", "Kärtchen"} {
			if bytes.Contains(raw, []byte(clear)) {
				t.Errorf("event %s carries %q:\n%s\n%s", e.ID(), clear, hdr.String(), e.Raw)
			}
		}
		if bytes.Contains(raw, []byte(`"ssn"`)) {
			t.Errorf("event %s names the excluded column: %s", e.ID(), e.Raw)
		}
	}
}
