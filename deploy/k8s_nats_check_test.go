package deploy_test

import (
	"path"
	"slices"
	"strconv"
)

// k8sMountPoints lists what a container sees mounted: the mount path of each
// volume whose source exists (a ConfigMap or Secret of the rendered set, a
// Secret that a cert-manager Certificate writes, a claim, an emptyDir), or
// mountPath/item for Secrets and ConfigMaps projected item by item.
func k8sMountPoints(o k8s, w, c map[string]any) ([]string, problems) {
	var out []string
	var p problems
	where := wname(w) + " container " + str(c["name"])
	claims := map[string]bool{}
	for _, v := range list(dig(w, "spec", "volumeClaimTemplates")) {
		claims[str(dig(v, "metadata", "name"))] = true
	}
	for _, vm := range list(c["volumeMounts"]) {
		name, mp := str(dig(vm, "name")), str(dig(vm, "mountPath"))
		if str(dig(vm, "subPath")) != "" {
			continue
		}
		if claims[name] {
			out = append(out, mp)
			continue
		}
		for _, v := range list(dig(w, "spec", "template", "spec", "volumes")) {
			if str(dig(v, "name")) != name {
				continue
			}
			var keys []string // what the source holds; nil: unknown, anything
			switch {
			case dig(v, "configMap") != nil:
				cm := o.find("ConfigMap", str(dig(v, "configMap", "name")))
				if cm == nil {
					p.addf("%s: volume %s: ConfigMap %s does not exist", where, name, str(dig(v, "configMap", "name")))
					continue
				}
				for k := range objectData(cm) {
					keys = append(keys, k)
				}
			case dig(v, "secret") != nil:
				sn := str(dig(v, "secret", "secretName"))
				if s := o.find("Secret", sn); s != nil {
					for k := range objectData(s) {
						keys = append(keys, k)
					}
				} else if certificateSecret(o, sn) {
					keys = []string{"tls.crt", "tls.key", "ca.crt"}
				} else {
					p.addf("%s: volume %s: Secret %s does not exist, and no cert-manager Certificate writes it", where, name, sn)
					continue
				}
			}
			items := list(dig(v, "configMap", "items"))
			if items == nil {
				items = list(dig(v, "secret", "items"))
			}
			if items == nil {
				out = append(out, mp)
				continue
			}
			for _, it := range items {
				if keys != nil && !slices.Contains(keys, str(dig(it, "key"))) {
					p.addf("%s: volume %s: item %s is not a key of its source", where, name, str(dig(it, "key")))
					continue
				}
				out = append(out, path.Join(mp, str(dig(it, "path"))))
			}
		}
	}
	return out, p
}

// certificateSecret reports whether a cert-manager Certificate writes Secret name.
func certificateSecret(o k8s, name string) bool {
	for _, cert := range o.ofKind("Certificate") {
		if str(dig(cert, "spec", "secretName")) == name {
			return true
		}
	}
	return false
}

// checkNATSNetworkPolicy checks that NetworkPolicies admit only ficus's pods to
// the NATS client port, only NATS's own pods to the cluster port, nobody to any
// other port (monitoring has no authentication), and every ficus pod to the
// client port (or ficus could not connect).
func checkNATSNetworkPolicy(o k8s, sts, c map[string]any) problems {
	where := wname(sts)
	var p problems
	labels := mapOf(dig(sts, "spec", "template", "metadata", "labels"))
	client, cluster := portOf(c, "client"), portOf(c, "cluster")
	var all []int
	for _, cp := range list(c["ports"]) {
		n, _ := strconv.Atoi(str(dig(cp, "containerPort")))
		all = append(all, n)
	}
	isFicus := func(w map[string]any) bool {
		for _, x := range list(dig(w, "spec", "template", "spec", "containers")) {
			if isFicusImage(str(dig(x, "image"))) {
				return true
			}
		}
		return false
	}
	admitted := map[string]bool{} // workloads admitted to the client port
	found := false
	for _, np := range o.ofKind("NetworkPolicy") {
		types := strs(dig(np, "spec", "policyTypes"))
		if !selects(mapOf(dig(np, "spec", "podSelector", "matchLabels")), labels) ||
			(len(types) > 0 && !slices.Contains(types, "Ingress")) {
			continue
		}
		found = true
		npName := "NetworkPolicy/" + str(dig(np, "metadata", "name"))
		for _, rule := range list(dig(np, "spec", "ingress")) {
			ports := all
			if rp := list(dig(rule, "ports")); len(rp) > 0 {
				ports = nil
				for _, x := range rp {
					ports = append(ports, portOf(c, dig(x, "port")))
				}
			}
			peers := list(dig(rule, "from"))
			for _, port := range ports {
				if port != client && port != cluster {
					p.addf("%s: admits traffic to %s port %d, which has no authentication", npName, where, port)
					continue
				}
				if len(peers) == 0 {
					p.addf("%s: admits every source to %s port %d", npName, where, port)
				}
				for _, peer := range peers {
					sel := mapOf(dig(peer, "podSelector", "matchLabels"))
					if dig(peer, "ipBlock") != nil || dig(peer, "namespaceSelector") != nil || len(sel) == 0 {
						p.addf("%s: admits more than chosen pods of this namespace to %s port %d: use a podSelector with matchLabels", npName, where, port)
						continue
					}
					for _, w := range o.ofKind("Deployment", "StatefulSet") {
						if !selects(sel, mapOf(dig(w, "spec", "template", "metadata", "labels"))) {
							continue
						}
						switch {
						case port == client && isFicus(w):
							admitted[wname(w)] = true
						case port == cluster && wname(w) == where:
						default:
							p.addf("%s: admits %s to %s port %d", npName, wname(w), where, port)
						}
					}
				}
			}
		}
	}
	if !found {
		p.addf("%s: no NetworkPolicy restricts who reaches it: admit only ficus's pods to its client port", where)
		return p
	}
	for _, w := range o.ofKind("Deployment", "StatefulSet") {
		if isFicus(w) && !admitted[wname(w)] {
			p.addf("%s: no NetworkPolicy admits %s to its client port: ficus there cannot reach NATS", where, wname(w))
		}
	}
	return p
}
