package state

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// Through Sentinel, the store follows a failover: the master dies, the
// Sentinel promotes its replica, and the same store keeps recording and
// still holds what was recorded before.
func TestSentinelFailover(t *testing.T) {
	sn := testenv.RedisSentinel(t, true)
	ctx := context.Background()
	s, err := Open(ctx, sn.URL(), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := obs("198.18.1.20", 443, t0, "s1")
	if _, _, err := s.Observe(ctx, before); err != nil {
		t.Fatal(err)
	}
	// replication is asynchronous: wait until the replica has it
	if out, err := exec.Command("redis-cli", "-u", sn.Master.URL(), "WAIT", "1", "5000").Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("WAIT for the replica: %q %v", out, err)
	}
	sn.Master.Stop()
	after := obs("198.18.1.20", 22, t0.Add(time.Minute), "s1")
	testenv.WaitFor(t, "the store to write again after the failover", 60*time.Second, func() bool {
		_, _, err := s.Observe(ctx, after)
		return err == nil
	})
	if out, _ := exec.Command("redis-cli", "-u", sn.Replica.URL(), "ROLE").Output(); !strings.HasPrefix(string(out), "master") {
		t.Fatalf("replica's role after the failover: %q, want master", out)
	}
	for _, sv := range []event.Service{before.Service(), after.Service()} {
		if r, err := s.Get(ctx, sv); err != nil || r == nil {
			t.Fatalf("record %s after the failover: %v, %v", sv, r, err)
		}
	}
}
