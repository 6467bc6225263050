// Package auth answers "who is asking, and may they?" for the console and
// its API: the auth file (users with password hashes, API tokens stored
// hashed, roles, trusted proxies), password and token checks, sessions,
// CSRF tokens and the login rate limit.
package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Role is what a principal may do: a viewer reads, an operator also acts
// (allowlist, triage, acknowledge, re-verify, approve), an admin also
// manages users and tokens.
type Role string

const (
	Viewer   Role = "viewer"
	Operator Role = "operator"
	Admin    Role = "admin"
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case Viewer, Operator, Admin:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want viewer, operator or admin", s)
}

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Allows says whether r includes want (admin ⊃ operator ⊃ viewer).
func (r Role) Allows(want Role) bool { return r.rank() > 0 && r.rank() >= want.rank() }

// File is the auth file, YAML:
//
//	users:
//	  - {name: alice, role: operator, hash: "$argon2id$v=19$m=19456,t=2,p=1$..."}
//	tokens:
//	  - {name: ci, role: viewer, hash: "sha256:..."}
//	proxy:                       # optional single sign-on in front
//	  header: X-Forwarded-User   # the user name, trusted only from:
//	  from: [127.0.0.1/32]
type File struct {
	Users  []User  `yaml:"users"`
	Tokens []Token `yaml:"tokens,omitempty"`
	Proxy  *Proxy  `yaml:"proxy,omitempty"`
}

// User is a person. Hash is argon2id or bcrypt; empty for a user who only
// signs in through the trusted proxy.
type User struct {
	Name string `yaml:"name"`
	Role Role   `yaml:"role"`
	Hash string `yaml:"hash,omitempty"`
}

// Token is an API token: only its SHA-256 is kept (tokens are 256 random
// bits, so a fast hash is enough and each API request stays cheap).
type Token struct {
	Name string `yaml:"name"`
	Role Role   `yaml:"role"`
	Hash string `yaml:"hash"`
}

// Proxy is the trusted-proxy mode: Header names the signed-in user, and is
// believed only on connections from From.
type Proxy struct {
	Header string   `yaml:"header"`
	From   []string `yaml:"from"`

	from []netip.Prefix
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// Parse decodes and checks an auth file; errors name the entry.
func Parse(b []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return nil, fmt.Errorf("auth file: %w", err)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *File) check() error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range f.Users {
		if !nameRE.MatchString(u.Name) {
			errs = append(errs, fmt.Errorf("auth file: users.%d: name %q: want letters, digits, . _ @ - (at most 64)", i, u.Name))
		}
		if seen["u:"+u.Name] {
			errs = append(errs, fmt.Errorf("auth file: users.%d: user %q listed twice", i, u.Name))
		}
		seen["u:"+u.Name] = true
		if _, err := ParseRole(string(u.Role)); err != nil {
			errs = append(errs, fmt.Errorf("auth file: users.%d (%s): %w", i, u.Name, err))
		}
		if u.Hash != "" && !knownHash(u.Hash) {
			errs = append(errs, fmt.Errorf("auth file: users.%d (%s): hash is neither argon2id ($argon2id$...) nor bcrypt ($2a$/$2b$/$2y$...)", i, u.Name))
		}
	}
	for i, t := range f.Tokens {
		if !nameRE.MatchString(t.Name) {
			errs = append(errs, fmt.Errorf("auth file: tokens.%d: name %q: want letters, digits, . _ @ - (at most 64)", i, t.Name))
		}
		if seen["t:"+t.Name] {
			errs = append(errs, fmt.Errorf("auth file: tokens.%d: token %q listed twice", i, t.Name))
		}
		seen["t:"+t.Name] = true
		if _, err := ParseRole(string(t.Role)); err != nil {
			errs = append(errs, fmt.Errorf("auth file: tokens.%d (%s): %w", i, t.Name, err))
		}
		h, ok := strings.CutPrefix(t.Hash, "sha256:")
		if b, err := hex.DecodeString(h); !ok || err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("auth file: tokens.%d (%s): hash: want sha256:<64 hex digits>", i, t.Name))
		}
	}
	if p := f.Proxy; p != nil {
		if p.Header == "" {
			errs = append(errs, errors.New("auth file: proxy.header: required (e.g. X-Forwarded-User)"))
		}
		if len(p.From) == 0 {
			errs = append(errs, errors.New("auth file: proxy.from: list the proxy addresses (CIDRs) the header is believed from"))
		}
		p.from = nil
		for i, s := range p.From {
			pf, err := netip.ParsePrefix(s)
			if err != nil {
				a, err2 := netip.ParseAddr(s)
				if err2 != nil {
					errs = append(errs, fmt.Errorf("auth file: proxy.from.%d: %q is neither a CIDR nor an address", i, s))
					continue
				}
				pf = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			p.from = append(p.from, pf.Masked())
		}
	}
	return errors.Join(errs...)
}

func knownHash(h string) bool {
	return strings.HasPrefix(h, "$argon2id$") || strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")
}

// Load reads an auth file. A missing file is an error: the console never
// answers without authentication.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth file: %w (create it with synwatch auth add-user)", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// LoadOrNew reads an auth file, or starts an empty one when it does not exist.
func LoadOrNew(path string) (*File, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return &File{}, nil
	}
	return Load(path)
}

// Save writes the file atomically with mode 0600 (it holds hashes).
func (f *File) Save(path string) error {
	if err := f.check(); err != nil {
		return err
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	b = append([]byte("# synwatch console users and API tokens: hashes only (synwatch auth add-user / add-token)\n"), b...)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".auth-*")
	if err != nil {
		return fmt.Errorf("write auth file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write auth file: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write auth file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write auth file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write auth file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write auth file: %w", err)
	}
	return nil
}

// SetUser adds a user or replaces the role and password of one.
func (f *File) SetUser(name string, role Role, password string) error {
	if len(password) < 8 {
		return errors.New("password: at least 8 characters")
	}
	h, err := HashPassword(password)
	if err != nil {
		return err
	}
	u := User{Name: name, Role: role, Hash: h}
	if i := slices.IndexFunc(f.Users, func(x User) bool { return x.Name == name }); i >= 0 {
		f.Users[i] = u
	} else {
		f.Users = append(f.Users, u)
	}
	return f.check()
}

// RemoveUser deletes a user: their sessions end at their next request.
func (f *File) RemoveUser(name string) error {
	i := slices.IndexFunc(f.Users, func(u User) bool { return u.Name == name })
	if i < 0 {
		return fmt.Errorf("no user %q", name)
	}
	f.Users = slices.Delete(f.Users, i, i+1)
	return nil
}

// RemoveToken revokes a token.
func (f *File) RemoveToken(name string) error {
	i := slices.IndexFunc(f.Tokens, func(t Token) bool { return t.Name == name })
	if i < 0 {
		return fmt.Errorf("no token %q", name)
	}
	f.Tokens = slices.Delete(f.Tokens, i, i+1)
	return nil
}

// AddToken creates a token, keeps its hash and returns the token itself:
// shown once, never stored.
func (f *File) AddToken(name string, role Role) (string, error) {
	if slices.ContainsFunc(f.Tokens, func(t Token) bool { return t.Name == name }) {
		return "", fmt.Errorf("token %q exists: pick another name or remove it from the file first", name)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := "swt_" + base64.RawURLEncoding.EncodeToString(b)
	f.Tokens = append(f.Tokens, Token{Name: name, Role: role, Hash: tokenHash(tok)})
	if err := f.check(); err != nil {
		f.Tokens = f.Tokens[:len(f.Tokens)-1]
		return "", err
	}
	return tok, nil
}

func tokenHash(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return "sha256:" + hex.EncodeToString(s[:])
}

// Principal is who a request acts as.
type Principal struct {
	Name string
	Role Role
	Kind string // session, token, proxy
}

// Token finds the API token tok; every stored hash is compared in constant time.
func (f *File) Token(tok string) (Principal, bool) {
	if tok == "" {
		return Principal{}, false
	}
	h := []byte(tokenHash(tok))
	var found Principal
	ok := false
	for _, t := range f.Tokens {
		if subtle.ConstantTimeCompare(h, []byte(t.Hash)) == 1 {
			found, ok = Principal{Name: "token:" + t.Name, Role: t.Role, Kind: "token"}, true
		}
	}
	return found, ok
}

// Password checks a user's password. The work is the same whether or not
// the user exists, so timing does not tell which names exist.
func (f *File) Password(name, password string) (Principal, bool) {
	i := slices.IndexFunc(f.Users, func(u User) bool { return u.Name == name })
	if i < 0 || f.Users[i].Hash == "" {
		_ = CheckPassword(dummyHash(), password)
		return Principal{}, false
	}
	if !CheckPassword(f.Users[i].Hash, password) {
		return Principal{}, false
	}
	return Principal{Name: name, Role: f.Users[i].Role, Kind: "session"}, true
}

// User returns a listed user by name.
func (f *File) User(name string) (User, bool) {
	i := slices.IndexFunc(f.Users, func(u User) bool { return u.Name == name })
	if i < 0 {
		return User{}, false
	}
	return f.Users[i], true
}

// ProxyUser returns the user the trusted proxy names, when remote is one
// of the proxy addresses and the header names a listed user.
func (f *File) ProxyUser(remote netip.Addr, header func(string) string) (Principal, bool) {
	p := f.Proxy
	if p == nil || !remote.IsValid() {
		return Principal{}, false
	}
	remote = remote.Unmap()
	if !slices.ContainsFunc(p.from, func(pf netip.Prefix) bool { return pf.Contains(remote) }) {
		return Principal{}, false
	}
	u, ok := f.User(header(p.Header))
	if !ok {
		return Principal{}, false
	}
	return Principal{Name: u.Name, Role: u.Role, Kind: "proxy"}, true
}
