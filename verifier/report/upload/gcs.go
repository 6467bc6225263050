package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
)

// putGCS writes one object through Google's Cloud Storage client.
func putGCS(ctx context.Context, dst Destination, body []byte, contentType string, opts Options) error {
	var copts []option.ClientOption
	if e := opts.GCSEndpoint; e != "" {
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			return fmt.Errorf("upload %s: GCS endpoint %q: want http(s)://HOST[:PORT]", dst, e)
		}
		copts = append(copts, option.WithEndpoint(strings.TrimSuffix(e, "/")+"/storage/v1/"))
		if opts.GCSCredentialsFile == "" {
			copts = append(copts, option.WithoutAuthentication())
		}
	}
	if f := opts.GCSCredentialsFile; f != "" {
		copts = append(copts, option.WithCredentialsFile(f))
	}
	client, err := storage.NewClient(ctx, copts...)
	if err != nil {
		return fmt.Errorf("upload %s: %w (set GOOGLE_APPLICATION_CREDENTIALS to a service account key file)", dst, err)
	}
	defer client.Close()
	w := client.Bucket(dst.Bucket).Object(dst.Key).NewWriter(ctx)
	w.ContentType = contentType
	w.ChunkSize = 0 // one request: a report is small
	if _, err := io.Copy(w, bytes.NewReader(body)); err != nil {
		_ = w.Close()
		return fmt.Errorf("upload %s: %w", dst, gcsExplain(err, dst))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("upload %s: %w", dst, gcsExplain(err, dst))
	}
	return nil
}

// gcsExplain names the bucket when it is missing.
func gcsExplain(err error, dst Destination) error {
	if errors.Is(err, storage.ErrBucketNotExist) || strings.Contains(err.Error(), "notFound") || strings.Contains(err.Error(), "Not Found") {
		return fmt.Errorf("bucket %q does not exist", dst.Bucket)
	}
	return err
}
