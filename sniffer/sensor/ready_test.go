package sensor

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/synwatch/synwatch/sniffer/publish"
)

// "capture" is not ready before the capture is open, ready while it is, and
// not ready once the file has been read to its end.
func TestCaptureCheck(t *testing.T) {
	cfg := goldenConfig(t, filepath.Join(pcapDir, testPcapName(t)))
	s, err := New(cfg, publish.NewJSONLines(discard{}, nil), testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	check := s.CaptureCheck(0.01)
	ctx := context.Background()
	if err := check(ctx); err == nil || err.Error() != "capture not open yet" {
		t.Fatalf("before Open: %v", err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	if err := check(ctx); err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := check(ctx); err == nil || err.Error() != "capture ended" {
		t.Fatalf("after the end of the file: %v", err)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func testPcapName(t *testing.T) string {
	return filepath.Base(testPcaps(t)[0])
}
