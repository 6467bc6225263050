package auth

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"unknown key", "users: []\ngroups: []\n", "field groups not found"},
		{"bad role", "users:\n  - {name: a, role: root}\n", `users.0 (a): role "root": want viewer, operator or admin`},
		{"bad name", "users:\n  - {name: 'a b', role: viewer}\n", `users.0: name "a b"`},
		{"twice", "users:\n  - {name: a, role: viewer}\n  - {name: a, role: admin}\n", `users.1: user "a" listed twice`},
		{"plain password", "users:\n  - {name: a, role: viewer, hash: hunter2}\n", "hash is neither argon2id"},
		{"token hash", "tokens:\n  - {name: ci, role: viewer, hash: abc}\n", "tokens.0 (ci): hash: want sha256:<64 hex digits>"},
		{"proxy header", "proxy: {from: [127.0.0.1]}\n", "proxy.header: required"},
		{"proxy from", "proxy: {header: X-User, from: [nowhere]}\n", `proxy.from.0: "nowhere" is neither a CIDR nor an address`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	if f, err := Parse(nil); err != nil || len(f.Users) != 0 {
		t.Fatalf("empty file: %v", err)
	}
}

func TestPasswordsAndTokens(t *testing.T) {
	f := &File{}
	if err := f.SetUser("alice", Operator, "short"); err == nil {
		t.Fatal("a 5-character password was taken")
	}
	if err := f.SetUser("alice", Operator, "long enough password"); err != nil {
		t.Fatal(err)
	}
	// bcrypt hashes (made elsewhere, e.g. htpasswd -B) are accepted too
	bh, _ := bcrypt.GenerateFromPassword([]byte("bcrypt password"), bcrypt.MinCost)
	f.Users = append(f.Users, User{Name: "bob", Role: Viewer, Hash: string(bh)})
	tok, err := f.AddToken("ci", Viewer)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "auth.yml")
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), tok) || strings.Contains(string(raw), "long enough password") {
		t.Fatal("a secret is stored in clear")
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := g.Password("alice", "long enough password"); !ok || p.Role != Operator {
		t.Fatal("alice's password")
	}
	if _, ok := g.Password("alice", "long enough passwore"); ok {
		t.Fatal("a wrong password passed")
	}
	if _, ok := g.Password("bob", "bcrypt password"); !ok {
		t.Fatal("bcrypt")
	}
	if _, ok := g.Password("nobody", "x"); ok {
		t.Fatal("unknown user")
	}
	if p, ok := g.Token(tok); !ok || p.Role != Viewer || p.Name != "token:ci" {
		t.Fatalf("token: %+v %v", p, ok)
	}
	if _, ok := g.Token(tok + "x"); ok {
		t.Fatal("a wrong token passed")
	}
	if _, err := g.AddToken("ci", Admin); err == nil {
		t.Fatal("a second token of one name")
	}
}

func TestRoles(t *testing.T) {
	for _, c := range []struct {
		have, want Role
		ok         bool
	}{{Viewer, Viewer, true}, {Viewer, Operator, false}, {Operator, Viewer, true}, {Operator, Admin, false}, {Admin, Operator, true}, {"", Viewer, false}} {
		if got := c.have.Allows(c.want); got != c.ok {
			t.Errorf("%q allows %q: %v", c.have, c.want, got)
		}
	}
}

func TestProxyUser(t *testing.T) {
	f, err := Parse([]byte("users:\n  - {name: alice, role: operator}\nproxy: {header: X-Forwarded-User, from: [127.0.0.2/32]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := func(string) string { return "alice" }
	if p, ok := f.ProxyUser(netip.MustParseAddr("127.0.0.2"), h); !ok || p.Name != "alice" || p.Role != Operator {
		t.Fatalf("from the proxy: %+v %v", p, ok)
	}
	if _, ok := f.ProxyUser(netip.MustParseAddr("127.0.0.3"), h); ok {
		t.Fatal("the header was believed from another address")
	}
	if _, ok := f.ProxyUser(netip.MustParseAddr("127.0.0.2"), func(string) string { return "mallory" }); ok {
		t.Fatal("an unlisted user was let in")
	}
	// a proxy-only user has no password to guess
	if _, ok := f.Password("alice", ""); ok {
		t.Fatal("empty password for a proxy-only user")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(3, time.Minute)
	l.SetClock(func() time.Time { return now })
	for range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("refused too early")
		}
		l.Fail("a")
	}
	if ok, wait := l.Allow("a"); ok || wait != time.Minute {
		t.Fatalf("4th attempt: %v %v", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key is limited")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("still refused after the window")
	}
	// the table is bounded: a spray of names cannot grow it
	l2 := NewLimiter(1, time.Hour)
	l2.Size = 10
	for i := range 100 {
		l2.Fail(string(rune('a' + i)))
	}
	if len(l2.m) > 10 {
		t.Fatalf("%d keys kept", len(l2.m))
	}
}

func TestArgonParamsBounded(t *testing.T) {
	// a hash asking for 4 GiB and 1000 passes is refused, not computed
	if CheckPassword("$argon2id$v=19$m=4194304,t=1000,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "x") {
		t.Fatal("accepted")
	}
}

// FuzzParse: no auth file, however damaged, panics or loads with a
// user lacking a valid role.
func FuzzParse(f *testing.F) {
	f.Add([]byte("users:\n  - {name: a, role: viewer, hash: \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5\"}\ntokens:\n  - {name: ci, role: admin, hash: \"sha256:00\"}\n"))
	f.Add([]byte("proxy: {header: X-User, from: [10.0.0.0/8, \"::1\"]}\n"))
	f.Add([]byte("users: {}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		af, err := Parse(b)
		if err != nil {
			return
		}
		for _, u := range af.Users {
			if _, err := ParseRole(string(u.Role)); err != nil {
				t.Fatalf("loaded a user with role %q", u.Role)
			}
		}
	})
}

// FuzzParseArgon2id: any hash string is refused or read within the bounds
// a login may cost, never a panic.
func FuzzParseArgon2id(f *testing.F) {
	h, _ := HashPassword("password")
	f.Add(h)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$$")
	f.Add("$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Fuzz(func(t *testing.T, hash string) {
		a, ok := parseArgon2id(hash)
		if ok && (a.m > maxArgonMem || a.t > 10 || a.p > 8 || len(a.key) < 16) {
			t.Fatalf("accepted %+v", a)
		}
	})
}
