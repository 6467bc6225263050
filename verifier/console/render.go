package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/console/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticHandler serves the embedded stylesheet and script.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

type pages struct {
	t map[string]*template.Template
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"ago":     ago,
	"svcPath": servicePath,
	"kinds": func() []event.ChangeKind {
		return []event.ChangeKind{event.ChangeNew, event.ChangeReopened, event.ChangeVerdictChanged, event.ChangeVersionChanged,
			event.ChangeNewVulns, event.ChangeClosed, event.ChangeGone, event.ChangeHostSprays}
	},
	"sev": func(s event.Severity) string {
		if s == "" {
			return "none"
		}
		return string(s)
	},
	"status": func(s event.Status) string {
		if s == event.StatusUnverified {
			return "unverified"
		}
		return string(s)
	},
	"cvss": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return strconv.FormatFloat(*f, 'f', 1, 64)
	},
	"score": func(f float64) string {
		if f == 0 {
			return "—"
		}
		return strconv.FormatFloat(f, 'f', 1, 64)
	},
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
	"vstate": func(s event.VulnState) string {
		if s == "" {
			return "open"
		}
		return string(s)
	},
}

// servicePath is a service's page.
func servicePath(s event.Service) string {
	return "/services/" + url.PathEscape(s.IP.String()) + "/" + string(s.Proto) + "/" + strconv.Itoa(int(s.Port))
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
}

func loadPages() (*pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", base, err)
		}
		p.t[base] = t
	}
	return p, nil
}

// layout is what every page's frame shows.
type layout struct {
	Title   string
	Nav     string
	User    string
	Role    auth.Role
	CanAct  bool
	IsAdmin bool
	CSRF    string
	Version string
	Flash   string
	Page    any
}

type titled interface{ title() (title, nav string) }

// render executes a page into a buffer first, so a template error never
// sends half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	t := c.pages.t[name]
	if t == nil {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	l := layout{Page: data, Version: c.opt.Version, Flash: flashes[r.URL.Query().Get("done")]}
	if td, ok := data.(titled); ok {
		l.Title, l.Nav = td.title()
	}
	if p := principal(r); p.Name != "" {
		l.User, l.Role, l.CanAct, l.IsAdmin = p.Name, p.Role, p.Role.Allows(auth.Operator), p.Role.Allows(auth.Admin)
	}
	if s, ok := session(r); ok {
		l.CSRF = s.CSRF
	}
	var b bytes.Buffer
	if err := t.Execute(&b, &l); err != nil {
		c.log.Error("console: rendering a page failed", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// flashes are the confirmations an action's redirect names (?done=KEY):
// fixed texts, so a link cannot make the console say anything else.
var flashes = map[string]string{
	"allowed":    "Allowlist entry added: the next verification honours it.",
	"unallowed":  "Allowlist entry removed: the service alerts again.",
	"triaged":    "Vulnerability decision recorded and applied.",
	"reverified": "Re-verified.",
	"queued":     "Re-verification queued for the verifiers.",
	"acked":      "Change acknowledged.",
	"approved":   "Approved.",
	"rejected":   "Rejected.",
}

type errorPage struct {
	Code    int
	Status  string
	Message string
}

func (e *errorPage) title() (string, string) { return e.Status, "" }

func (l *loginPage) title() (string, string) { return "Sign in", "" }
