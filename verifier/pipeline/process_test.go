package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
)

// Two verifier processes (this test binary, re-executed) report the same
// new services against one Redis at the same instant: each service yields
// exactly one "new" change across both.
func TestTwoProcesses(t *testing.T) {
	if url := os.Getenv("SYNWATCH_PIPELINE_CHILD"); url != "" {
		child(t, url)
		return
	}
	url := testenv.Redis(t)
	start := time.Now().Add(1500 * time.Millisecond).UnixNano()
	var outs [2]bytes.Buffer
	var cmds []*exec.Cmd
	for i := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SYNWATCH_PIPELINE_CHILD="+url, "SYNWATCH_PIPELINE_START="+strconv.FormatInt(start, 10), fmt.Sprintf("SYNWATCH_PIPELINE_ID=%d", i))
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i].String())
		}
	}
	news := map[string]int{}
	for _, o := range outs {
		for _, l := range strings.Split(o.String(), "\n") {
			if s, ok := strings.CutPrefix(l, "DELIVERED new "); ok {
				news[s]++
			}
		}
	}
	if len(news) != 20 {
		t.Fatalf("%d services got a new change, want 20\n%s\n%s", len(news), outs[0].String(), outs[1].String())
	}
	for s, n := range news {
		if n != 1 {
			t.Errorf("%s: %d new changes across two processes", s, n)
		}
	}
}

type printAlerter struct{ mu sync.Mutex }

func (p *printAlerter) Deliver(ctx context.Context, cs []event.Change) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		fmt.Printf("DELIVERED %s %s\n", c.Kind, c.Service)
	}
	return nil
}

func child(t *testing.T, url string) {
	ctx := context.Background()
	st, err := state.Open(ctx, url, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, _ := strconv.Atoi(os.Getenv("SYNWATCH_PIPELINE_ID"))
	v := &fakeVerifier{next: event.Verification{Verdict: event.Exposed, Product: "nginx", ScannedAt: t0.Add(time.Duration(id) * time.Millisecond)}}
	p := pipeline.New(st, v, &printAlerter{}, testConfig(), nil, nil)
	p.SetClock(func() time.Time { return t0 })
	startNs, _ := strconv.ParseInt(os.Getenv("SYNWATCH_PIPELINE_START"), 10, 64)
	time.Sleep(time.Until(time.Unix(0, startNs)))
	var wg sync.WaitGroup
	for i := range 20 {
		for j := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := observation(fmt.Sprintf("198.18.2.%d", i+1), 443, t0.Add(time.Duration(j)*time.Millisecond))
				if err := p.Handle(ctx, o); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
}

// Redis is restarted in the middle of a stream of new services: Handle
// fails while it is down (a plain, retryable error, never a rejection), the
// caller retries like the Kafka consumer, and every service yields its
// "new" change exactly once.
func TestRedisRestart(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	st, err := state.Open(ctx, srv.URL(), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &fakeAlerter{}
	p := pipeline.New(st, &fakeVerifier{next: event.Verification{Verdict: event.Exposed, ScannedAt: t0}}, a, testConfig(), nil, nil)
	p.SetClock(func() time.Time { return t0 })
	const n = 60
	failures := 0
	for i := range n {
		if i == n/3 {
			srv.Stop()
			go func() { time.Sleep(4 * time.Second); srv.Restart() }()
		}
		o := observation(netip.AddrFrom4([4]byte{198, 18, 3, byte(i + 1)}).String(), 22, t0)
		for attempt := 0; ; attempt++ {
			err := p.Handle(ctx, o)
			if err == nil {
				break
			}
			var rej *event.Rejection
			if errors.As(err, &rej) {
				t.Fatalf("store outage reported as a rejection: %v", err)
			}
			failures++
			if attempt > 100 {
				t.Fatalf("no recovery: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if failures == 0 {
		t.Fatal("the outage was not noticed")
	}
	seen := map[event.Service]int{}
	for _, c := range a.got {
		if c.Kind == event.ChangeNew {
			seen[c.Service]++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d services alerted as new, want %d", len(seen), n)
	}
	for s, k := range seen {
		if k != 1 {
			t.Errorf("%s: %d new changes", s, k)
		}
	}
	t.Logf("%d failed attempts during the outage", failures)
}
