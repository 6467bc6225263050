package pcapgen

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/pcap from the generators")

// TestGenerate keeps testdata/pcap equal to what the generators make
// (-update rewrites it), so a file is never edited by hand.
func TestGenerate(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "pcap")
	tmp := t.TempDir()
	var readme strings.Builder
	readme.WriteString("# Generated captures\n\nMade by `go test ./internal/pcapgen -run TestGenerate -update` (internal/pcapgen/files.go); never edit by hand.\n")
	fmt.Fprintf(&readme, "Inside networks: `%s`; outside: `%s`. Synthetic: never sent on a network.\n\n", Inside, Outside)
	readme.WriteString(readmeIntro)
	readme.WriteString("| file | link type | contents | the sensor reports (ip proto port) |\n|---|---|---|---|\n")
	for _, f := range Files() {
		p, err := Write(tmp, f)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, s := range f.Want {
			want = append(want, fmt.Sprintf("%s %s %d", s.IP, s.Proto, s.Port))
		}
		if f.Name == "spray" {
			want = []string{"one host_sprays for 198.18.8.10"}
		}
		fmt.Fprintf(&readme, "| %s | %s | %s | %s |\n", filepath.Base(p), f.Link, f.Note, strings.Join(want, "; "))
		compare(t, p, filepath.Join(dir, filepath.Base(p)))
	}
	rp := filepath.Join(tmp, "README.md")
	if err := os.WriteFile(rp, []byte(readme.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	compare(t, rp, filepath.Join(dir, "README.md"))
}

func compare(t *testing.T, got, committed string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(committed), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(committed, g, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	c, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(g, c) {
		t.Errorf("%s differs from its generator (run go test ./internal/pcapgen -run TestGenerate -update)", committed)
	}
}

const readmeIntro = `Check a file with the sensor:

    synwatch sensor --pcap testdata/pcap/FILE --inside 198.18.0.0/16,2001:2:0:1::/64 --output -

and against tshark (which decodes the tunnels too):

    tshark -n -r testdata/pcap/FILE -Y 'tcp.flags.syn==1 && tcp.flags.ack==1' -T fields -e ip.src -e ipv6.src -e tcp.srcport

Every per-encapsulation file (ethernet … gtpu) wraps the same eight packets,
one frame each, 1 ms apart, in its encapsulation (INSIDE, OUTSIDE and PORT
per file; the client port C is 40000 + PORT mod 1000):

1. OUTSIDE.C > INSIDE.PORT SYN (the handshake the sensor can trust)
2. INSIDE.PORT > OUTSIDE.C SYN-ACK, ack = 1's seq + 1: **the service to report**
3. OUTSIDE.C > INSIDE.PORT ACK
4. INSIDE.PORT > OUTSIDE.C PSH-ACK with 7 bytes of data
5. OUTSIDE.C+1 > INSIDE.81 SYN: to a closed port …
6. INSIDE.81 > OUTSIDE.C+1 RST-ACK: … which refuses it (not a service)
7. INSIDE.50000 > OUTSIDE.443 SYN: the inside host's own outbound connection …
8. OUTSIDE.443 > INSIDE.50000 SYN-ACK: … answered by an outside server (not an inside service)

Tunnel endpoints (outer addresses) are 198.19.250.1 and 198.19.250.2 (or
2001:2:0:2::fa and ::fb), both outside. The decoder's view of every frame is in
sniffer/decode/testdata/golden/FILE.jsonl.

`
