package main

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/fleet"
	"github.com/synwatch/synwatch/verifier/state"
)

// A running verifier beats into the store it shares (role, version, its
// consumer's figures) and takes its heartbeat away when it stops cleanly.
func TestVerifierHeartbeat(t *testing.T) {
	broker := testenv.Kafka(t)
	redis := testenv.Redis(t)
	cfg := config.Default()
	cfg.Inside, _ = config.ParseNetworks("198.18.0.0/15")
	cfg.Kafka.Brokers = []string{broker}
	suffix := fmt.Sprint(time.Now().UnixNano())
	cfg.Kafka.Topics.Observations = "synwatch.beat.obs." + suffix
	cfg.Kafka.Topics.DeadLetter = "synwatch.beat.dlq." + suffix
	cfg.Kafka.Topics.Alerts = "synwatch.beat.alerts." + suffix
	cfg.Kafka.Topics.SweepShards = "synwatch.beat.shards." + suffix
	cfg.Verifier.Group = "synwatch-beat-" + suffix
	cfg.Store.URL = redis
	cfg.Obs.VerifierListen = ""
	if err := config.Validate(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(context.Background(), redis, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runVerifier(ctx, &Env{Stdout: io.Discard, Stderr: io.Discard}, &verifierOptions{}, cfg)
	}()
	var bs []fleet.Beat
	testenv.WaitFor(t, "the verifier's heartbeat", 60*time.Second, func() bool {
		bs, _ = fleet.List(context.Background(), st)
		return len(bs) == 1
	})
	b := bs[0]
	if b.Role != "verifier" || b.ID != processOwner() || b.Version == "" || b.Silent(time.Now()) {
		t.Errorf("heartbeat %+v", b)
	}
	if _, ok := b.Figures["synwatch_consume_lag"]; !ok {
		t.Errorf("no consumer lag among the figures: %v", b.Figures)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the verifier did not stop")
	}
	if bs, _ := fleet.List(context.Background(), st); len(bs) != 0 {
		t.Errorf("a clean stop left %+v", bs)
	}
}
