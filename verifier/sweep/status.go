package sweep

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Status is one sweep as its shard documents tell it: how far it got and
// who sweeps what now.
type Status struct {
	Sweep    string    `json:"sweep"`
	Schedule string    `json:"schedule,omitempty"`
	Engine   string    `json:"engine"`
	Shards   int       `json:"shards"`
	Done     int       `json:"done"`
	Failed   int       `json:"failed"`
	Running  int       `json:"running"`
	Waiting  int       `json:"waiting"` // not taken yet
	Open     int       `json:"open"`
	Closed   int       `json:"closed"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitzero"` // every shard done or failed
	// Owners are the scanners running its shards now.
	Owners []string `json:"owners,omitempty"`
	// Errors are the failed shards' errors, one each.
	Errors []string `json:"errors,omitempty"`
}

// Statuses reads every shard document and returns the sweeps, newest
// first.
func Statuses(ctx context.Context, d Lister) ([]Status, error) {
	by := map[string]*Status{}
	err := d.ListDocs(ctx, ShardsCollection, func(_ string, doc []byte) bool {
		var st ShardState
		if json.Unmarshal(doc, &st) != nil {
			return true
		}
		s := by[st.Shard.Sweep]
		if s == nil {
			s = &Status{Sweep: st.Shard.Sweep, Schedule: st.Shard.Schedule, Engine: st.Shard.Engine, Shards: st.Shard.Of, Started: st.Started}
			by[st.Shard.Sweep] = s
		}
		if !st.Started.IsZero() && st.Started.Before(s.Started) {
			s.Started = st.Started
		}
		switch st.State {
		case ShardDone:
			s.Done++
			s.Open += st.Open
			s.Closed += st.Closed
		case ShardFailed:
			s.Failed++
			s.Errors = append(s.Errors, st.Shard.ID()+": "+st.Error)
		case ShardRunning:
			s.Running++
			if !slices.Contains(s.Owners, st.Owner) {
				s.Owners = append(s.Owners, st.Owner)
			}
		}
		if st.Done.After(s.Ended) {
			s.Ended = st.Done
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(by))
	for _, s := range by {
		s.Waiting = max(s.Shards-s.Done-s.Failed-s.Running, 0)
		if s.Done+s.Failed < s.Shards {
			s.Ended = time.Time{}
		}
		slices.Sort(s.Owners)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Status) int {
		return cmp.Or(b.Started.Compare(a.Started), cmp.Compare(a.Sweep, b.Sweep))
	})
	return out, nil
}
