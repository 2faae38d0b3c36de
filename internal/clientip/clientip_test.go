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

func TestClient(t *testing.T) {
	t.Parallel()
	trusted, _ := ParseTrusted("10.0.0.0/8")
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "203.0.113.5:1234", nil, "203.0.113.5"},
		{"forged header from an untrusted peer is ignored", "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"trusted proxy's forwarded address believed", "10.0.0.2:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"right-most untrusted hop wins over a client-written left part", "10.0.0.2:80", []string{"1.2.3.4, 198.51.100.7, 10.0.0.9"}, "198.51.100.7"},
		{"several headers read as one list", "10.0.0.2:80", []string{"1.2.3.4", "198.51.100.7"}, "198.51.100.7"},
		{"all hops trusted: the left-most", "10.0.0.2:80", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"garbage stops at the last trusted hop", "10.0.0.2:80", []string{"1.2.3.4, garbage, 10.0.0.9"}, "10.0.0.9"},
		{"trusted proxy without the header", "10.0.0.2:80", nil, "10.0.0.2"},
		{"IPv6 with port and brackets", "10.0.0.2:80", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := trusted.Client(r); got != tt.want {
				t.Errorf("Client = %s, want %s", got, tt.want)
			}
		})
	}
}

// FuzzClient: whatever a client or proxy writes in X-Forwarded-For, the
// answer is an address, and an untrusted peer is never overridden.
func FuzzClient(f *testing.F) {
	f.Add("1.2.3.4, 10.0.0.9", true)
	f.Add("[::1]:80,,garbage", true)
	f.Add("203.0.113.1", false)
	trusted, _ := ParseTrusted("10.0.0.0/8")
	f.Fuzz(func(t *testing.T, xff string, fromProxy bool) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "203.0.113.5:1"
		if fromProxy {
			r.RemoteAddr = "10.0.0.2:1"
		}
		r.Header.Set("X-Forwarded-For", xff)
		got := trusted.Client(r)
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("Client = %q, not an address", got)
		}
		if !fromProxy && got != "203.0.113.5" {
			t.Fatalf("an untrusted peer's header chose the address %s", got)
		}
	})
}

func TestLimitKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ client, want string }{
		{"203.0.113.5", "203.0.113.5"},
		{"203.0.113.6", "203.0.113.6"},
		{"::ffff:203.0.113.5", "203.0.113.5"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"not-an-address", "not-an-address"},
	} {
		if got := LimitKey(tt.client); got != tt.want {
			t.Errorf("LimitKey(%q) = %q, want %q", tt.client, got, tt.want)
		}
	}
}
