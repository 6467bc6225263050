package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// TestMain lets the test binary stand in for an external scanner: with
// SYNWATCH_FAKE_SCANNER set it prints one nuclei-style JSON line per
// argument it got and exits.
func TestMain(m *testing.M) {
	if os.Getenv("SYNWATCH_FAKE_SCANNER") != "" {
		for i, a := range os.Args[1:] {
			b, _ := json.Marshal(map[string]any{"template-id": "arg" + strconv.Itoa(i), "info": map[string]string{"name": a}})
			fmt.Println(string(b))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func commandProfile(t *testing.T, path string, args []string, output string) *Profile {
	t.Helper()
	ps, err := Profiles(config.Checks{Profiles: []config.CheckProfile{{Name: "ext", Risk: "intrusive", Severity: "high",
		Match: config.CheckMatch{Ports: []int{80}}, Command: &config.CheckCommand{Path: path, Args: args, Output: output}}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return &ps[0]
}

// A command's arguments reach it one by one, placeholders filled, never
// through a shell: a ";" or "$(...)" stays text.
func TestCommandRunsWithoutAShell(t *testing.T) {
	t.Setenv("SYNWATCH_FAKE_SCANNER", "1")
	pwned := filepath.Join(t.TempDir(), "pwned")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := commandProfile(t, self, []string{"{url}", "x; touch " + pwned, "$(touch " + pwned + ")", "{ip}:{port}/{proto}"}, "jsonl")
	fs, err := (&ProcessRunner{}).Run(context.Background(), p, &zbx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Title)
	}
	want := []string{"http://198.18.74.1:80/", "x; touch " + pwned, "$(touch " + pwned + ")", "198.18.74.1:80/tcp"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the scanner got %q, want %q", got, want)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("a shell ran the arguments")
	}
}

// The real nmap as a profile's command (output nmap-xml), against a
// Zabbix-like login on loopback: the finding names Zabbix and admin.
func TestCommandNmapXML(t *testing.T) {
	testenv.RequireTool(t, "nmap")
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/zabbix/index.php":
			posts.Add(1)
			r.ParseForm()
			if r.PostForm.Get("name") == "admin" && r.PostForm.Get("password") == "zabbix" {
				w.Header().Set("Location", "dashboard.php")
				w.WriteHeader(http.StatusFound)
			}
		case strings.HasPrefix(r.URL.Path, "/zabbix/"):
			http.SetCookie(w, &http.Cookie{Name: "zbx_sessionid", Value: "x"})
			fmt.Fprint(w, "<title>Zabbix</title>")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ap := netip.MustParseAddrPort(srv.Listener.Addr().(*net.TCPAddr).String())
	rec := event.Record{Service: event.Service{IP: ap.Addr(), Proto: event.TCP, Port: ap.Port()}, Status: event.StatusExposed, Name: "http"}
	p := commandProfile(t, "nmap", []string{"-Pn", "-n", "-sT", "-sV", "--version-light", "-p", "{port}", "--script", "http-default-accounts", "-oX", "-", "{ip}"}, "nmap-xml")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fs, err := (&ProcessRunner{}).Run(ctx, p, &rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Product != "Zabbix" || fs[0].Account != "admin" || posts.Load() == 0 {
		t.Fatalf("findings %+v (logins %d)", fs, posts.Load())
	}
}
