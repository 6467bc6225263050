package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The recovery a user follows: a damaged store makes every command say one
// clear thing (never a panic), `store check` names the damage, `store
// rebuild` copies what is readable, and the rebuilt file checks clean.
func TestStoreDamageRecovery(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inv.db")
	scan := filepath.Join("..", "..", "verifier", "baseline", "testdata", "nmap.xml")
	if code, out, errs := cli("baseline", "import", "--store", "file:"+inv, scan); code != 0 {
		t.Fatalf("baseline import: %d %s %s", code, out, errs)
	}
	if code, out, _ := cli("store", "check", "--store", "file:"+inv); code != 0 || !strings.Contains(out, ": ok (") {
		t.Fatalf("check of a good store: %d %s", code, out)
	}
	backup := filepath.Join(dir, "backup.db")
	if code, out, errs := cli("store", "backup", "--store", "file:"+inv, "--out", backup); code != 0 {
		t.Fatalf("backup: %d %s %s", code, out, errs)
	}
	if code, out, _ := cli("store", "check", "--store", "file:"+backup); code != 0 {
		t.Fatalf("check of the backup: %d %s", code, out)
	}

	// one record's JSON damaged: exposures shows the rest and warns
	db, err := bolt.Open(inv, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket([]byte("services")).Cursor().First()
		return tx.Bucket([]byte("services")).Put(k, []byte(`{"ip":`))
	})
	db.Close()
	code, out, errs := cli("exposures", "--store", "file:"+inv, "--format", "csv")
	if code != 0 || strings.Count(out, "\n") < 2 || !strings.Contains(errs, "1 unreadable record(s) skipped") {
		t.Errorf("exposures with one bad record: %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = cli("store", "check", "--store", "file:"+inv)
	if code != 1 || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, "unreadable record: services/") {
		t.Errorf("check with one bad record: %d %s", code, out)
	}

	// truncated: writers refuse with one clear error, readers read what they can
	b, _ := os.ReadFile(inv)
	os.WriteFile(inv, b[:len(b)/3], 0o600)
	code, _, errs = cli("baseline", "import", "--store", "file:"+inv, scan)
	if code != 1 || !strings.Contains(errs, "is damaged") || strings.Contains(errs, "panic") || !strings.Contains(errs, "synwatch store check") {
		t.Errorf("baseline import into a truncated store: %d %s", code, errs)
	}
	code, _, errs = cli("exposures", "--store", "file:"+inv)
	if code != 0 || !strings.Contains(errs, "showing what could be read") {
		t.Errorf("exposures of a truncated store: %d %s", code, errs)
	}
	code, out, _ = cli("store", "check", "--store", "file:"+inv)
	if code != 1 || !strings.Contains(out, "damaged: truncated") || !strings.Contains(out, "synwatch store rebuild") {
		t.Errorf("check of a truncated store: %d %s", code, out)
	}
	rebuilt := filepath.Join(dir, "rebuilt.db")
	if code, out, errs := cli("store", "rebuild", "--store", "file:"+inv, "--out", rebuilt); code != 0 {
		t.Fatalf("rebuild: %d %s %s", code, out, errs)
	}
	if code, out, _ := cli("store", "check", "--store", "file:"+rebuilt); code != 0 {
		t.Errorf("check of the rebuilt store: %d %s", code, out)
	}
}

// exposures and report on a store file that does not exist say so and
// leave no empty store behind.
func TestReadingMakesNoStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	for _, args := range [][]string{{"exposures", "--store", "file:" + path}, {"report", "--store", "file:" + path, "--format", "json", "--out", filepath.Join(t.TempDir(), "r.json")}} {
		code, _, errs := cli(args...)
		if code == 0 || !strings.Contains(errs, "does not exist") {
			t.Errorf("%v: %d %s", args, code, errs)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%v left %s behind", args, path)
		}
	}
}

// Loose input is refused before anything runs: an inside network with host
// bits set, one as wide as the Internet, a broker without a port.
func TestLooseInputRefused(t *testing.T) {
	code, _, errs := cli("verify", "198.18.0.1:22", "--inside", "198.18.0.0/24,8.8.8.8/0")
	if code != 2 || !strings.Contains(errs, `"8.8.8.8/0": host bits set; did you mean 0.0.0.0/0 (the network) or 8.8.8.8/32 (the host)?`) {
		t.Errorf("verify --inside 8.8.8.8/0: %d %s", code, errs)
	}
	code, _, errs = cli("verify", "8.8.8.8:53", "--inside", "198.18.0.0/24,0.0.0.0/0")
	if code == 0 || !strings.Contains(errs, "0.0.0.0/0 is broader than /8") {
		t.Errorf("verify --inside 0.0.0.0/0: %d %s", code, errs)
	}
	code, _, errs = cli("kafka", "init", "--kafka", "localhost")
	if code != 2 || !strings.Contains(errs, `broker "localhost": want HOST:PORT`) {
		t.Errorf("kafka init --kafka localhost: %d %s", code, errs)
	}
	cfg := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(cfg, []byte("inside: [198.18.0.0/15]\nkafka:\n  brokers: [\"kafka://b:9092\"]\n"), 0o600)
	code, out, errs := cli("config", "check", cfg)
	if code == 0 || !strings.Contains(out+errs, "kafka.brokers.0: broker \"kafka://b:9092\": want HOST:PORT without a scheme") {
		t.Errorf("config check: %d %s %s", code, out, errs)
	}
}

// A verifier whose start-up fails after it opened a new store (here: no
// nmap) leaves no empty store file behind; the next start is not fooled.
func TestFailedStartLeavesNoStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	code, _, errs := cli("verifier", "--kafka", "127.0.0.1:1", "--store", "file:"+path, "--inside", "198.18.0.0/15", "--nmap", "/nonexistent/nmap")
	if code == 0 || !strings.Contains(errs, "nmap") {
		t.Fatalf("verifier without nmap: %d %s", code, errs)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failed start-up left %s behind (%v)", path, err)
	}
}
