// Package netfilter intercepts a pod's TCP for the hopseal proxy: the
// nftables rules `hopseal init-net` installs in the pod's network namespace,
// and OriginalDst, which tells the proxy where a redirected connection was
// going.
//
// Plan is pure: it turns Rules into the exact ruleset, one table
// `inet hopseal` with two nat chains. Apply installs it through netlink
// (no nft binary needed), Remove deletes it, Installed reads it back.
// Nothing outside hopseal's table is ever read or changed, so rules of a
// CNI plugin or kube-proxy in the same namespace stay as they are.
//
// With the defaults (inbound 14006, outbound 14001, proxy UID 1443):
//
//	prerouting (dstnat, -100): TCP arriving from other hosts
//	  iifname "lo"              return   this pod's own packets; NAT was decided in output
//	  tcp dport 14006 / 14001   return   already for the proxy / not for peers
//	  tcp dport <excluded>      return
//	  tcp                       redirect to :14006
//	output (-100): TCP that processes in the pod open
//	  meta skuid 1443           return   the proxy's own connections
//	  oifname "lo"              return   destinations inside the pod
//	  ip daddr 127.0.0.0/8, ip6 daddr ::1   return
//	  tcp dport / daddr <excluded>          return
//	  tcp                       redirect to :14001
//
// nat chains see only a connection's first packet; conntrack applies the
// same translation to the rest of it and reverses it on replies. What that
// means for each kind of traffic:
//
//   - An app dialing a peer (B:8080): redirected to 127.0.0.1:14001 (IPv6:
//     [::1]:14001); OriginalDst gives B:8080 back. The outbound proxy must
//     listen on both loopback addresses to serve both families.
//   - The proxy's own dials, to B:8080 or to the local app on 127.0.0.1:8080,
//     are exempt by UID (and the latter also as loopback), so the proxy
//     never loops into itself. Only the proxy may run as ProxyUID.
//   - A peer dialing this pod (A:8080): redirected in prerouting to the
//     inbound port on the address it arrived at, A:14006, so the inbound
//     proxy listens on 0.0.0.0 (and [::] for IPv6); OriginalDst gives A:8080.
//   - An app dialing its own pod IP: the route's output interface is lo, so
//     the connection is not redirected and goes straight to the local
//     listener. It never leaves the namespace, so nothing crosses the wire.
//   - DNS over UDP, and all other non-TCP traffic: not touched.
//   - Fail closed: when no proxy listens on the port a connection was
//     redirected to, the kernel refuses it (RST). The destination is never
//     reached in plaintext around a proxy that is down; the app's next
//     connection works as soon as the proxy listens again.
//
// The rules are not a security boundary against the pod itself: a process
// with CAP_NET_ADMIN or the proxy's UID can bypass them. The peer's strict
// inbound proxy, which accepts only mutual TLS, is what refuses plaintext.
package netfilter
