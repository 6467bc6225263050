package obs

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Build says which synwatch is running: the version the binary was built
// as, the VCS revision and the Go version, from the module's build info.
type Build struct {
	Version   string
	Revision  string
	GoVersion string
}

// ReadBuild reads the build from the binary. version, when not empty (set by
// the Makefile through -ldflags), wins over the module version, which a plain
// `go build` in a git checkout derives from the VCS ("v0.0.0-…+dirty").
func ReadBuild(version string) Build {
	b := Build{Version: version, Revision: "unknown", GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" || b.Version == "dev" {
			if v := info.Main.Version; v != "" && v != "(devel)" {
				b.Version = v
			}
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				b.Revision = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// RegisterBuildInfo adds synwatch_build_info{version,revision,goversion} = 1
// to reg, so a dashboard can tell which build every process runs.
func RegisterBuildInfo(reg prometheus.Registerer, b Build) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "synwatch_build_info",
		Help:        "Always 1; the labels say which synwatch build runs (version, VCS revision, Go version).",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	_, err := Register(reg, g)
	return err
}
