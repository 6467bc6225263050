// Package publish carries observations out of the sensor: JSON lines to a
// writer, or Kafka with an on-disk spool.
package publish

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/synwatch/synwatch/internal/event"
)

// JSONLines writes one JSON object per observation and line. Each line is
// flushed at once, so a reader tailing the output sees observations as they
// come, unless Lazy was called.
type JSONLines struct {
	mu   sync.Mutex
	w    *bufio.Writer
	line []byte
	lazy bool
	c    io.Closer // closed by Close when not nil
}

// NewJSONLines writes to w; if w is also an io.Closer other than stdout, pass it as c.
func NewJSONLines(w io.Writer, c io.Closer) *JSONLines {
	return &JSONLines{w: bufio.NewWriterSize(w, 64<<10), c: c}
}

// Lazy writes whole buffers instead of each line: for a capture file read at
// full speed, where a write per observation costs as much as finding it.
func (j *JSONLines) Lazy() *JSONLines {
	j.lazy = true
	return j
}

func (j *JSONLines) Publish(_ context.Context, o *event.Observation) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var err error
	if j.line, err = o.AppendJSON(j.line[:0]); err != nil {
		return fmt.Errorf("write observation: %w", err)
	}
	j.line = append(j.line, '\n')
	if _, err := j.w.Write(j.line); err != nil {
		return fmt.Errorf("write observation: %w", err)
	}
	if !j.lazy {
		if err := j.w.Flush(); err != nil {
			return fmt.Errorf("write observation: %w", err)
		}
	}
	return nil
}

func (j *JSONLines) Close(context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.w.Flush()
	if j.c != nil {
		if cerr := j.c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
