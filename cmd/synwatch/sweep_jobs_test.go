package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/sweep"
)

// The scale-out: a sweep split across two synwatch verifier
// processes on a real Kafka covers every shard exactly once, also when one
// verifier is killed (SIGKILL) mid-shard: its shard is taken over after
// its lease and no other shard is scanned twice. A logging stand-in in
// front of nmap records every discovery and who ran it.
func TestSweepDistributedAcrossVerifiers(t *testing.T) {
	l := newSweepLab(t)
	bin := sensorBinary(t)
	broker := testenv.Kafka(t)
	redis := testenv.Redis(t)
	dir := t.TempDir()
	scans := filepath.Join(dir, "discoveries.log")
	// discoveries (-oX - with a rate) are logged with the verifier's pid
	// and take 2 s more, so a verifier can be killed in the middle of one
	wrapper := filepath.Join(dir, "nmap-logged")
	script := fmt.Sprintf(`#!/bin/sh
case "$*" in *--min-rate*) echo "$PPID $*" >> %s; sleep 2;; esac
exec nmap "$@"
`, scans)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	conf := filepath.Join(dir, "synwatch.yaml")
	cfg := fmt.Sprintf(`inside: [198.18.72.0/24]
kafka:
  brokers: [%[1]s]
  topics: {observations: sj.obs.%[2]s, alerts: sj.alerts.%[2]s, dead_letter: sj.dlq.%[2]s, sweep_shards: sj.shards.%[2]s, partitions: 4}
verifier:
  group: sj-%[2]s
  nmap: %[3]s
  vulners: false
  version_intensity: 2
  max_scans: 8
  batch_window: 200ms
store:
  url: %[4]s
sweep:
  shard_addresses: 4
  shard_lease: 6s
  network_rate: 100000
  rate: 1000
`, broker, suffix, wrapper, redis)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// the verifiers scan from the outside namespace, as an attacker
	// would, and reach the broker and Redis through loopback proxies
	testenv.ProxyLoopback(t, l.Outside, broker)
	testenv.ProxyLoopback(t, l.Outside, redis)
	var verifiers [2]*exec.Cmd
	var logs [2]lockedBuffer
	for i := range verifiers {
		verifiers[i] = exec.Command("ip", "netns", "exec", l.Outside, bin, "verifier", "--config", conf, "--listen", "", "--log-level", "info")
		verifiers[i].Stderr = &logs[i]
		testenv.Start(t, verifiers[i])
	}
	testenv.WaitGroupMembers(t, broker, "sj-"+suffix+".sweep", "sj.shards."+suffix, 2)

	sweepCmd := exec.Command(bin, "sweep", "--distribute", "--config", conf, "--targets", "198.18.72.0/28",
		"--ports", "22,2222,8080", "--format", "json")
	var out, errOut bytes.Buffer
	sweepCmd.Stdout, sweepCmd.Stderr = &out, &errOut
	testenv.Start(t, sweepCmd)
	exited := make(chan error, 1)
	go func() { exited <- sweepCmd.Wait() }()

	st, err := state.Open(context.Background(), redis, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	host, _ := os.Hostname()
	victim := verifiers[0]
	victimOwner := fmt.Sprintf("%s/%d", host, victim.Process.Pid)
	var killedShard string
	testenv.WaitFor(t, "the first verifier to be sweeping a shard", 90*time.Second, func() bool {
		st.ListDocs(context.Background(), sweep.ShardsCollection, func(id string, doc []byte) bool {
			var s sweep.ShardState
			// started a moment ago: its discovery is under way (logged)
			if json.Unmarshal(doc, &s) == nil && s.State == sweep.ShardRunning && s.Owner == victimOwner && time.Since(s.Started) > 500*time.Millisecond {
				killedShard = id
				return false
			}
			return true
		})
		return killedShard != ""
	})
	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("sweep --distribute: %v\n%s\n--- survivor:\n%s", err, errOut.String(), logs[1].String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("the sweep did not end\n%s\n--- survivor:\n%s", errOut.String(), logs[1].String())
	}
	var sum sweep.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if sum.Shards != 4 || sum.Failed != 0 || len(sum.Open) != 48 || sum.Hosts != 16 {
		t.Fatalf("summary: %d shards, %d failed, %d open on %d hosts; want 4, 0, 48 on 16", sum.Shards, sum.Failed, len(sum.Open), sum.Hosts)
	}

	// every shard done once; the killed one taken over after its lease
	survivorOwner := fmt.Sprintf("%s/%d", host, verifiers[1].Process.Pid)
	owners := map[string]int{}
	err = st.ListDocs(context.Background(), sweep.ShardsCollection, func(id string, doc []byte) bool {
		var s sweep.ShardState
		if err := json.Unmarshal(doc, &s); err != nil {
			t.Error(err)
			return true
		}
		if s.State != sweep.ShardDone {
			t.Errorf("%s: %s", id, s.State)
		}
		owners[s.Owner]++
		if id == killedShard {
			if s.Owner != survivorOwner || len(s.Runs) != 1 || s.Runs[0].Owner != victimOwner || s.Runs[0].Outcome != "lease expired" {
				t.Errorf("the killed verifier's shard %s: %+v", id, s)
			}
		} else if len(s.Runs) != 0 {
			t.Errorf("%s was run more than once: %+v", id, s.Runs)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if owners[survivorOwner] == 0 || owners[survivorOwner]+owners[victimOwner] != 4 {
		t.Errorf("owners of the done shards: %v", owners)
	}

	// the scanner's own record: each block discovered once, the killed
	// shard's twice (once by each verifier)
	b, err := os.ReadFile(scans)
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		i := strings.Index(line, "-oX - ")
		if len(f) < 2 || i < 0 {
			t.Fatalf("discovery log line %q", line)
		}
		runs[line[i+len("-oX - "):]] = append(runs[line[i+len("-oX - "):]], f[0])
	}
	if len(runs) != 4 {
		t.Errorf("%d distinct shards discovered, want 4: %v", len(runs), runs)
	}
	twice := 0
	for blocks, pids := range runs {
		switch {
		case len(pids) == 2 && pids[0] == fmt.Sprint(victim.Process.Pid) && pids[1] == fmt.Sprint(verifiers[1].Process.Pid):
			twice++
		case len(pids) != 1:
			t.Errorf("%s discovered by %v", blocks, pids)
		}
	}
	if twice != 1 {
		t.Errorf("%d shards discovered twice, want 1 (the killed verifier's): %v", twice, runs)
	}

	// synwatch sweep status tells the same from the store
	var status bytes.Buffer
	if code := run([]string{"sweep", "status", "--store", redis, "--format", "json"}, &status, &bytes.Buffer{}); code != 0 {
		t.Fatal("sweep status failed")
	}
	var sts []sweep.Status
	if err := json.Unmarshal(status.Bytes(), &sts); err != nil || len(sts) != 1 {
		t.Fatalf("sweep status: %v %s", err, status.String())
	}
	if s := sts[0]; s.Sweep != sum.Sweep || s.Shards != 4 || s.Done != 4 || s.Failed+s.Running+s.Waiting != 0 || s.Open != 48 || s.Ended.IsZero() {
		t.Errorf("sweep status: %+v", s)
	}

	var exp bytes.Buffer
	if code := run([]string{"exposures", "--store", redis, "--format", "json"}, &exp, &bytes.Buffer{}); code != 0 {
		t.Fatal("exposures failed")
	}
	var rows []struct {
		FoundBy map[string]time.Time `json:"found_by"`
	}
	if err := json.Unmarshal(exp.Bytes(), &rows); err != nil || len(rows) != 48 {
		t.Fatalf("exposures: %d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		if r.FoundBy["sweep"].IsZero() {
			t.Errorf("row without found_by sweep: %+v", r)
		}
	}
}
