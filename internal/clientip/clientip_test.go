package clientip

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestParseTrusted(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrusted(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "192.168.1.7": true, "192.168.1.8": false, "fd00::1": true,
		"::ffff:10.0.0.1": true, "11.0.0.1": false, "::1": false,
	} {
		if got := trusted.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.0/", "*"} {
		if _, err := ParseTrusted(bad); err == nil {
			t.Errorf("ParseTrusted(%q) accepted", bad)
		}
	}
	if empty, _ := ParseTrusted(""); !empty.Empty() || empty.Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("an empty list must trust no one")
	}
}

func TestPeerTrusted(t *testing.T) {
	t.Parallel()
	trusted, _ := ParseTrusted("127.0.0.0/8")
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	if !trusted.PeerTrusted(r) {
		t.Error("loopback peer not trusted")
	}
	r.RemoteAddr = "[::1]:5555"
	if trusted.PeerTrusted(r) {
		t.Error("::1 is not in 127.0.0.0/8")
	}
	r.RemoteAddr = "garbage"
	if trusted.PeerTrusted(r) {
		t.Error("an unparsable peer was trusted")
	}
}
