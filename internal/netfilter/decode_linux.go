package netfilter

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// decodeRule turns the kernel's expressions back into a Rule. It reads the
// values out, compiles them again and requires the very same expressions,
// so a rule decodes only if hopseal would have written exactly it.
func decodeRule(exprs []expr.Any) (Rule, error) {
	var r Rule
	for len(exprs) > 0 {
		if v, n := decodeVerdict(exprs); v != nil {
			if n != len(exprs) {
				return Rule{}, fmt.Errorf("expressions after the verdict %q", v.nft())
			}
			r.Verdict = v
			return r, nil
		}
		m := decodeMatch(exprs)
		if m == nil {
			return Rule{}, fmt.Errorf("expression %T %+v is not one hopseal writes", exprs[0], exprs[0])
		}
		want := matchExprs(m)
		if len(want) > len(exprs) || !reflect.DeepEqual(want, exprs[:len(want)]) {
			return Rule{}, fmt.Errorf("expressions do not encode %q exactly", m.nft())
		}
		r.Matches = append(r.Matches, m)
		exprs = exprs[len(want):]
	}
	return Rule{}, fmt.Errorf("rule has no verdict")
}

// decodeMatch guesses the match the expressions start with; decodeRule
// checks the guess by compiling it again.
func decodeMatch(e []expr.Any) Match {
	meta, ok := at[*expr.Meta](e, 0)
	if !ok {
		return nil
	}
	cmp, ok := at[*expr.Cmp](e, 1)
	if !ok {
		return nil
	}
	switch meta.Key {
	case expr.MetaKeyL4PROTO:
		if _, ok := at[*expr.Payload](e, 2); !ok {
			return TCP{}
		}
		if c, ok := at[*expr.Cmp](e, 3); ok {
			return DPort(port(c.Data))
		}
	case expr.MetaKeySKUID:
		if len(cmp.Data) == 4 {
			return SkUID(binaryutil.NativeEndian.Uint32(cmp.Data))
		}
	case expr.MetaKeyOIFNAME:
		return OIFName(bytes.TrimRight(cmp.Data, "\x00"))
	case expr.MetaKeyIIFNAME:
		return IIFName(bytes.TrimRight(cmp.Data, "\x00"))
	case expr.MetaKeyNFPROTO:
		return decodeDAddr(e)
	}
	return nil
}

// decodeDAddr reads nfproto, the payload load, an optional mask and the
// address: a load shorter than the address is a prefix on a byte boundary.
func decodeDAddr(e []expr.Any) Match {
	family, ok1 := at[*expr.Cmp](e, 1)
	load, ok2 := at[*expr.Payload](e, 2)
	if !ok1 || !ok2 || len(family.Data) != 1 {
		return nil
	}
	size := 4
	if family.Data[0] == unix.NFPROTO_IPV6 {
		size = 16
	}
	i, bits := 3, int(load.Len)*8
	if bw, ok := at[*expr.Bitwise](e, 3); ok {
		i, bits = 4, ones(bw.Mask)
	}
	c, ok := at[*expr.Cmp](e, i)
	if !ok || len(c.Data) > size {
		return nil
	}
	b := make([]byte, size)
	copy(b, c.Data)
	addr, _ := netip.AddrFromSlice(b)
	return DAddr(netip.PrefixFrom(addr, bits))
}

// decodeVerdict recognises a verdict and how many expressions it spans.
func decodeVerdict(e []expr.Any) (Verdict, int) {
	if v, ok := at[*expr.Verdict](e, 0); ok && v.Kind == expr.VerdictReturn && v.Chain == "" {
		return Return{}, 1
	}
	imm, ok := at[*expr.Immediate](e, 0)
	if !ok {
		return nil, 0
	}
	redir, ok := at[*expr.Redir](e, 1)
	if !ok || imm.Register != reg || len(imm.Data) != 2 || redir.RegisterProtoMin != reg || redir.RegisterProtoMax != reg ||
		redir.Flags != unix.NF_NAT_RANGE_PROTO_SPECIFIED {
		return nil, 0
	}
	return Redirect(port(imm.Data)), 2
}

func at[T expr.Any](e []expr.Any, i int) (T, bool) {
	var zero T
	if i >= len(e) {
		return zero, false
	}
	v, ok := e[i].(T)
	return v, ok
}

// ones counts the leading one bits of a network mask.
func ones(mask []byte) int {
	n := 0
	for _, b := range mask {
		for bit := 7; bit >= 0 && b&(1<<bit) != 0; bit-- {
			n++
		}
		if b != 0xff {
			break
		}
	}
	return n
}
