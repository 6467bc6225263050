package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// metricName is a synwatch metric name as a Go string literal.
var metricName = regexp.MustCompile(`"(synwatch_[a-z0-9_]+)"`)

// codeMetrics finds the metric names in the non-test Go code of the tree.
func codeMetrics(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{}
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "testdata", "deploy", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(strings.ToLower(line), "cookie") {
				continue // the console's cookies share the prefix: synwatch_session, synwatch_login
			}
			for _, m := range metricName.FindAllStringSubmatch(line, -1) {
				found[m[1]] = p
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// docs/operating.md lists every metric the code defines, and no metric the
// code lacks.
func TestOperatingDocListsMetrics(t *testing.T) {
	const doc = "../docs/operating.md"
	text := string(mustRead(t, doc))
	code := codeMetrics(t)
	if len(code) == 0 {
		t.Fatal("no synwatch_ metric found in the code: the scan is broken")
	}
	for name, file := range code {
		if !regexp.MustCompile("`" + name + "`").MatchString(text) {
			t.Errorf("%s: metric %s (%s) is not documented", doc, name, file)
		}
	}
	for _, m := range regexp.MustCompile("`(synwatch_[a-z0-9_]+)`").FindAllStringSubmatch(text, -1) {
		if _, ok := code[m[1]]; !ok {
			t.Errorf("%s documents %s, which no code defines", doc, m[1])
		}
	}
}
