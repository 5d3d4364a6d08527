package netfilter

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// soOriginalDst is SO_ORIGINAL_DST (linux/netfilter_ipv4.h), which has the
// same value as IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h).
const soOriginalDst = 80

// OriginalDst is where an accepted TCP connection was headed before
// init-net's rules redirected it: SO_ORIGINAL_DST for IPv4 (also on a
// dual-stack listener, where the result is a plain IPv4 address) and
// IP6T_SO_ORIGINAL_DST for IPv6. conntrack answers it, so a connection that
// reached the listener directly gets its own local address back, or
// ErrNotRedirected where conntrack is off (no NAT rules in the namespace).
// c is the accepted connection, or a wrapper with a NetConn method such as
// *tls.Conn.
func OriginalDst(c net.Conn) (netip.AddrPort, error) {
	for {
		w, ok := c.(interface{ NetConn() net.Conn })
		if _, raw := c.(syscall.Conn); raw || !ok {
			break
		}
		c = w.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("netfilter: original destination: %T is not a TCP connection", c)
	}
	local, ok := c.LocalAddr().(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("netfilter: original destination: %T is not a TCP connection", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("netfilter: original destination: %w", err)
	}
	v4 := local.AddrPort().Addr().Unmap().Is4()
	var dst netip.AddrPort
	var serr error
	if err := rc.Control(func(fd uintptr) { dst, serr = getOriginalDst(int(fd), v4) }); err != nil {
		return netip.AddrPort{}, fmt.Errorf("netfilter: original destination: %w", err)
	}
	if serr != nil {
		if errors.Is(serr, unix.ENOENT) {
			serr = fmt.Errorf("%w (%v)", ErrNotRedirected, serr)
		}
		return netip.AddrPort{}, fmt.Errorf("netfilter: original destination of %s → %s: %w", c.RemoteAddr(), c.LocalAddr(), serr)
	}
	return dst, nil
}

// getOriginalDst asks conntrack for the pre-NAT destination of fd's flow.
func getOriginalDst(fd int, v4 bool) (netip.AddrPort, error) {
	var sa unix.RawSockaddrInet6 // large enough for either family
	size := uint32(unsafe.Sizeof(sa))
	level := unix.SOL_IPV6
	if v4 {
		level = unix.SOL_IP
	}
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), soOriginalDst,
		uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return netip.AddrPort{}, fmt.Errorf("getsockopt SO_ORIGINAL_DST: %w", errno)
	}
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port)), nil
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), ntohs(sa.Port)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("getsockopt SO_ORIGINAL_DST: unexpected address family %d", sa.Family)
}

// ntohs reads a port stored in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
