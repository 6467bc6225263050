package obs

import (
	"runtime"
	"strings"
	"testing"
)

// synwatch_build_info carries the version, the revision and the Go version,
// scraped over HTTP like Prometheus does.
func TestBuildInfoMetric(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterBuildInfo(reg, Build{Version: "1.2.3", Revision: "abc123", GoVersion: runtime.Version()}); err != nil {
		t.Fatal(err)
	}
	base := startServer(t, reg, NewHealth())
	_, body := get(t, base+"/metrics")
	want := `synwatch_build_info{goversion="` + runtime.Version() + `",revision="abc123",version="1.2.3"} 1`
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

func TestReadBuild(t *testing.T) {
	if b := ReadBuild("v9.9.9"); b.Version != "v9.9.9" || b.GoVersion != runtime.Version() || b.Revision == "" {
		t.Errorf("ReadBuild(v9.9.9) = %+v", b)
	}
	if b := ReadBuild(""); b.Version == "" {
		t.Errorf("ReadBuild(\"\") has no version: %+v", b)
	}
}
