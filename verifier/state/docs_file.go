package state

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"
)

// bDocs holds one nested bucket per document collection.
var bDocs = []byte("docs")

var _ Docs = (*File)(nil)

// docBucket returns coll's bucket, creating it when create is set; nil
// when it does not exist and create is not set.
func docBucket(tx *bolt.Tx, coll string, create bool) (*bolt.Bucket, error) {
	root := tx.Bucket(bDocs)
	if root == nil {
		if !create {
			return nil, nil
		}
		var err error
		if root, err = tx.CreateBucketIfNotExists(bDocs); err != nil {
			return nil, err
		}
	}
	if !create {
		return root.Bucket([]byte(coll)), nil
	}
	return root.CreateBucketIfNotExists([]byte(coll))
}

func (f *File) PutDoc(ctx context.Context, coll, id string, doc []byte) error {
	return f.UpdateDoc(ctx, coll, id, func([]byte, bool) ([]byte, error) { return doc, nil })
}

func (f *File) GetDoc(ctx context.Context, coll, id string) ([]byte, bool, error) {
	if err := checkDocName(coll, id); err != nil {
		return nil, false, err
	}
	var out []byte
	err := f.view(func(tx *bolt.Tx) error {
		b, err := docBucket(tx, coll, false)
		if b == nil || err != nil {
			return err
		}
		if v := b.Get([]byte(id)); v != nil {
			out = bytes.Clone(v)
		}
		return nil
	})
	return out, out != nil, err
}

func (f *File) DeleteDoc(ctx context.Context, coll, id string) error {
	return f.UpdateDoc(ctx, coll, id, func([]byte, bool) ([]byte, error) { return nil, nil })
}

func (f *File) ListDocs(ctx context.Context, coll string, fn func(id string, doc []byte) bool) error {
	if err := checkDocName(coll, "-"); err != nil {
		return err
	}
	return f.view(func(tx *bolt.Tx) error {
		b, err := docBucket(tx, coll, false)
		if b == nil || err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !fn(string(k), bytes.Clone(v)) {
				return nil
			}
		}
		return nil
	})
}

func (f *File) UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte, ok bool) ([]byte, error)) error {
	if err := checkDocName(coll, id); err != nil {
		return err
	}
	return f.update(func(tx *bolt.Tx) error {
		b, err := docBucket(tx, coll, true)
		if err != nil {
			return err
		}
		old := b.Get([]byte(id))
		next, err := fn(bytes.Clone(old), old != nil)
		if err != nil {
			return err
		}
		if next == nil {
			return b.Delete([]byte(id))
		}
		return b.Put([]byte(id), next)
	})
}
