package config

import (
	"fmt"
	"strings"

	"github.com/nats-io/nkeys"
	"go.yaml.in/yaml/v3"
)

// Decoding and checks of nats.embedded.auth and nats.embedded.tls.

func (d *decoder) embeddedAuth(n *yaml.Node, l loc, a *EmbeddedAuth) {
	d.mapping(n, l, field{"users", func(v *yaml.Node, l loc) {
		d.list(v, l, func(item *yaml.Node, il loc) {
			var u NATSUser
			d.natsUser(item, il, &u)
			a.Users = append(a.Users, u)
		})
	}})
}

func (d *decoder) natsUser(n *yaml.Node, l loc, u *NATSUser) {
	d.mapping(n, l,
		field{"user", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &u.User, checkNATSUser) }},
		field{"password", func(v *yaml.Node, l loc) {
			if s, _, ok := d.scalar(v, l, "a string", true); ok {
				u.Password = Secret(s)
			}
		}},
		field{"nkey", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &u.NKey, checkUserNKey) }},
		field{"ficus", func(v *yaml.Node, l loc) { d.boolean(v, l, &u.Ficus) }},
		field{"permissions", func(v *yaml.Node, l loc) {
			p := &NATSPermissions{}
			d.mapping(v, l,
				field{"publish", func(v *yaml.Node, l loc) { d.subjects(v, l, &p.Publish) }},
				field{"subscribe", func(v *yaml.Node, l loc) { d.subjects(v, l, &p.Subscribe) }},
			)
			u.Permissions = p
		}},
	)
}

// subjects decodes a list of subject patterns. An empty list is kept as an
// empty, non-nil slice: it forbids, where a missing list allows everything.
func (d *decoder) subjects(n *yaml.Node, l loc, dst *[]string) {
	d.strs(n, l, dst, checkSubjectPattern)
	if r := d.resolve(n, l); r != nil && r.Kind == yaml.SequenceNode && len(r.Content) == 0 {
		*dst = []string{}
	}
}

func (d *decoder) embeddedTLS(n *yaml.Node, l loc, t *EmbeddedTLS) {
	d.mapping(n, l,
		field{"cert", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &t.Cert, nil) }},
		field{"key", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &t.Key, nil) }},
		field{"ca", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &t.CA, nil) }},
	)
}

func checkNATSUser(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "expected a user name without spaces or control characters"
	}
	return ""
}

func checkUserNKey(s string) string {
	if !nkeys.IsValidPublicUserKey(s) {
		return "expected a public user nkey (56 characters starting with U, as `nk -gen user -pubout` prints)"
	}
	return ""
}

// checkSubjectPattern accepts a NATS subject with wildcards: "*" as a whole
// token, ">" as the whole last token.
func checkSubjectPattern(s string) string {
	const want = `expected a NATS subject such as ficus.cdc.> (dot-separated tokens without spaces; "*" and ">" only as whole tokens, ">" last)`
	toks := strings.Split(s, ".")
	for i, tok := range toks {
		bad := tok == "" || strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 ||
			(strings.ContainsAny(tok, "*>") && tok != "*" && tok != ">") || (tok == ">" && i != len(toks)-1)
		if bad {
			return want
		}
	}
	return ""
}

func (d *decoder) validateEmbedded(e *Embedded) {
	const base = "nats.embedded.auth.users"
	if d.present("nats.embedded.auth") && !e.Auth.Configured() {
		d.fail(base, "list at least one user (or leave auth out: ficus then generates credentials)")
	}
	names, keys := map[string]int{}, map[string]int{}
	marked := -1
	for i, u := range e.Auth.Users {
		at := fmt.Sprintf("%s[%d]", base, i)
		switch {
		case d.failed[at+".user"] || d.failed[at+".nkey"] || d.failed[at+".password"]:
			// What the user is cannot be told; its key has the error.
		case u.User != "" && u.NKey != "":
			d.fail(at+".nkey", "not together with user: a client logs in with user and password, or with an nkey")
		case u.User == "" && u.NKey == "":
			d.fail(at, "needs user (with password) or nkey")
		case u.User != "" && u.Password == "":
			d.fail(at+".password", "required with user (an empty value counts as none)")
		case u.NKey != "" && u.Password != "":
			d.fail(at+".password", "not used with nkey: an nkey client logs in by signing with its seed")
		}
		if j, dup := names[u.User]; dup && u.User != "" {
			d.fail(at+".user", "duplicate user %s (also %s[%d])", d.show(at+".user", u.User), base, j)
		} else if u.User != "" {
			names[u.User] = i
		}
		if j, dup := keys[u.NKey]; dup && u.NKey != "" {
			d.fail(at+".nkey", "duplicate nkey (also %s[%d])", base, j)
		} else if u.NKey != "" {
			keys[u.NKey] = i
		}
		if u.Ficus && marked >= 0 {
			d.fail(at+".ficus", "only one user can be the one ficus connects as (also %s[%d])", base, marked)
		} else if u.Ficus {
			marked = i
		}
	}
	if i := e.Auth.FicusIndex(); i >= 0 {
		at, u := fmt.Sprintf("%s[%d]", base, i), e.Auth.Users[i]
		why := "ficus connects as this user (the first; mark another with ficus: true)"
		if u.Ficus {
			why = "ficus connects as this user (ficus: true)"
		}
		if u.NKey != "" && u.User == "" {
			d.fail(at+".nkey", "%s, so it needs user and password: ficus has no nkey seed", why)
		}
		if u.Permissions != nil {
			d.fail(at+".permissions", "%s and needs every subject (JetStream, KV, inboxes): restrict the other users", why)
		}
	}

	t := e.TLS
	if t.Cert != "" && t.Key == "" {
		d.fail("nats.embedded.tls.cert", "requires key: cert and key must be given together")
	}
	if t.Key != "" && t.Cert == "" {
		d.fail("nats.embedded.tls.key", "requires cert: cert and key must be given together")
	}
	if t.CA != "" && t.Cert == "" {
		d.fail("nats.embedded.tls.ca", "requires cert and key: the CA checks the clients of a TLS listener")
	}
}
