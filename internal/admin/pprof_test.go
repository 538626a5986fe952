package admin

import (
	"net/http"
	"strings"
	"testing"
)

// pprof is mounted only on request, and stays behind the token.
func TestPprofOptIn(t *testing.T) {
	tests := []struct {
		name, token string
		pprof       bool
		want        int
	}{
		{"off", "tok", false, http.StatusNotFound},
		{"on", "tok", true, http.StatusOK},
		{"on without token", "", true, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, base := start(t, Config{Token: "tok", Pprof: tt.pprof})
			code, body := get(t, base+"/debug/pprof/", tt.token)
			if code != tt.want {
				t.Fatalf("status %d, want %d", code, tt.want)
			}
			if code == http.StatusOK && !strings.Contains(body, "goroutine") {
				t.Errorf("pprof index without profiles: %.200s", body)
			}
		})
	}
}
