package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane) keeps a
// login affordable on a small console host.
const (
	argonMem     = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// dummyHash is checked for unknown users so that a login takes as long
// whether or not the name exists. Made on first use: computed at package
// initialisation it cost every synwatch command 140 ms and 19 MiB.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("not a password of anyone")
	return h
})

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMem, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMem, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword checks a password against an argon2id or bcrypt hash.
func CheckPassword(hash, password string) bool {
	if strings.HasPrefix(hash, "$2") {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	}
	p, ok := parseArgon2id(hash)
	if !ok {
		return false
	}
	key := argon2.IDKey([]byte(password), p.salt, p.t, p.m, p.p, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

type argonHash struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

// maxArgonMem bounds the memory a stored hash may ask a login for (KiB).
const maxArgonMem = 256 * 1024

// parseArgon2id reads $argon2id$v=19$m=M,t=T,p=P$SALT$KEY, refusing
// parameters that would let a file make a login cost minutes or gigabytes.
func parseArgon2id(h string) (argonHash, bool) {
	var a argonHash
	f := strings.Split(h, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return a, false
	}
	var p uint32
	if n, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &a.m, &a.t, &p); n != 3 || err != nil {
		return a, false
	}
	if a.m < 8 || a.m > maxArgonMem || a.t < 1 || a.t > 10 || p < 1 || p > 8 {
		return a, false
	}
	a.p = uint8(p)
	var err error
	if a.salt, err = base64.RawStdEncoding.DecodeString(f[4]); err != nil || len(a.salt) < 8 {
		return a, false
	}
	if a.key, err = base64.RawStdEncoding.DecodeString(f[5]); err != nil || len(a.key) < 16 || len(a.key) > 64 {
		return a, false
	}
	return a, true
}
