// Package upload puts a rendered report (or a scan's raw output) into object
// storage, one object named by a URL: s3://BUCKET/KEY for S3-compatible
// stores (AWS S3, MinIO, S3Proxy, GCS's XML API with HMAC keys), and
// gs://BUCKET/KEY for Google Cloud Storage through Google's own client, with
// the credentials Flan Scan uses (GOOGLE_APPLICATION_CREDENTIALS).
package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode/utf8"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Destination is the object a report is uploaded to.
type Destination struct {
	Scheme string // "s3" or "gs"
	Bucket string
	Key    string // a key ending in "/" is a prefix: see Named
}

// String is SCHEME://BUCKET/KEY.
func (d Destination) String() string { return d.scheme() + "://" + d.Bucket + "/" + d.Key }

func (d Destination) scheme() string {
	if d.Scheme == "" {
		return "s3"
	}
	return d.Scheme
}

// IsPrefix says whether the key ends in "/" and still needs a file name.
func (d Destination) IsPrefix() bool { return strings.HasSuffix(d.Key, "/") }

// Named appends name to a key that ends in "/"; other keys are kept.
func (d Destination) Named(name string) Destination {
	if d.IsPrefix() {
		d.Key += name
	}
	return d
}

// ParseURL parses s3://BUCKET/KEY or gs://BUCKET/KEY. The key is taken
// literally, as the AWS CLI and gsutil do: no percent-decoding, and "?" and
// "#" are part of it. Bucket
// names follow the S3 rules (3-63 characters of a-z, 0-9, "." and "-",
// starting and ending with a letter or digit, no "..", not an IPv4
// address), plus "_", which GCS allows. The key must be non-empty, valid
// UTF-8 without control characters, at most 1024 bytes, and must not start
// with "/".
func ParseURL(s string) (Destination, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme != "s3" && scheme != "gs" {
		return Destination{}, fmt.Errorf("upload URL %q: want s3://BUCKET/KEY or gs://BUCKET/KEY", clip(s))
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if err := checkBucket(bucket); err != nil {
		return Destination{}, fmt.Errorf("upload URL %q: %w", clip(s), err)
	}
	if err := checkKey(key); err != nil {
		return Destination{}, fmt.Errorf("upload URL %q: %w", clip(s), err)
	}
	return Destination{Scheme: scheme, Bucket: bucket, Key: key}, nil
}

func checkBucket(b string) error {
	if b == "" {
		return errors.New("no bucket name")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name is %d characters, want 3 to 63", len(b))
	}
	for i := range len(b) {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-' || c == '_':
			if i == 0 || i == len(b)-1 {
				return errors.New("bucket name must start and end with a lowercase letter or digit")
			}
		default:
			return errors.New("bucket name may hold only lowercase letters, digits, '.', '-' and '_'")
		}
	}
	if strings.Contains(b, "..") {
		return errors.New(`bucket name must not contain ".."`)
	}
	if ip := net.ParseIP(b); ip != nil {
		return errors.New("bucket name must not be an IP address")
	}
	return nil
}

func checkKey(k string) error {
	switch {
	case k == "":
		return errors.New("empty key: want SCHEME://BUCKET/KEY or SCHEME://BUCKET/PREFIX/")
	case len(k) > 1024:
		return fmt.Errorf("key is %d bytes, at most 1024", len(k))
	case !utf8.ValidString(k):
		return errors.New("key is not valid UTF-8")
	case strings.HasPrefix(k, "/"):
		return errors.New(`key starts with "/"`)
	}
	for _, r := range k {
		if r < 0x20 || r == 0x7f {
			return errors.New("key holds a control character")
		}
	}
	return nil
}

// clip keeps a bad URL short in an error message and makes it printable.
func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// ContentType is the Content-Type of a report in format (md, html, json, tex).
func ContentType(format string) string {
	switch format {
	case "md":
		return "text/markdown"
	case "html":
		return "text/html"
	case "json":
		return "application/json"
	case "tex":
		return "application/x-tex"
	case "pdf":
		return "application/pdf"
	}
	return "application/octet-stream"
}

// Options say how to reach the object store.
type Options struct {
	Endpoint    string // S3: HOST[:PORT]: s3.amazonaws.com, storage.googleapis.com, ...
	Region      string // S3: empty: let the client find out
	Insecure    bool   // S3: plain HTTP (a local server)
	Credentials Credentials
	MaxRetries  int // S3: 0: the client's default (10)

	// GCSEndpoint is the JSON API's base URL for gs:// (empty: Google's);
	// e.g. a fake-gcs-server at http://127.0.0.1:4443. With it, requests
	// are unauthenticated unless GCSCredentialsFile is set.
	GCSEndpoint string
	// GCSCredentialsFile is a service account key file; empty: Google's
	// application default credentials (GOOGLE_APPLICATION_CREDENTIALS).
	GCSCredentialsFile string
}

// Put uploads body as dst with the given Content-Type. dst must not be a
// prefix (see Destination.Named). Errors name the object and, for a
// missing bucket, the bucket; they never hold the secret key or the
// session token.
func Put(ctx context.Context, dst Destination, body []byte, contentType string, opts Options) error {
	if dst.IsPrefix() {
		return fmt.Errorf("upload %s: key ends in \"/\": no file name to append", dst)
	}
	if dst.scheme() == "gs" {
		return putGCS(ctx, dst, body, contentType, opts)
	}
	if opts.Endpoint == "" {
		return errors.New("upload: no S3 endpoint")
	}
	if err := opts.Credentials.check(); err != nil {
		return fmt.Errorf("upload %s: %w", dst, err)
	}
	c := opts.Credentials
	client, err := minio.New(opts.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		Secure:     !opts.Insecure,
		Region:     opts.Region,
		MaxRetries: opts.MaxRetries,
	})
	if err != nil {
		return fmt.Errorf("upload %s: endpoint %q: %s", dst, opts.Endpoint, c.redact(err.Error()))
	}
	_, err = client.PutObject(ctx, dst.Bucket, dst.Key, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("upload %s to %s: %s", dst, opts.Endpoint, c.redact(explain(err, dst)))
	}
	return nil
}

// explain turns the S3 error codes a user can act on into a sentence.
func explain(err error, dst Destination) string {
	e := minio.ToErrorResponse(err)
	switch e.Code {
	case "":
		return err.Error()
	case "NoSuchBucket":
		return fmt.Sprintf("bucket %q does not exist", dst.Bucket)
	case "SignatureDoesNotMatch":
		return "the secret key does not match the access key ID (S3 says SignatureDoesNotMatch)"
	case "InvalidAccessKeyId":
		return "the access key ID is unknown to the object store (S3 says InvalidAccessKeyId)"
	case "AccessDenied":
		return "access denied: the credentials may not write this object (S3 says AccessDenied)"
	case "ExpiredToken", "InvalidToken":
		return fmt.Sprintf("the session token is not accepted (S3 says %s)", e.Code)
	}
	return fmt.Sprintf("%s (S3 says %s)", strings.TrimSuffix(e.Message, "."), e.Code)
}
