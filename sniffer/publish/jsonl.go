// Package publish carries observations out of the sensor: JSON lines to a
// writer, or Kafka with an on-disk spool.
package publish

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/synwatch/synwatch/internal/event"
)

// JSONLines writes one JSON object per observation and line. Each line is
// flushed at once: a reader tailing the output sees observations as they come.
type JSONLines struct {
	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
	c   io.Closer // closed by Close when not nil
}

// NewJSONLines writes to w; if w is also an io.Closer other than stdout, pass it as c.
func NewJSONLines(w io.Writer, c io.Closer) *JSONLines {
	bw := bufio.NewWriter(w)
	return &JSONLines{w: bw, enc: json.NewEncoder(bw), c: c}
}

func (j *JSONLines) Publish(_ context.Context, o *event.Observation) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.enc.Encode(o); err != nil {
		return fmt.Errorf("write observation: %w", err)
	}
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("write observation: %w", err)
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
