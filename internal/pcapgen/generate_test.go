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
