package upload

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/synwatch/synwatch/internal/testenv"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, key string
	}{
		{"s3://reports/weekly.md", "reports", "weekly.md"},
		{"s3://my.reports-2026/a/b/c.html", "my.reports-2026", "a/b/c.html"},
		{"s3://gcs_bucket/x/", "gcs_bucket", "x/"},
		{"s3://abc/k?v=1#f", "abc", "k?v=1#f"}, // literal, as the AWS CLI
		{"s3://abc/%41", "abc", "%41"},
		{"s3://abc/ünïcode key", "abc", "ünïcode key"},
	} {
		d, err := ParseURL(tc.in)
		if err != nil || d.Bucket != tc.bucket || d.Key != tc.key {
			t.Errorf("ParseURL(%q) = %+v, %v; want %s %s", tc.in, d, err, tc.bucket, tc.key)
		}
		if d.String() != tc.in {
			t.Errorf("ParseURL(%q).String() = %q", tc.in, d.String())
		}
	}
}

func TestParseURLInvalid(t *testing.T) {
	for in, want := range map[string]string{
		"":                                       "want s3://BUCKET/KEY",
		"https://reports/k":                      "want s3://BUCKET/KEY",
		"S3://reports/k":                         "want s3://BUCKET/KEY",
		"s3://":                                  "no bucket name",
		"s3:///k":                                "no bucket name",
		"s3://reports":                           "empty key",
		"s3://reports/":                          "empty key",
		"s3://reports//k":                        `key starts with "/"`,
		"s3://ab/k":                              "bucket name is 2 characters, want 3 to 63",
		"s3://" + strings.Repeat("a", 64) + "/k": "bucket name is 64 characters, want 3 to 63",
		"s3://Reports/k":                         "only lowercase letters",
		"s3://rep orts/k":                        "only lowercase letters",
		"s3://-reports/k":                        "start and end with a lowercase letter or digit",
		"s3://reports./k":                        "start and end with a lowercase letter or digit",
		"s3://rep..orts/k":                       `must not contain ".."`,
		"s3://192.168.1.10/k":                    "must not be an IP address",
		"s3://reports/a\nb":                      "control character",
		"s3://reports/\xff":                      "not valid UTF-8",
		"s3://reports/" + strings.Repeat("k", 1025): "at most 1024",
	} {
		_, err := ParseURL(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v; want an error with %q", in, err, want)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://reports/weekly.md", "s3://a.b-c_d/x/", "s3://reports", "s3://reports/", "s3:///k",
		"s3://1.2.3.4/k", "s3://rep..orts/k", "s3://abc/\x00", "s3://abc/\xff", "https://x/y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseURL(s)
		if err != nil {
			if !utf8Printable(err.Error()) {
				t.Fatalf("error not printable: %q", err)
			}
			return
		}
		if d.Key == "" || d.Bucket == "" {
			t.Fatalf("%q: accepted %+v", s, d)
		}
		if d.String() != s {
			t.Fatalf("%q: round trip %q", s, d.String())
		}
		if d2, err := ParseURL(d.Named("report.md").String()); err != nil || !strings.HasPrefix(d2.Key, d.Key) {
			t.Fatalf("%q: Named: %+v %v", s, d2, err)
		}
	})
}

func utf8Printable(s string) bool {
	return strings.ToValidUTF8(s, "") == s
}

func TestParseCredentials(t *testing.T) {
	c, err := ParseCredentials(strings.NewReader("# for synwatch\n\nAWS_ACCESS_KEY_ID = AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY=\"s3cr3t/with=sign\"\nAWS_SESSION_TOKEN='tok'\n"))
	if err != nil || c.AccessKeyID != "AKIAEXAMPLE" || c.SecretAccessKey != "s3cr3t/with=sign" || c.SessionToken != "tok" {
		t.Fatalf("%#v %v", c, err)
	}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "s3cr3t") || strings.Contains(s, "tok'") || !strings.Contains(s, "AKIAEXAMPLE") {
			t.Fatalf("printed credentials: %s", s)
		}
	}
	for in, want := range map[string]string{
		"AWS_ACCESS_KEY_ID=a\n":                                          "want both",
		"AWS_ACCESS_KEY_ID=a\nhunter2\n":                                 "line 2: want KEY=VALUE",
		"AWS_ACCESS_KEY_ID=a\nSECRET=hunter2\n":                          "line 2: unknown key",
		"AWS_ACCESS_KEY_ID=a\nAWS_SECRET_ACCESS_KEY=\n":                  "line 2: AWS_SECRET_ACCESS_KEY is empty",
		"AWS_ACCESS_KEY_ID=a\nAWS_ACCESS_KEY_ID=b\n":                     "line 2: AWS_ACCESS_KEY_ID given twice",
		"AWS_SECRET_ACCESS_KEY=hunter2\nAWS_SECRET_ACCESS_KEY=hunter2\n": "given twice",
	} {
		_, err := ParseCredentials(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseCredentials(%q) = %v; want %q without the value", in, err, want)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add("AWS_ACCESS_KEY_ID=a\nAWS_SECRET_ACCESS_KEY=b\n")
	f.Add("# c\nAWS_ACCESS_KEY_ID = \"a\"\nAWS_SECRET_ACCESS_KEY='b'\nAWS_SESSION_TOKEN=t\n")
	f.Add("AWS_SECRET_ACCESS_KEY=zzsecretzz\nAWS_SECRET_ACCESS_KEY=zzsecretzz\n")
	f.Add("zzsecretzz\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseCredentials(strings.NewReader(in))
		if err != nil {
			// an error names lines and keys, never what follows a "="
			if strings.Contains(in, "zzsecretzz") && strings.Contains(err.Error(), "zzsecretzz") {
				t.Fatalf("error shows a value: %v", err)
			}
			return
		}
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			t.Fatalf("accepted without keys: %q", in)
		}
		if strings.Contains(c.String(), c.SecretAccessKey) && !strings.Contains("{AccessKeyID:"+c.AccessKeyID+" SecretAccessKey:REDACTED SessionToken:REDACTED}", c.SecretAccessKey) {
			t.Fatalf("String shows the secret: %s", c)
		}
	})
}

// s3 starts S3Proxy and returns upload options for it and a client to
// check what arrived.
func s3(t *testing.T) (Options, *minio.Client) {
	t.Helper()
	start := time.Now()
	endpoint, ak, sk := testenv.S3(t)
	t.Logf("S3Proxy up at %s in %s", endpoint, time.Since(start).Round(time.Millisecond))
	opts := Options{Endpoint: endpoint, Insecure: true, Credentials: Credentials{AccessKeyID: ak, SecretAccessKey: sk}, MaxRetries: 1}
	client, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(ak, sk, ""), Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	return opts, client
}

func makeBucket(t *testing.T, c *minio.Client, name string) {
	t.Helper()
	if err := c.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
}

func get(t *testing.T, c *minio.Client, bucket, key string) ([]byte, string) {
	t.Helper()
	obj, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	st, err := obj.Stat()
	if err != nil {
		t.Fatalf("stat %s/%s: %v", bucket, key, err)
	}
	return b, st.ContentType
}

// Against a real S3 server (S3Proxy): every format goes up and comes back
// byte for byte with its Content-Type; a prefix key takes the file name.
func TestPutS3Proxy(t *testing.T) {
	opts, client := s3(t)
	makeBucket(t, client, "reports")
	ctx := context.Background()
	for _, f := range []string{"md", "html", "json", "tex"} {
		body := bytes.Repeat([]byte("synwatch "+f+" report ✓\n"), 500)
		dst, err := ParseURL("s3://reports/weekly/")
		if err != nil {
			t.Fatal(err)
		}
		dst = dst.Named("report." + f)
		if err := Put(ctx, dst, body, ContentType(f), opts); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got, ct := get(t, client, "reports", "weekly/report."+f)
		if !bytes.Equal(got, body) {
			t.Fatalf("%s: got %d bytes back, sent %d", f, len(got), len(body))
		}
		if ct != ContentType(f) {
			t.Fatalf("%s: Content-Type %q, want %q", f, ct, ContentType(f))
		}
	}
	if err := Put(ctx, Destination{Bucket: "reports", Key: "weekly/"}, []byte("x"), "text/plain", opts); err == nil || !strings.Contains(err.Error(), "no file name") {
		t.Fatalf("prefix key: %v", err)
	}
}

func TestPutS3ProxyErrors(t *testing.T) {
	opts, client := s3(t)
	makeBucket(t, client, "reports")
	ctx := context.Background()
	dst := Destination{Bucket: "reports", Key: "r.md"}

	wrong := opts
	wrong.Credentials.SecretAccessKey = "wrong-" + opts.Credentials.SecretAccessKey
	err := Put(ctx, dst, []byte("x"), "text/markdown", wrong)
	if err == nil || !strings.Contains(err.Error(), "secret key does not match") || strings.Contains(err.Error(), wrong.Credentials.SecretAccessKey) ||
		strings.Contains(err.Error(), opts.Credentials.SecretAccessKey) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("wrong secret key: %v", err)
	}
	t.Logf("wrong secret key: %v", err)

	unknown := opts
	unknown.Credentials.AccessKeyID = "nobody"
	if err := Put(ctx, dst, []byte("x"), "text/markdown", unknown); err == nil || strings.Contains(err.Error(), opts.Credentials.SecretAccessKey) {
		t.Fatalf("unknown access key: %v", err)
	} else {
		t.Logf("unknown access key: %v", err)
	}

	err = Put(ctx, Destination{Bucket: "no-such-bucket", Key: "r.md"}, []byte("x"), "text/markdown", opts)
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Fatalf("missing bucket: %v", err)
	}
	t.Logf("missing bucket: %v", err)

	none := opts
	none.Credentials = Credentials{}
	if err := Put(ctx, dst, []byte("x"), "text/markdown", none); err == nil || !strings.Contains(err.Error(), "no S3 credentials") {
		t.Fatalf("no credentials: %v", err)
	}

	// nothing listens: a clear error, quickly
	closed := opts
	closed.Endpoint = "127.0.0.1:1"
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := Put(ctx2, dst, []byte("x"), "text/markdown", closed); err == nil || strings.Contains(err.Error(), opts.Credentials.SecretAccessKey) {
		t.Fatalf("closed port: %v", err)
	} else {
		t.Logf("closed port: %v", err)
	}
}
