package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/state"
)

// Actions carry out decisions owned by other packages (the store allowlist
// and vulnerability triage of verifier/triage, the approvals of
// verifier/checks). The command wires them; a nil one answers "not
// available here". The console records each action in the audit trail.
type Actions struct {
	// Allow adds a store allowlist entry: the next verification honours it.
	Allow func(ctx context.Context, a AllowRequest) error
	// Allowlist lists the store allowlist entries (for display).
	Allowlist func(ctx context.Context) ([]AllowRequest, error)
	// Triage marks one vulnerability of one service false positive or accepted.
	Triage func(ctx context.Context, t TriageRequest) error
	// Queued lists the work waiting for a person's approval.
	Queued func(ctx context.Context) ([]QueuedWork, error)
	// Decide approves or rejects one queued item.
	Decide func(ctx context.Context, d Decision) error
}

// AllowRequest is one store allowlist entry.
type AllowRequest struct {
	Service event.Service `json:"-"`
	Addr    string        `json:"service"` // IP:PORT/proto
	Reason  string        `json:"reason"`
	Expires time.Time     `json:"expires,omitzero"`
	By      string        `json:"by,omitempty"`
	At      time.Time     `json:"at,omitzero"`
}

// TriageRequest is a decision about one vulnerability of one service.
type TriageRequest struct {
	Service event.Service `json:"-"`
	Addr    string        `json:"service"`
	Vuln    string        `json:"vuln"`
	State   VulnState     `json:"state"` // false_positive or accepted
	Reason  string        `json:"reason"`
	Owner   string        `json:"owner,omitempty"`
	Expires time.Time     `json:"expires,omitzero"`
	By      string        `json:"by,omitempty"`
}

// VulnState is a person's decision about a vulnerability (until
// internal/event carries the life cycle).
type VulnState string

const (
	VulnFalsePositive VulnState = "false_positive"
	VulnAccepted      VulnState = "accepted"
)

// QueuedWork is an item waiting for approval (a deep check).
type QueuedWork struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Service string    `json:"service"`
	What    string    `json:"what"`
	Queued  time.Time `json:"queued_at"`
	By      string    `json:"requested_by,omitempty"`
}

// Decision approves or rejects one queued item.
type Decision struct {
	ID      string `json:"id"`
	Approve bool   `json:"approve"`
	Reason  string `json:"reason"`
	By      string `json:"by"`
}

// errUnavailable answers 501 for an action nobody wired.
var errUnavailable = errors.New("not available in this console")

// ParseService reads "IP:PORT/proto" (proto defaults to tcp).
func ParseService(s string) (event.Service, error) {
	var svc event.Service
	addr, proto, _ := strings.Cut(strings.TrimSpace(s), "/")
	if proto == "" {
		proto = "tcp"
	}
	switch event.Proto(proto) {
	case event.TCP, event.UDP:
		svc.Proto = event.Proto(proto)
	default:
		return svc, fmt.Errorf("service %q: protocol %q: want tcp or udp", s, proto)
	}
	ap, err := parseAddrPort(addr)
	if err != nil {
		return svc, fmt.Errorf("service %q: want IP:PORT/proto (e.g. 198.18.1.1:443/tcp)", s)
	}
	svc.IP, svc.Port = ap.Addr().Unmap(), ap.Port()
	if svc.Port == 0 {
		return svc, fmt.Errorf("service %q: port must be 1-65535", s)
	}
	return svc, nil
}

// audit records an action; a failure is returned: an action that cannot be
// audited is not taken.
func (c *Console) audit(ctx context.Context, by, action, target, reason string, detail map[string]string) error {
	return state.Audit(ctx, c.store, state.AuditEntry{At: c.now(), By: by, Action: action, Target: target, Reason: reason, Detail: detail})
}

// ack is the acknowledgement of one change.
type ack struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

const collAcks = "console-acks"

func (c *Console) acks(ctx context.Context, ids []string) map[string]ack {
	out := map[string]ack{}
	for _, id := range ids {
		b, ok, err := c.store.GetDoc(ctx, collAcks, id)
		if err != nil || !ok {
			continue
		}
		var a ack
		if json.Unmarshal(b, &a) == nil {
			out[id] = a
		}
	}
	return out
}

func (c *Console) acknowledge(ctx context.Context, id, by, reason string) error {
	b, _ := json.Marshal(ack{By: by, At: c.now().UTC(), Reason: reason})
	return c.store.PutDoc(ctx, collAcks, id, b)
}

// reverifyRequest is a re-verification queued for the verifiers, when the
// console has no verifier of its own (ReverifyQueued drains it).
type reverifyRequest struct {
	Service string    `json:"service"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// CollReverify holds queued re-verifications by service.
const CollReverify = "reverify"

func (c *Console) reverify(ctx context.Context, svc event.Service, by string) (queued bool, err error) {
	if c.opt.Reverifier != nil {
		return false, c.opt.Reverifier.Reverify(ctx, svc)
	}
	b, _ := json.Marshal(reverifyRequest{Service: svc.String(), By: by, At: c.now().UTC()})
	return true, c.store.PutDoc(ctx, CollReverify, svc.String(), b)
}

// ReverifyQueued verifies the services a console queued (a console without
// a verifier of its own writes them to the store); the verifiers call it
// from their periodic work. Each request is taken by one verifier.
func ReverifyQueued(ctx context.Context, d state.Docs, rv Reverifier) (int, error) {
	var ids []string
	if err := d.ListDocs(ctx, CollReverify, func(id string, _ []byte) bool {
		ids = append(ids, id)
		return true
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		took := false
		err := d.UpdateDoc(ctx, CollReverify, id, func(old []byte, ok bool) ([]byte, error) {
			took = ok
			return nil, nil
		})
		if err != nil || !took {
			continue
		}
		svc, err := ParseService(id)
		if err != nil {
			continue
		}
		if err := rv.Reverify(ctx, svc); err != nil {
			return n, fmt.Errorf("re-verify %s: %w", id, err)
		}
		n++
	}
	return n, nil
}
