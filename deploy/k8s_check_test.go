package deploy_test

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/ficus-migrate/ficus/internal/config"
)

// k8s is a rendered set of Kubernetes objects (the output of kustomize).
type k8s struct{ docs []map[string]any }

func (o k8s) find(kind, name string) map[string]any {
	for _, d := range o.docs {
		if str(d["kind"]) == kind && str(dig(d, "metadata", "name")) == name {
			return d
		}
	}
	return nil
}

func (o k8s) ofKind(kinds ...string) []map[string]any {
	var out []map[string]any
	for _, d := range o.docs {
		for _, k := range kinds {
			if str(d["kind"]) == k {
				out = append(out, d)
			}
		}
	}
	return out
}

// checkK8s checks a rendered kustomization: every ficus container against the
// ficus.yaml it reads, and every NATS StatefulSet against its nats.conf.
func checkK8s(o k8s, parse natsParser) problems {
	var p problems
	auths := map[string]natsAuth{} // NATS StatefulSet -> what its servers accept
	for _, w := range o.ofKind("StatefulSet") {
		for _, c := range list(dig(w, "spec", "template", "spec", "containers")) {
			if c := mapOf(c); strings.HasPrefix(imageName(str(c["image"])), "nats") {
				np, auth := checkNATSStatefulSet(o, w, c, parse)
				p = append(p, np...)
				auths[str(dig(w, "metadata", "name"))] = auth
			}
		}
	}
	for _, w := range o.ofKind("Deployment", "StatefulSet") {
		for _, c := range list(dig(w, "spec", "template", "spec", "containers")) {
			if c := mapOf(c); isFicusImage(str(c["image"])) {
				p = append(p, checkFicusContainer(o, w, c, auths)...)
			}
		}
	}
	return p
}

func imageName(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return path.Base(image)
}

func isFicusImage(image string) bool { return imageName(image) == "ficus" }

func wname(w map[string]any) string {
	return str(w["kind"]) + "/" + str(dig(w, "metadata", "name"))
}

// mountedData returns the content of the file a container sees at file, when
// it comes from a ConfigMap volume.
func mountedData(o k8s, w, c map[string]any, file string) (string, bool) {
	for _, vm := range list(c["volumeMounts"]) {
		mp, sub := str(dig(vm, "mountPath")), str(dig(vm, "subPath"))
		var key string
		switch {
		case sub == "" && path.Dir(file) == path.Clean(mp):
			key = path.Base(file)
		case sub != "" && path.Clean(mp) == file:
			key = sub
		default:
			continue
		}
		for _, v := range list(dig(w, "spec", "template", "spec", "volumes")) {
			if str(dig(v, "name")) != str(dig(vm, "name")) {
				continue
			}
			cm := o.find("ConfigMap", str(dig(v, "configMap", "name")))
			if text, ok := dig(cm, "data", key).(string); ok {
				return text, true
			}
		}
	}
	return "", false
}

// containerEnv is the environment kubelet gives a container: env values,
// fieldRefs to the pod name, and every key of envFrom Secrets/ConfigMaps.
func containerEnv(o k8s, where, podName string, c map[string]any) (map[string]string, problems) {
	var p problems
	env := map[string]string{}
	for _, ef := range list(c["envFrom"]) {
		kind, name := "Secret", str(dig(ef, "secretRef", "name"))
		if name == "" {
			kind, name = "ConfigMap", str(dig(ef, "configMapRef", "name"))
		}
		obj := o.find(kind, name)
		if obj == nil {
			p.addf("%s: envFrom %s %q does not exist", where, kind, name)
			continue
		}
		for k, v := range objectData(obj) {
			env[k] = v
		}
	}
	for _, e := range list(c["env"]) {
		name := str(dig(e, "name"))
		switch {
		case dig(e, "value") != nil:
			env[name] = str(dig(e, "value"))
		case str(dig(e, "valueFrom", "fieldRef", "fieldPath")) == "metadata.name":
			env[name] = podName
		case dig(e, "valueFrom", "secretKeyRef") != nil:
			ref := dig(e, "valueFrom", "secretKeyRef")
			v, ok := objectData(o.find("Secret", str(dig(ref, "name"))))[str(dig(ref, "key"))]
			if !ok {
				p.addf("%s: env %s: Secret %s has no key %s", where, name, str(dig(ref, "name")), str(dig(ref, "key")))
			}
			env[name] = v
		}
	}
	return env, p
}

// objectData merges stringData and data (kustomize renders generators into
// data; hand-written Secrets use stringData). Base64 data is not decoded:
// only stringData carries values the checks compare.
func objectData(obj map[string]any) map[string]string {
	out := map[string]string{}
	for _, f := range []string{"data", "stringData"} {
		for k, v := range mapOf(obj[f]) {
			out[k] = str(v)
		}
	}
	return out
}

// portOf resolves a probe or Service port (number or name) against a container.
func portOf(c map[string]any, ref any) int {
	if n, err := strconv.Atoi(str(ref)); err == nil {
		return n
	}
	for _, cp := range list(c["ports"]) {
		if str(dig(cp, "name")) == str(ref) {
			n, _ := strconv.Atoi(str(dig(cp, "containerPort")))
			return n
		}
	}
	return -1
}

func declaresPort(c map[string]any, port int) bool {
	for _, cp := range list(c["ports"]) {
		if str(dig(cp, "containerPort")) == strconv.Itoa(port) {
			return true
		}
	}
	return false
}

func replicas(w map[string]any) int {
	if r := dig(w, "spec", "replicas"); r != nil {
		n, _ := strconv.Atoi(str(r))
		return n
	}
	return 1
}

// imageWorkdir is deploy/Dockerfile's final WORKDIR, where relative paths
// of the config resolve.
const imageWorkdir = "/var/lib/ficus"

func checkFicusContainer(o k8s, w, c map[string]any, auths map[string]natsAuth) problems {
	where := wname(w) + " container " + str(c["name"])
	var p problems
	args := append(strs(c["command"]), strs(c["args"])...)
	if len(args) > 0 && path.Base(args[0]) == "ficus" {
		args = args[1:]
	}
	if len(args) == 0 {
		args = []string{"run"} // the image's CMD
	}
	sub, file := args[0], configArg(args)
	if file == "" {
		file = "/etc/ficus/ficus.yaml" // the image's CMD
	}
	text, ok := mountedData(o, w, c, file)
	if !ok {
		p.addf("%s: %s is not in any mounted ConfigMap", where, file)
		return p
	}
	podName := str(dig(w, "metadata", "name")) + "-0"
	env, ep := containerEnv(o, where, podName, c)
	p = append(p, ep...)
	cfg, err := loadFicus(where+":"+file, []byte(text), env)
	if err != nil {
		p.addf("%s: ficus validate: %v", where, err)
		return p
	}
	pod := dig(w, "spec", "template")

	// Admin listener: probes and Prometheus come from outside the pod.
	ah, ap := listenPort(cfg.Admin.Listen)
	if !wildcard(ah) {
		p.addf("%s: admin.listen %s binds %s: kubelet probes and Prometheus cannot reach it", where, cfg.Admin.Listen, ah)
	}
	if !declaresPort(c, ap) {
		p.addf("%s: admin.listen port %d is not a container port", where, ap)
	}
	for _, probe := range []struct{ key, path string }{{"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}} {
		hg := dig(c, probe.key, "httpGet")
		if hg == nil {
			p.addf("%s: %s: want an httpGet probe on %s", where, probe.key, probe.path)
			continue
		}
		if got := str(dig(hg, "path")); got != probe.path {
			p.addf("%s: %s path is %q, want %s", where, probe.key, got, probe.path)
		}
		if got := portOf(c, dig(hg, "port")); got != ap {
			p.addf("%s: %s port resolves to %d, admin.listen is on %d", where, probe.key, got, ap)
		}
	}
	// /readyz answers probes without the token (the verdict only), so no
	// probe needs one: a token in a probe header is readable by everyone
	// who can read the Deployment.
	for _, key := range []string{"livenessProbe", "readinessProbe"} {
		for _, h := range list(dig(c, key, "httpGet", "httpHeaders")) {
			if strings.EqualFold(str(dig(h, "name")), "Authorization") {
				p.addf("%s: %s sends an Authorization header: probes need no token, and the Deployment would expose it", where, key)
			}
		}
	}
	// data_dir keeps the route state a sidecar last applied, which it
	// serves from when it restarts during a NATS outage: a proxy on a
	// read-only root filesystem needs a volume there.
	if (args[0] == "proxy" || args[0] == "run") && cfg.Proxy.Enabled() && dig(c, "securityContext", "readOnlyRootFilesystem") == true {
		dir := cfg.DataDir
		if !strings.HasPrefix(dir, "/") {
			dir = path.Join(imageWorkdir, dir)
		}
		mounted := false
		for _, m := range list(dig(c, "volumeMounts")) {
			if str(dig(m, "mountPath")) == path.Clean(dir) && dig(m, "readOnly") != true {
				mounted = true
			}
		}
		if !mounted {
			p.addf("%s: data_dir %s is on the read-only root filesystem: mount a writable volume (an emptyDir) there", where, dir)
		}
	}
	ann := mapOf(dig(pod, "metadata", "annotations"))
	if str(ann["prometheus.io/scrape"]) != "true" {
		p.addf("%s: pod annotation prometheus.io/scrape is %q, want \"true\"", where, str(ann["prometheus.io/scrape"]))
	}
	if str(ann["prometheus.io/port"]) != strconv.Itoa(ap) {
		p.addf("%s: pod annotation prometheus.io/port is %q, admin.listen is on %d", where, str(ann["prometheus.io/port"]), ap)
	}
	if str(ann["prometheus.io/path"]) != "/metrics" {
		p.addf("%s: pod annotation prometheus.io/path is %q, want /metrics", where, str(ann["prometheus.io/path"]))
	}

	if (sub == "run" || sub == "proxy") && cfg.Proxy.Enabled() {
		p = append(p, checkSidecar(o, w, c, cfg)...)
	}
	if sub == "capture" && len(cfg.Capture.Sources) > 0 {
		// Each source's lease lets one pod stream and the others stand by:
		// one pod alone leaves nobody to take over when its node dies, and
		// Recreate stops every pod at once on each upgrade.
		if replicas(w) < 2 {
			p.addf("%s: runs capture with %d replica: no standby takes over when it dies; run 2", where, replicas(w))
		}
		if str(w["kind"]) == "Deployment" && str(dig(w, "spec", "strategy", "type")) == "Recreate" {
			p.addf("%s: runs capture: strategy Recreate stops every capture pod at once; use RollingUpdate", where)
		}
	}
	np, sts := checkNATSURLs(o, where, cfg)
	p = append(p, np...)
	if auth, ok := auths[sts]; ok {
		mounts, _ := k8sMountPoints(o, w, c)
		p = append(p, checkFicusNATSAuth(where, cfg, auth, func(f string) bool { return onMount(f, mounts) })...)
	}
	return p
}

// checkSidecar checks the sidecar pattern: ficus owns the service port, the
// legacy container sits on a loopback port of the same pod.
func checkSidecar(o k8s, w, c map[string]any, cfg *config.Config) problems {
	where := wname(w) + " container " + str(c["name"])
	var p problems
	ph, pp := listenPort(cfg.Proxy.Listen)
	if !wildcard(ph) {
		p.addf("%s: proxy.listen %s binds %s: the Service cannot reach it", where, cfg.Proxy.Listen, ph)
	}
	if !declaresPort(c, pp) {
		p.addf("%s: proxy.listen port %d is not a container port", where, pp)
	}
	containers := list(dig(w, "spec", "template", "spec", "containers"))
	if cfg.Proxy.Mode == config.ModeReverse {
		u, err := url.Parse(cfg.Proxy.Legacy)
		if err == nil && loopback(u.Hostname()) {
			lp, _ := strconv.Atoi(u.Port())
			if len(containers) < 2 {
				p.addf("%s: proxy.legacy %s is a loopback address but the pod has no legacy container", where, cfg.Proxy.Legacy)
			}
			for _, oc := range containers {
				oc := mapOf(oc)
				if str(oc["name"]) == str(c["name"]) {
					continue
				}
				if declaresPort(oc, pp) {
					p.addf("%s: container %s also declares port %d, which ficus takes (proxy.listen)", where, str(oc["name"]), pp)
				}
				for _, pk := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
					for _, kind := range []string{"httpGet", "tcpSocket"} {
						if ref := dig(oc, pk, kind, "port"); ref != nil && portOf(oc, ref) == lp {
							p.addf("%s: container %s has a %s on loopback port %d, which kubelet cannot reach", where, str(oc["name"]), pk, lp)
						}
					}
				}
			}
		}
	}
	labels := mapOf(dig(w, "spec", "template", "metadata", "labels"))
	found := false
	for _, svc := range o.ofKind("Service") {
		sel := mapOf(dig(svc, "spec", "selector"))
		if len(sel) == 0 || !selects(sel, labels) {
			continue
		}
		found = true
		for _, sp := range list(dig(svc, "spec", "ports")) {
			tp := dig(sp, "targetPort")
			if tp == nil {
				tp = dig(sp, "port")
			}
			if got := portOf(c, tp); got != pp {
				p.addf("Service/%s: port %s targetPort %v reaches %d, not ficus's proxy.listen port %d", str(dig(svc, "metadata", "name")), str(dig(sp, "name")), tp, got, pp)
			}
		}
	}
	if !found {
		p.addf("%s: no Service selects this pod: clients cannot reach the proxy", where)
	}
	return p
}

func selects(sel, labels map[string]any) bool {
	for k, v := range sel {
		if str(labels[k]) != str(v) {
			return false
		}
	}
	return true
}

// checkNATSURLs checks that every nats.url names a pod of a NATS StatefulSet
// (<name>-<i>.<serviceName>) at its client port, and returns that StatefulSet.
func checkNATSURLs(o k8s, where string, cfg *config.Config) (p problems, natsSet string) {
	var urls []string
	for _, u := range cfg.NATS.URLs {
		urls = append(urls, u.Reveal())
	}
	hosts, err := natsURLHosts(urls)
	if err != nil {
		p.addf("%s: %v", where, err)
		return p, ""
	}
	target := ""
	for _, hp := range hosts {
		pod, svc, _ := strings.Cut(hp[0], ".")
		svc, _, _ = strings.Cut(svc, ".")
		ok := false
		for _, sts := range o.ofKind("StatefulSet") {
			if str(dig(sts, "spec", "serviceName")) != svc {
				continue
			}
			idx, found := strings.CutPrefix(pod, str(dig(sts, "metadata", "name"))+"-")
			i, err := strconv.Atoi(idx)
			if !found || err != nil || i < 0 || i >= replicas(sts) {
				continue
			}
			for _, c := range list(dig(sts, "spec", "template", "spec", "containers")) {
				if portOf(mapOf(c), "client") == mustAtoi(hp[1]) {
					ok, target = true, str(dig(sts, "metadata", "name"))
				}
			}
			if ok && cfg.Capture.Stream.Replicas > replicas(sts) {
				p.addf("%s: capture.stream.replicas %d exceeds the %d NATS servers", where, cfg.Capture.Stream.Replicas, replicas(sts))
			}
		}
		if !ok {
			p.addf("%s: nats.url %s:%s is not the client port of a pod of a NATS StatefulSet", where, hp[0], hp[1])
		}
	}
	return p, target
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }

// checkNATSStatefulSet checks a NATS StatefulSet against its nats.conf and
// its headless Service.
func checkNATSStatefulSet(o k8s, sts, c map[string]any, parse natsParser) (problems, natsAuth) {
	where := wname(sts)
	var p problems
	svcName := str(dig(sts, "spec", "serviceName"))
	svc := o.find("Service", svcName)
	switch {
	case svc == nil:
		p.addf("%s: serviceName %q: no such Service", where, svcName)
	case str(dig(svc, "spec", "clusterIP")) != "None":
		p.addf("Service/%s: must be headless (clusterIP: None) to give each NATS pod a name", svcName)
	case dig(svc, "spec", "publishNotReadyAddresses") != true:
		p.addf("Service/%s: publishNotReadyAddresses must be true: NATS servers must find each other before they are ready", svcName)
	}
	args := append(strs(c["command"]), strs(c["args"])...)
	file := configArg(args)
	conf, ok := mountedData(o, sts, c, file)
	if !ok {
		p.addf("%s: nats config %q is not in any mounted ConfigMap", where, file)
		return p, natsAuth{}
	}
	mounts, mp := k8sMountPoints(o, sts, c)
	p = append(p, mp...)
	var pvcs []string
	for _, v := range list(dig(sts, "spec", "volumeClaimTemplates")) {
		pvcs = append(pvcs, str(dig(v, "metadata", "name")))
	}
	dataDir := ""
	for _, vm := range list(c["volumeMounts"]) {
		for _, n := range pvcs {
			if str(dig(vm, "name")) == n {
				dataDir = str(dig(vm, "mountPath"))
			}
		}
	}
	var members []natsMember
	for i := 0; i < replicas(sts); i++ {
		pod := fmt.Sprintf("%s-%d", str(dig(sts, "metadata", "name")), i)
		env, ep := containerEnv(o, where, pod, c)
		p = append(p, ep...)
		members = append(members, natsMember{
			name: pod, host: pod + "." + svcName, env: env,
			client: portOf(c, "client"), cluster: portOf(c, "cluster"), dataDir: dataDir, mounts: mounts, conf: conf,
		})
	}
	cp, _, auth := checkNATSCluster(where, members, parse)
	p = append(p, cp...)
	p = append(p, checkNATSNetworkPolicy(o, sts, c)...)
	if svc != nil {
		for _, sp := range list(dig(svc, "spec", "ports")) {
			if portOf(c, dig(sp, "targetPort")) < 0 {
				p.addf("Service/%s: targetPort %v is not a port of %s", svcName, dig(sp, "targetPort"), where)
			}
		}
	}
	return p, auth
}
