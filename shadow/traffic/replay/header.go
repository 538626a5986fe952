package replay

import (
	"fmt"
	"net/http"
	"os"
	"strings"
)

// ParseHeaders reads --header values "Name: value"; ${VAR} in a value is
// taken from env (a token kept out of the command line), and an unset
// variable is an error rather than an empty secret.
func ParseHeaders(flags []string, env func(string) (string, bool)) (http.Header, error) {
	h := http.Header{}
	for _, f := range flags {
		name, value, ok := strings.Cut(f, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("--header %q: want 'Name: value'", name)
		}
		var missing []string
		value = os.Expand(strings.TrimSpace(value), func(v string) string {
			s, ok := env(v)
			if !ok {
				missing = append(missing, v)
			}
			return s
		})
		if len(missing) > 0 {
			// The value may be a secret: name the header and the variable only.
			return nil, fmt.Errorf("--header %s: environment variable %s is not set", name, strings.Join(missing, ", "))
		}
		h.Add(name, value)
	}
	return h, nil
}
