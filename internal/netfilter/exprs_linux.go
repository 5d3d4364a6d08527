package netfilter

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The kernel's byte encodings of the values hopseal matches on, the same
// ones nft(8) emits, so `nft list ruleset` shows hopseal's rules readably.
const (
	reg        = 1  // every rule loads into register 1 and compares there
	ifNameSize = 16 // IFNAMSIZ: interface names are compared zero-padded
)

// exprs compiles a rule into the kernel's expressions.
func (r Rule) exprs() []expr.Any {
	var out []expr.Any
	for _, m := range r.Matches {
		out = append(out, matchExprs(m)...)
	}
	return append(out, verdictExprs(r.Verdict)...)
}

func matchExprs(m Match) []expr.Any {
	switch m := m.(type) {
	case TCP:
		return metaEq(expr.MetaKeyL4PROTO, []byte{unix.IPPROTO_TCP})
	case SkUID:
		return metaEq(expr.MetaKeySKUID, binaryutil.NativeEndian.PutUint32(uint32(m)))
	case OIFName:
		return metaEq(expr.MetaKeyOIFNAME, ifName(string(m)))
	case IIFName:
		return metaEq(expr.MetaKeyIIFNAME, ifName(string(m)))
	case DPort:
		return append(matchExprs(TCP{}),
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(uint16(m))})
	case DAddr:
		return daddrExprs(netip.Prefix(m))
	}
	panic("netfilter: unknown match type")
}

// daddrExprs matches the IPv4 or IPv6 destination: the family first (an
// inet table sees both), then the address. Like nft(8), a prefix on a byte
// boundary compares only its leading bytes; any other is masked first.
func daddrExprs(p netip.Prefix) []expr.Any {
	family, offset := byte(unix.NFPROTO_IPV4), uint32(16)
	if p.Addr().Is6() {
		family, offset = unix.NFPROTO_IPV6, 24
	}
	size := uint32(p.Addr().BitLen() / 8)
	addr := p.Masked().Addr().AsSlice()
	out := metaEq(expr.MetaKeyNFPROTO, []byte{family})
	if p.Bits()%8 == 0 {
		size = uint32(p.Bits() / 8)
		return append(out,
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: addr[:size]})
	}
	return append(out,
		&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size},
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: size, Mask: mask(p.Bits(), size), Xor: make([]byte, size)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: addr})
}

func verdictExprs(v Verdict) []expr.Any {
	switch v := v.(type) {
	case Return:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}}
	case Redirect:
		return []expr.Any{
			&expr.Immediate{Register: reg, Data: binaryutil.BigEndian.PutUint16(uint16(v))},
			&expr.Redir{RegisterProtoMin: reg, RegisterProtoMax: reg, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED},
		}
	}
	panic("netfilter: unknown verdict type")
}

func metaEq(key expr.MetaKey, data []byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: reg},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data},
	}
}

func ifName(name string) []byte {
	b := make([]byte, ifNameSize)
	copy(b, name)
	return b
}

// mask is a network mask of bits ones in size bytes.
func mask(bits int, size uint32) []byte {
	b := make([]byte, size)
	for i := range b {
		n := min(max(bits-8*i, 0), 8)
		b[i] = byte(0xff << (8 - n))
	}
	return b
}

// port reads a big-endian 16-bit value from a register's bytes.
func port(b []byte) uint16 {
	if len(b) != 2 {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}
