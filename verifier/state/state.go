// Package state is the inventory: a record per exposed service, the change
// log and the outbox of changes not yet delivered. Two implementations of
// pipeline.Store pass one conformance suite: Redis (go-redis
// UniversalClient: single node, Sentinel, Cluster; keys hash-tagged by host
// so each decision is one atomic Lua script on one slot) and an embedded
// single file (go.etcd.io/bbolt: pure Go, one file, ACID transactions, one
// writer process at a time) for `synwatch run`.
package state

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/pipeline"
)

// Store is a pipeline.Store that can also describe itself.
type Store interface {
	pipeline.Store
	Docs
	// Kind is "redis" or "file".
	Kind() string
	// HostChanges is Changes kept to one host, oldest first (the console's
	// service page: the Redis log names each entry's host, so only that
	// host's changes are fetched).
	HostChanges(ctx context.Context, ip netip.Addr, since time.Time) ([]event.Change, error)
}

// Open opens the store a URL names: file:PATH (embedded bbolt file),
// redis://[user:pass@]HOST:PORT[/DB] or rediss:// (TLS). See OpenRedis for
// Sentinel and Cluster.
func Open(ctx context.Context, url string, cfg config.Store) (Store, error) {
	switch {
	case strings.HasPrefix(url, "file:"):
		path := strings.TrimPrefix(url, "file:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return nil, fmt.Errorf("store %q: want file:PATH", url)
		}
		f, err := OpenFile(path)
		if err != nil {
			return nil, err
		}
		if cfg.BackupFile != "" {
			f.BackupEvery(cfg.BackupFile, cfg.BackupInterval, slog.Default())
		}
		return f, nil
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"):
		return OpenRedis(ctx, url, cfg)
	}
	return nil, fmt.Errorf("store %q: want file:PATH, redis://HOST:PORT or rediss://HOST:PORT", redactURL(url))
}

// changeTTL is how long a change ID is remembered for deduplication and how
// long the change log keeps changes.
const changeTTL = 400 * 24 * time.Hour

// micro truncates to the store's resolution (microseconds: Lua numbers are
// doubles, exact to 2^53).
func micro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func toMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// svcKey is "IP|proto|port".
func svcKey(s event.Service) string {
	return s.IP.Unmap().String() + "|" + string(s.Proto) + "|" + strconv.Itoa(int(s.Port))
}

func parseSvcKey(k string) (event.Service, error) {
	f := strings.Split(k, "|")
	if len(f) != 3 {
		return event.Service{}, fmt.Errorf("bad service key %q", k)
	}
	var s event.Service
	ip, err := netip.ParseAddr(f[0])
	if err != nil {
		return s, fmt.Errorf("bad service key %q: %w", k, err)
	}
	s.IP = ip
	s.Proto = event.Proto(f[1])
	p, err := strconv.Atoi(f[2])
	if err != nil {
		return s, fmt.Errorf("bad service key %q: %w", k, err)
	}
	s.Port = uint16(p)
	return s, nil
}

// vantage encodes what saw a service as set members: s:SENSOR, v:VLAN,
// t:KIND:ID.
func vantage(o *event.Observation) []string {
	var out []string
	if o.Sensor != "" {
		out = append(out, "s:"+o.Sensor)
	}
	for _, v := range o.VLANs {
		out = append(out, "v:"+strconv.Itoa(int(v)))
	}
	if o.Tunnel != nil {
		out = append(out, "t:"+o.Tunnel.Kind+":"+strconv.FormatUint(uint64(o.Tunnel.ID), 10))
	}
	return out
}

// foundBy is what an observation adds to a record's found_by: its source
// and packet time.
func foundBy(o *event.Observation) map[event.Finder]time.Time {
	return map[event.Finder]time.Time{o.Finder(): micro(o.ObservedAt)}
}

// importFoundBy is what an imported record adds: its own found_by, and
// baseline at its first_seen when it is a baseline record that names none.
func importFoundBy(r *event.Record) map[event.Finder]time.Time {
	out := map[event.Finder]time.Time{}
	for k, t := range r.FoundBy {
		out[k] = micro(t)
	}
	if _, ok := out[event.FoundByBaseline]; r.Baseline && !ok {
		out[event.FoundByBaseline] = micro(r.FirstSeen)
	}
	return out
}

// mergeFoundBy keeps the earliest time of each source.
func mergeFoundBy(r *event.Record, add map[event.Finder]time.Time) {
	for k, t := range add {
		if cur, ok := r.FoundBy[k]; ok && !t.Before(cur) {
			continue
		}
		if r.FoundBy == nil {
			r.FoundBy = map[event.Finder]time.Time{}
		}
		r.FoundBy[k] = t
	}
}

// setVantage fills Sensors, VLANs and Tunnels from set members, sorted.
func setVantage(r *event.Record, members []string) {
	r.Sensors, r.VLANs, r.Tunnels = nil, nil, nil
	slices.Sort(members)
	for _, m := range members {
		switch {
		case strings.HasPrefix(m, "s:"):
			r.Sensors = append(r.Sensors, m[2:])
		case strings.HasPrefix(m, "v:"):
			if n, err := strconv.Atoi(m[2:]); err == nil {
				r.VLANs = append(r.VLANs, uint16(n))
			}
		case strings.HasPrefix(m, "t:"):
			i := strings.LastIndexByte(m, ':')
			if i > 2 {
				id, _ := strconv.ParseUint(m[i+1:], 10, 32)
				r.Tunnels = append(r.Tunnels, event.Tunnel{Kind: m[2:i], ID: uint32(id)})
			}
		}
	}
	slices.Sort(r.VLANs)
}

func vantageOf(r *event.Record) []string {
	var out []string
	for _, s := range r.Sensors {
		out = append(out, "s:"+s)
	}
	for _, v := range r.VLANs {
		out = append(out, "v:"+strconv.Itoa(int(v)))
	}
	for _, t := range r.Tunnels {
		out = append(out, "t:"+t.Kind+":"+strconv.FormatUint(uint64(t.ID), 10))
	}
	return out
}

// verPart is the record with only its verification part (what Commit writes).
func verPart(r *event.Record) event.Record {
	var v event.Record
	v.Service = r.Service
	pipeline.VerificationPart(&v, r)
	v.VerifiedAt = micro(v.VerifiedAt)
	return v
}

// redactURL hides user information (user:password@) in a store URL.
func redactURL(u string) string {
	i := strings.LastIndex(u, "@")
	if i < 0 {
		return u
	}
	start := 0
	if j := strings.Index(u, "://"); j >= 0 && j < i {
		start = j + 3
	}
	return u[:start] + "***@" + u[i+1:]
}
