//go:build !linux

package netfilter

import (
	"errors"
	"net"
	"net/netip"
)

// Interception needs Linux's netfilter; Plan and String work everywhere,
// so `hopseal init-net --dry-run` does too.
var errNotLinux = errors.New("netfilter: interception needs Linux (nftables and conntrack)")

// Apply needs Linux.
func Apply(Rules) error { return errNotLinux }

// Remove needs Linux.
func Remove() error { return errNotLinux }

// Installed needs Linux.
func Installed() (*Ruleset, error) { return nil, errNotLinux }

// OriginalDst needs Linux.
func OriginalDst(net.Conn) (netip.AddrPort, error) { return netip.AddrPort{}, errNotLinux }
