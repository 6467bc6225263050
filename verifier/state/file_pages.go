package state

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
)

// pageScan is a reading of a bbolt file's pages independent of bbolt: bbolt
// trusts its file (a damaged page makes it panic, fault on memory past the
// end of a truncated file, or loop on a page that claims billions of
// overflow pages), so the file is checked here, from its bytes, before
// bbolt is let near it. The same walk salvages what is readable for a rebuild.
type pageScan struct {
	data     []byte
	pageSize uint64
	hwm      uint64 // pages in use (the meta's high water mark)
	problems []string
	buckets  []*scannedBucket // in walk order, parents before children
	visited  map[uint64]bool
}

type scannedBucket struct {
	path [][]byte
	kvs  []kv
}

type kv struct{ k, v []byte }

const (
	pageHeader      = 16
	elemSize        = 16
	flagBranch      = 0x01
	flagLeaf        = 0x02
	flagMeta        = 0x04
	flagFreelist    = 0x10
	leafBucket      = 0x01
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	maxDepth        = 64
	pgidNoFreelist  = ^uint64(0)
	maxScanProblems = 50
)

func (s *pageScan) problem(format string, args ...any) {
	if len(s.problems) < maxScanProblems {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// scanPages reads data (a whole store file) and returns what it found.
func scanPages(data []byte) *pageScan {
	s := &pageScan{data: data, visited: map[uint64]bool{}}
	root, freelist, ok := s.meta()
	if !ok {
		return s
	}
	s.visited[0], s.visited[1] = true, true
	s.walk(root, nil, 0)
	s.checkFreelist(freelist)
	return s
}

// meta finds the valid meta page with the highest transaction id.
func (s *pageScan) meta() (root, freelist uint64, ok bool) {
	if len(s.data) < 1024 {
		s.problem("truncated: the file is %d bytes, smaller than its two meta pages", len(s.data))
		return 0, 0, false
	}
	var bestTx uint64
	var why []string
	for i := range 2 {
		// meta 0 is at offset 0; its page size places meta 1
		ps := s.pageSize
		if ps == 0 {
			ps = 4096
		}
		off := uint64(i) * ps
		if off+pageHeader+64 > uint64(len(s.data)) {
			why = append(why, fmt.Sprintf("meta %d: beyond the end of the file", i))
			continue
		}
		m := s.data[off+pageHeader : off+pageHeader+64]
		le := binary.LittleEndian
		h := fnv.New64a()
		h.Write(m[:56])
		switch {
		case le.Uint32(m[0:]) != boltMagic:
			why = append(why, fmt.Sprintf("meta %d: not a bbolt meta page", i))
			continue
		case le.Uint32(m[4:]) != boltVersion:
			why = append(why, fmt.Sprintf("meta %d: version %d", i, le.Uint32(m[4:])))
			continue
		case h.Sum64() != le.Uint64(m[56:]):
			why = append(why, fmt.Sprintf("meta %d: checksum mismatch", i))
			continue
		}
		psz := uint64(le.Uint32(m[8:]))
		if psz < 512 || psz > 1<<16 || psz&(psz-1) != 0 {
			why = append(why, fmt.Sprintf("meta %d: page size %d", i, psz))
			continue
		}
		if s.pageSize == 0 {
			s.pageSize = psz
		}
		if tx := le.Uint64(m[48:]); !ok || tx > bestTx {
			bestTx, ok = tx, true
			s.pageSize, root, freelist, s.hwm = psz, le.Uint64(m[16:]), le.Uint64(m[32:]), le.Uint64(m[40:])
		}
	}
	if !ok {
		for _, w := range why {
			s.problem("%s", w)
		}
		return 0, 0, false
	}
	if s.hwm > uint64(len(s.data))/s.pageSize { // no multiplication: a damaged hwm would overflow it
		s.problem("truncated: the file is %d bytes, its pages reach %d × %d", len(s.data), s.hwm, s.pageSize)
	}
	return root, freelist, true
}

// page returns the bytes of page id with its overflow pages, or a problem.
func (s *pageScan) page(id uint64, stack string) ([]byte, bool) {
	if id < 2 || id >= s.hwm {
		s.problem("%s: page %d out of bounds (pages in use: %d)", stack, id, s.hwm)
		return nil, false
	}
	off := id * s.pageSize
	if off+s.pageSize > uint64(len(s.data)) {
		s.problem("%s: page %d beyond the end of the file", stack, id)
		return nil, false
	}
	hdr := s.data[off : off+pageHeader]
	if got := binary.LittleEndian.Uint64(hdr); got != id {
		s.problem("%s: page %d says it is page %d", stack, id, got)
		return nil, false
	}
	over := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if id+over >= s.hwm || off+(over+1)*s.pageSize > uint64(len(s.data)) {
		s.problem("%s: page %d claims %d overflow pages, beyond the file", stack, id, over)
		return nil, false
	}
	for i := uint64(0); i <= over; i++ {
		if s.visited[id+i] {
			s.problem("%s: page %d referenced twice", stack, id+i)
			return nil, false
		}
	}
	for i := uint64(0); i <= over; i++ {
		s.visited[id+i] = true
	}
	return s.data[off : off+(over+1)*s.pageSize], true
}

// walk reads the tree of the bucket rooted at page id.
func (s *pageScan) walk(id uint64, path [][]byte, depth int) {
	name := "bucket " + string(bytesJoin(path))
	if len(path) == 0 {
		name = "root"
	}
	if depth > maxDepth {
		s.problem("%s: tree deeper than %d", name, maxDepth)
		return
	}
	p, ok := s.page(id, name)
	if !ok {
		return
	}
	s.node(p, path, depth, name)
}

// node reads one branch or leaf page (p: its bytes, overflow included).
func (s *pageScan) node(p []byte, path [][]byte, depth int, name string) {
	le := binary.LittleEndian
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if pageHeader+count*elemSize > len(p) {
		s.problem("%s: page %d: %d elements do not fit", name, le.Uint64(p), count)
		return
	}
	switch flags {
	case flagBranch:
		for i := range count {
			e := p[pageHeader+i*elemSize:]
			s.walk(le.Uint64(e[8:]), path, depth+1)
		}
	case flagLeaf:
		var b *scannedBucket
		for i := range count {
			eoff := pageHeader + i*elemSize
			e := p[eoff:]
			fl, pos, ks, vs := le.Uint32(e), uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
			start := uint64(eoff) + pos
			if start+ks+vs > uint64(len(p)) {
				s.problem("%s: page %d: element %d runs past its page", name, le.Uint64(p), i)
				continue
			}
			k, v := p[start:start+ks], p[start+ks:start+ks+vs]
			if fl&leafBucket == 0 {
				if b == nil {
					b = s.bucket(path)
				}
				b.kvs = append(b.kvs, kv{k, v})
				continue
			}
			child := append(append([][]byte(nil), path...), k)
			if len(v) < 16 {
				s.problem("%s: bucket %q: header cut", name, k)
				continue
			}
			s.bucket(child)
			if root := le.Uint64(v); root != 0 {
				s.walk(root, child, depth+1)
			} else if len(v) >= 16+pageHeader {
				s.node(v[16:], child, depth+1, "bucket "+string(bytesJoin(child))) // inline bucket
			}
		}
	default:
		s.problem("%s: page %d has type %#x, not a branch or leaf", name, le.Uint64(p), flags)
	}
}

// bucket returns the scanned bucket at path, added on first use.
func (s *pageScan) bucket(path [][]byte) *scannedBucket {
	key := string(bytesJoin(path))
	for _, b := range s.buckets {
		if len(b.path) == len(path) && string(bytesJoin(b.path)) == key {
			return b
		}
	}
	b := &scannedBucket{path: path}
	s.buckets = append(s.buckets, b)
	return b
}

// checkFreelist refuses a free list that would hand out pages in use.
func (s *pageScan) checkFreelist(id uint64) {
	if id == pgidNoFreelist {
		return
	}
	p, ok := s.page(id, "free list")
	if !ok {
		return
	}
	le := binary.LittleEndian
	if le.Uint16(p[8:]) != flagFreelist {
		s.problem("free list: page %d has type %#x", id, le.Uint16(p[8:]))
		return
	}
	n, ids := uint64(le.Uint16(p[10:])), p[pageHeader:]
	if n == 0xFFFF {
		n, ids = le.Uint64(ids), ids[8:]
	}
	if n > uint64(len(ids))/8 {
		s.problem("free list: %d ids do not fit its pages", n)
		return
	}
	for i := range n {
		if f := le.Uint64(ids[i*8:]); f >= s.hwm || s.visited[f] {
			s.problem("free list: page %d is free and in use (or out of bounds)", f)
			return
		}
	}
}
