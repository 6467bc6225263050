package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/sweep"
	"github.com/synwatch/synwatch/verifier/sweep/jobs"
)

// A target outside the inside networks is refused before anything starts:
// logging stand-ins for nmap and masscan on PATH record any call.
func TestSweepRefusesOutside(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "calls.log")
	for _, name := range []string{"nmap", "masscan"} {
		script := fmt.Sprintf("#!/bin/sh\necho %s \"$@\" >> %s\n", name, logf)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	for _, engine := range []string{"nmap", "masscan"} {
		var out, errs bytes.Buffer
		code := run([]string{"sweep", "--targets", "198.18.72.0/28,198.18.73.0/28", "--inside", "198.18.72.0/24",
			"--engine", engine, "--store", "file:" + filepath.Join(dir, engine+".db")}, &out, &errs)
		if code == 0 || !strings.Contains(errs.String(), "refused, no scan started: 198.18.73.0/28 outside the inside networks (198.18.72.0/24)") {
			t.Fatalf("%s: exit %d, stderr %q", engine, code, errs.String())
		}
	}
	// no inside networks at all: refused too
	var errs bytes.Buffer
	if code := run([]string{"sweep", "--targets", "198.18.72.0/28", "--store", "file:" + filepath.Join(dir, "x.db")}, &bytes.Buffer{}, &errs); code == 0 || !strings.Contains(errs.String(), "no inside networks") {
		t.Fatalf("no inside: exit %d, %q", code, errs.String())
	}
	// a schedule's targets pass the same guard
	cfgf := filepath.Join(dir, "sched.yaml")
	os.WriteFile(cfgf, []byte("sweep:\n  schedules:\n    - name: weekly\n      targets: [198.18.73.0/28]\n      every: 168h\n"), 0o644)
	errs.Reset()
	if code := run([]string{"sweep", "--config", cfgf, "--schedule", "weekly", "--inside", "198.18.72.0/24", "--store", "file:" + filepath.Join(dir, "s.db")}, &bytes.Buffer{}, &errs); code == 0 || !strings.Contains(errs.String(), "198.18.73.0/28 outside the inside networks") {
		t.Fatalf("schedule: exit %d, %q", code, errs.String())
	}
	if b, err := os.ReadFile(logf); err == nil {
		t.Fatalf("a scanner was started:\n%s", b)
	}
}

// sweepLab is the lab: an inside namespace where an AnyIP route
// makes all of 198.18.72.0/24 local, with services on 0.0.0.0, and an
// outside namespace routed to it, where nmap and masscan run.
type sweepLab struct {
	*testenv.Lab
	config, nmap, masscan string
	listeners             map[int]net.Listener
}

func newSweepLab(t *testing.T) *sweepLab {
	testenv.RequireTool(t, "nmap", "masscan", "ip", "ethtool")
	lab := testenv.NewLab(t, "198.18.75")
	l := &sweepLab{Lab: lab, listeners: map[int]net.Listener{}}
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("ip", "-n", lab.Inside, "route", "add", "local", "198.18.72.0/24", "dev", "lo")
	sh("ip", "-n", lab.Outside, "route", "add", "198.18.72.0/24", "via", lab.InsideIP)
	// checksums filled in: a veth leaves them to an offload that never
	// comes, and masscan drops answers whose checksum does not add up
	sh("ip", "netns", "exec", lab.Inside, "ethtool", "-K", lab.InsideDev, "tx", "off")
	sh("ip", "netns", "exec", lab.Outside, "ethtool", "-K", lab.OutsideDev, "tx", "off")
	out, err := exec.Command("ip", "-n", lab.Inside, "-j", "link", "show", lab.InsideDev).Output()
	if err != nil {
		t.Fatal(err)
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("inside link: %v %s", err, out)
	}
	banners := map[int]string{22: "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1\r\n", 2222: "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", 6379: "", 8080: ""}
	for port, banner := range banners {
		testenv.InNetns(t, lab.Inside, func() {
			ln, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port))
			if err != nil {
				t.Errorf("listen %d: %v", port, err)
				return
			}
			l.listeners[port] = ln
		})
		ln := l.listeners[port]
		if ln == nil {
			t.FailNow()
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(5 * time.Second))
					if banner != "" {
						c.Write([]byte(banner))
						return
					}
					buf := make([]byte, 512)
					n, _ := c.Read(buf)
					switch {
					case port == 8080:
						c.Write([]byte("HTTP/1.0 200 OK\r\nServer: lab\r\nContent-Length: 2\r\n\r\nok"))
					case bytes.Contains(buf[:n], []byte("PING")):
						c.Write([]byte("+PONG\r\n"))
					default:
						c.Write([]byte("-ERR unknown command\r\n"))
					}
				}()
			}
		}()
	}
	// A real scanner's link always carries other traffic; on an idle veth
	// masscan never hands over the last answers it captured (measured in
	// docs/benchmarks.md), so the lab sends a datagram every 20 ms.
	var pc net.PacketConn
	testenv.InNetns(t, lab.Inside, func() { pc, _ = net.ListenPacket("udp4", lab.InsideIP+":0") })
	if pc == nil {
		t.Fatal("background sender")
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(func() { stop(); pc.Close() })
	go func() {
		to := &net.UDPAddr{IP: net.ParseIP(lab.OutsideIP), Port: 9}
		for ctx.Err() == nil {
			pc.WriteTo([]byte("x"), to)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	dir := t.TempDir()
	l.nmap = filepath.Join(dir, "nmap-outside")
	l.masscan = filepath.Join(dir, "masscan-outside")
	for path, bin := range map[string]string{l.nmap: "nmap", l.masscan: "masscan"} {
		os.WriteFile(path, []byte(fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", lab.Outside, bin)), 0o755)
	}
	l.config = filepath.Join(dir, "synwatch.yaml")
	cfg := fmt.Sprintf(`verifier:
  version_intensity: 2
  max_scans: 8
sweep:
  masscan_args: [--interface, %s, --router-mac, "%s", --adapter-ip, %s]
  masscan_wait: 2s
`, lab.OutsideDev, links[0].Address, lab.OutsideIP)
	if err := os.WriteFile(l.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *sweepLab) sweep(t *testing.T, engine, store string) string {
	t.Helper()
	var out, errs bytes.Buffer
	code := run([]string{"sweep", "--config", l.config, "--targets", "198.18.72.0/28", "--ports", "22,2222,6379,8080",
		"--inside", "198.18.72.0/24", "--store", store, "--engine", engine, "--nmap", l.nmap, "--masscan", l.masscan,
		"--vulners=false", "--log-level", "warn"}, &out, &errs)
	if code != 0 {
		t.Fatalf("sweep --engine %s: exit %d\n%s\n%s", engine, code, out.String(), errs.String())
	}
	return out.String()
}

// The command lines: both engines find every listening port on
// all 16 addresses, exposures shows found_by sweep; a port closed between
// two sweeps becomes closed, one change each.
func TestSweepLab(t *testing.T) {
	l := newSweepLab(t)
	dir := t.TempDir()
	found := map[string]map[string]bool{}
	for _, engine := range []string{"nmap", "masscan"} {
		store := "file:" + filepath.Join(dir, engine+".db")
		sum := l.sweep(t, engine, store)
		if !strings.Contains(sum, "open: 64 port(s) on 16 host(s)") {
			t.Fatalf("%s summary:\n%s", engine, sum)
		}
		var out, errs bytes.Buffer
		if code := run([]string{"exposures", "--store", store, "--format", "json"}, &out, &errs); code != 0 {
			t.Fatalf("exposures: %s", errs.String())
		}
		var rows []struct {
			IP      string                   `json:"ip"`
			Port    int                      `json:"port"`
			Verdict string                   `json:"verdict"`
			FoundBy map[string]time.Time     `json:"found_by"`
			Scan    *struct{ Engine string } `json:"scan"`
		}
		if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
			t.Fatal(err)
		}
		found[engine] = map[string]bool{}
		for _, r := range rows {
			if r.Verdict != "exposed" || r.FoundBy["sweep"].IsZero() || r.Scan == nil || r.Scan.Engine != engine {
				t.Errorf("%s: row %+v", engine, r)
			}
			found[engine][fmt.Sprintf("%s:%d", r.IP, r.Port)] = true
		}
		if len(found[engine]) != 64 {
			t.Fatalf("%s: %d services, want 64", engine, len(found[engine]))
		}
	}
	for k := range found["nmap"] {
		if !found["masscan"][k] {
			t.Errorf("nmap found %s, masscan did not", k)
		}
	}
	var status bytes.Buffer
	if code := run([]string{"sweep", "status", "--store", "file:" + filepath.Join(dir, "nmap.db")}, &status, &bytes.Buffer{}); code != 0 {
		t.Fatal("sweep status failed")
	}
	if lines := strings.Split(strings.TrimSpace(status.String()), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "SWEEP ") ||
		!regexp.MustCompile(`^sweep-\S+\s+nmap\s+1/1\s+0\s+0\s+0\s+64\s+0\s+`).MatchString(lines[1]) {
		t.Errorf("sweep status:\n%s", status.String())
	}

	// close 6379 and sweep again: its 16 services become closed, one
	// change each
	l.listeners[6379].Close()
	store := "file:" + filepath.Join(dir, "nmap.db")
	if sum := l.sweep(t, "nmap", store); !strings.Contains(sum, "open: 48 port(s) on 16 host(s); closed or restricted since the last scan: 16") {
		t.Fatalf("second sweep:\n%s", sum)
	}
	st, err := state.Open(context.Background(), store, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	changes, err := st.Changes(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	closed := map[event.Service]int{}
	for _, c := range changes {
		if c.Kind == event.ChangeClosed {
			closed[c.Service]++
		}
	}
	if len(closed) != 16 {
		t.Fatalf("%d services closed, want 16: %v", len(closed), closed)
	}
	for s, n := range closed {
		if n != 1 || s.Port != 6379 {
			t.Errorf("%s: %d closed changes", s, n)
		}
		r, _ := st.Get(context.Background(), s)
		if r == nil || r.Status != event.StatusClosed {
			t.Errorf("%s: record %+v", s, r)
		}
	}
}

// cannedNmap writes DIR/nmap, a stand-in that answers with a finished run
// that found nothing open, and returns that XML.
func cannedNmap(t *testing.T, dir string) string {
	xml := `<?xml version="1.0"?><nmaprun scanner="nmap" args="nmap" start="1796521464" version="7.93" xmloutputversion="1.05">` +
		`<host><status state="up" reason="echo-reply"/><address addr="198.18.72.1" addrtype="ipv4"/><ports><extraports state="closed" count="4"/></ports></host>` +
		`<runstats><finished time="1796521465" timestr="x" elapsed="1" exit="success"/><hosts up="1" down="0" total="1"/></runstats></nmaprun>`
	if err := os.WriteFile(filepath.Join(dir, "canned.xml"), []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nmap"), []byte("#!/bin/sh\ncat "+filepath.Join(dir, "canned.xml")+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return xml
}

// fakeGCS is fake-gcs-server's fakestorage on loopback with one bucket;
// Google's client gets no credentials.
func fakeGCS(t *testing.T, bucket string) *fakestorage.Server {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	return srv
}

// --upload gs://BUCKET/PREFIX/ puts each shard's raw scanner output and
// the report of the swept ranges into Cloud Storage (fake-gcs-server's
// fakestorage on loopback); a stand-in nmap answers with a finished run
// that found nothing open.
func TestSweepUploadRaw(t *testing.T) {
	dir := t.TempDir()
	xml := cannedNmap(t, dir)
	srv := fakeGCS(t, "flan")
	var out, errs bytes.Buffer
	code := run([]string{"sweep", "--targets", "198.18.72.0/30", "--ports", "22,80", "--inside", "198.18.72.0/24",
		"--store", "file:" + filepath.Join(dir, "s.db"), "--nmap", filepath.Join(dir, "nmap"), "--vulners=false",
		"--upload", "gs://flan/sweeps/", "--report-format", "md", "--gcs-endpoint", srv.URL()}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errs.String())
	}
	objs, _, err := srv.ListObjectsWithOptions("flan", fakestorage.ListOptions{Prefix: "sweeps/"})
	if err != nil || len(objs) != 2 {
		t.Fatalf("objects %v %v", objs, err)
	}
	names := []string{objs[0].Name, objs[1].Name}
	slices.Sort(names)
	if !strings.HasSuffix(names[0], "-00000-nmap.xml") || !strings.HasSuffix(names[1], "-report.md") {
		t.Fatalf("objects %v", names)
	}
	obj, err := srv.GetObject("flan", names[0])
	if err != nil || string(obj.Content) != xml || obj.ContentType != "application/xml" {
		t.Fatalf("object %q %s %v", obj.Content, obj.ContentType, err)
	}
	rep, err := srv.GetObject("flan", names[1])
	if err != nil || !strings.HasPrefix(string(rep.Content), "# synwatch: sweep sweep-") || rep.ContentType != "text/markdown" {
		t.Fatalf("report %s %v:\n%.300s", rep.ContentType, err, rep.Content)
	}
}

// A scheduled sweep with upload: puts each shard's raw scanner output and,
// at the end, the report of the swept ranges under the schedule's prefix
// (Cloud Storage through fake-gcs-server's fakestorage); the stand-in nmap
// answers with a finished run that found nothing open.
func TestScheduledSweepUploads(t *testing.T) {
	dir := t.TempDir()
	cannedNmap(t, dir)
	srv := fakeGCS(t, "flan")
	conf := filepath.Join(dir, "synwatch.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`inside: [198.18.72.0/24]
verifier: {nmap: %s, vulners: false}
store: {url: "file:%s"}
sweep:
  storage: {gcs_endpoint: "%s"}
  schedules:
    - {name: nightly, targets: [198.18.72.0/30], ports: "22,80", every: 24h, upload: "gs://flan/nightly/"}
`, filepath.Join(dir, "nmap"), filepath.Join(dir, "s.db"), srv.URL())), 0o644)
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	log := obs.NewLogger(cfg.Obs, io.Discard)
	reg, health := roleObs(log)
	ctx := context.Background()
	side, err := newVerifierSide(ctx, cfg, sideOptions{role: "run"}, log, reg, health)
	if err != nil {
		t.Fatal(err)
	}
	defer side.close(ctx)
	r := side.sweepSchedules()
	now := time.Now()
	r.Now = func() time.Time { return now }
	r.Tick(ctx) // the first look sets the first due time
	now = now.Add(25 * time.Hour)
	if n := r.Tick(ctx); n != 1 {
		t.Fatalf("%d schedules ran, want 1", n)
	}
	objs, _, err := srv.ListObjectsWithOptions("flan", fakestorage.ListOptions{Prefix: "nightly/"})
	if err != nil || len(objs) != 2 {
		t.Fatalf("objects %v %v", objs, err)
	}
	names := []string{objs[0].Name, objs[1].Name}
	slices.Sort(names)
	if !strings.HasPrefix(names[0], "nightly/nightly-") || !strings.HasSuffix(names[0], "-00000-nmap.xml") || !strings.HasSuffix(names[1], "-report.html") {
		t.Fatalf("objects %v", names)
	}
	rep, err := srv.GetObject("flan", names[1])
	if err != nil || !strings.Contains(string(rep.Content), "synwatch: sweep nightly-") || rep.ContentType != "text/html" {
		t.Fatalf("report %s %v:\n%.300s", rep.ContentType, err, rep.Content)
	}
}

// In synwatch verifier a due schedule's shards become jobs on Kafka: the
// verifier publishes them, a worker of the group (here the same process)
// takes them, and the schedule ends when the store says every shard is
// done. With Kafka away, the verifier sweeps them itself.
func TestScheduledSweepAsJobs(t *testing.T) {
	t.Run("jobs", func(t *testing.T) { scheduledSweep(t, true) })
	t.Run("kafka away", func(t *testing.T) { scheduledSweep(t, false) })
}

func scheduledSweep(t *testing.T, kafkaUp bool) {
	dir := t.TempDir()
	nmap := filepath.Join(dir, "nmap")
	os.WriteFile(nmap, []byte("#!/bin/sh\necho \"$@\" >> "+filepath.Join(dir, "calls")+"\necho '<?xml version=\"1.0\"?><nmaprun scanner=\"nmap\" args=\"nmap\" start=\"1\" version=\"7.93\" xmloutputversion=\"1.05\"><runstats><finished time=\"2\" timestr=\"x\" elapsed=\"1\" exit=\"success\"/><hosts up=\"0\" down=\"0\" total=\"0\"/></runstats></nmaprun>'\n"), 0o755)
	broker := testenv.Kafka(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	conf := filepath.Join(dir, "synwatch.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`inside: [198.18.72.0/24]
kafka:
  brokers: [%s]
  topics: {sweep_shards: sched.shards.%[2]s, dead_letter: sched.dlq.%[2]s}
verifier: {nmap: %[3]s, vulners: false, group: sched-%[2]s}
store: {url: "file:%[4]s"}
sweep:
  shard_addresses: 4
  schedules:
    - {name: hourly, targets: [198.18.72.0/28], ports: "22", every: 1h}
`, broker, suffix, nmap, filepath.Join(dir, "s.db"))), 0o644)
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.EnsureTopics(context.Background(), cfg.Kafka, bus.Topics(cfg.Kafka)...); err != nil {
		t.Fatal(err)
	}
	log := obs.NewLogger(cfg.Obs, io.Discard)
	reg, health := roleObs(log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	side, err := newVerifierSide(ctx, cfg, sideOptions{role: "verifier"}, log, reg, health)
	if err != nil {
		t.Fatal(err)
	}
	defer side.close(context.Background())
	pcfg := cfg.Kafka
	if !kafkaUp {
		pcfg.Brokers = []string{closedLoopbackAddr(t)}
	}
	if side.shardJobs, err = jobs.NewPublisher(pcfg); err != nil {
		t.Fatal(err)
	}
	defer side.shardJobs.Close()
	if kafkaUp {
		worker, err := side.shardWorker()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- worker.Run(ctx) }()
		defer func() { cancel(); <-done }()
	}
	r := side.sweepSchedules()
	now := time.Now()
	r.Now = func() time.Time { return now }
	r.Tick(ctx)
	now = now.Add(2 * time.Hour)
	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()
	if n := r.Tick(tctx); n != 1 || tctx.Err() != nil {
		t.Fatalf("%d schedules ran (%v)", n, tctx.Err())
	}
	b, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if got := strings.Count(string(b), "-oX -"); got != 4 {
		t.Fatalf("%d discoveries, want 4 (one per shard):\n%s", got, b)
	}
	var last string
	side.store.ListDocs(ctx, sweep.SchedulesCollection, func(_ string, doc []byte) bool { last = string(doc); return true })
	if !strings.Contains(last, `"last":`) || strings.Contains(last, "last_error") {
		t.Fatalf("schedule document: %s", last)
	}
}
