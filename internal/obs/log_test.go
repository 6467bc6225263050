package obs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
)

func TestNewLogger(t *testing.T) {
	cases := []struct {
		level, format string
		wantLines     int
		check         func(t *testing.T, out string)
	}{
		{"info", "json", 2, func(t *testing.T, out string) {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("not JSON: %q", line)
				}
				for _, k := range []string{"time", "level", "msg"} {
					if m[k] == nil {
						t.Errorf("JSON line lacks %s: %s", k, line)
					}
				}
			}
			if !strings.Contains(out, `"port":443`) {
				t.Errorf("attribute lost: %s", out)
			}
		}},
		{"debug", "text", 3, func(t *testing.T, out string) {
			if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "port=443") {
				t.Errorf("text: %s", out)
			}
		}},
		{"error", "text", 0, nil},
		{"warn", "json", 1, nil},
	}
	for _, c := range cases {
		t.Run(c.level+"/"+c.format, func(t *testing.T) {
			var buf bytes.Buffer
			log := NewLogger(config.Obs{LogLevel: c.level, LogFormat: c.format}, &buf)
			log.Debug("decoded", "port", 443)
			log.Info("observation", "port", 443)
			log.Warn("spool", "port", 443)
			out := buf.String()
			if n := strings.Count(out, "\n"); n != c.wantLines {
				t.Errorf("%d lines at level %s, want %d:\n%s", n, c.level, c.wantLines, out)
			}
			if c.check != nil {
				c.check(t, out)
			}
		})
	}
}

// Durations carry their unit in JSON logs, as in text ones.
func TestJSONLogDurationsHaveUnits(t *testing.T) {
	var b bytes.Buffer
	NewLogger(config.Obs{LogLevel: "info", LogFormat: "json"}, &b).Info("capture ended", "elapsed", 1534*time.Millisecond)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["elapsed"] != "1.534s" {
		t.Errorf("elapsed = %v (%T), want \"1.534s\"", m["elapsed"], m["elapsed"])
	}
}
