package deploy

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	rulesFile     = "prometheus/synwatch.rules.yml"
	rulesTestFile = "prometheus/synwatch.rules.test.yml"
	dashboardFile = "grafana/synwatch.dashboard.json"
)

// usedMetric finds synwatch metric names in PromQL; a histogram's series
// (_bucket, _sum, _count) name the histogram.
var usedMetric = regexp.MustCompile(`synwatch_[a-z0-9_]+`)

func checkMetricNames(t *testing.T, where string, exprs []string) {
	t.Helper()
	code := codeMetrics(t)
	n := 0
	for _, e := range exprs {
		for _, m := range usedMetric.FindAllString(e, -1) {
			n++
			name := m
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if _, ok := code[name]; !ok {
					name = strings.TrimSuffix(name, suf)
				}
			}
			if _, ok := code[name]; !ok {
				t.Errorf("%s uses %s, which no code registers", where, m)
			}
		}
	}
	if n == 0 {
		t.Errorf("%s: no synwatch metric found in its expressions", where)
	}
}

// The rules file passes promtool's check and its unit tests (each alert
// fires on the series an incident makes), and uses only metrics the code
// registers.
func TestPrometheusRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not installed (scripts/setup installs Debian's prometheus package): %v", err)
	}
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(mustRead(t, rulesFile), &rules); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
			alerts[r.Alert] = true
		}
	}
	checkMetricNames(t, rulesFile, exprs)
	// what the issue asks to be watched: drops, lag, spool, give-ups, vulners
	for _, want := range []string{"SynwatchCaptureDropping", "SynwatchConsumerLag", "SynwatchSpoolGrowing", "SynwatchSpoolDropping", "SynwatchAlertGivenUp", "SynwatchVulnersUnreachable"} {
		if !alerts[want] {
			t.Errorf("%s has no alert %s", rulesFile, want)
		}
	}
}

// The dashboard is valid JSON Grafana can import (panels with targets, a
// datasource variable) and queries only metrics the code registers.
func TestGrafanaDashboard(t *testing.T) {
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(mustRead(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: title, uid or panels missing", dashboardFile)
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range d.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("%s: panel %q has id %d, not unique", dashboardFile, p.Title, p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q queries nothing", dashboardFile, p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	hasDS := false
	for _, v := range d.Templating.List {
		hasDS = hasDS || v.Type == "datasource"
	}
	if !hasDS {
		t.Errorf("%s: no datasource variable: the import would be bound to one Prometheus", dashboardFile)
	}
	checkMetricNames(t, dashboardFile, exprs)
}
