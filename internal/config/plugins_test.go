package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPluginsLoad(t *testing.T) {
	const yml = `
plugins:
  - name: order-mapper
    path: ./bin/order-mapper
    args: ["--mode", ""]
    env: { MAPPER_MODE: strict }
    sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
  - name: cents-normalizer
    path: /opt/plugins/cents
    timeout: 2s
capture:
  sources:
    - name: legacy
      type: postgres
      dsn: postgres://ficus@127.0.0.1:5432/legacy
      transforms: [order-mapper]
proxy:
  legacy: http://127.0.0.1:3000
  routes:
    - name: orders-read
      new: http://127.0.0.1:4000
      shadow: {enabled: true}
      compare: { plugin: cents-normalizer }
`
	c, err := LoadBytes("ficus.yaml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	want := []Plugin{
		{Name: "order-mapper", Path: "./bin/order-mapper", Args: []string{"--mode", ""}, Env: map[string]Secret{"MAPPER_MODE": "strict"},
			SHA256: "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", Timeout: 10 * time.Second},
		{Name: "cents-normalizer", Path: "/opt/plugins/cents", Timeout: 2 * time.Second},
	}
	if !reflect.DeepEqual(c.Plugins, want) {
		t.Errorf("plugins = %+v\nwant %+v", c.Plugins, want)
	}
	if r := c.Redacted(); strings.Contains(r, "strict") {
		t.Errorf("plugin env value printed:\n%s", r)
	}
	if got := c.Capture.Sources[0].Transforms; !reflect.DeepEqual(got, []string{"order-mapper"}) {
		t.Errorf("transforms = %v", got)
	}
	if got := c.Proxy.Routes[0].Compare.Plugin; got != "cents-normalizer" {
		t.Errorf("compare.plugin = %q", got)
	}
}
