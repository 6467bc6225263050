package state

import (
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

func TestRedisOptions(t *testing.T) {
	cases := []struct {
		url, addrs, user, pass, master string
		db                             int
		cluster, tls                   bool
	}{
		{url: "redis://127.0.0.1:6379", addrs: "127.0.0.1:6379"},
		{url: "redis://h", addrs: "h:6379"},
		{url: "redis://u:p%40ss@h:1/3", addrs: "h:1", user: "u", pass: "p@ss", db: 3},
		{url: "rediss://h:6380", addrs: "h:6380", tls: true},
		{url: "redis://s1:26379,s2:26379?master=mymaster", addrs: "s1:26379,s2:26379", master: "mymaster"},
		{url: "redis://n1:7000,n2:7001?cluster=true", addrs: "n1:7000,n2:7001", cluster: true},
		{url: "redis://[::1]:6379", addrs: "[::1]:6379"},
	}
	for _, c := range cases {
		o, err := redisOptions(c.url, config.Store{})
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if strings.Join(o.Addrs, ",") != c.addrs || o.Username != c.user || o.Password != c.pass || o.DB != c.db ||
			o.MasterName != c.master || o.IsClusterMode != c.cluster || (o.TLSConfig != nil) != c.tls {
			t.Errorf("%s: %+v", c.url, o)
		}
	}
	for _, bad := range []string{"redis://", "redis://h/x", "redis://u:secret@h/x"} {
		_, err := redisOptions(bad, config.Store{})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func FuzzRedisOptions(f *testing.F) {
	f.Add("redis://u:secret@h:1/3")
	f.Add("rediss://a:1,b:2?master=m")
	f.Add("redis://[::1]:6379?cluster=true")
	f.Fuzz(func(t *testing.T, u string) {
		_, err := redisOptions(u, config.Store{})
		if err != nil && strings.Contains(u, ":secret@") && strings.Contains(err.Error(), "secret") {
			t.Fatalf("password in error: %v", err)
		}
	})
}

func FuzzKeys(f *testing.F) {
	f.Add("198.18.1.2|tcp|22", "s:sensor-1")
	f.Add("2001:db8::1|udp|53", "t:vxlan:42")
	f.Fuzz(func(t *testing.T, k, member string) {
		s, err := parseSvcKey(k)
		if err == nil {
			if s2, err := parseSvcKey(svcKey(s)); err != nil || (s2.IP.IsValid() && s2 != event.Service{IP: s.IP.Unmap(), Proto: s.Proto, Port: s.Port}) {
				t.Fatalf("round trip %q: %v %v", k, s2, err)
			}
		}
		var r event.Record
		setVantage(&r, []string{member, "v:1"})
	})
}
