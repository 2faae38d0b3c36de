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
