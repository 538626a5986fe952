package config

// Forward configures forward mode (proxy.forward; only with proxy.mode:
// forward): which destinations the proxy's clients may reach.
type Forward struct {
	// Allow lists the destinations clients may ask for; a request or CONNECT
	// that no rule opens is answered 403. Default (empty): any host, plain
	// HTTP to port 80 and CONNECT to port 443. Whatever it says, ficus never
	// connects to its own listeners (admin, proxy, embedded NATS), to cloud
	// metadata addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200) or
	// to unspecified addresses (0.0.0.0, ::); and to loopback or link-local
	// addresses only when a rule names them exactly: by IP address, or
	// (loopback) as localhost. The check is made on every address a name
	// resolves to, and only checked addresses are dialled.
	Allow []AllowRule `yaml:"allow,omitempty"`
}

// AllowRule opens a host on some ports.
type AllowRule struct {
	// Host is a host name, an IP address, *.domain (any name below domain,
	// not domain itself) or * (any host). Required.
	Host string `yaml:"host"`
	// Ports are the ports opened, for plain HTTP and CONNECT alike.
	// Default: 80 for plain HTTP, 443 for CONNECT (and for requests inside
	// intercepted tunnels).
	Ports []int `yaml:"ports,omitempty"`
}
