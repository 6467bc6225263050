package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestDocs(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		if _, ok, err := s.GetDoc(ctx, "triage", "x"); ok || err != nil {
			t.Fatalf("absent doc: ok=%v err=%v", ok, err)
		}
		for _, id := range []string{"198.18.1.2|tcp|22", "198.18.1.1|tcp|80", "b"} {
			if err := s.PutDoc(ctx, "triage", id, []byte(`{"id":"`+id+`"}`)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutDoc(ctx, "other", "a", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		var ids []string
		if err := s.ListDocs(ctx, "triage", func(id string, doc []byte) bool {
			if string(doc) != `{"id":"`+id+`"}` {
				t.Errorf("doc %s = %s", id, doc)
			}
			ids = append(ids, id)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids) != "[198.18.1.1|tcp|80 198.18.1.2|tcp|22 b]" {
			t.Fatalf("list order %v", ids)
		}
		if err := s.DeleteDoc(ctx, "triage", "b"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.GetDoc(ctx, "triage", "b"); ok {
			t.Fatal("deleted doc still there")
		}
		// an error from fn aborts and leaves the document as it was
		boom := errors.New("boom")
		err := s.UpdateDoc(ctx, "triage", "198.18.1.1|tcp|80", func(old []byte, ok bool) ([]byte, error) { return []byte("changed"), boom })
		if !errors.Is(err, boom) {
			t.Fatalf("update error %v", err)
		}
		if d, _, _ := s.GetDoc(ctx, "triage", "198.18.1.1|tcp|80"); string(d) != `{"id":"198.18.1.1|tcp|80"}` {
			t.Fatalf("aborted update wrote %s", d)
		}
		if err := s.PutDoc(ctx, "Bad Name", "x", nil); err == nil {
			t.Fatal("bad collection name accepted")
		}
	})
}

// TestUpdateDocAtomic: concurrent read-modify-write increments lose nothing.
func TestUpdateDocAtomic(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					err := s.UpdateDoc(ctx, "counters", "n", func(old []byte, ok bool) ([]byte, error) {
						n := 0
						if ok {
							fmt.Sscan(string(old), &n)
						}
						return []byte(fmt.Sprint(n + 1)), nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if d, _, _ := s.GetDoc(ctx, "counters", "n"); string(d) != "160" {
			t.Fatalf("counter %s, want 160", d)
		}
	})
}

func TestLease(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		now := t0
		ok, err := Lease(ctx, s, "sweep/daily", "a", now, time.Minute)
		if err != nil || !ok {
			t.Fatalf("a takes a free lease: %v %v", ok, err)
		}
		if ok, _ := Lease(ctx, s, "sweep/daily", "b", now.Add(30*time.Second), time.Minute); ok {
			t.Fatal("b took a lease a holds")
		}
		if ok, _ := Lease(ctx, s, "sweep/daily", "a", now.Add(50*time.Second), time.Minute); !ok {
			t.Fatal("a could not renew")
		}
		if ok, _ := Lease(ctx, s, "sweep/daily", "b", now.Add(100*time.Second), time.Minute); ok {
			t.Fatal("b took the lease before a's renewal ran out")
		}
		if ok, _ := Lease(ctx, s, "sweep/daily", "b", now.Add(111*time.Second), time.Minute); !ok {
			t.Fatal("b could not take an expired lease")
		}
		if err := Release(ctx, s, "sweep/daily", "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := Lease(ctx, s, "sweep/daily", "a", now.Add(112*time.Second), time.Minute); ok {
			t.Fatal("a's release freed b's lease")
		}
		if err := Release(ctx, s, "sweep/daily", "b"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := Lease(ctx, s, "sweep/daily", "a", now.Add(113*time.Second), time.Minute); !ok {
			t.Fatal("a could not take a released lease")
		}
	})
}

// Reserve spaces work under one key across callers (as across processes:
// the slot is in the store); other keys are free; past slots are pruned.
func TestReserve(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		t0 := micro(t0)
		var starts []time.Time
		for range 3 {
			at, err := Reserve(ctx, s, "scans 198.18.1.0/24", t0, 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			starts = append(starts, at)
		}
		if !starts[0].Equal(t0) || !starts[1].Equal(t0.Add(20*time.Second)) || !starts[2].Equal(t0.Add(40*time.Second)) {
			t.Fatalf("starts %v", starts)
		}
		if at, _ := Reserve(ctx, s, "scans 198.18.2.0/24", t0, 20*time.Second); !at.Equal(t0) {
			t.Fatalf("another network waited: %v", at)
		}
		if at, _ := Reserve(ctx, s, "scans 198.18.1.0/24", t0.Add(time.Hour), 20*time.Second); !at.Equal(t0.Add(time.Hour)) {
			t.Fatalf("a slot long past made the caller wait: %v", at)
		}
		n, err := PruneSlots(ctx, s, t0.Add(time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d, %v", n, err)
		}
	})
}

func TestAudit(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		for i, a := range []string{"triage.fp", "allow.add", "checks.approve"} {
			e := AuditEntry{At: t0.Add(time.Duration(i) * time.Second), By: "noc", Action: a, Target: "198.18.1.1:22/tcp", Reason: "r"}
			if err := Audit(ctx, s, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := Audit(ctx, s, AuditEntry{Action: "x"}); err == nil {
			t.Fatal("an entry without who was accepted")
		}
		var got []string
		if err := AuditLog(ctx, s, func(e AuditEntry) bool { got = append(got, e.Action+"@"+e.At.Format(time.TimeOnly)); return true }); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "[triage.fp@10:00:00 allow.add@10:00:01 checks.approve@10:00:02]" {
			t.Fatalf("audit trail %v", got)
		}
	})
}
