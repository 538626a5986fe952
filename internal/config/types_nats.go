package config

// EmbeddedAuth is who may connect to the embedded NATS server. Without it,
// ficus generates a user and password on first start and keeps them in
// <store_dir>/ficus-nats-credentials.json (mode 0600); `ficus nats-url`
// prints them as a URL. The server never accepts unauthenticated clients.
type EmbeddedAuth struct {
	// Users replace the generated credentials. ficus itself connects as the
	// user marked `ficus: true`, else the first one; that user needs a
	// password and no permissions (ficus uses JetStream, KV and inboxes).
	Users []NATSUser `yaml:"users,omitempty"`
}

// Configured reports whether users are configured (else ficus generates one).
func (a EmbeddedAuth) Configured() bool { return len(a.Users) > 0 }

// FicusIndex returns the index of the user ficus connects as: the one marked
// Ficus, else the first. It is -1 when no user is configured.
func (a EmbeddedAuth) FicusIndex() int {
	for i, u := range a.Users {
		if u.Ficus {
			return i
		}
	}
	if len(a.Users) == 0 {
		return -1
	}
	return 0
}

// NATSUser is one client of the embedded server: user and password, or an
// nkey alone.
type NATSUser struct {
	// User is the user name; requires Password.
	User string `yaml:"user,omitempty"`
	// Password is the user's password, a secret: write it as
	// ${FICUS_NATS_PASSWORD}. It is never printed.
	Password Secret `yaml:"password,omitempty"`
	// NKey is a public user nkey (56 characters starting with U); the client
	// signs a challenge with its seed. Not together with User.
	NKey string `yaml:"nkey,omitempty"`
	// Ficus marks the user ficus itself connects as (at most one).
	Ficus bool `yaml:"ficus,omitempty"`
	// Permissions restrict the subjects of this user. Absent: everything.
	Permissions *NATSPermissions `yaml:"permissions,omitempty"`
}

// NATSPermissions are allow lists of subjects (wildcards * and > allowed).
// A list left out does not restrict its direction; an empty list ([])
// forbids it entirely.
type NATSPermissions struct {
	// Publish are the subjects the user may publish to (requests included:
	// a JetStream client needs $JS.API.>; a subscriber that only reads needs none).
	Publish []string `yaml:"publish"`
	// Subscribe are the subjects the user may subscribe to (a requester
	// needs _INBOX.> for the replies).
	Subscribe []string `yaml:"subscribe"`
}

// MarshalYAML leaves out the lists that are not given: an empty list is not
// the same as none.
func (p NATSPermissions) MarshalYAML() (any, error) {
	m := map[string][]string{}
	if p.Publish != nil {
		m["publish"] = p.Publish
	}
	if p.Subscribe != nil {
		m["subscribe"] = p.Subscribe
	}
	return m, nil
}

// EmbeddedTLS serves TLS on the embedded server's client port; ficus's own
// connections then use TLS too. Paths of PEM files.
type EmbeddedTLS struct {
	// Cert is the server certificate (chain); requires Key. ficus verifies
	// it by the first DNS name (or IP address) it carries.
	Cert string `yaml:"cert,omitempty"`
	// Key is the certificate's private key.
	Key string `yaml:"key,omitempty"`
	// CA, when set, makes the server require client certificates signed by
	// it. ficus's own connections present Cert, which must then also allow
	// client authentication (extended key usage clientAuth, or none). Optional.
	CA string `yaml:"ca,omitempty"`
}
