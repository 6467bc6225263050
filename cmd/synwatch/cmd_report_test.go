package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/synwatch/synwatch/internal/testenv"
)

// synwatch report --upload against a real S3 server (S3Proxy): the object
// holds the bytes written locally, with the format's Content-Type; a key
// ending in "/" takes the file name; failures are one line without the
// secret, exit 1, and leave the local file written.
func TestReportUpload(t *testing.T) {
	start := time.Now()
	endpoint, ak, sk := testenv.S3(t)
	t.Logf("S3Proxy up in %s", time.Since(start).Round(time.Millisecond))
	client, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(ak, sk, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.MakeBucket(ctx, "reports", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	get := func(key string) ([]byte, string) {
		t.Helper()
		obj, err := client.GetObject(ctx, "reports", key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		b, err := io.ReadAll(obj)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		st, _ := obj.Stat()
		return b, st.ContentType
	}

	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "inv.db")
	scan := filepath.Join("..", "..", "verifier", "baseline", "testdata")
	sh := func(args ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := run(args, &o, &e)
		return o.String(), e.String(), code
	}
	if _, errs, code := sh("baseline", "import", "--store", store, filepath.Join(scan, "nmap.xml")); code != 0 {
		t.Fatalf("baseline import: %s", errs)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", ak)
	t.Setenv("AWS_SECRET_ACCESS_KEY", sk)
	t.Setenv("AWS_SESSION_TOKEN", "")
	s3 := []string{"--s3-endpoint", endpoint, "--s3-insecure", "--s3-region", "us-east-1"}
	report := func(args ...string) (string, string, int) {
		return sh(append(append([]string{"report", "--store", store}, s3...), args...)...)
	}

	// --out FILE and a prefix: the object is PREFIX/FILE, the same bytes
	local := filepath.Join(dir, "weekly.html")
	_, errs, code := report("--out", local, "--upload", "s3://reports/weekly/")
	if code != 0 {
		t.Fatalf("report --upload: %d %s", code, errs)
	}
	want, _ := os.ReadFile(local)
	got, ct := get("weekly/weekly.html")
	if !bytes.Equal(got, want) || !bytes.Contains(got, []byte("OpenSSH")) || ct != "text/html" {
		t.Fatalf("uploaded %d bytes (%s), local %d", len(got), ct, len(want))
	}
	if line := "s3://reports/weekly/weekly.html: " + itoa(len(want)) + " bytes uploaded\n"; !strings.HasSuffix(errs, line) {
		t.Fatalf("stderr %q, want it to end with %q", errs, line)
	}

	// no --out: rendered in memory, the format from the key
	if _, errs, code := report("--upload", "s3://reports/now.json"); code != 0 {
		t.Fatalf("report --upload json: %s", errs)
	} else if strings.Count(errs, "\n") != 1 {
		t.Fatalf("stderr: %q", errs)
	}
	got, ct = get("now.json")
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil || ct != "application/json" {
		t.Fatalf("now.json (%s): %v\n%s", ct, err, got)
	}

	// --out - and a prefix: stdout and the object agree, the name is dated
	out, errs, code := report("--format", "md", "--out", "-", "--upload", "s3://reports/daily/")
	if code != 0 {
		t.Fatalf("report --out -: %s", errs)
	}
	var keys []string
	for o := range client.ListObjects(ctx, "reports", minio.ListObjectsOptions{Prefix: "daily/"}) {
		keys = append(keys, o.Key)
	}
	if len(keys) != 1 || !regexp.MustCompile(`^daily/synwatch-report-\d{4}-\d\d-\d\d\.md$`).MatchString(keys[0]) {
		t.Fatalf("keys under daily/: %v", keys)
	}
	if got, ct = get(keys[0]); string(got) != out || ct != "text/markdown" {
		t.Fatalf("%s (%s) differs from stdout", keys[0], ct)
	}

	// a credentials file instead of the environment
	cred := filepath.Join(dir, "s3.env")
	if err := os.WriteFile(cred, []byte("AWS_ACCESS_KEY_ID="+ak+"\nAWS_SECRET_ACCESS_KEY="+sk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, errs, code := report("--upload", "s3://reports/r.tex", "--s3-credentials-file", cred); code != 0 {
		t.Fatalf("credentials file: %s", errs)
	}
	if _, ct := get("r.tex"); ct != "application/x-tex" {
		t.Fatalf("r.tex: %s", ct)
	}
	if _, errs, code := report("--upload", "s3://reports/r.tex"); code != 1 || !strings.Contains(errs, "no S3 credentials") {
		t.Fatalf("no credentials: %d %q", code, errs)
	}

	// failures: one line, exit 1, no secret, the local file still written
	bad := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(bad, []byte("AWS_ACCESS_KEY_ID="+ak+"\nAWS_SECRET_ACCESS_KEY=wrong"+sk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, url, cred, want string }{
		{"wrong secret", "s3://reports/x.md", bad, "secret key does not match"},
		{"missing bucket", "s3://no-such-bucket/x.md", cred, `bucket "no-such-bucket" does not exist`},
	} {
		local := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".md")
		_, errs, code := report("--out", local, "--upload", tc.url, "--s3-credentials-file", tc.cred)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code != 1 || !strings.Contains(lines[len(lines)-1], tc.want) || strings.Contains(errs, sk) || len(lines) != 2 {
			t.Fatalf("%s: exit %d, stderr %q", tc.name, code, errs)
		}
		t.Logf("%s: %s", tc.name, lines[len(lines)-1])
		if b, err := os.ReadFile(local); err != nil || !bytes.Contains(b, []byte("OpenSSH")) {
			t.Fatalf("%s: local file: %v", tc.name, err)
		}
	}

	// bad URLs: usage errors before anything is read or written
	for _, u := range []string{"reports/x.md", "s3://reports", "s3://Reports/x.md", "s3://reports/"} {
		if _, errs, code := report("--upload", u); code != 2 || !strings.Contains(errs, "--upload") || strings.Count(errs, "\n") != 1 {
			t.Fatalf("--upload %q: exit %d, stderr %q", u, code, errs)
		}
	}
	if _, errs, code := report("--upload", "s3://reports/daily/"); code != 2 || !strings.Contains(errs, "--format") {
		t.Fatalf("prefix without --out or --format: exit %d, stderr %q", code, errs)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// The command line: synwatch report --store file:PATH --format tex
// --upload gs://BUCKET/report.tex --gcs-endpoint URL, against
// fake-gcs-server: the object holds the LaTeX report; a missing bucket is one
// line naming it, exit 1.
func TestReportUploadGCS(t *testing.T) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "flan-reports"})
	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "inv.db")
	var o, e bytes.Buffer
	if code := run([]string{"baseline", "import", "--store", store, filepath.Join("..", "..", "verifier", "baseline", "testdata", "nmap.xml")}, &o, &e); code != 0 {
		t.Fatalf("baseline import: %s", e.String())
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	e.Reset()
	if code := run([]string{"report", "--store", store, "--format", "tex", "--upload", "gs://flan-reports/report.tex", "--gcs-endpoint", srv.URL()}, &o, &e); code != 0 {
		t.Fatalf("report --upload gs://: %d %s", code, e.String())
	}
	obj, err := srv.GetObject("flan-reports", "report.tex")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(obj.Content), `\documentclass`) || obj.ContentType != "application/x-tex" {
		t.Fatalf("object: %s, %.60q", obj.ContentType, obj.Content)
	}
	if !strings.Contains(e.String(), "gs://flan-reports/report.tex: "+itoa(len(obj.Content))+" bytes uploaded") {
		t.Fatalf("stderr: %s", e.String())
	}
	e.Reset()
	if code := run([]string{"report", "--store", store, "--format", "tex", "--upload", "gs://nope/report.tex", "--gcs-endpoint", srv.URL()}, &o, &e); code != 1 || !strings.Contains(e.String(), `bucket "nope" does not exist`) {
		t.Fatalf("missing bucket: %d %s", code, e.String())
	}
}
