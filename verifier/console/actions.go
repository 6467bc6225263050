package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/state"
)

// Actions carry out decisions owned by other packages (the store allowlist
// and vulnerability triage of verifier/triage, the approvals of
// verifier/checks). The command wires them; a nil one answers "not
// available here". Each records its own audit entry (the owners' APIs do);
// the console audits the actions it owns (acknowledge, re-verify).
type Actions struct {
	// Allow adds a store allowlist entry: the next verification honours it.
	Allow func(ctx context.Context, a AllowRequest) error
	// Allowlist lists the store allowlist entries (for display).
	Allowlist func(ctx context.Context) ([]AllowRequest, error)
	// Unallow removes one store allowlist entry by id.
	Unallow func(ctx context.Context, id, by, reason string) error
	// Triage marks one vulnerability of one service false positive or accepted.
	Triage func(ctx context.Context, t TriageRequest) error
	// Queued lists the work waiting for a person's approval.
	Queued func(ctx context.Context) ([]QueuedWork, error)
	// Decide approves or rejects one queued item.
	Decide func(ctx context.Context, d Decision) error
}

// AllowRequest is one store allowlist entry: a service the console adds,
// or any entry the store holds (a network, all ports) when listed.
type AllowRequest struct {
	ID      string        `json:"id,omitempty"`
	Service event.Service `json:"-"`
	Addr    string        `json:"service"` // IP:PORT/proto, or what the entry covers
	Reason  string        `json:"reason"`
	Owner   string        `json:"owner,omitempty"`
	Expires time.Time     `json:"expires,omitzero"`
	By      string        `json:"by,omitempty"`
	At      time.Time     `json:"at,omitzero"`
}

// AllowFrom describes a store allowlist entry: a single service reads as
// IP:PORT/proto, anything wider as what it covers.
func AllowFrom(id, network string, port uint16, proto, service, reason, owner, by string, expires, at time.Time) AllowRequest {
	a := AllowRequest{ID: id, Reason: reason, Owner: owner, By: by, Expires: expires, At: at}
	p, err := netip.ParsePrefix(network)
	if err == nil && p.IsSingleIP() && port != 0 && proto != "" {
		a.Service = event.Service{IP: p.Addr(), Proto: event.Proto(proto), Port: port}
		a.Addr = a.Service.String()
		return a
	}
	a.Addr = network
	if port != 0 {
		a.Addr += " port " + strconv.Itoa(int(port))
	}
	if proto != "" {
		a.Addr += "/" + proto
	}
	if service != "" {
		a.Addr += " " + service
	}
	return a
}

// covers says whether the entry applies to svc.
func (a *AllowRequest) covers(svc event.Service) bool {
	if a.Service.IP.IsValid() {
		return a.Service == svc
	}
	nw, rest, _ := strings.Cut(a.Addr, " ")
	p, err := netip.ParsePrefix(nw)
	if err != nil || !p.Contains(svc.IP) {
		return false
	}
	if rest == "" {
		return true
	}
	if pp, ok := strings.CutPrefix(rest, "port "); ok {
		num, proto, _ := strings.Cut(strings.Fields(pp)[0], "/")
		if num != strconv.Itoa(int(svc.Port)) || (proto != "" && proto != string(svc.Proto)) {
			return false
		}
	}
	return true
}

// TriageRequest is a decision about one vulnerability of one service.
type TriageRequest struct {
	Service event.Service   `json:"-"`
	Addr    string          `json:"service"`
	Vuln    string          `json:"vuln"`
	State   event.VulnState `json:"state"` // false_positive or accepted
	Reason  string          `json:"reason"`
	Owner   string          `json:"owner,omitempty"`
	Expires time.Time       `json:"expires,omitzero"`
	By      string          `json:"by,omitempty"`
}

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
