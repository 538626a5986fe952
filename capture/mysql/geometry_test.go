package mysql

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestGeometryValue(t *testing.T) {
	// POINT(1 2): WKB little-endian, type 1, x=1.0, y=2.0.
	const point = "0101000000000000000000f03f0000000000000040"
	cases := []struct {
		name, stored, want, err string
	}{
		{"srid 0 gives plain WKB", "00000000" + point, point, ""},
		{"srid 4326 gives EWKB", "e6100000" + point,
			"0101000020e6100000000000000000f03f0000000000000040", ""},
		{"big-endian WKB keeps its order", "e6100000" + "00000000013ff00000000000004000000000000000",
			"0020000001000010e63ff00000000000004000000000000000", ""},
		{"too short", "00000000", "", "shorter than"},
		{"bad byte order", "e6100000" + "02" + point[2:], "", "byte order 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := hex.DecodeString(tc.stored)
			if err != nil {
				t.Fatal(err)
			}
			got, err := geometryValue(in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(got)
			if hex.EncodeToString(raw) != tc.want {
				t.Errorf("got %x, want %s", raw, tc.want)
			}
		})
	}
}
