package event

import "time"

// Finding is what a deep check (verifier/checks) proved about a service:
// default credentials accepted, a vulnerable script result, weak TLS, an
// expired certificate, an SNMP community that answers. It lives beside the
// inventory record and travels in the new_finding and finding_fixed changes.
type Finding struct {
	// ID is stable for one service, profile and Key: a later run that
	// reports the same thing updates it, one that no longer does fixes it.
	ID      string      `json:"id"`
	Service Service     `json:"service"`
	Profile string      `json:"profile"`         // the check profile that found it
	Check   string      `json:"check,omitempty"` // the check record's id
	Kind    FindingKind `json:"kind"`
	// Key names the finding within its profile: "Zabbix/admin",
	// "CVE-2014-0160", "community/public".
	Key       string        `json:"key"`
	Title     string        `json:"title"`
	Product   string        `json:"product,omitempty"` // what the check recognised, e.g. Zabbix
	Account   string        `json:"account,omitempty"` // the account whose default password was accepted; never the password
	CVEs      []string      `json:"cves,omitempty"`
	Detail    string        `json:"detail,omitempty"` // a short excerpt of the evidence
	Severity  Severity      `json:"severity"`
	Status    FindingStatus `json:"status"`
	FirstSeen time.Time     `json:"first_seen"`
	LastSeen  time.Time     `json:"last_seen"` // the last run that reported it
	FixedAt   time.Time     `json:"fixed_at,omitzero"`
}

// FindingKind says what sort of weakness a finding is.
type FindingKind string

const (
	FindingDefaultCredentials FindingKind = "default_credentials"
	FindingVulnerable         FindingKind = "vulnerable"
	FindingWeakTLS            FindingKind = "weak_tls"
	FindingExpiredCert        FindingKind = "expired_certificate"
	FindingSNMPCommunity      FindingKind = "snmp_community"
	FindingOther              FindingKind = "other" // an external scanner's result
)

// FindingStatus is open until a later run of the same check no longer
// reports it: fixed.
type FindingStatus string

const (
	FindingOpen  FindingStatus = "open"
	FindingFixed FindingStatus = "fixed"
)

// Change kinds of deep checks; the change carries the finding.
const (
	ChangeNewFinding   ChangeKind = "new_finding"
	ChangeFindingFixed ChangeKind = "finding_fixed"
)
