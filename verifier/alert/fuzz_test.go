package alert

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/synwatch/synwatch/internal/event"
)

// CEF output parses back to what went in, whatever the text: escaping is
// complete.
func FuzzCEFRoundTrip(f *testing.F) {
	f.Add("New exposed service", "a=b c\\d |e|\nsecond", "Acme|Gate\\Way=2", "1.0")
	f.Add("x", "=", "\\", "")
	f.Add("|||", "k=v k2=v2", "\r\n", " ")
	f.Fuzz(func(t *testing.T, title, reason, product, version string) {
		if !utf8.ValidString(title + reason + product + version) {
			t.Skip()
		}
		c := redisChange("fuzz")
		c.After.Product, c.After.Version = product, version
		a := &event.Alert{SchemaVersion: 1, ID: "fuzz-id", Severity: event.SevHigh, Title: title,
			Reasons: []string{reason}, Change: c, CreatedAt: time.Unix(1700000000, 0)}
		line := CEF(a, "1.0|x")
		h, ext, err := ParseCEF(line)
		if err != nil {
			t.Fatalf("ParseCEF(%q): %v", line, err)
		}
		if len(h) != 7 || h[3] != "1.0|x" || h[6] != "8" {
			t.Fatalf("header %q", h)
		}
		wantTitle := strings.NewReplacer("\r", " ", "\n", " ").Replace(title)
		if h[5] != wantTitle {
			t.Fatalf("name %q, want %q", h[5], wantTitle)
		}
		wantMsg := strings.ReplaceAll(truncate(reason, 1023), "\r\n", "\n")
		if ext["msg"] != wantMsg {
			t.Fatalf("msg %q, want %q (line %q)", ext["msg"], wantMsg, line)
		}
		if pv := strings.TrimSpace(product + " " + version); pv != "" && ext["cs1"] != pv {
			t.Fatalf("cs1 %q, want %q", ext["cs1"], pv)
		}
		if ext["dst"] != "198.18.0.5" || ext["externalId"] != "fuzz-id" {
			t.Fatalf("ext %v", ext)
		}
	})
}

// ParseCEF never panics on arbitrary input.
func FuzzParseCEF(f *testing.F) {
	f.Add("CEF:0|a|b|c|d|e|5|k=v x=y\\=z")
	f.Add("<13>1 - - - - - - CEF:0|\\|\\\\|")
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = ParseCEF(s)
	})
}

// The signature check never panics and never accepts a header it did not
// make with the key.
func FuzzVerifySignature(f *testing.F) {
	f.Add("t=1700000000,v1=00ff", []byte("{}"))
	f.Add(",,=,t=,v1=", []byte(""))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		key := []byte("fuzz key")
		if VerifySignature(key, header, body, time.Unix(1700000000, 0), 0) == nil {
			if !strings.Contains(header, Sign(key, time.Unix(parseT(header), 0), body)[strings.Index(Sign(key, time.Unix(parseT(header), 0), body), "v1="):]) {
				t.Fatalf("accepted a header without the right v1: %q", header)
			}
		}
	})
}

func parseT(h string) int64 {
	for _, p := range strings.Split(h, ",") {
		if k, v, ok := strings.Cut(p, "="); ok && k == "t" {
			var n int64
			for _, c := range v {
				if c < '0' || c > '9' {
					return 0
				}
				n = n*10 + int64(c-'0')
			}
			return n
		}
	}
	return 0
}

// Retry-After parsing never panics nor returns a negative wait.
func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Sun, 22 Nov 2026 12:00:30 GMT")
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseRetryAfter(s, time.Unix(1700000000, 0)); ok && d < 0 {
			t.Fatalf("negative wait %s for %q", d, s)
		}
	})
}
