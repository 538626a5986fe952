package sdk

import (
	"strings"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, wantErr string
	}{
		{name: "values kept byte for byte, columns sorted",
			in:   `{"op":"u","before":{"b":1.50,"a":"x"},"after":{"b":12345678901234567890,"a":null},"key":{"a":"x"},"source":{"table":"t"},"ts_ms":7}`,
			want: `{"op":"u","before":{"a":"x","b":1.50},"after":{"a":null,"b":12345678901234567890},"key":{"a":"x"},"source":{"table":"t"},"ts_ms":7}`},
		{name: "absent images stay null",
			in:   `{"op":"d","before":{"id":1},"after":null,"key":{"id":1},"source":{},"ts_ms":1}`,
			want: `{"op":"d","before":{"id":1},"after":null,"key":{"id":1},"source":{},"ts_ms":1}`},
		{name: "not JSON", in: `{"op":`, wantErr: "event e1: decode envelope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := Event{ID: "e1", Data: []byte(tc.in)}
			env, err := Decode(ev)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := Encode(&ev, env); err != nil {
				t.Fatal(err)
			}
			if string(ev.Data) != tc.want {
				t.Errorf("got  %s\nwant %s", ev.Data, tc.want)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	e := Event{ID: "legacy:0/16B6A08:3", Subject: "ficus.cdc.legacy.public.orders"}
	a, b := e.Derive("1"), e.Derive("2")
	if a.ID != "legacy:0/16B6A08:3/1" || b.ID != "legacy:0/16B6A08:3/2" || e.ID != "legacy:0/16B6A08:3" || a.Subject != e.Subject {
		t.Errorf("derived %q %q from %q", a.ID, b.ID, e.ID)
	}
}
