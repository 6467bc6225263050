package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: not JSON lines: %v", path, err)
		}
		out = append(out, m)
	}
	return out
}

// dig follows a dotted ECS path through nested objects.
func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[p]
	}
	return v
}

func TestFileSinkECSAndRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts", "synwatch.jsonl")
	cfg := fastConfig()
	cfg.Sinks.File = &config.FileSink{Path: path}
	d, _, _ := newTestDispatcher(t, cfg)
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-file-1")}); err != nil {
		t.Fatal(err)
	}
	// logrotate moves the file away; the next alert lands in a new file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-file-2")}); err != nil {
		t.Fatal(err)
	}
	old, cur := readJSONLines(t, path+".1"), readJSONLines(t, path)
	if len(old) != 1 || len(cur) != 1 {
		t.Fatalf("rotated file has %d lines, new file %d; want 1 and 1", len(old), len(cur))
	}
	doc := old[0]
	want := map[string]any{
		"event.kind": "alert", "event.action": "new", "event.id": "chg-file-1", "event.severity": 10.0,
		"event.dataset": "synwatch.alert", "destination.ip": "198.18.0.5", "destination.port": 6379.0,
		"network.transport": "tcp", "network.protocol": "redis", "service.name": "redis",
		"source.ip": "203.0.113.9", "observer.name": "tap-1", "rule.name": "synwatch new redis", "rule.category": "database",
		"vulnerability.score.base": 10.0, "vulnerability.reference": "https://nvd.nist.gov/vuln/detail/CVE-2022-0543",
		"synwatch.verdict": "exposed", "synwatch.severity": "critical", "ecs.version": ECSVersion,
		"message": "New exposed service: Redis key-value store 5.0.7 on 198.18.0.5:6379/tcp",
	}
	for k, v := range want {
		if got := dig(doc, splitDots(k)...); got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	if ts, _ := doc["@timestamp"].(string); ts == "" {
		t.Error("@timestamp missing")
	}
	ids, _ := dig(doc, "vulnerability", "id").([]any)
	if len(ids) != 3 || ids[0] != "CVE-2022-0543" {
		t.Errorf("vulnerability.id = %v", ids)
	}
	cat, _ := dig(doc, "event", "category").([]any)
	typ, _ := dig(doc, "event", "type").([]any)
	if len(cat) != 2 || cat[0] != "network" || cat[1] != "vulnerability" || len(typ) != 2 || typ[0] != "start" || typ[1] != "info" {
		t.Errorf("event.category = %v, event.type = %v", cat, typ)
	}
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// The sample change reaches a sink as a valid, critical alert, and Reopen
// reopens the file after rotation.
func TestSampleChangeAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	cfg := fastConfig()
	cfg.Sinks.File = &config.FileSink{Path: path}
	cfg.DeadLetterFile = filepath.Join(dir, "dl.jsonl")
	d, _, _ := newTestDispatcher(t, cfg)
	if err := d.Deliver(context.Background(), []event.Change{SampleChange(testNow)}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Reopen did not recreate the file: %v", err)
	}
	docs := readJSONLines(t, path+".1")
	if len(docs) != 1 || dig(docs[0], "synwatch", "severity") != "critical" || dig(docs[0], "destination", "ip") != "192.0.2.10" {
		t.Errorf("sample alert: %v", docs)
	}
}
