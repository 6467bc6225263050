package detect

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/event"
)

// TCP flags (the low byte of the TCP header's flags).
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagACK = 0x10
)

// IP protocol numbers.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Packet is what detection needs of one decoded packet (the sensor fills
// it from the decoder's output).
type Packet struct {
	Time             time.Time // capture time
	Proto            uint8     // ProtoTCP or ProtoUDP
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Flags            uint8
	Seq, Ack         uint32
	VLANs            [2]uint16 // outermost first
	NVLAN            uint8
	Tunnel           string // outermost tunnel kind, "" for none
	TunnelID         uint32
}

// Config is the detector's configuration.
type Config struct {
	Inside, Exclude []netip.Prefix
	Sensor          string // name on every observation
	Interface       string // capture interface on every observation ("" for files)

	// Handshake trust: outside SYNs remembered this long, in a table of this size.
	SYNWindow time.Duration
	SYNFlows  int

	UDP          bool
	UDPWindow    time.Duration
	UDPHighPorts []uint16 // ports above 1024 watched for UDP services
	UDPFlows     int

	SprayPorts    int // more than this many distinct ports ...
	SprayWindow   time.Duration
	SprayHoldDown time.Duration
	SprayHosts    int // hosts tracked by the spray guard

	Refresh         time.Duration // each (ip, proto, port) at most once per Refresh
	SuppressEntries int

	// NewID returns an observation id; default: 128 random bits in hex.
	NewID func() string
	// Seed keys the hashes of the flow and suppression tables; 0 (the
	// default): random seeds. Tests fix it to compare two runs, whose
	// output may otherwise differ where the tables evict by chance.
	Seed uint64
}

// Reason says why a packet produced no observation.
type Reason uint8

const (
	ReasonTCPSYN            Reason = iota // an outside SYN to an inside host: remembered for the handshake check
	ReasonTCPNotSYNACK                    // TCP, but not SYN+ACK without RST
	ReasonSrcOutside                      // answer from an outside address
	ReasonSrcExcluded                     // answer from an excluded address
	ReasonDstInside                       // answer to an inside address (internal traffic)
	ReasonDstExcluded                     // answer to an excluded address (e.g. our own scanner)
	ReasonHandshakeMismatch               // SYN seen, but the SYN-ACK's ack is not its seq+1: not trusted
	ReasonSprayHeld                       // host is spraying: per-port observations held down
	ReasonSuppressed                      // service already reported within the refresh interval
	ReasonUDPRequest                      // an outside UDP request to an inside host: remembered
	ReasonUDPNoRequest                    // UDP from an inside port with no matching request in the window
	ReasonUDPPortIgnored                  // UDP port above 1024 not configured
	ReasonUDPDisabled                     // UDP detection off
	ReasonOtherProto                      // neither TCP nor UDP
	numReasons
)

var reasonNames = [numReasons]string{
	"tcp_syn", "tcp_not_synack", "src_outside", "src_excluded", "dst_inside", "dst_excluded",
	"handshake_mismatch", "spray_held", "suppressed", "udp_request", "udp_no_request",
	"udp_port_ignored", "udp_disabled", "other_proto",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Detector turns packets into observations. Safe for concurrent use
// (AF_PACKET workers share one detector: suppression and the spray guard
// must see every flow).
type Detector struct {
	cfg       Config
	perim     *Perimeter
	refreshNs int64
	sprayNs   int64
	holdNs    int64

	mu       sync.Mutex
	holdFrom int                  // per-port observations of a host beyond this many new ports in a window wait
	pending  [][16]byte           // hosts with pending observations
	ready    []*event.Observation // released, not yet collected by Due
	nextDue  atomic.Int64         // earliest end of a window with pending observations; MaxInt64: none
	syns     *flowTable
	udpReqs  *flowTable
	suppress *svcTable
	spray    *lru[[16]byte, sprayHost]
	udpHigh  [65536 / 64]uint64 // bitmap of watched UDP ports above 1024

	packets  atomic.Uint64
	dropped  [numReasons]atomic.Uint64
	reported [2]atomic.Uint64 // service, host_sprays
}

type sprayHost struct {
	start     int64 // window start, unix ns
	holdUntil int64
	ports     []uint16
	// pending holds this window's per-port observations beyond the first
	// few (see Config.SprayPorts): released when the window ends without
	// the guard tripping, dropped when it trips.
	pending []*event.Observation
}

// New builds a detector; zero values in cfg get defaults.
func New(cfg Config) *Detector {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.SYNWindow, 30*time.Second)
	defInt(&cfg.SYNFlows, 1<<16)
	def(&cfg.UDPWindow, 5*time.Second)
	defInt(&cfg.UDPFlows, 1<<16)
	defInt(&cfg.SprayPorts, 64)
	def(&cfg.SprayWindow, 10*time.Second)
	def(&cfg.SprayHoldDown, 10*time.Minute)
	defInt(&cfg.SprayHosts, 1<<16)
	def(&cfg.Refresh, time.Hour)
	defInt(&cfg.SuppressEntries, 1<<20)
	if cfg.NewID == nil {
		cfg.NewID = RandomID
	}
	seed := func(i uint64) uint64 {
		if cfg.Seed == 0 {
			return mrand.Uint64()
		}
		return mix(cfg.Seed, i) | 1
	}
	d := &Detector{
		cfg:       cfg,
		perim:     NewPerimeter(cfg.Inside, cfg.Exclude),
		refreshNs: int64(cfg.Refresh),
		sprayNs:   int64(cfg.SprayWindow),
		holdNs:    int64(cfg.SprayHoldDown),
		syns:      newFlowTable(cfg.SYNFlows, int64(cfg.SYNWindow), seed(1)),
		udpReqs:   newFlowTable(cfg.UDPFlows, int64(cfg.UDPWindow), seed(2)),
		suppress:  newSvcTable(cfg.SuppressEntries, seed(3)),
		spray:     newLRU[[16]byte, sprayHost](cfg.SprayHosts),
	}
	for _, p := range cfg.UDPHighPorts {
		d.udpHigh[p/64] |= 1 << (p % 64)
	}
	d.holdFrom = max(1, cfg.SprayPorts/8)
	d.nextDue.Store(math.MaxInt64)
	return d
}

// RandomID returns 128 random bits in hex.
func RandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (d *Detector) udpWatched(port uint16) bool {
	if port == 0 {
		return false
	}
	return port <= 1024 || d.udpHigh[port/64]&(1<<(port%64)) != 0
}

// Batched is one packet of a batch for ProcessBatch, with room for what
// detection works out first for the whole batch (the perimeter sides of its
// addresses, the suppression key's hash).
type Batched struct {
	Packet
	// Skip marks a frame that was read but not decoded: detection does not
	// examine it, but its time still releases held observations (Due), as
	// the per-packet path does for every frame read.
	Skip bool
	prep
}

// prep is what detection works out for a packet before it takes the lock.
type prep struct {
	src, dst Side
	svc      uint64 // suppression-table hash of (Src, SrcPort, Proto); 0: not needed
}

// prepare works out p's perimeter sides and, for an answer from inside,
// its suppression hash. It reads nothing that changes after New.
func (d *Detector) prepare(p *Packet, x *prep) {
	const synack = FlagSYN | FlagACK
	x.svc = 0
	switch p.Proto {
	case ProtoTCP, ProtoUDP:
	default:
		return
	}
	x.src, x.dst = d.perim.Side(p.Src), d.perim.Side(p.Dst)
	if x.src == Inside && (p.Proto == ProtoUDP || p.Flags&(synack|FlagRST) == synack) {
		x.svc = svcHash(p.Src, p.SrcPort, p.Proto, d.suppress.seed)
	}
}

// Process looks at one packet and returns the observation it makes, or nil
// (the reason is counted). A packet that is not reported allocates nothing.
func (d *Detector) Process(p *Packet) *event.Observation {
	var x prep
	d.prepare(p, &x)
	d.packets.Add(1)
	d.mu.Lock()
	o, r := d.process(p, &x, p.Time.UnixNano())
	d.mu.Unlock()
	if r != reasonNone {
		d.dropped[r].Add(1)
	}
	return o
}

// ProcessBatch runs detection over ps in order and appends what they make to
// out: for each packet its observation, if any, then the held observations
// due by its time. That is exactly what Process then Due, one packet at a
// time, return; a batch takes the lock once, counts once, and first touches
// the suppression table's sets of all its packets, so that their cache
// misses overlap instead of coming one after another.
func (d *Detector) ProcessBatch(ps []Batched, out []*event.Observation) []*event.Observation {
	var counts [numReasons + 1]uint64
	var skipped uint64
	for i := range ps {
		if !ps[i].Skip {
			d.prepare(&ps[i].Packet, &ps[i].prep)
		}
	}
	d.mu.Lock()
	if t := d.suppress; len(ps) > 1 {
		var sink uint64
		for i := range ps {
			if h := ps[i].svc; h != 0 {
				a, b := t.candidates(h)
				sink += a[0].h + b[0].h
			}
		}
		t.sink += sink
	}
	for i := range ps {
		p := &ps[i]
		now := p.Time.UnixNano()
		if p.Skip {
			skipped++
		} else {
			o, r := d.process(&p.Packet, &p.prep, now)
			counts[r]++
			if o != nil {
				out = append(out, o)
			}
		}
		if d.nextDue.Load() <= now {
			out = d.dueLocked(now, out)
		}
	}
	d.mu.Unlock()
	d.packets.Add(uint64(len(ps)) - skipped)
	for r, n := range counts[:numReasons] {
		if n > 0 {
			d.dropped[r].Add(n)
		}
	}
	return out
}

// reasonNone: the packet made an observation, or one is held for it.
const reasonNone = numReasons

// process is detection of one prepared packet (see prepare) at now; the reason is
// reasonNone when nothing is to be counted as dropped. Called with d.mu held.
func (d *Detector) process(p *Packet, x *prep, now int64) (*event.Observation, Reason) {
	switch p.Proto {
	case ProtoTCP:
		return d.tcp(p, x, now)
	case ProtoUDP:
		return d.udp(p, x, now)
	}
	return nil, ReasonOtherProto
}

func (d *Detector) tcp(p *Packet, x *prep, now int64) (*event.Observation, Reason) {
	const synack = FlagSYN | FlagACK
	if p.Flags&(synack|FlagRST) == FlagSYN {
		// a client's SYN: remember it if it goes from outside to inside
		if x.src == Outside && x.dst == Inside {
			k := flowKey{client: p.Src.As16(), server: p.Dst.As16(), clientPort: p.SrcPort, serverPort: p.DstPort}
			d.syns.put(&k, p.Seq, now)
		}
		return nil, ReasonTCPSYN
	}
	if p.Flags&(synack|FlagRST) != synack || p.SrcPort == 0 {
		return nil, ReasonTCPNotSYNACK
	}
	if r, ok := answers(x.src, x.dst); !ok {
		return nil, r
	}
	// Most SYN-ACKs are of services reported within the refresh interval:
	// drop those before the handshake and spray lookups (cache misses both).
	if d.reportedWithin(x, now) {
		return nil, ReasonSuppressed
	}
	k := flowKey{client: p.Dst.As16(), server: p.Src.As16(), clientPort: p.DstPort, serverPort: p.SrcPort}
	hs := event.HandshakeSynNotSeen
	if seq, ok := d.syns.get(&k, now); ok {
		if p.Ack != seq+1 {
			return nil, ReasonHandshakeMismatch
		}
		hs = event.HandshakeVerified
	}
	if o, r, held := d.sprayGuard(p, x, now, hs); held {
		return o, r
	}
	if d.suppressed(x, now) {
		return nil, ReasonSuppressed
	}
	return d.observation(p, event.KindService, event.TCP, hs), reasonNone
}

// answers checks the perimeter rule for an answer: source inside (not
// excluded), destination outside (not excluded).
func answers(src, dst Side) (Reason, bool) {
	switch src {
	case Outside:
		return ReasonSrcOutside, false
	case Excluded:
		return ReasonSrcExcluded, false
	}
	switch dst {
	case Inside:
		return ReasonDstInside, false
	case Excluded:
		return ReasonDstExcluded, false
	}
	return 0, true
}

func (d *Detector) udp(p *Packet, x *prep, now int64) (*event.Observation, Reason) {
	if !d.cfg.UDP {
		return nil, ReasonUDPDisabled
	}
	if x.src == Outside && x.dst == Inside {
		if !d.udpWatched(p.DstPort) {
			return nil, ReasonUDPPortIgnored
		}
		k := flowKey{client: p.Src.As16(), server: p.Dst.As16(), clientPort: p.SrcPort, serverPort: p.DstPort}
		d.udpReqs.put(&k, 0, now)
		return nil, ReasonUDPRequest
	}
	if r, ok := answers(x.src, x.dst); !ok {
		return nil, r
	}
	if !d.udpWatched(p.SrcPort) {
		return nil, ReasonUDPPortIgnored
	}
	k := flowKey{client: p.Dst.As16(), server: p.Src.As16(), clientPort: p.DstPort, serverPort: p.SrcPort}
	if _, ok := d.udpReqs.get(&k, now); !ok {
		return nil, ReasonUDPNoRequest
	}
	if d.suppressed(x, now) {
		return nil, ReasonSuppressed
	}
	return d.observation(p, event.KindService, event.UDP, event.HandshakeNone), reasonNone
}

// sprayGuard counts the host's distinct ports in the spray window. When it
// passes the limit it returns one host_sprays observation and holds the
// host's per-port observations down; held is true when p must not be
// reported now. The first SprayPorts/8 new ports of a window are reported at
// once; the observations of further new ports wait for the window to end
// (Due releases them) so that a spraying host yields its host_sprays and
// only a handful of per-port observations. Called with d.mu held.
func (d *Detector) sprayGuard(p *Packet, x *prep, now int64, hs event.Handshake) (o *event.Observation, r Reason, held bool) {
	key := p.Src.As16()
	h, ok := d.spray.get(key)
	if !ok {
		h = d.spray.add(key)
		if len(h.pending) > 0 { // an evicted host's waiting observations go out
			d.ready = append(d.ready, h.pending...)
			d.nextDue.Store(now)
		}
		h.start, h.holdUntil, h.ports, h.pending = now, 0, h.ports[:0], h.pending[:0]
	}
	if now < h.holdUntil {
		return nil, ReasonSprayHeld, true
	}
	if now-h.start > d.sprayNs || h.start-now > d.sprayNs {
		if len(h.pending) > 0 {
			d.ready = append(d.ready, h.pending...)
			h.pending = h.pending[:0]
			d.nextDue.Store(now)
		}
		h.start, h.ports = now, h.ports[:0]
	}
	for _, q := range h.ports {
		if q == p.SrcPort {
			return nil, reasonNone, false
		}
	}
	if len(h.ports) < d.cfg.SprayPorts {
		if h.ports == nil {
			h.ports = make([]uint16, 0, d.cfg.SprayPorts)
		}
		h.ports = append(h.ports, p.SrcPort)
		if len(h.ports) <= d.holdFrom {
			return nil, reasonNone, false
		}
		if d.suppressed(x, now) {
			return nil, ReasonSuppressed, true
		}
		if len(h.pending) == 0 {
			d.pending = append(d.pending, key)
			if due := h.start + d.sprayNs + 1; due < d.nextDue.Load() {
				d.nextDue.Store(due)
			}
		}
		h.pending = append(h.pending, d.observation(p, event.KindService, event.TCP, hs))
		return nil, reasonNone, true
	}
	n := len(h.ports) + 1
	d.dropped[ReasonSprayHeld].Add(uint64(len(h.pending)))
	d.reported[0].Add(^uint64(len(h.pending) - 1)) // never reported after all
	clear(h.pending)
	h.holdUntil, h.ports, h.pending = now+d.holdNs, h.ports[:0], h.pending[:0]
	o = d.observation(p, event.KindHostSprays, event.TCP, event.HandshakeNone)
	o.Port, o.PeerPort, o.Ports = 0, 0, n
	return o, reasonNone, true
}

// Due returns, appended to out, the per-port observations whose spray
// window has ended by now without the guard tripping (with their own packet
// times). Call it after packets (it is cheap when nothing is due), on a
// timer for quiet live links, and with a far-future now at the end of a
// file.
func (d *Detector) Due(now time.Time, out []*event.Observation) []*event.Observation {
	return d.due(now.UnixNano(), out)
}

// Flush returns, appended to out, every observation still waiting: at the
// end of a file or of a capture.
func (d *Detector) Flush(out []*event.Observation) []*event.Observation {
	return d.due(math.MaxInt64, out)
}

func (d *Detector) due(ns int64, out []*event.Observation) []*event.Observation {
	if d.nextDue.Load() > ns {
		return out
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dueLocked(ns, out)
}

// dueLocked is due with d.mu held.
func (d *Detector) dueLocked(ns int64, out []*event.Observation) []*event.Observation {
	out = append(out, d.ready...)
	clear(d.ready)
	d.ready = d.ready[:0]
	next := int64(math.MaxInt64)
	keep := d.pending[:0]
	for _, key := range d.pending {
		h, ok := d.spray.peek(key)
		if !ok || len(h.pending) == 0 {
			continue
		}
		if ns == math.MaxInt64 || h.start+d.sprayNs < ns {
			out = append(out, h.pending...)
			clear(h.pending)
			h.pending = h.pending[:0]
			continue
		}
		next = min(next, h.start+d.sprayNs+1)
		keep = append(keep, key)
	}
	d.pending = keep
	d.nextDue.Store(next)
	return out
}

// reportedWithin says whether p's service was reported within the refresh
// interval, recording nothing (suppressed records). Called with d.mu held.
func (d *Detector) reportedWithin(x *prep, now int64) bool {
	at, ok := d.suppress.get(x.svc)
	return ok && now-*at > -d.refreshNs && now-*at < d.refreshNs
}

// suppressed says whether the service was reported within the refresh
// interval; if not, it records now. Called with d.mu held.
func (d *Detector) suppressed(x *prep, now int64) bool {
	if at, ok := d.suppress.get(x.svc); ok {
		// AF_PACKET workers hand packets over slightly out of order: a
		// packet a little older than the recorded one is within the
		// interval too
		if age := now - *at; age > -d.refreshNs && age < d.refreshNs {
			return true
		}
		*at = now
		return false
	}
	*d.suppress.add(x.svc) = now
	return false
}

func (d *Detector) observation(p *Packet, kind event.Kind, proto event.Proto, hs event.Handshake) *event.Observation {
	if kind == event.KindService {
		d.reported[0].Add(1)
	} else {
		d.reported[1].Add(1)
	}
	o := &event.Observation{
		SchemaVersion: event.SchemaVersion,
		ID:            d.cfg.NewID(),
		Kind:          kind,
		Proto:         proto,
		IP:            p.Src.Unmap(),
		Port:          p.SrcPort,
		PeerIP:        p.Dst.Unmap(),
		PeerPort:      p.DstPort,
		ObservedAt:    p.Time.UTC(),
		Sensor:        d.cfg.Sensor,
		Interface:     d.cfg.Interface,
		Handshake:     hs,
	}
	if n := min(int(p.NVLAN), len(p.VLANs)); n > 0 {
		o.VLANs = append([]uint16(nil), p.VLANs[:n]...)
	}
	if p.Tunnel != "" {
		o.Tunnel = &event.Tunnel{Kind: p.Tunnel, ID: p.TunnelID}
	}
	return o
}

// Counts are the detector's counters.
type Counts struct {
	Packets    uint64
	Services   uint64
	HostSprays uint64
	Dropped    map[string]uint64 // by reason; zero counts left out
}

// Counts returns a snapshot of the counters.
func (d *Detector) Counts() Counts {
	c := Counts{
		Packets:    d.packets.Load(),
		Services:   d.reported[0].Load(),
		HostSprays: d.reported[1].Load(),
		Dropped:    map[string]uint64{},
	}
	for r := range numReasons {
		if n := d.dropped[r].Load(); n > 0 {
			c.Dropped[r.String()] = n
		}
	}
	return c
}

// Evictions reports live entries pushed out of the bounded tables before
// their time (a sign that a table is too small for the traffic).
func (d *Detector) Evictions() (syns, udp, suppress, spray uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.syns.evict, d.udpReqs.evict, d.suppress.evicted, d.spray.evicted
}

// Register adds the detector's counters to reg (nil: nothing).
func (d *Detector) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "synwatch_sensor_detect_packets_total",
			Help: "Decoded TCP and UDP packets examined by detection.",
		}, func() float64 { return float64(d.packets.Load()) }),
	}
	for i, kind := range []event.Kind{event.KindService, event.KindHostSprays} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "synwatch_sensor_observations_total",
			Help:        "Observations emitted, by kind.",
			ConstLabels: prometheus.Labels{"kind": string(kind)},
		}, func() float64 { return float64(d.reported[i].Load()) }))
	}
	for r := range numReasons {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "synwatch_sensor_detect_skipped_total",
			Help:        "Packets that made no observation, by reason.",
			ConstLabels: prometheus.Labels{"reason": r.String()},
		}, func() float64 { return float64(d.dropped[r].Load()) }))
	}
	cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "synwatch_sensor_suppression_entries",
		Help: "Services in the suppression table.",
	}, func() float64 {
		d.mu.Lock()
		defer d.mu.Unlock()
		return float64(d.suppress.Len())
	}))
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
