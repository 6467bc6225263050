package main

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/state"
)

// checks list/approve/reject as a person types them: decisions need who
// and why, land on the record and in the audit trail; a rejection stands.
func TestChecksCommands(t *testing.T) {
	ctx := context.Background()
	url := "file:" + filepath.Join(t.TempDir(), "inv.db")
	st, err := state.Open(ctx, url, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := checks.Profiles(config.Checks{ShippedProfiles: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	rec := event.Record{Service: event.Service{IP: netip.MustParseAddr("198.18.74.1"), Proto: event.TCP, Port: 80}, Status: event.StatusExposed, Name: "http"}
	created, err := checks.NewQueue(st, time.Hour, nil).Offer(ctx, &rec, ps, config.Networks{netip.MustParsePrefix("198.18.74.0/24")}, nil)
	st.Close()
	if err != nil || len(created) != 2 {
		t.Fatalf("offer %v %v", created, err)
	}
	id := created[1].ID // http-default-accounts
	sh := func(args ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := run(args, &o, &e)
		return o.String(), e.String(), code
	}
	out, _, code := sh("checks", "list", "--store", url, "--state", "pending")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "waiting for approval") || strings.Contains(out, "vuln-safe") {
		t.Fatalf("list pending: %d\n%s", code, out)
	}
	if _, errs, code := sh("checks", "list", "--store", url, "--state", "waiting"); code != 2 || !strings.Contains(errs, `--state "waiting"`) {
		t.Errorf("bad state: %d %s", code, errs)
	}
	if _, errs, code := sh("checks", "approve", id, "--store", url); code != 2 || !strings.Contains(errs, "needs --by NAME and --reason TEXT") {
		t.Errorf("approve without who/why: %d %s", code, errs)
	}
	if _, errs, code := sh("checks", "approve", "000000000000", "--by", "a", "--reason", "b", "--store", url); code != 1 || !strings.Contains(errs, "no such check") {
		t.Errorf("unknown id: %d %s", code, errs)
	}
	if _, errs, code := sh("checks", "approve", created[0].ID, "--by", "a", "--reason", "b", "--store", url); code != 1 || !strings.Contains(errs, "is safe: it runs without approval") {
		t.Errorf("approving a safe check: %d %s", code, errs)
	}
	out, errs, code := sh("checks", "approve", id, "--by", "noc-oncall", "--reason", "confirm exposure", "--store", url)
	if code != 0 || !strings.Contains(out, "approved "+id) {
		t.Fatalf("approve: %d %s %s", code, out, errs)
	}
	out, errs, code = sh("checks", "reject", id, "--by", "owner", "--reason", "fragile box", "--store", url)
	if code != 0 || !strings.Contains(out, "rejected "+id) {
		t.Fatalf("reject: %d %s %s", code, out, errs)
	}
	if _, errs, code := sh("checks", "approve", id, "--by", "noc-oncall", "--reason", "again", "--store", url); code != 1 || !strings.Contains(errs, "a rejection stands") {
		t.Errorf("approve after reject: %d %s", code, errs)
	}
	st, err = state.Open(ctx, url, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var trail []string
	state.AuditLog(ctx, st, func(e state.AuditEntry) bool {
		trail = append(trail, e.By+" "+e.Action+" "+e.Target+" "+e.Reason+" "+e.Detail["check"])
		return true
	})
	want := []string{"noc-oncall check.approve 198.18.74.1:80/tcp confirm exposure " + id, "owner check.reject 198.18.74.1:80/tcp fragile box " + id}
	if strings.Join(trail, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail\n%s\nwant\n%s", strings.Join(trail, "\n"), strings.Join(want, "\n"))
	}
}
