// Package clientip decides which proxies are trusted and, from that, who the
// client is. A forwarded header is believed only from a trusted peer, so no
// client can choose the address that logs and limits see.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Trusted is a set of networks whose peers are trusted proxies. The zero
// value trusts no one.
type Trusted struct {
	prefixes []netip.Prefix
}

// ParseTrusted parses a comma-separated list of CIDRs or single addresses.
func ParseTrusted(list string) (Trusted, error) {
	var t Trusted
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			addr, err := netip.ParseAddr(item)
			if err != nil {
				return Trusted{}, fmt.Errorf("%q is not a CIDR or an IP address", item)
			}
			t.prefixes = append(t.prefixes, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return Trusted{}, fmt.Errorf("%q is not a CIDR or an IP address", item)
		}
		t.prefixes = append(t.prefixes, p.Masked())
	}
	return t, nil
}

// Empty reports whether no proxy is trusted.
func (t Trusted) Empty() bool { return len(t.prefixes) == 0 }

// Contains reports whether addr is inside a trusted network.
func (t Trusted) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Peer returns the TCP peer of r (its RemoteAddr without the port).
func Peer(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// PeerTrusted reports whether r came straight from a trusted proxy.
func (t Trusted) PeerTrusted(r *http.Request) bool {
	addr, ok := Peer(r)
	return ok && t.Contains(addr)
}

// Client returns the client's address: the TCP peer, or, when the peer is a
// trusted proxy, the right-most address of X-Forwarded-For that is not a
// trusted proxy itself. Addresses to its left could have been written by
// the client, so they are never used.
func (t Trusted) Client(r *http.Request) string {
	peer, ok := Peer(r)
	if !ok {
		return r.RemoteAddr
	}
	if !t.Contains(peer) {
		return peer.String()
	}
	return t.fromForwarded(peer, r.Header.Values("X-Forwarded-For")).String()
}

// fromForwarded walks the X-Forwarded-For hops from the right (the hop
// nearest to us) and returns the first one outside the trusted networks.
// An unparsable hop ends the walk at the last trusted hop: nothing left of
// it can be trusted to be what it claims.
func (t Trusted) fromForwarded(peer netip.Addr, headers []string) netip.Addr {
	client := peer
	for i := len(headers) - 1; i >= 0; i-- {
		hops := strings.Split(headers[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			addr, err := parseHop(hops[j])
			if err != nil {
				return client
			}
			client = addr
			if !t.Contains(addr) {
				return client
			}
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port or in brackets.
func parseHop(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, err
	}
	return addr.Unmap(), nil
}

// LimitKey returns the key a per-address limit counts client under: an IPv4
// address itself, but an IPv6 address's /64. One IPv6 host is usually given
// a whole /64 and may pick any address in it, so counting each address
// would hand it 2^64 budgets. A client that is not an address (an
// unparsable peer) is its own key.
func LimitKey(client string) string {
	addr, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	// Prefix drops the zone and cannot fail for 64 bits of an IPv6 address.
	p, _ := addr.Prefix(64)
	return p.String()
}
