package bus

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
)

// The readiness check answers nil for the real broker and names the broker
// for an address nothing listens on (a loopback port just closed).
func TestReachable(t *testing.T) {
	broker := testenv.Kafka(t)
	cfg := config.Default().Kafka
	cfg.Brokers = []string{broker}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Reachable(ctx, cfg); err != nil {
		t.Fatalf("Reachable(%s) = %v", broker, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg.Brokers = []string{dead}
	err = Reachable(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "no broker answers: "+dead+": ") {
		t.Fatalf("Reachable(%s) = %v, want an error naming the broker", dead, err)
	}
}
