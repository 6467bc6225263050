// Package triage keeps people's decisions about findings in the store:
// a vulnerability of one service marked a false positive or an accepted
// risk, and allowlist entries (expected exposures) added at run time. The
// CLI (`synwatch triage`, `synwatch allow`) and the console call the same
// functions; every decision goes to the audit trail with who, when and why;
// running verifiers read the decisions at each verification (Book), so
// they take effect without a restart.
package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/state"
)

// Collection holds the decisions: one document per service (id
// "IP|proto|port"), a map from vulnerability id to decision, so that a
// verification reads one document.
const Collection = "triage"

// Decision is a person's decision about one vulnerability of one service.
type Decision struct {
	Service event.Service `json:"service"`
	Vuln    string        `json:"vuln"`
	event.Triage
}

// Expired says whether the decision no longer holds at now.
func (d *Decision) Expired(now time.Time) bool {
	return !d.Expires.IsZero() && !now.Before(d.Expires)
}

// Request is what a person asks: mark Vuln of Service.
type Request struct {
	Service event.Service
	Vuln    string
	By      string
	Reason  string
	// Owner answers for an accepted risk (required for Accept).
	Owner string
	// Expires ends the decision; zero: never.
	Expires time.Time
}

// ParseService reads IP:PORT[/proto] (tcp when no proto; [v6]:PORT for
// IPv6).
func ParseService(s string) (event.Service, error) {
	rest, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil || ap.Port() == 0 {
		return event.Service{}, fmt.Errorf("service %q: want IP:PORT[/tcp|udp], e.g. 192.0.2.10:22/tcp or [2001:db8::1]:443", s)
	}
	switch event.Proto(strings.ToLower(proto)) {
	case event.TCP, event.UDP:
	default:
		return event.Service{}, fmt.Errorf("service %q: protocol must be tcp or udp", s)
	}
	return event.Service{IP: ap.Addr().Unmap(), Proto: event.Proto(strings.ToLower(proto)), Port: ap.Port()}, nil
}

// ParseExpiry reads an expiry: a date (2027-03-31, the end of that day
// UTC) or an RFC 3339 time. Empty is no expiry.
func ParseExpiry(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.Add(24*time.Hour - time.Second).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("expiry %q: want a date (2027-03-31) or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

func docID(s event.Service) string {
	return s.IP.Unmap().String() + "|" + string(s.Proto) + "|" + strconv.Itoa(int(s.Port))
}

func (r *Request) check(now time.Time) error {
	var errs []error
	if !r.Service.IP.IsValid() || r.Service.Port == 0 {
		errs = append(errs, errors.New("a service (IP:PORT/proto) is required"))
	}
	if strings.TrimSpace(r.Vuln) == "" || len(r.Vuln) > 128 {
		errs = append(errs, errors.New("a vulnerability id (1-128 characters, e.g. CVE-2023-38408) is required"))
	}
	if strings.TrimSpace(r.By) == "" {
		errs = append(errs, errors.New("who decides (by) is required"))
	}
	if strings.TrimSpace(r.Reason) == "" {
		errs = append(errs, errors.New("a reason is required: say why"))
	}
	if !r.Expires.IsZero() && !r.Expires.After(now) {
		errs = append(errs, fmt.Errorf("expiry %s is in the past", r.Expires.Format(time.RFC3339)))
	}
	return errors.Join(errs...)
}

type doc map[string]Decision

func readDoc(b []byte, ok bool) (doc, error) {
	d := doc{}
	if !ok {
		return d, nil
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("triage document: %w", err)
	}
	return d, nil
}

// FalsePositive marks r.Vuln of r.Service a false positive.
func FalsePositive(ctx context.Context, d state.Docs, r Request, now time.Time) (Decision, error) {
	return decide(ctx, d, r, event.VulnFalsePositive, now)
}

// Accept records r.Vuln of r.Service as an accepted risk; r.Owner answers
// for it.
func Accept(ctx context.Context, d state.Docs, r Request, now time.Time) (Decision, error) {
	if strings.TrimSpace(r.Owner) == "" {
		return Decision{}, errors.New("an accepted risk needs an owner (who answers for it)")
	}
	return decide(ctx, d, r, event.VulnAccepted, now)
}

func decide(ctx context.Context, d state.Docs, r Request, st event.VulnState, now time.Time) (Decision, error) {
	if err := r.check(now); err != nil {
		return Decision{}, err
	}
	dec := Decision{Service: r.Service, Vuln: strings.TrimSpace(r.Vuln), Triage: event.Triage{
		State: st, By: r.By, At: now.UTC(), Reason: r.Reason, Owner: r.Owner, Expires: r.Expires,
	}}
	dec.Service.IP = dec.Service.IP.Unmap()
	err := d.UpdateDoc(ctx, Collection, docID(r.Service), func(old []byte, ok bool) ([]byte, error) {
		m, err := readDoc(old, ok)
		if err != nil {
			return nil, err
		}
		m[dec.Vuln] = dec
		return json.Marshal(m)
	})
	if err != nil {
		return Decision{}, fmt.Errorf("record triage of %s on %s: %w", dec.Vuln, r.Service, err)
	}
	detail := map[string]string{"vuln": dec.Vuln}
	if !r.Expires.IsZero() {
		detail["expires"] = r.Expires.Format(time.RFC3339)
	}
	if r.Owner != "" {
		detail["owner"] = r.Owner
	}
	if err := state.Audit(ctx, d, state.AuditEntry{At: now, By: r.By, Action: "triage." + string(st), Target: r.Service.String(), Reason: r.Reason, Detail: detail}); err != nil {
		return dec, err
	}
	return dec, nil
}

// Reopen removes the decision on r.Vuln of r.Service: the vulnerability
// counts again. It fails when there is no decision to remove.
func Reopen(ctx context.Context, d state.Docs, r Request, now time.Time) (Decision, error) {
	r.Expires = time.Time{}
	if err := r.check(now); err != nil {
		return Decision{}, err
	}
	vuln := strings.TrimSpace(r.Vuln)
	var was Decision
	found := false
	err := d.UpdateDoc(ctx, Collection, docID(r.Service), func(old []byte, ok bool) ([]byte, error) {
		m, err := readDoc(old, ok)
		if err != nil {
			return nil, err
		}
		was, found = m[vuln]
		if !found {
			return old, nil
		}
		delete(m, vuln)
		if len(m) == 0 {
			return nil, nil
		}
		return json.Marshal(m)
	})
	if err != nil {
		return Decision{}, fmt.Errorf("reopen %s on %s: %w", vuln, r.Service, err)
	}
	if !found {
		return Decision{}, fmt.Errorf("%s on %s: no triage decision to reopen", vuln, r.Service)
	}
	err = state.Audit(ctx, d, state.AuditEntry{At: now, By: r.By, Action: "triage.reopen", Target: r.Service.String(), Reason: r.Reason,
		Detail: map[string]string{"vuln": vuln, "was": string(was.State), "was_by": was.By}})
	return was, err
}

// List returns every decision, by service then vulnerability id.
func List(ctx context.Context, d state.Docs) ([]Decision, error) {
	var (
		out []Decision
		bad error
	)
	err := d.ListDocs(ctx, Collection, func(id string, b []byte) bool {
		m, err := readDoc(b, true)
		if err != nil {
			bad = fmt.Errorf("%s: %w", id, err)
			return false
		}
		for _, dec := range m {
			out = append(out, dec)
		}
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("list triage decisions: %w", err)
	}
	slices.SortFunc(out, func(a, b Decision) int {
		if c := strings.Compare(docID(a.Service), docID(b.Service)); c != 0 {
			return c
		}
		return strings.Compare(a.Vuln, b.Vuln)
	})
	return out, nil
}

// ForService returns the decisions on one service by vulnerability id.
func ForService(ctx context.Context, d state.Docs, s event.Service) (map[string]Decision, error) {
	b, ok, err := d.GetDoc(ctx, Collection, docID(s))
	if err != nil {
		return nil, fmt.Errorf("read triage of %s: %w", s, err)
	}
	m, err := readDoc(b, ok)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return m, nil
}

// Mark applies decisions to a record's vulnerabilities at now: a decision
// in force sets the state and the triage; an expired one leaves the
// vulnerability open with its triage kept (the report says it expired); a
// vulnerability whose decision was removed is open again.
func Mark(r *event.Record, decisions map[string]Decision, now time.Time) {
	for i := range r.Vulns {
		v := &r.Vulns[i]
		dec, ok := decisions[v.ID]
		switch {
		case ok && !dec.Expired(now):
			t := dec.Triage
			v.State, v.Triage = t.State, &t
		case ok:
			t := dec.Triage
			v.State, v.Triage = event.VulnOpen, &t
		default:
			if !v.Active() {
				v.State = event.VulnOpen
			}
			v.Triage = nil
		}
	}
}
