package netfilter

import "errors"

// ErrNotRedirected is returned (wrapped) by OriginalDst for a connection
// conntrack knows nothing about: no NAT rules were ever installed in the
// network namespace, so nothing can have been redirected.
var ErrNotRedirected = errors.New("connection has no conntrack entry: it was not redirected by hopseal init-net's rules")
