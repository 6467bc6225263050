package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/config"
)

// FuzzNetworkList: an --inside-file of any content is read or refused,
// never a panic; what it yields has no empty element and parses as the
// environment's list does.
func FuzzNetworkList(f *testing.F) {
	f.Add("# ours\n198.18.0.0/16, 198.19.1.0/24\n2001:db8::/32  # v6\n")
	f.Add("")
	f.Add(",,,\n#\n\t \r\n")
	f.Add("198.18.0.1 198.18.0.2\r\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(dir, "nets.txt")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		list, err := readNetworkList(p)
		if err != nil {
			return
		}
		for _, n := range strings.Split(list, ",") {
			if n == "" {
				t.Fatalf("empty element in %q from %q", list, content)
			}
		}
		cfg := config.Default()
		_ = config.Set(&cfg, "inside", list)
	})
}
