package upload

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Credentials sign the upload. They print as their access key ID only:
// the secret key and the session token never reach a log or an error.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string // optional (temporary credentials)
}

// The names of the environment variables, also the keys of a credentials file.
const (
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
)

// String shows the access key ID and hides the rest.
func (c Credentials) String() string {
	return fmt.Sprintf("{AccessKeyID:%s SecretAccessKey:REDACTED SessionToken:%s}", c.AccessKeyID, redacted(c.SessionToken))
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps the secrets out of slog.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID))
}

func redacted(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

func (c Credentials) check() error {
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return fmt.Errorf("no S3 credentials: set %s and %s, or give a credentials file", EnvAccessKeyID, EnvSecretAccessKey)
	}
	return nil
}

// redact replaces the secret key and the session token in s: a last guard
// for error text that comes from elsewhere.
func (c Credentials) redact(s string) string {
	for _, v := range []string{c.SecretAccessKey, c.SessionToken} {
		if v != "" {
			s = strings.ReplaceAll(s, v, "REDACTED")
		}
	}
	return s
}

// CredentialsFromEnv reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN through getenv (os.Getenv).
func CredentialsFromEnv(getenv func(string) string) (Credentials, error) {
	c := Credentials{
		AccessKeyID:     getenv(EnvAccessKeyID),
		SecretAccessKey: getenv(EnvSecretAccessKey),
		SessionToken:    getenv(EnvSessionToken),
	}
	return c, c.check()
}

// ReadCredentialsFile reads a credentials file: see ParseCredentials.
func ReadCredentialsFile(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	c, err := ParseCredentials(f)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return c, nil
}

// ParseCredentials reads KEY=VALUE lines, the keys named as the environment
// variables: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (both required)
// and AWS_SESSION_TOKEN (optional). Blank lines and lines starting with "#"
// are skipped; spaces around keys and values are trimmed; a value may be
// quoted with " or '. Errors name the line and the key, never a value.
func ParseCredentials(r io.Reader) (Credentials, error) {
	var c Credentials
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Credentials{}, fmt.Errorf("line %d: want KEY=VALUE", n)
		}
		k, v = strings.TrimSpace(k), unquote(strings.TrimSpace(v))
		var dst *string
		switch k {
		case EnvAccessKeyID:
			dst = &c.AccessKeyID
		case EnvSecretAccessKey:
			dst = &c.SecretAccessKey
		case EnvSessionToken:
			dst = &c.SessionToken
		default:
			return Credentials{}, fmt.Errorf("line %d: unknown key (want %s, %s or %s)", n, EnvAccessKeyID, EnvSecretAccessKey, EnvSessionToken)
		}
		if seen[k] {
			return Credentials{}, fmt.Errorf("line %d: %s given twice", n, k)
		}
		seen[k] = true
		if v == "" {
			return Credentials{}, fmt.Errorf("line %d: %s is empty", n, k)
		}
		*dst = v
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Credentials{}, fmt.Errorf("line %d: too long", n+1)
		}
		return Credentials{}, err
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credentials{}, fmt.Errorf("want both %s and %s", EnvAccessKeyID, EnvSecretAccessKey)
	}
	return c, nil
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
