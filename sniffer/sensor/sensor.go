// Package sensor wires the whole sensor as a library: capture → decode →
// detect → publish. `synwatch sensor` and the all-in-one `synwatch run` both
// use it.
package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/sniffer/capture"
	"github.com/synwatch/synwatch/sniffer/decode"
	"github.com/synwatch/synwatch/sniffer/detect"
)

// Sensor reads one capture (file or live interface), detects exposed
// services and hands each observation to the publisher.
type Sensor struct {
	cfg    config.Sensor
	pub    detect.Publisher
	log    *slog.Logger
	det    *detect.Detector
	filter capture.Filter
	stats  *capture.StatsCollector
	name   string

	decodeErrs *prometheus.CounterVec
	unseen     *prometheus.CounterVec
	published  prometheus.Counter
	lat        *obs.Latency // detection stage: packet time → published

	mu       sync.Mutex
	sources  []capture.Source
	workers  []*worker
	errs     map[string]uint64 // decode errors by reason of finished workers
	unseenN  map[string]uint64 // frames passed over unseen, by kind, of finished workers
	frames   uint64            // frames read by finished workers
	ended    bool              // Run has returned: the capture is closed for good
	start    time.Time         // Run began
	endBytes int64             // size of the file read, once it ended

	// perPacket reads a file through the per-packet path of live captures
	// (decode and detection a frame at a time) instead of in batches
	// (workFile): tests compare the two.
	perPacket bool
}

// detectSeed, when not 0, fixes the detector's hash seeds (tests comparing
// two runs).
var detectSeed uint64

// New checks the configuration (perimeter, BPF expression) and builds the
// detector; nothing is opened yet. reg may be nil.
func New(cfg config.Config, pub detect.Publisher, log *slog.Logger, reg prometheus.Registerer) (*Sensor, error) {
	sc := cfg.Sensor
	if len(cfg.Inside) == 0 {
		return nil, errors.New("no inside networks: set inside: in the config or --inside")
	}
	if sc.Interface == "" && sc.Pcap == "" {
		return nil, errors.New("nothing to capture: set sensor.interface (--interface) or sensor.pcap (--pcap)")
	}
	if pub == nil {
		return nil, errors.New("sensor: no publisher")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := capture.Filter{Extra: sc.ExtraBPF, UDP: sc.UDP.Enabled, HighPorts: sc.UDP.HighPorts}
	if err := f.Check(); err != nil {
		return nil, err
	}
	name := sc.Name
	if name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "sensor"
		}
		name = h
	}
	iface := sc.Interface
	if sc.Pcap != "" {
		iface = ""
	}
	det := detect.New(detect.Config{
		Inside:          cfg.Inside,
		Exclude:         cfg.Exclude,
		Sensor:          name,
		Interface:       iface,
		SYNWindow:       sc.Handshake.Window,
		SYNFlows:        sc.Handshake.MaxFlows,
		UDP:             sc.UDP.Enabled,
		UDPWindow:       sc.UDP.Window,
		UDPHighPorts:    sc.UDP.HighPorts,
		UDPFlows:        sc.UDP.MaxFlows,
		SprayPorts:      sc.Spray.Ports,
		SprayWindow:     sc.Spray.Window,
		SprayHoldDown:   sc.Spray.HoldDown,
		SprayHosts:      sc.Spray.MaxHosts,
		Refresh:         sc.Refresh,
		SuppressEntries: sc.SuppressN,
		Seed:            detectSeed,
	})
	s := &Sensor{
		cfg: sc, pub: pub, log: log, det: det, filter: f, name: name,
		stats: capture.NewStatsCollector(),
		decodeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synwatch_sensor_decode_errors_total",
			Help: "Frames the decoder skipped, by reason (malformed, truncated, snaplen-cut, no TCP/UDP inside).",
		}, []string{"reason"}),
		unseen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synwatch_sensor_unseen_frames_total",
			Help: "Frames the sensor could not look into, by kind: encrypted (MACsec, DTLS, protected 802.11), IPsec ESP, PPTP, tunnel control, ARP, ICMP and other traffic that carries no TCP/UDP service.",
		}, []string{"kind"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "synwatch_sensor_published_total",
			Help: "Observations handed to the publisher.",
		}),
		errs: map[string]uint64{}, unseenN: map[string]uint64{},
	}
	for _, k := range decode.UnseenKinds() {
		s.unseen.WithLabelValues(k)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{s.stats, s.decodeErrs, s.unseen, s.published} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("sensor metrics: %w", err)
			}
		}
		if err := det.Register(reg); err != nil {
			return nil, fmt.Errorf("sensor metrics: %w", err)
		}
	}
	for _, r := range decode.Reasons() { // at 0 from the start
		s.decodeErrs.WithLabelValues(r)
	}
	if lat, err := obs.NewLatency(reg); err == nil {
		s.lat = lat
	}
	return s, nil
}

// Name is the sensor name put on every observation.
func (s *Sensor) Name() string { return s.name }

// Detector exposes the detector's counters (tests, the final log line).
func (s *Sensor) Detector() *detect.Detector { return s.det }

// Open opens the capture. Run calls it when it was not called before;
// calling it first lets the caller open the capture in a particular network
// namespace, or drop privileges between opening and running.
func (s *Sensor) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sources != nil {
		return nil
	}
	srcs, err := capture.Open(capture.Options{
		Interface: s.cfg.Interface,
		File:      s.cfg.Pcap,
		Kind:      s.cfg.Source,
		Snaplen:   s.cfg.Snaplen,
		Promisc:   s.cfg.Promisc,
		BufferMiB: s.cfg.BufferMiB,
		Fanout:    s.cfg.Fanout,
		Filter:    s.filter,
	})
	if err != nil {
		return err
	}
	for _, src := range srcs {
		if _, err := decode.NewDecoder(src.LinkType()); err != nil {
			for _, x := range srcs {
				_ = x.Close()
			}
			return fmt.Errorf("%s: %w", src.Name(), err)
		}
	}
	s.sources = srcs
	s.stats.Set(srcs)
	return nil
}

func (s *Sensor) sourceKind() string {
	if s.cfg.Pcap != "" {
		return "file"
	}
	return s.cfg.Source
}

// Run captures until the end of the file (returns nil), ctx is cancelled
// (returns nil, within the read timeout), or an error stops capture or
// publishing. The publisher is not closed: that is the caller's job.
func (s *Sensor) Run(ctx context.Context) error {
	if err := s.Open(); err != nil {
		return err
	}
	s.mu.Lock()
	srcs := s.sources
	s.mu.Unlock()
	// Logged here, not in Open: the caller may drop privileges and install
	// signal handling in between, and "capture open" means ready.
	s.log.Info("capture open", "source", s.sourceKind(), "from", srcs[0].Name(), "link", srcs[0].LinkType().String(),
		"workers", len(srcs), "snaplen", s.cfg.Snaplen, "sensor", s.name)
	if s.cfg.UDP.Enabled {
		s.log.Info("UDP: services on inside ports above 1024 are skipped unless listed in sensor.udp.high_ports",
			"high_ports", s.cfg.UDP.HighPorts, "hint", udpHighPortsHint)
	}
	start := time.Now()
	s.mu.Lock()
	s.start = start
	s.mu.Unlock()
	defer func() {
		if p, ok := s.Progress(); ok && p.Size > 0 {
			s.mu.Lock()
			s.endBytes = p.Size
			s.mu.Unlock()
		}
		s.stats.Freeze()
		for _, src := range srcs {
			_ = src.Close()
		}
		s.mu.Lock()
		s.sources = nil
		s.ended = true
		s.mu.Unlock()
		s.logStats("capture ended", time.Since(start))
	}()

	g, gctx := errgroup.WithContext(ctx)
	if s.cfg.StatsEvery > 0 { // a long file too: --stats-interval is honoured
		done := make(chan struct{})
		defer close(done)
		go s.statsLoop(gctx, done, start)
	}
	for _, src := range srcs {
		g.Go(func() error { return s.work(gctx, src) })
	}
	if s.cfg.Pcap == "" {
		// a quiet live link: release held observations on the clock
		g.Go(func() error {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-gctx.Done():
					return nil
				case now := <-t.C:
					if err := s.publish(gctx, s.det.Due(now, nil)); err != nil {
						if gctx.Err() != nil {
							return nil
						}
						return err
					}
				}
			}
		})
	}
	err := g.Wait()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	if err == nil {
		// the end of the file or of the capture: what waits goes out now
		pctx := context.WithoutCancel(ctx)
		err = s.publish(pctx, s.det.Flush(nil))
	}
	return err
}

func (s *Sensor) statsLoop(ctx context.Context, done <-chan struct{}, start time.Time) {
	t := time.NewTicker(s.cfg.StatsEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
			s.logStats("capture stats", time.Since(start))
		}
	}
}

func (s *Sensor) logStats(msg string, elapsed time.Duration) {
	st := s.stats.Totals()
	c := s.det.Counts()
	s.mu.Lock()
	frames := s.frames
	var decodeErrs uint64
	for _, v := range s.errs {
		decodeErrs += v
	}
	for _, w := range s.workers {
		frames += w.frames.Load()
		decodeErrs += w.failed.Load()
	}
	errs := make(map[string]uint64, len(s.errs))
	unseen := make(map[string]uint64, len(s.unseenN))
	if len(s.workers) == 0 {
		for k, v := range s.errs {
			errs[k] = v
		}
		for k, v := range s.unseenN {
			unseen[k] = v
		}
	}
	s.mu.Unlock()
	s.log.Info(msg,
		"elapsed", elapsed.Round(time.Millisecond),
		"received", st.Received, "kernel_dropped", st.KernelDropped, "interface_dropped", st.InterfaceDropped,
		"frames", frames, "examined", c.Packets,
		"services", c.Services, "host_sprays", c.HostSprays,
		"skipped", countsText(c.Dropped), "decode_errors", decodeErrs)
	if len(errs) > 0 {
		s.log.Info("decode errors by reason", "reasons", countsText(errs))
	}
	if len(unseen) > 0 {
		s.log.Info("frames passed over unseen, by kind", "kinds", countsText(unseen))
	}
	if n := c.Dropped["udp_port_ignored"]; n > 0 && msg == "capture ended" {
		s.log.Info("UDP packets of inside ports above 1024 skipped", "packets", n, "high_ports", s.cfg.UDP.HighPorts, "hint", udpHighPortsHint)
	}
}

// udpHighPortsHint says what to do about UDP services above port 1024.
const udpHighPortsHint = "to watch a UDP service above 1024, add its port to sensor.udp.high_ports (e.g. 1194 OpenVPN, 1900 SSDP, 5353 mDNS, 11211 memcached, 51820 WireGuard)"

// worker is one reader's state: its own decoder and counters.
type worker struct {
	src    capture.Source
	dec    *decode.Decoder
	dp     decode.Packet
	errs   map[string]uint64 // owned by the worker's goroutine
	ctrs   map[string]prometheus.Counter
	unseen map[string]uint64 // owned by the worker's goroutine
	uctrs  map[string]prometheus.Counter
	frames atomic.Uint64 // read by the stats line
	failed atomic.Uint64
	due    []*event.Observation
	pkt    capture.Packet // the frame being read (workFile)
}

func (s *Sensor) work(ctx context.Context, src capture.Source) error {
	dec, err := decode.NewDecoder(src.LinkType())
	if err != nil {
		return fmt.Errorf("%s: %w", src.Name(), err)
	}
	w := &worker{src: src, dec: dec, errs: map[string]uint64{}, ctrs: map[string]prometheus.Counter{},
		unseen: map[string]uint64{}, uctrs: map[string]prometheus.Counter{}}
	s.mu.Lock()
	s.workers = append(s.workers, w)
	s.mu.Unlock()
	defer s.merge(w)
	if s.cfg.Pcap != "" && !s.perPacket {
		return s.workFile(ctx, w)
	}
	done := ctx.Done()
	for n := uint64(0); ; n++ {
		if n&255 == 0 {
			select {
			case <-done:
				return nil
			default:
			}
		}
		pkt, err := src.Read()
		if err != nil {
			switch {
			case errors.Is(err, capture.ErrTimeout):
				select {
				case <-done:
					return nil
				default:
				}
				continue
			case errors.Is(err, io.EOF):
				return nil
			case errors.Is(err, capture.ErrTruncatedFile):
				s.log.Warn("capture file truncated: stopping at its last whole packet", "file", src.Name(), "err", err)
				return nil
			}
			return err
		}
		w.frames.Add(1)
		if o := s.handle(w, &pkt); o != nil {
			w.due = append(w.due[:0], o)
		} else {
			w.due = w.due[:0]
		}
		// observations the spray guard held for their window, now due
		w.due = s.det.Due(pkt.Timestamp, w.due)
		if err := s.publish(ctx, w.due); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (s *Sensor) publish(ctx context.Context, due []*event.Observation) error {
	live := s.cfg.Pcap == "" // packet times of a file are not "now"
	for _, o := range due {
		if err := s.pub.Publish(ctx, o); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		s.published.Inc()
		if live {
			s.lat.Since(obs.StageDetection, o.ObservedAt)
		}
	}
	return nil
}

// handle decodes one frame and runs detection on it.
func (s *Sensor) handle(w *worker, pkt *capture.Packet) *event.Observation {
	var p detect.Packet
	if !s.decode(w, pkt, &p) {
		return nil
	}
	return s.det.Process(&p)
}

// decode decodes one frame into p for detection; false (the reason
// counted) when there is nothing in it to examine.
func (s *Sensor) decode(w *worker, pkt *capture.Packet, p *detect.Packet) bool {
	// the decoder puts a tag the kernel stripped first and tells a frame cut
	// by the snaplen from a truncated one
	meta := decode.Meta{WireLen: pkt.Length, VLAN: uint16(max(pkt.VLAN, 0)), HasVLAN: pkt.VLAN >= 0}
	if err := w.dec.DecodeMeta(pkt.Data, meta, &w.dp); err != nil {
		if k := w.dp.Unseen; k != "" { // not broken: nothing the sensor reads
			w.unseen[k]++
			c, ok := w.uctrs[k]
			if !ok {
				c = s.unseen.WithLabelValues(k)
				w.uctrs[k] = c
			}
			c.Inc()
			return false
		}
		r := reason(err)
		w.errs[r]++
		w.failed.Add(1)
		c, ok := w.ctrs[r]
		if !ok {
			c = s.decodeErrs.WithLabelValues(r)
			w.ctrs[r] = c
		}
		c.Inc()
		return false
	}
	// field by field: a composite literal is built on the stack and copied
	dp := &w.dp
	p.Time, p.Proto = pkt.Timestamp, dp.Proto
	p.Src, p.Dst, p.SrcPort, p.DstPort = dp.Src, dp.Dst, dp.SrcPort, dp.DstPort
	p.Flags, p.Seq, p.Ack = dp.Flags, dp.Seq, dp.Ack
	p.VLANs, p.NVLAN = dp.VLANs, dp.NVLAN
	p.Tunnel, p.TunnelID = dp.Tunnel, dp.TunnelID
	return true
}

// fileBatch is a run of a capture file's frames, decoded for detection
// (detect.Batched), in the file's order; err is what ended the
// file after them (io.EOF at its end).
type fileBatch struct {
	pkts []detect.Batched
	err  error
}

const (
	fileBatchFrames  = 4096 // frames a batch (1,024: 10-20% slower; 8,192 and more: no faster)
	fileBatchesAhead = 4    // batches in flight between the reader and detection
)

// fillBatch reads, filters and decodes up to fileBatchFrames frames into b. A frame that does not decode stays in the batch, marked
// Skip: its time still releases held observations, as on the per-packet
// path.
func (s *Sensor) fillBatch(w *worker, b *fileBatch) {
	// zeroed in one sweep first: the batch's memory was last touched by the
	// other core, and one sweep takes its cache lines back faster than
	// packet by packet
	b.pkts, b.err = b.pkts[:fileBatchFrames], nil
	clear(b.pkts)
	rt, _ := w.src.(interface{ ReadTo(*capture.Packet) error })
	pkt := &w.pkt
	n := 0
	for ; n < len(b.pkts); n++ {
		var err error
		if rt != nil {
			err = rt.ReadTo(pkt)
		} else {
			*pkt, err = w.src.Read()
		}
		if err != nil {
			b.err = err
			break
		}
		p := &b.pkts[n]
		if !s.decode(w, pkt, &p.Packet) {
			p.Time, p.Skip = pkt.Timestamp, true
		}
	}
	b.pkts = b.pkts[:n]
	w.frames.Add(uint64(n))
}

// workFile reads a capture file in batches: with more than one core, the
// reading goroutine (started here) also filters and decodes each frame, so
// that decoded packets, not frames, cross between cores and this goroutine
// runs detection alone (detect.ProcessBatch, which also does the perimeter
// lookups: that balances the two goroutines' work best). The observations, their order included, are
// those of the per-packet path (work): ProcessBatch returns each packet's
// observation then what is due by its time, as Process then Due do.
func (s *Sensor) workFile(ctx context.Context, w *worker) error {
	// run runs detection over b and publishes; false: stop (err says why)
	run := func(b *fileBatch) (bool, error) {
		if ctx.Err() != nil {
			return false, nil
		}
		w.due = s.det.ProcessBatch(b.pkts, w.due[:0])
		if err := s.publish(ctx, w.due); err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			return false, err
		}
		clear(w.due)
		switch err := b.err; {
		case err == nil:
			return true, nil
		case errors.Is(err, io.EOF):
			return false, nil
		case errors.Is(err, capture.ErrTruncatedFile):
			s.log.Warn("capture file truncated: stopping at its last whole packet", "file", w.src.Name(), "err", err)
			return false, nil
		default:
			return false, err
		}
	}
	if runtime.GOMAXPROCS(0) < 2 {
		b := &fileBatch{pkts: make([]detect.Batched, 0, fileBatchFrames)}
		for {
			s.fillBatch(w, b)
			if more, err := run(b); !more {
				return err
			}
		}
	}
	full := make(chan *fileBatch, fileBatchesAhead)
	free := make(chan *fileBatch, fileBatchesAhead)
	for range fileBatchesAhead {
		free <- &fileBatch{pkts: make([]detect.Batched, 0, fileBatchFrames)}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // the reader: w.src, w.dec and the decode counters are its own until done
		defer close(done)
		for {
			var b *fileBatch
			select {
			case b = <-free:
			case <-stop:
				return
			}
			s.fillBatch(w, b)
			select {
			case full <- b:
			case <-stop:
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	for {
		var b *fileBatch
		select {
		case b = <-full:
		case <-ctx.Done():
			return nil
		}
		if more, err := run(b); !more {
			return err
		}
		free <- b
	}
}

func (s *Sensor) merge(w *worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames += w.frames.Load()
	for k, v := range w.errs {
		s.errs[k] += v
	}
	for k, v := range w.unseen {
		s.unseenN[k] += v
	}
	for i, x := range s.workers {
		if x == w {
			s.workers = append(s.workers[:i], s.workers[i+1:]...)
			break
		}
	}
}

// reason names a decode error for the metrics.
func reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return "other"
}
