package publish

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// With no broker listening, observations pile up in the spool: the "spool"
// readiness check is fine at first and fails once the spool passes 90 % of
// its cap, before anything is dropped.
func TestSpoolCheckFailsNearTheCap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg := kafkaCfg(dead, "synwatch.ready")
	cfg.Spool.MaxMiB = 1
	pub, err := NewKafka(cfg, t.TempDir(), quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = pub.Close(ctx)
	}()
	check := pub.SpoolCheck(0.9)
	ctx := context.Background()
	if err := check(ctx); err != nil {
		t.Fatalf("empty spool: %v", err)
	}
	var failed error
	for i := 0; i < 20000 && failed == nil; i++ {
		if err := pub.Publish(ctx, obs(i)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			failed = check(ctx)
		}
	}
	if failed == nil {
		t.Fatal("spool check never failed while the broker was unreachable")
	}
	if !strings.Contains(failed.Error(), "of its 1048576 bytes") || !strings.Contains(failed.Error(), "0 observations dropped") {
		t.Errorf("check error = %v", failed)
	}
}
