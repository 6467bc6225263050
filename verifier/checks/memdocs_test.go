package checks

import (
	"context"
	"slices"
	"sync"
)

// memDocs is an in-memory Docs for unit tests; the store's own conformance
// suite proves the real ones, and the lab tests run on state.OpenFile.
type memDocs struct {
	mu sync.Mutex
	m  map[string]map[string][]byte
}

func newMemDocs() *memDocs { return &memDocs{m: map[string]map[string][]byte{}} }

func (d *memDocs) PutDoc(_ context.Context, coll, id string, doc []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m[coll] == nil {
		d.m[coll] = map[string][]byte{}
	}
	d.m[coll][id] = slices.Clone(doc)
	return nil
}

func (d *memDocs) GetDoc(_ context.Context, coll, id string) ([]byte, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.m[coll][id]
	return slices.Clone(b), ok, nil
}

func (d *memDocs) DeleteDoc(_ context.Context, coll, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m[coll], id)
	return nil
}

func (d *memDocs) ListDocs(_ context.Context, coll string, fn func(string, []byte) bool) error {
	d.mu.Lock()
	ids := make([]string, 0, len(d.m[coll]))
	for id := range d.m[coll] {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		d.mu.Lock()
		b, ok := d.m[coll][id]
		d.mu.Unlock()
		if ok && !fn(id, slices.Clone(b)) {
			return nil
		}
	}
	return nil
}

func (d *memDocs) UpdateDoc(_ context.Context, coll, id string, fn func([]byte, bool) ([]byte, error)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, ok := d.m[coll][id]
	nb, err := fn(slices.Clone(old), ok)
	if err != nil {
		return err
	}
	if nb == nil {
		delete(d.m[coll], id)
		return nil
	}
	if d.m[coll] == nil {
		d.m[coll] = map[string][]byte{}
	}
	d.m[coll][id] = nb
	return nil
}
