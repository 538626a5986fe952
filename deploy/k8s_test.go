package deploy_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kustomizations lists every kustomization under k8s/; the test fails when
// one is added without being listed here.
var kustomizations = []string{"k8s/base", "k8s/overlays/example"}

func TestKustomizationsAreListed(t *testing.T) {
	var found []string
	err := filepath.WalkDir("k8s", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "kustomization.yaml" {
			found = append(found, filepath.ToSlash(filepath.Dir(p)))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(found, ",") != strings.Join(kustomizations, ",") {
		t.Fatalf("kustomizations on disk %v, listed in the test %v", found, kustomizations)
	}
}

// checkKustomization checks that everything a kustomization names exists:
// resources (files, or folders with a kustomization), patch files, generator files.
func checkKustomization(dir string, k map[string]any) problems {
	var p problems
	exists := func(field, rel string, wantKustomization bool) {
		full := filepath.Join(dir, filepath.FromSlash(rel))
		st, err := os.Stat(full)
		switch {
		case err != nil:
			p.addf("%s/kustomization.yaml: %s %q does not exist", dir, field, rel)
		case st.IsDir() && wantKustomization:
			if _, err := os.Stat(filepath.Join(full, "kustomization.yaml")); err != nil {
				p.addf("%s/kustomization.yaml: %s %q is a folder without kustomization.yaml", dir, field, rel)
			}
		case st.IsDir():
			p.addf("%s/kustomization.yaml: %s %q is a folder, want a file", dir, field, rel)
		}
	}
	for _, r := range strs(k["resources"]) {
		exists("resources", r, true)
	}
	for _, pt := range list(k["patches"]) {
		if f := str(dig(pt, "path")); f != "" {
			exists("patches", f, false)
		}
	}
	for _, gen := range []string{"configMapGenerator", "secretGenerator"} {
		for _, g := range list(k[gen]) {
			for _, f := range strs(dig(g, "files")) {
				if _, after, ok := strings.Cut(f, "="); ok {
					f = after
				}
				exists(gen+" files", f, false)
			}
			for _, f := range strs(dig(g, "envs")) {
				exists(gen+" envs", f, false)
			}
		}
	}
	if len(strs(k["resources"])) == 0 {
		p.addf("%s/kustomization.yaml: no resources", dir)
	}
	return p
}

func TestKustomizationFilesExist(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			docs, err := decodeDocs(readFile(t, dir+"/kustomization.yaml"))
			if err != nil || len(docs) != 1 {
				t.Fatalf("kustomization.yaml: %v (%d documents)", err, len(docs))
			}
			expectProblems(t, checkKustomization(dir, docs[0]), "")
		})
	}
	t.Run("missing resource is reported", func(t *testing.T) {
		docs, err := decodeDocs(readFile(t, "k8s/base/kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		docs[0]["resources"] = append(list(docs[0]["resources"]), "gone.yaml")
		expectProblems(t, checkKustomization("k8s/base", docs[0]), `resources "gone.yaml" does not exist`)
	})
}

// TestManifestsParse parses every YAML file under deploy/ (all documents).
func TestManifestsParse(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return err
		}
		n++
		docs, err := decodeDocs(readFile(t, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if len(docs) == 0 {
			t.Errorf("%s: no document", p)
		}
		for i, d := range docs {
			if strings.HasPrefix(p, "k8s") && filepath.Base(p) != "ficus.yaml" && (d["kind"] == nil || d["apiVersion"] == nil) {
				t.Errorf("%s: document %d has no kind/apiVersion", p, i+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d YAML files under deploy/", n)
	}
}

// kustomize renders a kustomization with the kustomize built into kubectl.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH: the rendered manifests cannot be checked (the other deploy tests still run)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return out
}

// TestK8sRendered renders each kustomization and checks it: the ficus.yaml
// every ficus container reads passes the real config loader with the
// container's environment, and ports, probes and annotations agree with it.
func TestK8sRendered(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			docs, err := decodeDocs(kustomize(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			o := k8s{docs}
			ficus, nats := 0, 0
			for _, w := range o.ofKind("Deployment", "StatefulSet") {
				for _, c := range list(dig(w, "spec", "template", "spec", "containers")) {
					if isFicusImage(str(dig(c, "image"))) {
						ficus++
					}
					if strings.HasPrefix(imageName(str(dig(c, "image"))), "nats") {
						nats++
					}
				}
			}
			if ficus != 2 || nats != 1 {
				t.Fatalf("want 2 ficus containers (sidecar, capture) and 1 NATS StatefulSet, found %d and %d", ficus, nats)
			}
			expectProblems(t, checkK8s(o, realNATSParser(t)), "")
		})
	}
}

// TestK8sCheckCatches breaks the rendered base one way at a time and expects
// the check to name the problem, so that TestK8sRendered can fail.
func TestK8sCheckCatches(t *testing.T) {
	rendered := kustomize(t, "k8s/base")
	container := func(o k8s, kind, name, c string) map[string]any {
		for _, x := range list(dig(o.find(kind, name), "spec", "template", "spec", "containers")) {
			if str(dig(x, "name")) == c {
				return mapOf(x)
			}
		}
		t.Fatalf("no container %s in %s/%s", c, kind, name)
		return nil
	}
	sidecar := func(o k8s) map[string]any { return container(o, "Deployment", "shop", "ficus") }
	editConfig := func(o k8s, name, key, old, new string) {
		data := mapOf(dig(o.find("ConfigMap", name), "data"))
		if !strings.Contains(str(data[key]), old) {
			t.Fatalf("ConfigMap %s/%s has no %q", name, key, old)
		}
		data[key] = strings.Replace(str(data[key]), old, new, 1)
	}
	cases := []struct {
		name  string
		edit  func(o k8s)
		wants string
	}{
		{"readiness path", func(o k8s) { mapOf(dig(sidecar(o), "readinessProbe", "httpGet"))["path"] = "/ready" }, `readinessProbe path is "/ready"`},
		{"liveness port", func(o k8s) { mapOf(dig(sidecar(o), "livenessProbe", "httpGet"))["port"] = 9902 }, "livenessProbe port resolves to 9902"},
		{"no liveness probe", func(o k8s) { delete(sidecar(o), "livenessProbe") }, "livenessProbe: want an httpGet probe"},
		{"data_dir not on a volume", func(o k8s) {
			var kept []any
			for _, m := range list(sidecar(o)["volumeMounts"]) {
				if str(dig(m, "name")) != "ficus-data" {
					kept = append(kept, m)
				}
			}
			sidecar(o)["volumeMounts"] = kept
		}, "data_dir /var/lib/ficus/ficus-data is on the read-only root filesystem"},
		{"prometheus port", func(o k8s) {
			mapOf(dig(o.find("Deployment", "shop"), "spec", "template", "metadata", "annotations"))["prometheus.io/port"] = "8080"
		}, `prometheus.io/port is "8080"`},
		{"no scrape annotation", func(o k8s) {
			delete(mapOf(dig(o.find("Deployment", "ficus-capture"), "spec", "template", "metadata", "annotations")), "prometheus.io/scrape")
		}, "prometheus.io/scrape"},
		{"admin port moved in config", func(o k8s) { editConfig(o, "ficus-config", "ficus.yaml", "0.0.0.0:9901", "0.0.0.0:9902") }, "admin.listen port 9902 is not a container port"},
		{"admin on loopback", func(o k8s) { editConfig(o, "ficus-config", "ficus.yaml", "0.0.0.0:9901", "127.0.0.1:9901") }, "kubelet probes and Prometheus cannot reach it"},
		{"proxy port not declared", func(o k8s) { list(sidecar(o)["ports"])[0].(map[string]any)["containerPort"] = 8081 }, "proxy.listen port 8080 is not a container port"},
		{"service misses ficus", func(o k8s) {
			list(dig(o.find("Service", "shop"), "spec", "ports"))[0].(map[string]any)["targetPort"] = 8081
		}, "targetPort 8081 reaches 8081"},
		{"legacy keeps the service port", func(o k8s) {
			container(o, "Deployment", "shop", "legacy")["ports"] = []any{map[string]any{"containerPort": 8080}}
		}, "also declares port 8080"},
		{"legacy probed on loopback", func(o k8s) {
			container(o, "Deployment", "shop", "legacy")["readinessProbe"] = map[string]any{"tcpSocket": map[string]any{"port": 8081}}
		}, "loopback port 8081"},
		{"token in a probe", func(o k8s) {
			hg := mapOf(dig(container(o, "Deployment", "shop", "ficus"), "readinessProbe", "httpGet"))
			hg["httpHeaders"] = []any{map[string]any{"name": "Authorization", "value": "Bearer t"}}
		}, "probes need no token"},
		{"secret lacks a DSN", func(o k8s) { delete(mapOf(o.find("Secret", "ficus-secrets")["stringData"]), "LEGACY_PG_DSN") }, "environment variable LEGACY_PG_DSN is not set"},
		{"unknown config key", func(o k8s) { editConfig(o, "ficus-config", "ficus.yaml", "  mode: reverse", "  mod: reverse") }, `unknown key`},
		{"config file not mounted", func(o k8s) { sidecar(o)["args"] = []any{"proxy", "-c", "/etc/ficus/other.yaml"} }, "/etc/ficus/other.yaml is not in any mounted ConfigMap"},
		{"one capture replica", func(o k8s) { mapOf(o.find("Deployment", "ficus-capture")["spec"])["replicas"] = 1 }, "no standby takes over"},
		{"capture recreated", func(o k8s) {
			mapOf(o.find("Deployment", "ficus-capture")["spec"])["strategy"] = map[string]any{"type": "Recreate"}
		}, "stops every capture pod at once"},
		{"nats.url to a missing pod", func(o k8s) { editConfig(o, "ficus-config", "ficus.yaml", "nats-2.nats:4222", "nats-3.nats:4222") }, "nats.url nats-3.nats:4222"},
		{"nats.url wrong port", func(o k8s) { editConfig(o, "ficus-config", "ficus.yaml", "nats-2.nats:4222", "nats-2.nats:6222") }, "nats.url nats-2.nats:6222"},
		{"nats route missing", func(o k8s) { editConfig(o, "nats-config", "nats.conf", "nats://nats-2.nats:6222", "") }, "cluster routes"},
		{"nats config unreadable", func(o k8s) { editConfig(o, "nats-config", "nats.conf", "jetstream {", "jetstream {{") }, "nats-server cannot read its config"},
		{"nats unknown key", func(o k8s) { editConfig(o, "nats-config", "nats.conf", "lame_duck_duration", "lame_duck_durration") }, `unknown field "lame_duck_durration"`},
		{"nats store off the volume", func(o k8s) { editConfig(o, "nats-config", "nats.conf", "/data/jetstream", "/tmp/js") }, "not on the persistent volume"},
		{"nats same server name", func(o k8s) { editConfig(o, "nats-config", "nats.conf", "$POD_NAME", "nats") }, `server_name "nats"`},
		{"nats service not headless", func(o k8s) { delete(mapOf(o.find("Service", "nats")["spec"]), "clusterIP") }, "must be headless"},
		{"nats without users", func(o k8s) {
			editConfig(o, "nats-config", "nats.conf", "{user: ficus, password: $FICUS_NATS_PASSWORD}", "")
		}, "accepts clients without credentials"},
		{"ficus with a wrong password", func(o k8s) {
			editConfig(o, "ficus-config", "ficus.yaml", "ficus:${FICUS_NATS_PASSWORD}@nats-0", "ficus:guess@nats-0")
		}, "its user and password are not a user of the NATS servers"},
		{"ficus without the NATS CA", func(o k8s) {
			editConfig(o, "ficus-config", "ficus.yaml", "  tls:\n    ca: /etc/ficus-nats/ca.crt\n", "")
		}, "nats.tls.ca is not set"},
		{"NATS CA not mounted", func(o k8s) {
			c := container(o, "Deployment", "ficus-capture", "ficus")
			c["volumeMounts"] = list(c["volumeMounts"])[:1]
		}, "nats.tls.ca /etc/ficus-nats/ca.crt is not mounted"},
		{"no certificate for NATS", func(o k8s) { o.find("Certificate", "nats-tls")["kind"] = "Removed" }, "Secret nats-tls does not exist"},
		{"nats certificate not mounted", func(o k8s) {
			c := container(o, "StatefulSet", "nats", "nats")
			c["volumeMounts"] = slices.DeleteFunc(list(c["volumeMounts"]), func(v any) bool { return str(dig(v, "name")) == "tls" })
		}, "/etc/nats-tls/tls.crt (nats.conf) is not on any mounted volume"},
		{"no network policy", func(o k8s) { o.find("NetworkPolicy", "nats")["kind"] = "Removed" }, "no NetworkPolicy restricts who reaches it"},
		{"policy admits everyone", func(o k8s) {
			mapOf(list(dig(o.find("NetworkPolicy", "nats"), "spec", "ingress"))[0])["from"] = []any{}
		}, "admits every source to StatefulSet/nats port 4222"},
		{"policy admits a namespace", func(o k8s) {
			mapOf(list(dig(o.find("NetworkPolicy", "nats"), "spec", "ingress"))[0])["from"] = []any{map[string]any{"namespaceSelector": map[string]any{}}}
		}, "use a podSelector with matchLabels"},
		{"policy admits monitoring", func(o k8s) {
			rule := mapOf(list(dig(o.find("NetworkPolicy", "nats"), "spec", "ingress"))[0])
			rule["ports"] = append(list(rule["ports"]), map[string]any{"port": "monitor"})
		}, "port 8222, which has no authentication"},
		{"policy admits capture to the cluster port", func(o k8s) {
			rule := mapOf(list(dig(o.find("NetworkPolicy", "nats"), "spec", "ingress"))[0])
			rule["ports"] = append(list(rule["ports"]), map[string]any{"port": "cluster"})
		}, "admits Deployment/ficus-capture to StatefulSet/nats port 6222"},
		{"capture pod not admitted", func(o k8s) {
			delete(mapOf(dig(o.find("Deployment", "ficus-capture"), "spec", "template", "metadata", "labels")), "ficus-migrate.io/nats-client")
		}, "no NetworkPolicy admits Deployment/ficus-capture"},
		{"nats too small", func(o k8s) {
			mapOf(o.find("StatefulSet", "nats")["spec"])["replicas"] = 1
			editConfig(o, "nats-config", "nats.conf", "nats://nats-1.nats:6222\n    nats://nats-2.nats:6222", "")
			editConfig(o, "ficus-config", "ficus.yaml", "    - tls://ficus:${FICUS_NATS_PASSWORD}@nats-1.nats:4222\n    - tls://ficus:${FICUS_NATS_PASSWORD}@nats-2.nats:4222\n", "")
		}, "needs 3 servers"},
	}
	t.Run("unbroken", func(t *testing.T) {
		docs, _ := decodeDocs(rendered)
		expectProblems(t, checkK8s(k8s{docs}, realNATSParser(t)), "")
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := decodeDocs(rendered)
			if err != nil {
				t.Fatal(err)
			}
			o := k8s{docs}
			tc.edit(o)
			expectProblems(t, checkK8s(o, realNATSParser(t)), tc.wants)
		})
	}
}

// secretEnv collects the stringData of every Secret a kustomization and its
// bases declare, overlays winning, as kustomize's patches would merge them.
func secretEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	docs, err := decodeDocs(readFile(t, dir+"/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	var files []string
	for _, r := range strs(docs[0]["resources"]) {
		full := filepath.Join(dir, r)
		if st, err := os.Stat(full); err == nil && st.IsDir() {
			for k, v := range secretEnv(t, filepath.ToSlash(full)) {
				env[k] = v
			}
			continue
		}
		files = append(files, full)
	}
	for _, pt := range list(docs[0]["patches"]) {
		if f := str(dig(pt, "path")); f != "" {
			files = append(files, filepath.Join(dir, f))
		}
	}
	for _, f := range files {
		ds, err := decodeDocs(readFile(t, filepath.ToSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if str(d["kind"]) == "Secret" {
				for k, v := range mapOf(d["stringData"]) {
					env[k] = str(v)
				}
			}
		}
	}
	return env
}

// TestK8sConfigsWithoutKustomize runs the config loader on each
// kustomization's ficus.yaml with its Secrets' values even where kubectl is
// missing (TestK8sRendered then skips).
func TestK8sConfigsWithoutKustomize(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			docs, err := decodeDocs(readFile(t, dir+"/kustomization.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			env := secretEnv(t, dir)
			n := 0
			for _, g := range list(docs[0]["configMapGenerator"]) {
				for _, f := range strs(dig(g, "files")) {
					if filepath.Base(f) != "ficus.yaml" {
						continue
					}
					n++
					name := dir + "/" + f
					if _, err := loadFicus(name, readFile(t, name), env); err != nil {
						t.Errorf("ficus validate %s: %v", name, err)
					}
				}
			}
			if n != 1 {
				t.Fatalf("want one ficus.yaml generated into a ConfigMap, found %d", n)
			}
		})
	}
}
