package obs

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Check is one readiness check: nil when the part it watches can do its work
// (the capture handle is open, the Kafka producer reaches a broker, the store
// answers). Its error text is shown on /readyz, so it must not carry secrets.
type Check func(ctx context.Context) error

// CheckTimeout bounds each check; a check still running then has failed.
// Kubernetes probes in deploy/ wait 3 s.
const CheckTimeout = 2 * time.Second

// Health holds the readiness checks that stages register by name. The zero
// value is not usable; call NewHealth.
type Health struct {
	mu     sync.Mutex
	checks map[string]Check
}

// NewHealth returns an empty set of checks: ready until a stage adds one.
func NewHealth() *Health { return &Health{checks: map[string]Check{}} }

// Add registers (or replaces) the check called name, e.g. "capture", "kafka",
// "store". Safe to call while the server runs.
func (h *Health) Add(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = c
}

// Remove forgets the check called name (a stage that stopped on purpose).
func (h *Health) Remove(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.checks, name)
}

// Result is the outcome of one check.
type Result struct {
	Name string
	Err  error
}

// Run runs every check concurrently, each bounded by CheckTimeout, and
// returns the results sorted by name.
func (h *Health) Run(ctx context.Context) []Result {
	h.mu.Lock()
	names := make([]string, 0, len(h.checks))
	for n := range h.checks {
		names = append(names, n)
	}
	checks := make([]Check, len(names))
	sort.Strings(names)
	for i, n := range names {
		checks[i] = h.checks[n]
	}
	h.mu.Unlock()

	out := make([]Result, len(names))
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = Result{Name: names[i], Err: runCheck(ctx, checks[i])}
		}()
	}
	wg.Wait()
	return out
}

func runCheck(ctx context.Context, c Check) (err error) {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("check panicked: %v", r)
			}
		}()
		done <- c(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %v", CheckTimeout)
	}
}
