package event

import "time"

// Record is the inventory's entry for one service: what synwatch knows of it.
type Record struct {
	Service
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	Observations int64     `json:"observations"`
	Sensors      []string  `json:"sensors,omitempty"`
	VLANs        []uint16  `json:"vlans,omitempty"`
	Tunnels      []Tunnel  `json:"tunnels,omitempty"`
	// Status is the service's life-cycle state: a verdict, or "gone" when
	// not observed for the configured expiry, or "" before any verification.
	Status     Status    `json:"verdict"`
	VerifiedAt time.Time `json:"verified_at,omitempty"`
	Name       string    `json:"service,omitempty"`
	Product    string    `json:"product,omitempty"`
	Version    string    `json:"version,omitempty"`
	CPEs       []string  `json:"cpes,omitempty"`
	// Vulns are the vulnerabilities the latest scans report, each with its
	// state (open, false_positive, accepted); FixedVulns those a later scan
	// no longer reported (state fixed), most recently fixed first.
	Vulns      []Vuln `json:"vulns,omitempty"`
	FixedVulns []Vuln `json:"fixed_vulns,omitempty"`
	// VulnSources is what each vulnerability source did in the last
	// verification; VulnsNote says why Vulns were kept from an earlier scan
	// (a source unreachable), empty when they are the latest answer.
	VulnSources []SourceRun `json:"vuln_sources,omitempty"`
	VulnsNote   string      `json:"vulns_note,omitempty"`
	Severity    Severity    `json:"severity,omitempty"`
	AlertState  string      `json:"alert_state,omitempty"` // pending, alerted, suppressed, learning
	Baseline    bool        `json:"baseline,omitempty"`    // imported from a scan, not observed first
	// FoundBy is, per source that has seen the service, the first time it
	// did (the store keeps the earliest).
	FoundBy map[Finder]time.Time `json:"found_by,omitempty"`
	// Scan is the scan behind the current verdict (engine, command, time).
	Scan *ScanRef `json:"scan,omitempty"`
}

// OpenVulns returns the vulnerabilities that count for severity and alerts.
func (r *Record) OpenVulns() []Vuln { return ActiveVulns(r.Vulns) }

// Status is a verdict plus the inventory-only state "gone".
type Status string

const (
	StatusUnverified Status = ""
	StatusExposed    Status = Status(Exposed)
	StatusRestricted Status = Status(Restricted)
	StatusClosed     Status = Status(Closed)
	StatusError      Status = Status(Error)
	StatusGone       Status = "gone"
)

// ChangeKind names what changed about a service.
type ChangeKind string

const (
	ChangeNew            ChangeKind = "new"
	ChangeReopened       ChangeKind = "reopened"        // after gone or closed
	ChangeVerdictChanged ChangeKind = "verdict_changed" // restricted → exposed is the dangerous one
	ChangeVersionChanged ChangeKind = "version_changed" // product or version
	ChangeNewVulns       ChangeKind = "new_vulns"       // new CVEs or a higher CVSS
	ChangeVulnsFixed     ChangeKind = "vulns_fixed"     // a scan whose source ran no longer reports open CVEs
	ChangeClosed         ChangeKind = "closed"
	ChangeGone           ChangeKind = "gone"
	ChangeHostSprays     ChangeKind = "host_sprays"
)

// ChangeKinds lists every ChangeKind (metrics create a series for each at
// start). A new kind is added here too.
func ChangeKinds() []ChangeKind {
	return []ChangeKind{ChangeNew, ChangeReopened, ChangeVerdictChanged, ChangeVersionChanged,
		ChangeNewVulns, ChangeVulnsFixed, ChangeNewFinding, ChangeFindingFixed, ChangeClosed, ChangeGone, ChangeHostSprays}
}

// Change is one thing that changed about a service, with before and after.
// The alerting stage scores it; ID is stable across redeliveries so that sinks
// and the store can deduplicate.
type Change struct {
	SchemaVersion int          `json:"schema_version"`
	ID            string       `json:"id"`
	Kind          ChangeKind   `json:"kind"`
	Service       Service      `json:"service"`
	At            time.Time    `json:"at"`
	Before        *Record      `json:"before,omitempty"`
	After         *Record      `json:"after"`
	Observation   *Observation `json:"observation,omitempty"` // what triggered it, if any
	// Finding is the deep check's finding of a new_finding or
	// finding_fixed change.
	Finding *Finding `json:"finding,omitempty"`
}

// Severity of an alert, lowest to highest: info, low, medium, high, critical.
type Severity string

const (
	SevInfo     Severity = "info"
	SevLow      Severity = "low"
	SevMedium   Severity = "medium"
	SevHigh     Severity = "high"
	SevCritical Severity = "critical"
)

// Rank orders severities: info 0 … critical 4; unknown -1.
func (s Severity) Rank() int {
	switch s {
	case SevInfo:
		return 0
	case SevLow:
		return 1
	case SevMedium:
		return 2
	case SevHigh:
		return 3
	case SevCritical:
		return 4
	}
	return -1
}

// Alert is a scored change, as delivered to every sink (webhook body, Kafka
// alerts topic, JSON lines). Documented in docs/schema/alert.schema.json.
type Alert struct {
	SchemaVersion int       `json:"schema_version"`
	ID            string    `json:"id"` // = Change.ID: sinks deduplicate on it
	Severity      Severity  `json:"severity"`
	Title         string    `json:"title"`
	Reasons       []string  `json:"reasons"` // why this severity, in words
	Change        Change    `json:"change"`
	CreatedAt     time.Time `json:"created_at"`
	// Catalogue names the high-risk catalogue entry the service matched
	// (e.g. redis), empty if none; Category is that entry's category
	// (database, broker, remote-admin, ...). See docs/alerts.md.
	Catalogue string `json:"catalogue,omitempty"`
	Category  string `json:"category,omitempty"`
}
