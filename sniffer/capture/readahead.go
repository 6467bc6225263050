package capture

import (
	"errors"
	"io"
	"sync"
)

// readAhead reads a source in a goroutine of its own, a batch of frames
// ahead of its reader: reading and filtering a capture file (the file
// system, the record headers, the prefilter) then runs on one core while
// decoding and detection run on another. Frames come out in the file's
// order, so everything downstream is the same as without it. Memory is
// bounded: readAheadBatches batches of at most readAheadFrames frames or
// about readAheadBytes bytes each.
type readAhead struct {
	Source
	full chan *frameBatch
	free chan *frameBatch
	stop chan struct{}
	done chan struct{}
	once sync.Once

	cur *frameBatch // owned by the reader
	i   int
	err error // the source's error once every frame before it was read
}

// frameBatch holds frames copied out of the source's buffer: frame i is
// arena[offs[i]:offs[i+1]].
type frameBatch struct {
	pkts  []Packet
	offs  []int
	arena []byte
	err   error // what ended the source, after pkts
}

const (
	readAheadBatches = 4
	readAheadFrames  = 1024
	readAheadBytes   = 1 << 20
)

// ReadAhead returns src read ahead in a goroutine (see readAhead). Close
// stops the goroutine and closes src.
func ReadAhead(src Source) Source {
	r := &readAhead{Source: src, full: make(chan *frameBatch, readAheadBatches), free: make(chan *frameBatch, readAheadBatches),
		stop: make(chan struct{}), done: make(chan struct{})}
	for range readAheadBatches {
		r.free <- &frameBatch{pkts: make([]Packet, 0, readAheadFrames), offs: make([]int, 0, readAheadFrames+1), arena: make([]byte, 0, readAheadBytes)}
	}
	go r.fill()
	return r
}

func (r *readAhead) fill() {
	defer close(r.done)
	for {
		var b *frameBatch
		select {
		case b = <-r.free:
		case <-r.stop:
			return
		}
		b.pkts, b.offs, b.arena, b.err = b.pkts[:0], append(b.offs[:0], 0), b.arena[:0], nil
		for len(b.pkts) < readAheadFrames && len(b.arena) < readAheadBytes {
			p, err := r.Source.Read()
			if err != nil {
				b.err = err
				break
			}
			b.arena = append(b.arena, p.Data...)
			b.offs = append(b.offs, len(b.arena))
			p.Data = nil
			b.pkts = append(b.pkts, p)
		}
		select {
		case r.full <- b:
		case <-r.stop:
			return
		}
		if b.err != nil {
			return
		}
	}
}

// Read returns the next frame; its Data is valid until the next Read.
func (r *readAhead) Read() (Packet, error) {
	for {
		if r.err != nil {
			return Packet{}, r.err
		}
		if b := r.cur; b != nil {
			if r.i < len(b.pkts) {
				p := b.pkts[r.i]
				p.Data = b.arena[b.offs[r.i]:b.offs[r.i+1]]
				r.i++
				return p, nil
			}
			r.cur = nil
			if b.err != nil {
				r.err = b.err
				if errors.Is(b.err, ErrTruncatedFile) {
					r.err = io.EOF // said once, as the source does
				}
				return Packet{}, b.err
			}
			r.free <- b
		}
		r.cur, r.i = <-r.full, 0
	}
}

// Close stops reading ahead, then closes the source.
func (r *readAhead) Close() error {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	return r.Source.Close()
}

// Position forwards the file's read position (see fileSource.Position).
func (r *readAhead) Position() (read, size int64) {
	if p, ok := r.Source.(interface{ Position() (int64, int64) }); ok {
		return p.Position()
	}
	return 0, 0
}
