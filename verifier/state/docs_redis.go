package state

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
)

// docKey is the hash that holds one collection: field id → document. The
// collection is the hash tag, so a collection lives on one Cluster slot and
// UpdateDoc can WATCH it.
func docKey(coll string) string { return "synwatch:doc:{" + coll + "}" }

var _ Docs = (*Redis)(nil)

func (r *Redis) PutDoc(ctx context.Context, coll, id string, doc []byte) error {
	if err := checkDocName(coll, id); err != nil {
		return err
	}
	return r.c.HSet(ctx, docKey(coll), id, doc).Err()
}

func (r *Redis) GetDoc(ctx context.Context, coll, id string) ([]byte, bool, error) {
	if err := checkDocName(coll, id); err != nil {
		return nil, false, err
	}
	b, err := r.c.HGet(ctx, docKey(coll), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	return b, err == nil, err
}

func (r *Redis) DeleteDoc(ctx context.Context, coll, id string) error {
	if err := checkDocName(coll, id); err != nil {
		return err
	}
	return r.c.HDel(ctx, docKey(coll), id).Err()
}

// ListDocs reads the collection with HSCAN (no single huge reply), then
// hands the documents out in id order.
func (r *Redis) ListDocs(ctx context.Context, coll string, fn func(id string, doc []byte) bool) error {
	if err := checkDocName(coll, "-"); err != nil {
		return err
	}
	docs := map[string]string{}
	it := r.c.HScan(ctx, docKey(coll), 0, "", 1000).Iterator()
	for it.Next(ctx) {
		id := it.Val()
		if !it.Next(ctx) {
			break
		}
		docs[id] = it.Val()
	}
	if err := it.Err(); err != nil {
		return err
	}
	ids := make([]string, 0, len(docs))
	for id := range docs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if !fn(id, []byte(docs[id])) {
			return nil
		}
	}
	return nil
}

// UpdateDoc is optimistic: WATCH the collection, read, compute, write in
// MULTI; a concurrent write to the collection aborts EXEC and the update
// runs again with what that writer left.
func (r *Redis) UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte, ok bool) ([]byte, error)) error {
	if err := checkDocName(coll, id); err != nil {
		return err
	}
	key := docKey(coll)
	for attempt := 0; attempt < 100; attempt++ {
		err := r.c.Watch(ctx, func(tx *redis.Tx) error {
			old, err := tx.HGet(ctx, key, id).Bytes()
			ok := err == nil
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			next, err := fn(old, ok)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				if next == nil {
					p.HDel(ctx, key, id)
				} else {
					p.HSet(ctx, key, id, next)
				}
				return nil
			})
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		return err
	}
	return fmt.Errorf("update %s/%s: too much contention", coll, id)
}
