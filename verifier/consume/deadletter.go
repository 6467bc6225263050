package consume

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
)

// Bounds of what a dead letter carries about a message it cannot copy whole.
const (
	maxReason     = 1024      // a rejection reason may quote the message
	payloadPrefix = 1024      // bytes of the payload kept in the bounded form
	maxKey        = 256       // bytes of the key kept in the bounded form
	formBounded   = "bounded" // header dead-letter-form of a bounded dead letter
)

// Dead-letter outcomes (synwatch_consume_messages_total{outcome}).
const (
	outDeadLetter        = "dead_letter"         // the message and its reason
	outDeadLetterBounded = "dead_letter_bounded" // reason, origin, hash and prefix: the copy could not be written
	outDeadLetterLost    = "dead_letter_lost"    // not even the bounded form could be written: only the log line
)

// boundedLetter is the value of a dead letter written when the message
// itself cannot be (too large for the producer or the broker, invalid): it
// names the message, so it can be fetched from the source topic while
// retention lasts, and says what it began with.
type boundedLetter struct {
	Form       string `json:"form"` // "bounded"
	Reason     string `json:"reason"`
	WriteError string `json:"write_error"` // why the copy could not be written
	Topic      string `json:"source_topic"`
	Partition  int    `json:"partition"`
	Offset     int64  `json:"offset"`
	Key        string `json:"key,omitempty"` // at most 256 bytes
	Size       int    `json:"size"`          // bytes of the value
	SHA256     string `json:"sha256"`        // of the value
	Prefix     string `json:"prefix"`        // first 1 KiB of the value, as text
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// permanent says whether a write error will recur however often the same
// message is retried: too large (for the producer's batch or the broker's
// limit) or refused as invalid. Anything else (broker down, leader moving)
// is worth retrying.
func permanent(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && permanent(e) {
				return true
			}
		}
		return false
	}
	for _, code := range []kafka.Error{kafka.MessageSizeTooLarge, kafka.InvalidMessage, kafka.InvalidMessageSize,
		kafka.RecordListTooLarge, kafka.InvalidRecord, kafka.InvalidTopic} {
		if errors.Is(err, code) {
			return true
		}
	}
	return false
}

func (k *Kafka) letterHeaders(m kafka.Message, reason string) []kafka.Header {
	return []kafka.Header{
		{Key: "reason", Value: []byte(reason)},
		{Key: "source_topic", Value: []byte(m.Topic)},
		{Key: "partition", Value: []byte(strconv.Itoa(m.Partition))},
		{Key: "offset", Value: []byte(strconv.FormatInt(m.Offset, 10))},
	}
}

// deadLetter writes m with its reason to the dead-letter topic. A copy that
// cannot be written (see permanent) is replaced by a bounded letter; one
// that cannot be written either is logged and given up. Transient failures
// are retried until ctx ends (the stall watch shows the message meanwhile).
// It returns the outcome, or an error only when ctx ended first.
func (k *Kafka) deadLetter(ctx context.Context, m kafka.Message, reason string) (string, error) {
	reason = truncate(reason, maxReason)
	full := kafka.Message{Key: m.Key, Value: m.Value,
		Headers: append(append([]kafka.Header(nil), m.Headers...), k.letterHeaders(m, reason)...)}
	err := k.writeLetter(ctx, m, full)
	if err == nil || !permanent(err) {
		return outDeadLetter, err
	}
	sum := sha256.Sum256(m.Value)
	b := boundedLetter{Form: formBounded, Reason: reason, WriteError: truncate(err.Error(), maxReason),
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: truncate(string(m.Key), maxKey),
		Size: len(m.Value), SHA256: hex.EncodeToString(sum[:]), Prefix: truncate(string(m.Value), payloadPrefix)}
	v, _ := json.Marshal(b)
	hs := append(k.letterHeaders(m, reason),
		kafka.Header{Key: "dead-letter-form", Value: []byte(formBounded)},
		kafka.Header{Key: "payload-sha256", Value: []byte(b.SHA256)})
	attrs := []any{"partition", m.Partition, "offset", m.Offset, "reason", reason, "size", len(m.Value), "sha256", b.SHA256, "write_error", err}
	berr := k.writeLetter(ctx, m, kafka.Message{Key: []byte(b.Key), Value: v, Headers: hs})
	switch {
	case berr == nil:
		k.log.Error("kafka: dead letter too large or invalid to copy; wrote its reason, origin, hash and first bytes instead", attrs...)
		return outDeadLetterBounded, nil
	case permanent(berr):
		k.log.Error("kafka: no dead letter could be written, not even a bounded one; the message is given up and committed (this line is its only record)",
			append(attrs, "bounded_error", berr, "prefix", truncate(string(m.Value), 256))...)
		return outDeadLetterLost, nil
	}
	return "", berr
}

// writeLetter writes one dead letter, retrying transient failures until ctx
// ends; the first failure is logged.
func (k *Kafka) writeLetter(ctx context.Context, m, letter kafka.Message) error {
	backoff := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := k.dlq.WriteMessages(ctx, letter)
		if err == nil || ctx.Err() != nil || permanent(err) {
			return err
		}
		if attempt == 0 {
			k.log.Warn("kafka: dead-letter write failed; retrying (the message stays uncommitted meanwhile)",
				"partition", m.Partition, "offset", m.Offset, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
