package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/pipeline"
)

// Redis is the shared store. Keys (all under synwatch:):
//
//	synwatch:{IP}:svc:PROTO/PORT    hash: svc, fs, ls, n (first/last seen in µs, count), ver (JSON), va (verified at, µs),
//	                                fb:SOURCE (first time each source found it, µs)
//	synwatch:{IP}:vant:PROTO/PORT   set: s:SENSOR, v:VLAN, t:KIND:ID
//	synwatch:{IP}:chg:ID            the change (JSON), kept 400 days: its existence deduplicates
//	synwatch:{IP}:pending           sorted set of change IDs not yet delivered (the outbox), scored by claimed-until (µs)
//	synwatch:services               set of IP|proto|port (the index)
//	synwatch:pending-hosts          set of IPs with pending changes
//	synwatch:log                    sorted set of "IP ID" (the change key) by time (µs)
//	synwatch:started                first start (µs)
//	synwatch:doc:{COLL}             hash: id → document (Docs: triage, allowlist, approvals, leases, audit)
//
// The {IP} hash tag puts one host's keys on one Cluster slot, so each
// decision is one Lua script, atomic on every topology.
type Redis struct {
	c redis.UniversalClient
}

var _ pipeline.Store = (*Redis)(nil)

// OpenRedis connects to redis://[user:pass@]HOST:PORT[/DB] or rediss://
// (TLS). Several HOST:PORT separated by commas with ?master=NAME use
// Sentinel; with ?cluster=true, Cluster. cfg.PasswordFile overrides the
// URL's password; cfg.TLS adds a CA, a client certificate and a server name.
// It pings before returning.
func OpenRedis(ctx context.Context, rawURL string, cfg config.Store) (*Redis, error) {
	opt, err := redisOptions(rawURL, cfg)
	if err != nil {
		return nil, err
	}
	// go-redis prints dial failures on the standard logger; the errors
	// reach the caller anyway, once, without the noise.
	redis.SetLogger(quietLogger{})
	c := redis.NewUniversalClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("connect to store %s: %w", redactURL(rawURL), err)
	}
	return &Redis{c: c}, nil
}

func redisOptions(rawURL string, cfg config.Store) (*redis.UniversalOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store URL %s: %v", redactURL(rawURL), errors.Unwrap(err))
	}
	opt := &redis.UniversalOptions{
		Addrs:        strings.Split(u.Host, ","),
		DialTimeout:  5 * time.Second,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
	}
	if u.Host == "" {
		return nil, fmt.Errorf("store URL %s: no host", redactURL(rawURL))
	}
	for i, a := range opt.Addrs {
		if !strings.Contains(a, ":") || strings.HasSuffix(a, "]") {
			opt.Addrs[i] = a + ":6379"
		}
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if opt.DB, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("store URL %s: database %q is not a number", redactURL(rawURL), p)
		}
	}
	q := u.Query()
	opt.MasterName = q.Get("master")
	opt.IsClusterMode = q.Get("cluster") == "true"
	if cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("store.password_file: %w", err)
		}
		opt.Password = strings.TrimRight(string(b), "\r\n")
	}
	if u.Scheme == "rediss" || cfg.TLS.Enabled {
		tc, err := cfg.TLS.Client(strings.Split(u.Hostname(), ",")[0])
		if err != nil {
			return nil, fmt.Errorf("store.%w", err)
		}
		opt.TLSConfig = tc
	}
	return opt, nil
}

func (r *Redis) Kind() string { return "redis" }

func (r *Redis) Close() error { return r.c.Close() }

const (
	keyServices     = "synwatch:services"
	keyPendingHosts = "synwatch:pending-hosts"
	keyLog          = "synwatch:log"
	keyStarted      = "synwatch:started"
)

func hostTag(ip string) string { return "synwatch:{" + ip + "}:" }

func recKeys(s event.Service) (rec, vant string) {
	t := hostTag(s.IP.Unmap().String())
	pp := string(s.Proto) + "/" + strconv.Itoa(int(s.Port))
	return t + "svc:" + pp, t + "vant:" + pp
}

// observeScript creates or updates a record. first_seen is set once, by
// whoever creates the record, and never moves: it anchors the "new"
// change's ID. found_by keeps each source's earliest time. ARGV: svc,
// first µs, last µs, count increment, number of found_by pairs N, N pairs
// (source, µs), vantage members...
var observeScript = redis.NewScript(`
local created = 0
local ls = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'svc', ARGV[1], 'fs', ARGV[2], 'ls', ARGV[3], 'n', ARGV[4])
  created = 1
else
  redis.call('HINCRBY', KEYS[1], 'n', ARGV[4])
  if ls > tonumber(redis.call('HGET', KEYS[1], 'ls')) then redis.call('HSET', KEYS[1], 'ls', ARGV[3]) end
end
local nfb = tonumber(ARGV[5])
for i = 0, nfb - 1 do
  local f, t = 'fb:' .. ARGV[6+2*i], tonumber(ARGV[7+2*i])
  local cur = redis.call('HGET', KEYS[1], f)
  if not cur or tonumber(cur) > t then redis.call('HSET', KEYS[1], f, ARGV[7+2*i]) end
end
for i = 6 + 2*nfb, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
return {created, redis.call('HGETALL', KEYS[1]), redis.call('SMEMBERS', KEYS[2])}
`)

// commitScript writes a decision. KEYS: rec, pending, change keys...
// ARGV: ver JSON (” for none), va µs, seen-before µs (0: none),
// pending (1/0), ttl seconds, then the change IDs, then their JSON.
var commitScript = redis.NewScript(`
if ARGV[3] ~= '0' then
  local ls = redis.call('HGET', KEYS[1], 'ls')
  if not ls or tonumber(ls) >= tonumber(ARGV[3]) then return {0, {}} end
end
if ARGV[1] ~= '' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {0, {}} end
  local va = tonumber(redis.call('HGET', KEYS[1], 'va') or '0')
  if tonumber(ARGV[2]) < va then return {0, {}} end
  redis.call('HSET', KEYS[1], 'ver', ARGV[1], 'va', ARGV[2])
end
local n = #KEYS - 2
local fresh = {}
for i = 1, n do
  if redis.call('SET', KEYS[2+i], ARGV[5+n+i], 'NX', 'EX', ARGV[5]) then
    if ARGV[4] ~= '-1' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5+i]) end
    table.insert(fresh, i)
  end
end
return {1, fresh}
`)

func (r *Redis) runObserve(ctx context.Context, s event.Service, fs, ls time.Time, incr int, fb map[event.Finder]time.Time, vant []string) (event.Record, bool, error) {
	rk, vk := recKeys(s)
	args := []any{svcKey(s), toMicro(fs), toMicro(ls), incr, len(fb)}
	for k, t := range fb {
		args = append(args, string(k), toMicro(t))
	}
	for _, v := range vant {
		args = append(args, v)
	}
	// one round trip: the index first (a crash leaves an index entry
	// without a record, which readers skip, never a record without one),
	// then the script (EVAL, not EVALSHA: a pipeline cannot fall back
	// after NOSCRIPT, e.g. after a Redis restart; Redis caches it anyway)
	var cmd *redis.Cmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, keyServices, svcKey(s))
		cmd = observeScript.Eval(ctx, p, []string{rk, vk}, args...)
		return nil
	})
	if err != nil {
		return event.Record{}, false, err
	}
	res, err := cmd.Slice()
	if err != nil {
		return event.Record{}, false, err
	}
	if len(res) != 3 {
		return event.Record{}, false, fmt.Errorf("observe script: unexpected reply %v", res)
	}
	created, _ := res[0].(int64)
	rec, err := decodeRecord(s, toStrings(res[1]), toStrings(res[2]))
	return rec, created == 1, err
}

func toStrings(v any) []string {
	xs, _ := v.([]any)
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// decodeRecord builds a record from HGETALL's flat field/value list and the
// vantage set.
func decodeRecord(s event.Service, kv []string, vant []string) (event.Record, error) {
	var rec event.Record
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	if v := m["ver"]; v != "" {
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			return rec, fmt.Errorf("record %s: %w", s, err)
		}
	}
	rec.Service = s
	rec.IP = rec.IP.Unmap()
	fs, _ := strconv.ParseInt(m["fs"], 10, 64)
	ls, _ := strconv.ParseInt(m["ls"], 10, 64)
	rec.FirstSeen, rec.LastSeen = fromMicro(fs), fromMicro(ls)
	rec.Observations, _ = strconv.ParseInt(m["n"], 10, 64)
	rec.FoundBy = nil
	for k, v := range m {
		if src, ok := strings.CutPrefix(k, "fb:"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				mergeFoundBy(&rec, map[event.Finder]time.Time{event.Finder(src): fromMicro(n)})
			}
		}
	}
	setVantage(&rec, vant)
	return rec, nil
}

func (r *Redis) Observe(ctx context.Context, o *event.Observation) (event.Record, bool, error) {
	t := micro(o.ObservedAt)
	return r.runObserve(ctx, o.Service(), t, t, 1, foundBy(o), vantage(o))
}

func (r *Redis) Get(ctx context.Context, svc event.Service) (*event.Record, error) {
	rk, vk := recKeys(svc)
	var h *redis.MapStringStringCmd
	var sm *redis.StringSliceCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, rk)
		sm = p.SMembers(ctx, vk)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(h.Val()) == 0 {
		return nil, nil
	}
	var kv []string
	for k, v := range h.Val() {
		kv = append(kv, k, v)
	}
	rec, err := decodeRecord(svc, kv, sm.Val())
	return &rec, err
}

func (r *Redis) Commit(ctx context.Context, c pipeline.Commit) ([]event.Change, bool, error) {
	ip := c.Service.IP.Unmap().String()
	rk, _ := recKeys(c.Service)
	keys := []string{rk, hostTag(ip) + "pending"}
	ver, va := "", int64(0)
	if c.Record != nil {
		v := verPart(c.Record)
		b, err := json.Marshal(v)
		if err != nil {
			return nil, false, err
		}
		ver, va = string(b), toMicro(v.VerifiedAt)
	}
	pending := int64(-1)
	if c.Pending {
		pending = toMicro(c.ClaimedUntil)
	}
	args := []any{ver, va, toMicro(micro(c.SeenBefore)), pending, int64(changeTTL / time.Second)}
	jsons := make([]string, len(c.Changes))
	for i, ch := range c.Changes {
		keys = append(keys, hostTag(ip)+"chg:"+ch.ID)
		args = append(args, ch.ID)
		b, err := json.Marshal(ch)
		if err != nil {
			return nil, false, err
		}
		jsons[i] = string(b)
	}
	for _, j := range jsons {
		args = append(args, j)
	}
	res, err := commitScript.Run(ctx, r.c, keys, args...).Slice()
	if err != nil {
		return nil, false, err
	}
	if len(res) != 2 {
		return nil, false, fmt.Errorf("commit script: unexpected reply %v", res)
	}
	applied, _ := res[0].(int64)
	idx, _ := res[1].([]any)
	var fresh []event.Change
	var zs []redis.Z
	for _, x := range idx {
		i, _ := x.(int64)
		if i < 1 || int(i) > len(c.Changes) {
			continue
		}
		ch := c.Changes[i-1]
		fresh = append(fresh, ch)
		zs = append(zs, redis.Z{Score: float64(toMicro(ch.At)), Member: ip + " " + ch.ID})
	}
	if len(fresh) > 0 {
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.ZAdd(ctx, keyLog, zs...)
			// the log points at change keys that expire after changeTTL
			p.ZRemRangeByScore(ctx, keyLog, "-inf", "("+strconv.FormatInt(time.Now().Add(-changeTTL).UnixMicro(), 10))
			if c.Pending {
				p.SAdd(ctx, keyPendingHosts, ip)
			}
			return nil
		})
		if err != nil {
			return fresh, applied == 1, err
		}
	}
	return fresh, applied == 1, nil
}

// claimScript claims a host's unclaimed pending changes. KEYS: pending.
// ARGV: now µs, until µs, limit (-1: all), the host's key prefix.
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[4] .. 'chg:' .. id)
  if v then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(out, v)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`)

func (r *Redis) claimHost(ctx context.Context, ip string, limit int, now time.Time, lease time.Duration) ([]event.Change, error) {
	if limit <= 0 {
		limit = -1
	}
	vals, err := claimScript.Run(ctx, r.c, []string{hostTag(ip) + "pending"}, toMicro(now), toMicro(now.Add(lease)), limit, hostTag(ip)).StringSlice()
	if err != nil {
		return nil, err
	}
	out := make([]event.Change, 0, len(vals))
	for _, v := range vals {
		var ch event.Change
		if err := json.Unmarshal([]byte(v), &ch); err != nil {
			return nil, fmt.Errorf("pending change: %w", err)
		}
		out = append(out, ch)
	}
	return out, nil
}

func (r *Redis) Claim(ctx context.Context, svc *event.Service, limit int, now time.Time, lease time.Duration) ([]event.Change, error) {
	if svc != nil {
		return r.claimHost(ctx, svc.IP.Unmap().String(), limit, now, lease)
	}
	hosts, err := r.c.SMembers(ctx, keyPendingHosts).Result()
	if err != nil {
		return nil, err
	}
	var out []event.Change
	for _, h := range hosts {
		left := 0
		if limit > 0 {
			left = limit - len(out)
		}
		cs, err := r.claimHost(ctx, h, left, now, lease)
		if err != nil {
			return nil, err
		}
		if len(cs) == 0 {
			if n, err := r.c.ZCard(ctx, hostTag(h)+"pending").Result(); err == nil && n == 0 {
				_ = r.c.SRem(ctx, keyPendingHosts, h).Err()
			}
		}
		out = append(out, cs...)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

func (r *Redis) Hold(ctx context.Context, cs []event.Change, until time.Time) error {
	score := float64(toMicro(until)) // zero time: 0
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ch := range cs {
			p.ZAddXX(ctx, hostTag(ch.Service.IP.Unmap().String())+"pending", redis.Z{Score: score, Member: ch.ID})
		}
		return nil
	})
	return err
}

func (r *Redis) Delivered(ctx context.Context, cs []event.Change) error {
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ch := range cs {
			p.ZRem(ctx, hostTag(ch.Service.IP.Unmap().String())+"pending", ch.ID)
		}
		return nil
	})
	return err
}

func (r *Redis) Records(ctx context.Context, fn func(event.Record) bool) error {
	var cursor uint64
	for {
		members, next, err := r.c.SScan(ctx, keyServices, cursor, "", 500).Result()
		if err != nil {
			return err
		}
		svcs := make([]event.Service, 0, len(members))
		for _, m := range members {
			s, err := parseSvcKey(m)
			if err != nil {
				return err
			}
			svcs = append(svcs, s)
		}
		hs := make([]*redis.MapStringStringCmd, len(svcs))
		vs := make([]*redis.StringSliceCmd, len(svcs))
		_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range svcs {
				rk, vk := recKeys(s)
				hs[i] = p.HGetAll(ctx, rk)
				vs[i] = p.SMembers(ctx, vk)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, s := range svcs {
			if len(hs[i].Val()) == 0 {
				continue
			}
			var kv []string
			for k, v := range hs[i].Val() {
				kv = append(kv, k, v)
			}
			rec, err := decodeRecord(s, kv, vs[i].Val())
			if err != nil {
				return err
			}
			if !fn(rec) {
				return nil
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func (r *Redis) Changes(ctx context.Context, since time.Time) ([]event.Change, error) {
	refs, err := r.logRefs(ctx, since)
	if err != nil {
		return nil, err
	}
	return r.changesOf(ctx, refs)
}

// HostChanges returns the change log of one host from since, oldest
// first: the log's entries name their host, so only that host's changes
// are fetched (a service page needs no read of the whole log).
func (r *Redis) HostChanges(ctx context.Context, ip netip.Addr, since time.Time) ([]event.Change, error) {
	refs, err := r.logRefs(ctx, since)
	if err != nil {
		return nil, err
	}
	prefix := ip.Unmap().String() + " "
	mine := refs[:0]
	for _, ref := range refs {
		if strings.HasPrefix(ref, prefix) {
			mine = append(mine, ref)
		}
	}
	return r.changesOf(ctx, mine)
}

// logRefs reads the change log's entries ("IP ID") from since, oldest first.
func (r *Redis) logRefs(ctx context.Context, since time.Time) ([]string, error) {
	lo := "-inf"
	if !since.IsZero() {
		lo = strconv.FormatInt(toMicro(since), 10)
	}
	return r.c.ZRangeByScore(ctx, keyLog, &redis.ZRangeBy{Min: lo, Max: "+inf"}).Result()
}

// changesOf fetches the changes the log entries name, 1000 a round trip.
func (r *Redis) changesOf(ctx context.Context, refs []string) ([]event.Change, error) {
	out := make([]event.Change, 0, len(refs))
	for len(refs) > 0 {
		batch := refs[:min(len(refs), 1000)]
		refs = refs[len(batch):]
		cmds := make([]*redis.StringCmd, len(batch))
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, ref := range batch {
				ip, id, _ := strings.Cut(ref, " ")
				cmds[i] = p.Get(ctx, hostTag(ip)+"chg:"+id)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for _, c := range cmds {
			v, err := c.Result()
			if errors.Is(err, redis.Nil) {
				continue // expired with its dedup key
			}
			if err != nil {
				return nil, err
			}
			var ch event.Change
			if err := json.Unmarshal([]byte(v), &ch); err != nil {
				return nil, fmt.Errorf("change log: %w", err)
			}
			out = append(out, ch)
		}
	}
	return out, nil
}

func (r *Redis) Started(ctx context.Context, now time.Time) (time.Time, error) {
	if err := r.c.SetNX(ctx, keyStarted, toMicro(micro(now)), 0).Err(); err != nil {
		return time.Time{}, err
	}
	n, err := r.c.Get(ctx, keyStarted).Int64()
	if err != nil {
		return time.Time{}, err
	}
	return fromMicro(n), nil
}

func (r *Redis) Import(ctx context.Context, rec event.Record) error {
	rec.IP = rec.IP.Unmap()
	if _, _, err := r.runObserve(ctx, rec.Service, micro(rec.FirstSeen), micro(rec.LastSeen), 0, importFoundBy(&rec), vantageOf(&rec)); err != nil {
		return err
	}
	_, _, err := r.Commit(ctx, pipeline.Commit{Service: rec.Service, Record: &rec})
	return err
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
