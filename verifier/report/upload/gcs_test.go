package upload

import (
	"context"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// fakeGCS starts fake-gcs-server's in-process server on loopback (plain
// HTTP) with one bucket.
func fakeGCS(t *testing.T, bucket string) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, NoListener: false})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	return srv
}

func TestPutGCS(t *testing.T) {
	srv := fakeGCS(t, "reports")
	dst, err := ParseURL("gs://reports/weekly/report.tex")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("\\documentclass{article}\n")
	if err := Put(context.Background(), dst, body, ContentType("tex"), Options{GCSEndpoint: srv.URL()}); err != nil {
		t.Fatal(err)
	}
	obj, err := srv.GetObject("reports", "weekly/report.tex")
	if err != nil {
		t.Fatal(err)
	}
	if string(obj.Content) != string(body) || obj.ContentType != "application/x-tex" {
		t.Fatalf("stored %q (%s)", obj.Content, obj.ContentType)
	}
	// a missing bucket is named
	dst.Bucket = "missing"
	err = Put(context.Background(), dst, body, "text/plain", Options{GCSEndpoint: srv.URL()})
	if err == nil || !strings.Contains(err.Error(), `bucket "missing"`) {
		t.Fatalf("missing bucket: %v", err)
	}
}

func TestParseGSURL(t *testing.T) {
	d, err := ParseURL("gs://b_1/a/b.json")
	if err != nil || d.Scheme != "gs" || d.Bucket != "b_1" || d.Key != "a/b.json" || d.String() != "gs://b_1/a/b.json" {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := ParseURL("gcs://b/k"); err == nil || !strings.Contains(err.Error(), "want s3://BUCKET/KEY or gs://BUCKET/KEY") {
		t.Fatalf("gcs:// accepted: %v", err)
	}
}
