package client_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/admin/api"
	"github.com/ficus-migrate/ficus/proxy"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
	"github.com/ficus-migrate/ficus/shadow/report"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

// The admin API's JSON field names are a contract with scripts, the
// dashboard and older clients. Server and client share the types, so
// nothing else would notice a renamed tag: this test lists every field
// name each answer can carry (testdata/wire.golden; "status.k" is a map's
// key, "[]" an array's element).
func TestWireFieldNames(t *testing.T) {
	answers := []struct {
		name string
		v    any
	}{
		{"GET /api/routes", proxy.RouteInfo{}},
		{"GET /api/rollout", rollout.StateView{}},
		{"GET /api/shadow/{route}", mirror.Stats{}},
		{"GET /api/data/{name}", continuous.Figures{}},
		{"GET /api/report", report.Report{}},
		{"GET /api/health", api.Health{}},
		{"GET /readyz", api.Readiness{}},
	}
	var got strings.Builder
	for _, a := range answers {
		v := reflect.New(reflect.TypeOf(a.v)).Elem()
		fill(v, 0)
		b, err := json.Marshal(v.Interface())
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		var paths []string
		walk(doc, "", &paths)
		slices.Sort(paths)
		fmt.Fprintf(&got, "%s\n\t%s\n", a.name, strings.Join(slices.Compact(paths), "\n\t"))
	}
	want, err := os.ReadFile("testdata/wire.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("the admin API's field names changed; if on purpose, testdata/wire.golden becomes:\n%s", got.String())
	}
}

// fill sets every field to a value that is not omitted, so that each
// field shows in the JSON.
func fill(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	if v.Type() == reflect.TypeOf(time.Time{}) {
		v.Set(reflect.ValueOf(time.Unix(1, 0).UTC()))
		return
	}
	if v.Type() == reflect.TypeOf(json.RawMessage{}) {
		v.SetBytes([]byte(`"x"`))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("k")
		if v.CanInterface() {
			if _, err := json.Marshal(v.Interface()); err != nil {
				v.SetString(`"k"`) // a string type holding JSON text (continuous.Key)
			}
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	}
}

func walk(doc any, prefix string, out *[]string) {
	switch d := doc.(type) {
	case map[string]any:
		for k, v := range d {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			*out = append(*out, p)
			walk(v, p, out)
		}
	case []any:
		for _, v := range d {
			walk(v, prefix+"[]", out)
		}
	}
}
