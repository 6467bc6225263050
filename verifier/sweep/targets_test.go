package sweep

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestGuard(t *testing.T) {
	inside := prefixes("198.18.72.0/24")
	cases := []struct {
		name    string
		guard   Guard
		targets string
		blocks  []string
		n       uint64
		err     string
	}{
		{"one /28", Guard{Inside: inside}, "198.18.72.0/28", []string{"198.18.72.0/28"}, 16, ""},
		{"address and overlap", Guard{Inside: inside}, "198.18.72.3,198.18.72.0/30", []string{"198.18.72.0/30"}, 4, ""},
		{"outside", Guard{Inside: inside}, "198.18.73.0/28", nil, 0, "refused, no scan started: 198.18.73.0/28 outside the inside networks (198.18.72.0/24)"},
		{"partly outside", Guard{Inside: inside}, "198.18.72.0/23", nil, 0, "refused, no scan started: 198.18.72.0/23 outside"},
		{"one of two outside", Guard{Inside: inside}, "198.18.72.0/28,192.0.2.1", nil, 0, "192.0.2.1 outside"},
		{"no inside", Guard{}, "198.18.72.0/28", nil, 0, "no inside networks"},
		{"exclusion cut out", Guard{Inside: inside, Exclude: prefixes("198.18.72.4/30")}, "198.18.72.0/28",
			[]string{"198.18.72.0/30", "198.18.72.8/29"}, 12, ""},
		{"all excluded", Guard{Inside: inside, Exclude: prefixes("198.18.72.0/24")}, "198.18.72.0/28", nil, 0, "every target is excluded"},
		{"over the cap", Guard{Inside: inside, Max: 100}, "198.18.72.0/24", nil, 256, "covers 256 addresses, more than sweep.max_addresses (100); narrow --targets or give --force"},
		{"cap forced", Guard{Inside: inside, Max: 100, Force: true}, "198.18.72.0/24", []string{"198.18.72.0/24"}, 256, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, err := ParseTargets(c.targets)
			if err != nil {
				t.Fatal(err)
			}
			blocks, n, err := c.guard.Check(ts)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(blocks, prefixes(c.blocks...)) || n != c.n {
				t.Fatalf("blocks %v (%d), want %v (%d)", blocks, n, c.blocks, c.n)
			}
		})
	}
	var ref *RefusedError
	_, _, err := Guard{Inside: inside}.Check(prefixes("198.18.73.0/28"))
	if !errors.As(err, &ref) {
		t.Fatalf("refusal is %T, want *RefusedError", err)
	}
}

func TestParseTargets(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ranges.txt")
	os.WriteFile(f, []byte("# lab\n198.18.72.0/28, 198.18.72.20\n\n198.18.72.64/26 # web\n"), 0o644)
	got, err := ParseTargets("198.18.72.1,@" + f)
	if err != nil {
		t.Fatal(err)
	}
	want := prefixes("198.18.72.1/32", "198.18.72.0/28", "198.18.72.20/32", "198.18.72.64/26")
	if !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
	for _, bad := range []string{"", "198.18.72", "198.18.72.0/33", "host.example", "@/nonexistent"} {
		if _, err := ParseTargets(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParsePorts(t *testing.T) {
	got, err := ParsePorts("8080,22,2222,6379,22,8000-8002")
	if err != nil || !slices.Equal(got, []uint16{22, 2222, 6379, 8000, 8001, 8002, 8080}) {
		t.Fatalf("%v %v", got, err)
	}
	all, err := ParsePorts("1-65535")
	if err != nil || len(all) != 65535 {
		t.Fatalf("1-65535: %d %v", len(all), err)
	}
	top, err := ParsePorts("top1000")
	if err != nil || len(top) != 1000 || !slices.Contains(top, 22) || !slices.Contains(top, 80) || !slices.Contains(top, 443) {
		t.Fatalf("top1000: %d %v", len(top), err)
	}
	for _, bad := range []string{"", "0", "65536", "80-22", "http", "top0"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestReadTopPorts(t *testing.T) {
	in := "# nmap-services\nhttp\t80/tcp\t0.484143\t# WWW\nssh\t22/tcp\t0.182286\ndomain\t53/udp\t0.213496\ntelnet\t23/tcp\t0.221265\n"
	got, err := ReadTopPorts(strings.NewReader(in), "tcp", 2)
	if err != nil || !slices.Equal(got, []uint16{23, 80}) {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := ReadTopPorts(strings.NewReader("http 80/tcp lots\n"), "tcp", 2); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad frequency: %v", err)
	}
}

func TestCut(t *testing.T) {
	shards := Cut("s", prefixes("198.18.72.0/23", "198.18.74.0/30"), []uint16{22, 80, 443}, nil, "nmap", 100, 256, 2)
	// 2 blocks of 256 + one of 4, × 2 port ranges
	if len(shards) != 6 {
		t.Fatalf("%d shards: %+v", len(shards), shards)
	}
	var addrs uint64
	for _, s := range shards {
		if s.Of != 6 || s.Sweep != "s" {
			t.Fatalf("%+v", s)
		}
		addrs += s.Addresses()
	}
	if addrs != 2*(512+4) {
		t.Fatalf("addresses %d", addrs)
	}
	if !shards[0].Contains(netip.MustParseAddr("198.18.72.9")) || shards[0].Contains(netip.MustParseAddr("198.18.73.9")) {
		t.Fatal("Contains")
	}
}

func TestPortSpec(t *testing.T) {
	if got := portSpec([]uint16{22, 80, 81, 82, 443}, []uint16{53}, "T:", "U:"); got != "T:22,80-82,443,U:53" {
		t.Fatal(got)
	}
}

func FuzzParseTargets(f *testing.F) {
	for _, s := range []string{"198.18.72.0/28", "198.18.72.1,198.18.72.0/30", "::1/128", "x", "1.2.3.4/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "@") {
			return // files: the list reader below
		}
		ps, err := ParseTargets(s)
		if err != nil {
			return
		}
		blocks, _, err := Guard{Inside: prefixes("198.18.0.0/15")}.Check(ps)
		if err != nil {
			return
		}
		for _, b := range blocks {
			if !netip.MustParsePrefix("198.18.0.0/15").Contains(b.Addr()) {
				t.Fatalf("%q: block %s outside the inside network", s, b)
			}
		}
	})
}

func FuzzTargetList(f *testing.F) {
	f.Add("# x\n198.18.72.0/28, 198.18.72.20\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseTargetList(s, "f")
	})
}

func FuzzReadTopPorts(f *testing.F) {
	f.Add("http\t80/tcp\t0.484143\t# WWW\nssh\t22/tcp\t0.182286\n")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ReadTopPorts(strings.NewReader(s), "tcp", 1000)
		if err == nil && len(ps) > 1000 {
			t.Fatalf("%d ports", len(ps))
		}
	})
}
