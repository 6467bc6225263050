package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Docs is the part of the store's document API sessions need (state.Docs):
// sessions live in the store so every console process on one Redis knows them.
type Docs interface {
	PutDoc(ctx context.Context, coll, id string, doc []byte) error
	GetDoc(ctx context.Context, coll, id string) (doc []byte, ok bool, err error)
	DeleteDoc(ctx context.Context, coll, id string) error
}

// SessionColl holds sessions keyed by the SHA-256 of their id: a store
// dump does not hand out live cookies.
const SessionColl = "console-sessions"

// SessionTTL is how long a session lasts: one long NOC shift.
const SessionTTL = 12 * time.Hour

// Session is a signed-in person. The role is read again from the auth file
// on every request; the one here is what it was at login.
type Session struct {
	User    string    `json:"user"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Sessions creates, finds and ends sessions.
type Sessions struct {
	docs Docs
	now  func() time.Time
}

// NewSessions keeps sessions in docs.
func NewSessions(docs Docs) *Sessions { return &Sessions{docs: docs, now: time.Now} }

// SetClock replaces time.Now (tests).
func (s *Sessions) SetClock(now func() time.Time) { s.now = now }

// RandomToken returns 256 random bits, URL-safe.
func RandomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux ≥ 3.17
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// Create starts a session for user and returns its id (the cookie value).
func (s *Sessions) Create(ctx context.Context, user string) (string, Session, error) {
	id := RandomToken()
	now := s.now().UTC()
	ss := Session{User: user, CSRF: RandomToken(), Created: now, Expires: now.Add(SessionTTL)}
	b, _ := json.Marshal(ss)
	if err := s.docs.PutDoc(ctx, SessionColl, sessionKey(id), b); err != nil {
		return "", ss, fmt.Errorf("create session: %w", err)
	}
	return id, ss, nil
}

// Get finds a live session; an expired one is deleted.
func (s *Sessions) Get(ctx context.Context, id string) (Session, bool, error) {
	var ss Session
	if id == "" || len(id) > 100 {
		return ss, false, nil
	}
	b, ok, err := s.docs.GetDoc(ctx, SessionColl, sessionKey(id))
	if err != nil || !ok {
		return ss, false, err
	}
	if err := json.Unmarshal(b, &ss); err != nil {
		return ss, false, nil // damaged: as if absent
	}
	if !s.now().Before(ss.Expires) {
		_ = s.docs.DeleteDoc(ctx, SessionColl, sessionKey(id))
		return ss, false, nil
	}
	return ss, true, nil
}

// End deletes a session (logout).
func (s *Sessions) End(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return s.docs.DeleteDoc(ctx, SessionColl, sessionKey(id))
}

// SameToken compares two CSRF tokens in constant time; empty never matches.
func SameToken(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
