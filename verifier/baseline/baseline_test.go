package baseline

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		file string
		want []string // service, name, product, version, verified_at unix
	}{
		{"nmap.xml", []string{
			"198.18.1.2:22/tcp ssh|OpenSSH|9.2p1 Debian 2+deb12u3 1763600100",
			"198.18.1.2:6379/tcp redis|Redis key-value store|7.0.15 1763600100",
		}},
		{"masscan.json", []string{
			"198.18.1.4:80/tcp http|| 1763600200",
			"198.18.1.5:443/tcp || 1763600202",
		}},
		{"masscan.xml", []string{
			"198.18.1.6:3389/tcp || 1763600301",
			"198.18.1.7:8080/tcp || 1763600302",
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + c.file)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Parse(data, now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rs {
				if !r.Baseline || r.Status != event.StatusExposed || !r.FirstSeen.Equal(r.VerifiedAt) {
					t.Errorf("%s: not a baseline record: %+v", r.Service, r)
				}
				got = append(got, r.Service.String()+" "+r.Name+"|"+r.Product+"|"+r.Version+" "+strconv.FormatInt(r.VerifiedAt.Unix(), 10))
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("row %d: got %q want %q", i, got[i], c.want[i])
				}
			}
		})
	}
	if _, err := Parse([]byte("hello"), now); err == nil {
		t.Fatal("garbage parsed")
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"nmap.xml", "masscan.json", "masscan.xml"} {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"ip":"::1","ports":[{"port":1,"proto":"udp"}]}`))
	now := time.Unix(1, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := Parse(b, now)
		if err != nil {
			return
		}
		for _, r := range rs {
			if !r.IP.IsValid() || r.Port == 0 || (r.Proto != event.TCP && r.Proto != event.UDP) {
				t.Fatalf("bad record %+v", r)
			}
		}
	})
}
