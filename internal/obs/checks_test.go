package obs

import (
	"context"
	"strings"
	"testing"
)

func TestDropCheck(t *testing.T) {
	var recv, drp uint64
	c := DropCheck(0.01, func() (uint64, uint64) { return recv, drp })
	ctx := context.Background()
	step := func(r, d uint64) error { recv += r; drp += d; return c(ctx) }

	if err := step(0, 0); err != nil {
		t.Fatalf("no traffic: %v", err)
	}
	if err := step(50, 20); err != nil {
		t.Fatalf("70 packets are too few to judge: %v", err)
	}
	if err := step(5000, 10); err != nil {
		t.Fatalf("0.6%% dropped is below 1%%: %v", err)
	}
	err := step(9000, 1000)
	if err == nil || !strings.Contains(err.Error(), "capture dropped 10.0% of 10000 packets") {
		t.Fatalf("10%% dropped: %v", err)
	}
	if err := step(10, 0); err == nil {
		t.Fatal("a short window must keep the last verdict")
	}
	if err := step(2000, 0); err != nil {
		t.Fatalf("drops stopped: %v", err)
	}
}
