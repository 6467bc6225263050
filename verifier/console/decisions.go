package console

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/triage"
)

// rescoreCovered reads the store's allowlist again and scores the records
// an added or removed entry covers, as synwatch allow does: the inventory
// and the report show the change at once.
func rescoreCovered(ctx context.Context, st state.Store, policy *alert.Policy, book *triage.Book, e triage.AllowEntry) error {
	if err := book.Refresh(ctx); err != nil {
		return err
	}
	_, err := pipeline.RetriageWhere(ctx, st, policy, book, func(r event.Record) bool { return e.Covers(r.Service) })
	return err
}

// StoreActions wires the console's actions to the packages that own
// them, each recording its own audit entry: the store allowlist and
// vulnerability triage (verifier/triage; a triage decision re-scores the
// record at once, so the inventory and the report show it), and the
// approvals of deep checks (verifier/checks).
func StoreActions(st state.Store, policy *alert.Policy, approvalTTL time.Duration) Actions {
	book := triage.NewBook(st, nil)
	policy.SetAllowSource(book)
	q := checks.NewQueue(st, approvalTTL, func(ctx context.Context, by, action, target, reason string, detail map[string]string) error {
		return state.Audit(ctx, st, state.AuditEntry{At: time.Now(), By: by, Action: action, Target: target, Reason: reason, Detail: detail})
	})
	return Actions{
		Allow: func(ctx context.Context, a AllowRequest) error {
			ip := a.Service.IP.Unmap()
			e := triage.AllowEntry{Network: netip.PrefixFrom(ip, ip.BitLen()).String(), Port: a.Service.Port, Proto: string(a.Service.Proto),
				Reason: a.Reason, Owner: a.By, Expires: a.Expires, AddedBy: a.By}
			added, err := triage.AllowAdd(ctx, st, e, time.Now())
			if err == nil {
				err = rescoreCovered(ctx, st, policy, book, added)
			}
			return err
		},
		Allowlist: func(ctx context.Context) ([]AllowRequest, error) {
			es, err := triage.AllowList(ctx, st)
			if err != nil {
				return nil, err
			}
			out := make([]AllowRequest, 0, len(es))
			for _, e := range es {
				out = append(out, AllowFrom(e.ID, e.Network, e.Port, e.Proto, e.Service, e.Reason, e.Owner, e.AddedBy, e.Expires, e.AddedAt))
			}
			return out, nil
		},
		Unallow: func(ctx context.Context, id, by, reason string) error {
			was, err := triage.AllowRemove(ctx, st, id, by, reason, time.Now())
			if err == nil {
				err = rescoreCovered(ctx, st, policy, book, was)
			}
			return err
		},
		Triage: func(ctx context.Context, t TriageRequest) error {
			r := triage.Request{Service: t.Service, Vuln: t.Vuln, By: t.By, Reason: t.Reason, Owner: t.Owner, Expires: t.Expires}
			var err error
			if t.State == event.VulnAccepted {
				_, err = triage.Accept(ctx, st, r, time.Now())
			} else {
				_, err = triage.FalsePositive(ctx, st, r, time.Now())
			}
			if err != nil {
				return err
			}
			return pipeline.Retriage(ctx, st, policy, book, t.Service)
		},
		Queued: func(ctx context.Context) ([]QueuedWork, error) {
			cs, err := q.List(ctx, checks.Pending)
			if err != nil {
				return nil, err
			}
			out := make([]QueuedWork, 0, len(cs))
			for _, c := range cs {
				what := c.Profile + " (" + string(c.Risk) + ")"
				if pv := strings.TrimSpace(c.Product + " " + c.Version); pv != "" {
					what += " on " + pv
				}
				out = append(out, QueuedWork{ID: c.ID, Kind: "check", Service: c.Service.String(), What: what, Queued: c.Created})
			}
			return out, nil
		},
		Decide: func(ctx context.Context, d Decision) error {
			var err error
			if d.Approve {
				_, err = q.Approve(ctx, d.ID, d.By, d.Reason)
			} else {
				_, err = q.Reject(ctx, d.ID, d.By, d.Reason)
			}
			return err
		},
	}
}
