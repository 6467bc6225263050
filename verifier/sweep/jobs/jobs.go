// Package jobs hands sweep shards to the verifiers through Kafka: a sweep
// publishes one job per shard on kafka.topics.sweep_shards, and every
// verifier of the group takes jobs from its partitions and sweeps them.
// Kafka delivers a job at least once (again after a rebalance or a
// crash); the shard's claim in the store (verifier/sweep) makes it
// complete once. The guard is checked again on every job: a job is not
// trusted.
package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"

	"github.com/synwatch/synwatch/verifier/sweep"
)

// Job is one shard to sweep, until a deadline: a job no verifier took in
// time (every verifier down for longer than a scheduled sweep's interval)
// is dropped rather than run late, and its shard recorded failed.
type Job struct {
	Shard   sweep.Shard `json:"shard"`
	Expires time.Time   `json:"expires"`
}

// ContentType and SchemaVersion go into each job's headers.
const (
	ContentType   = "application/vnd.synwatch.sweep-shard+json"
	SchemaVersion = 1
)

// Bounds of a job, far above what Cut makes: a job over them is refused.
const (
	maxJob    = 256 << 10
	maxBlocks = 4096
	maxShards = 1 << 20
	maxID     = 200
	maxRate   = 10_000_000
)

// Encode renders a job.
func Encode(j Job) ([]byte, error) { return json.Marshal(j) }

// Parse reads and checks one job. Ports come back sorted and without
// duplicates (the sweeper looks them up by binary search).
func Parse(b []byte) (Job, error) {
	var j Job
	if len(b) > maxJob {
		return j, fmt.Errorf("sweep job of %d bytes: at most %d", len(b), maxJob)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return j, fmt.Errorf("sweep job: %w", err)
	}
	if dec.More() {
		return j, errors.New("sweep job: data after the job")
	}
	sh := &j.Shard
	switch {
	case j.Expires.IsZero():
		return j, errors.New("sweep job: no expires")
	case sh.Sweep == "" || len(sh.Sweep) > maxID || !printable(sh.Sweep):
		return j, fmt.Errorf("sweep job: sweep id: want 1-%d printable characters", maxID)
	case sh.Of < 1 || sh.Of > maxShards || sh.Index < 0 || sh.Index >= sh.Of:
		return j, fmt.Errorf("sweep job: shard %d of %d", sh.Index, sh.Of)
	case len(sh.Blocks) == 0 || len(sh.Blocks) > maxBlocks:
		return j, fmt.Errorf("sweep job: %d address blocks: want 1-%d", len(sh.Blocks), maxBlocks)
	case len(sh.TCP)+len(sh.UDP) == 0:
		return j, errors.New("sweep job: no ports")
	case sh.Engine != "nmap" && sh.Engine != "masscan":
		return j, fmt.Errorf("sweep job: engine %q: want nmap or masscan", sh.Engine)
	case len(sh.Schedule) > maxID || !printable(sh.Schedule):
		return j, fmt.Errorf("sweep job: schedule name: want at most %d printable characters", maxID)
	case sh.Rate < 0 || sh.Rate > maxRate:
		return j, fmt.Errorf("sweep job: rate %d: want 0-%d", sh.Rate, maxRate)
	}
	for i, p := range sh.Blocks {
		if !p.IsValid() {
			return j, fmt.Errorf("sweep job: block %d is not a network", i)
		}
		sh.Blocks[i] = p.Masked()
	}
	for _, ps := range [][]uint16{sh.TCP, sh.UDP} {
		if slices.Contains(ps, 0) {
			return j, errors.New("sweep job: port 0")
		}
	}
	slices.Sort(sh.TCP)
	slices.Sort(sh.UDP)
	sh.TCP, sh.UDP = slices.Compact(sh.TCP), slices.Compact(sh.UDP)
	return j, nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
