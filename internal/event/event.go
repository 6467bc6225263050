// Package event holds the versioned wire types that synwatch's stages exchange:
// observations (sensor → verifier), verifications, changes and alerts
// (verifier → sinks). It imports nothing of synwatch: sensors, verifiers and
// external consumers all depend on it, so its JSON is the contract, documented
// as JSON Schema in docs/schema/.
package event

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// SchemaVersion is carried by every event and alert. Bump it only for changes
// that old consumers cannot read; adding optional fields does not need it.
const SchemaVersion = 1

// ContentType is the media type of every encoded event (Kafka header, HTTP).
const ContentType = "application/json"

// Proto is the transport protocol of a service.
type Proto string

const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// Kind says what an observation reports.
type Kind string

const (
	// KindService: one inside host answered an outside host on one port.
	KindService Kind = "service"
	// KindHostSprays: one inside host answered on too many distinct ports in a
	// short time (SYN proxy, tarpit, scrubber); its per-port observations are
	// held down and this single event stands for them.
	KindHostSprays Kind = "host_sprays"
)

// Handshake says how far the sensor can vouch for a TCP answer.
type Handshake string

const (
	// HandshakeVerified: the sensor saw the outside client's SYN and the
	// SYN-ACK acknowledged it (ack == syn.seq+1).
	HandshakeVerified Handshake = "verified"
	// HandshakeSynNotSeen: one-way feeds (only the inside→outside direction
	// mirrored) never show the SYN; the answer is reported, marked as such.
	HandshakeSynNotSeen Handshake = "syn_not_seen"
	// HandshakeNone: UDP, or kinds where no handshake applies.
	HandshakeNone Handshake = ""
)

// Tunnel names the encapsulation an observation was found in. Its ID (VNI,
// ERSPAN session, GRE key, GTP TEID, PPPoE session, MPLS label) usually names
// the site or VPC the mirrored traffic came from.
type Tunnel struct {
	Kind string `json:"kind"`         // gre, erspan1, erspan2, erspan3, vxlan, geneve, mpls, pppoe, ipip, gtpu, teredo, l2tp, vxlan-gpe, nsh, capwap, tzsp, etherip, pbb, lisp, macsec
	ID   uint32 `json:"id,omitempty"` // VNI, session id, key, label or TEID
}

// Observation is what a sensor publishes: one exposed service seen in traffic
// (or one spraying host). Kafka key: IP.
type Observation struct {
	SchemaVersion int        `json:"schema_version"`
	ID            string     `json:"id"`
	Kind          Kind       `json:"kind"`
	Proto         Proto      `json:"proto"`
	IP            netip.Addr `json:"ip"`
	Port          uint16     `json:"port"`
	PeerIP        netip.Addr `json:"peer_ip"`
	PeerPort      uint16     `json:"peer_port"`
	ObservedAt    time.Time  `json:"observed_at"` // packet time
	Sensor        string     `json:"sensor"`
	Interface     string     `json:"interface,omitempty"`
	VLANs         []uint16   `json:"vlans,omitempty"` // outermost first
	Tunnel        *Tunnel    `json:"tunnel,omitempty"`
	Handshake     Handshake  `json:"handshake,omitempty"`
	// Ports is, for host_sprays, how many distinct ports answered within the
	// spray window.
	Ports int `json:"ports,omitempty"`
	// FoundBy names the source: traffic (a sensor; also when empty, as
	// every sensor before it wrote) or sweep (an active scan of a range).
	FoundBy Finder `json:"found_by,omitempty"`
}

// Finder names a source that can find a service.
type Finder string

const (
	FoundByTraffic  Finder = "traffic"  // a sensor saw it answer an outside host
	FoundBySweep    Finder = "sweep"    // an active sweep (nmap, masscan) found it open
	FoundByBaseline Finder = "baseline" // imported from an earlier scan's output
)

// Finder returns who found the service the observation reports: traffic
// unless named.
func (o *Observation) Finder() Finder {
	if o.FoundBy == "" {
		return FoundByTraffic
	}
	return o.FoundBy
}

// ScanRef names the scan behind a verdict: engine, the command line that ran,
// when it started.
type ScanRef struct {
	Engine  string    `json:"engine"`          // nmap, masscan
	Command string    `json:"command"`         // the command line, as run
	At      time.Time `json:"at"`              // when the scan started
	Sweep   string    `json:"sweep,omitempty"` // the sweep (schedule name or id) it belonged to
}

// Key is the Kafka message key and the unit of per-host batching.
func (o *Observation) Key() string { return o.IP.String() }

// Service identifies one service in the inventory.
type Service struct {
	IP    netip.Addr `json:"ip"`
	Proto Proto      `json:"proto"`
	Port  uint16     `json:"port"`
}

func (s Service) String() string {
	return netip.AddrPortFrom(s.IP, s.Port).String() + "/" + string(s.Proto)
}

// Service returns the service an observation is about.
func (o *Observation) Service() Service { return Service{IP: o.IP, Proto: o.Proto, Port: o.Port} }

// Limits an observation must keep; a sensor never comes near them, so a
// message beyond one is damaged or forged and goes to the dead-letter topic.
const (
	// MaxObservationBytes bounds an encoded observation (a real one is
	// a few hundred bytes).
	MaxObservationBytes = 64 << 10
	// MaxFieldLen bounds each string field (id, sensor, interface, tunnel kind).
	MaxFieldLen = 256
	// MaxVLANs bounds the VLAN tags of one observation (the sensor keeps the
	// outer two: QinQ).
	MaxVLANs = 2
	// MaxClockSkew is how far in the future observed_at may be.
	MaxClockSkew = time.Hour
)

// Validate checks what a consumer must be able to rely on. It is the test a
// message from Kafka passes before it reaches the pipeline; a failure is a
// dead-letter reason.
func (o *Observation) Validate() error { return o.ValidateAt(time.Now()) }

// ValidateAt is Validate with the clock given (observed_at is checked against now).
func (o *Observation) ValidateAt(now time.Time) error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"id", o.ID}, {"sensor", o.Sensor}, {"interface", o.Interface}, {"tunnel.kind", o.tunnelKind()}} {
		if len(f.v) > MaxFieldLen {
			errs = append(errs, fmt.Errorf("%s is %d bytes long (limit %d)", f.name, len(f.v), MaxFieldLen))
		}
	}
	if len(o.VLANs) > MaxVLANs {
		errs = append(errs, fmt.Errorf("%d vlans (limit %d)", len(o.VLANs), MaxVLANs))
	}
	if len(errs) > 0 { // the checks below would quote the long fields
		return errors.Join(errs...)
	}
	for _, v := range o.VLANs {
		if v > 4095 {
			errs = append(errs, fmt.Errorf("vlan %d: must be 0-4095", v))
		}
	}
	if o.Tunnel != nil && !tunnelKinds[o.Tunnel.Kind] {
		errs = append(errs, fmt.Errorf("unknown tunnel kind %q", o.Tunnel.Kind))
	}
	if o.SchemaVersion != SchemaVersion {
		errs = append(errs, fmt.Errorf("unsupported schema_version %d (want %d)", o.SchemaVersion, SchemaVersion))
	}
	switch o.Kind {
	case KindService, KindHostSprays:
	default:
		errs = append(errs, fmt.Errorf("unknown kind %q", o.Kind))
	}
	switch o.Proto {
	case TCP, UDP:
	default:
		errs = append(errs, fmt.Errorf("unknown proto %q", o.Proto))
	}
	if !o.IP.IsValid() {
		errs = append(errs, errors.New("ip missing or invalid"))
	}
	if o.Kind == KindService && o.Port == 0 {
		errs = append(errs, errors.New("port must be 1-65535"))
	}
	if o.Kind == KindHostSprays && (o.Ports < 1 || o.Ports > 65535) {
		errs = append(errs, fmt.Errorf("host_sprays ports %d: must be 1-65535 (distinct ports that answered)", o.Ports))
	}
	if o.Kind == KindService && o.Ports != 0 {
		errs = append(errs, fmt.Errorf("ports %d: only host_sprays carries a port count", o.Ports))
	}
	if o.ObservedAt.IsZero() {
		errs = append(errs, errors.New("observed_at missing"))
	} else if o.ObservedAt.After(now.Add(MaxClockSkew)) {
		errs = append(errs, fmt.Errorf("observed_at %s is more than %s in the future", o.ObservedAt.UTC().Format(time.RFC3339), MaxClockSkew))
	}
	switch o.Handshake {
	case HandshakeVerified, HandshakeSynNotSeen, HandshakeNone:
	default:
		errs = append(errs, fmt.Errorf("unknown handshake %q", o.Handshake))
	}
	switch o.FoundBy {
	case "", FoundByTraffic, FoundBySweep:
	default:
		errs = append(errs, fmt.Errorf("unknown found_by %q", o.FoundBy))
	}
	return errors.Join(errs...)
}

// tunnelKinds are sniffer/decode's TunnelKinds (checked by its tests).
var tunnelKinds = map[string]bool{"gre": true, "erspan1": true, "erspan2": true, "erspan3": true, "vxlan": true,
	"geneve": true, "mpls": true, "pppoe": true, "ipip": true, "gtpu": true, "teredo": true, "l2tp": true,
	"vxlan-gpe": true, "nsh": true, "capwap": true, "tzsp": true, "etherip": true, "pbb": true, "lisp": true, "macsec": true}

func (o *Observation) tunnelKind() string {
	if o.Tunnel == nil {
		return ""
	}
	return o.Tunnel.Kind
}

// Verdict is the result of verifying a service from the attacker's side.
type Verdict string

const (
	// Exposed: open from the verifier's vantage point.
	Exposed Verdict = "exposed"
	// Restricted: filtered from the verifier, yet it answered someone: an
	// access-controlled service, not a false positive.
	Restricted Verdict = "restricted"
	// Closed: nothing answers any more.
	Closed Verdict = "closed"
	// Error: the scan failed; Verification.Reason says why.
	Error Verdict = "error"
)

// VulnSource names where a vulnerability row came from.
type VulnSource string

const (
	// SourceVulners: nmap's vulners script (asks vulners.com).
	SourceVulners VulnSource = "vulners"
	// SourceNVD: the offline NVD database (synwatch vulndb).
	SourceNVD VulnSource = "nvd"
	// SourceCheck: a deeper check run on the service (verifier/checks).
	SourceCheck VulnSource = "check"
)

// VulnState is where one vulnerability of one service stands.
type VulnState string

const (
	// VulnOpen: reported by the latest scan of its source (also "").
	VulnOpen VulnState = "open"
	// VulnFixed: a later scan whose source ran no longer reported it.
	VulnFixed VulnState = "fixed"
	// VulnFalsePositive: a person says it does not apply (Triage says who
	// and why); hidden from severity and alerts until it expires.
	VulnFalsePositive VulnState = "false_positive"
	// VulnAccepted: a person accepted the risk, with an owner; hidden from
	// severity and alerts until it expires.
	VulnAccepted VulnState = "accepted"
)

// Vuln is one known vulnerability of a service. A verification's rows carry
// only what the source said; the inventory adds the life cycle (state, when
// first seen and by which scan, when fixed, the triage decision).
type Vuln struct {
	ID        string     `json:"id"`             // CVE-2023-38408, or a vulners id
	Type      string     `json:"type,omitempty"` // cve, exploitdb, githubexploit, ...
	CVSS      *float64   `json:"cvss"`           // nil when the source gave none
	IsExploit bool       `json:"is_exploit"`
	Source    VulnSource `json:"source"`
	CPE       string     `json:"cpe,omitempty"` // the CPE that matched

	State VulnState `json:"state,omitempty"` // "" reads as open
	// FirstSeen is when a scan first reported it; FirstScan names that
	// scan: "verification", "baseline FILE", "sweep NAME", "check NAME".
	FirstSeen time.Time `json:"first_seen,omitzero"`
	FirstScan string    `json:"first_scan,omitempty"`
	// FixedAt is the scan that no longer reported it (state fixed).
	FixedAt time.Time `json:"fixed_at,omitzero"`
	// Triage is the decision behind false_positive and accepted (kept
	// after it expired, when the state is open again).
	Triage *Triage `json:"triage,omitempty"`
}

// Active says whether the vulnerability counts for severity and alerts:
// open, not fixed, not a false positive, not an accepted risk.
func (v *Vuln) Active() bool { return v.State == "" || v.State == VulnOpen }

// Triage is a person's decision about one vulnerability of one service.
type Triage struct {
	State  VulnState `json:"state"` // false_positive or accepted
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	// Owner answers for an accepted risk.
	Owner string `json:"owner,omitempty"`
	// Expires ends the decision: after it the vulnerability is open again.
	Expires time.Time `json:"expires,omitzero"`
}

// ActiveVulns returns the vulnerabilities that count (Vuln.Active).
func ActiveVulns(vs []Vuln) []Vuln {
	var out []Vuln
	for _, v := range vs {
		if v.Active() {
			out = append(out, v)
		}
	}
	return out
}

// SourceStatus says what one vulnerability source did in one verification.
type SourceStatus string

const (
	// SourceAnswered: it ran and answered; its rows are the whole list, so
	// none means none, and what it no longer reports is fixed.
	SourceAnswered SourceStatus = "answered"
	// SourceUnreachable: it ran but could not reach its API; its rows say
	// nothing, and the previous ones are kept.
	SourceUnreachable SourceStatus = "unreachable"
	// SourceNotRun: it did not run (disabled, no version to look up, the
	// script timed out, no offline database); the previous rows are kept.
	SourceNotRun SourceStatus = "not_run"
)

// SourceRun is one vulnerability source's outcome in a verification.
type SourceRun struct {
	Source VulnSource   `json:"source"`
	Status SourceStatus `json:"status"`
	Reason string       `json:"reason,omitempty"`
}

// Verification is the verifier's finding about one service.
type Verification struct {
	Service
	Verdict   Verdict  `json:"verdict"`
	Reason    string   `json:"reason,omitempty"` // nmap's reason (syn-ack, no-response, reset) or the error
	State     string   `json:"state,omitempty"`  // nmap's port state
	Name      string   `json:"service,omitempty"`
	Product   string   `json:"product,omitempty"`
	Version   string   `json:"version,omitempty"`
	ExtraInfo string   `json:"extra_info,omitempty"`
	TLS       bool     `json:"tls,omitempty"`
	CPEs      []string `json:"cpes,omitempty"`
	Vulns     []Vuln   `json:"vulns"`
	// VulnsKnown is false when no vulnerability source answered for this
	// service (vulners gave no element, no offline DB loaded): "unknown",
	// never "none".
	VulnsKnown bool `json:"vulns_known"`
	// VulnSources says, per source, whether it answered, could not reach
	// its API or did not run: only an answer may mark vulnerabilities
	// fixed. Empty (older verifiers): every source answered when
	// VulnsKnown, none otherwise.
	VulnSources []SourceRun   `json:"vuln_sources,omitempty"`
	ScannedAt   time.Time     `json:"scanned_at"`
	Duration    time.Duration `json:"duration_ns"`
	// Scan is the scan that reached the verdict, when known.
	Scan *ScanRef `json:"scan,omitempty"`
}

// MaxCVSS returns the highest CVSS among the vulnerabilities, 0 if none.
func (v *Verification) MaxCVSS() float64 {
	m := 0.0
	for _, x := range v.Vulns {
		if x.CVSS != nil && *x.CVSS > m {
			m = *x.CVSS
		}
	}
	return m
}

// HasExploit says whether any vulnerability has a known exploit.
func (v *Verification) HasExploit() bool {
	for _, x := range v.Vulns {
		if x.IsExploit {
			return true
		}
	}
	return false
}
