package console

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/synwatch/synwatch/verifier/console/auth"
)

const (
	sessionCookie = "synwatch_session"
	loginCookie   = "synwatch_login" // the login form's CSRF token (double submit)
)

// csp allows only the console's own scripts, styles and connections.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure adds the security headers to every answer and logs each request
// (method, path, status, who; never a header, cookie or query value).
func (c *Console) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if c.opt.Secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: 200}
		next.ServeHTTP(sw, r)
		who := ""
		if p, ok := r.Context().Value(principalKey{}).(*auth.Principal); ok && p != nil {
			who = p.Name
		}
		if sw.who != "" {
			who = sw.who
		}
		c.log.Debug("console request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "user", who,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	who    string
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach Flush and deadlines (the live feed).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type principalKey struct{}
type sessionKey struct{}

// principal returns who the request acts as (set by authed).
func principal(r *http.Request) auth.Principal {
	if p, ok := r.Context().Value(principalKey{}).(*auth.Principal); ok && p != nil {
		return *p
	}
	return auth.Principal{}
}

func session(r *http.Request) (auth.Session, bool) {
	s, ok := r.Context().Value(sessionKey{}).(*auth.Session)
	if !ok || s == nil {
		return auth.Session{}, false
	}
	return *s, true
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func stateChanging(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// authed wraps a handler that needs role: it finds the principal (bearer
// token, trusted proxy, session), refuses the unauthenticated (401 for the
// API, a redirect to the login page otherwise) and the unauthorised
// (403), and checks the CSRF token of every state-changing request that
// rides on a cookie.
func (c *Console) authed(role auth.Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f := c.auth.Current()
		var (
			p    auth.Principal
			ok   bool
			sess *auth.Session
		)
		if tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found {
			if p, ok = f.Token(strings.TrimSpace(tok)); !ok {
				c.unauthenticated(w, r, "invalid token")
				return
			}
		} else {
			s, found, err := c.currentSession(r)
			if err != nil {
				c.fail(w, r, http.StatusServiceUnavailable, "store unavailable")
				return
			}
			proxied, viaProxy := f.ProxyUser(remoteAddr(r), r.Header.Get)
			switch {
			case found && (!viaProxy || proxied.Name == s.User):
				u, listed := f.User(s.User)
				if !listed { // removed from the auth file since login
					c.unauthenticated(w, r, "")
					return
				}
				kind := "session"
				if viaProxy {
					kind = "proxy"
				}
				p, ok, sess = auth.Principal{Name: u.Name, Role: u.Role, Kind: kind}, true, &s
			case viaProxy:
				// single sign-on: the proxy vouches; a session carries the CSRF token
				id, ns, err := c.sessions.Create(r.Context(), proxied.Name)
				if err != nil {
					c.fail(w, r, http.StatusServiceUnavailable, "store unavailable")
					return
				}
				c.setSessionCookie(w, id, ns.Expires)
				p, ok, sess = proxied, true, &ns
			}
		}
		if !ok {
			c.unauthenticated(w, r, "")
			return
		}
		if sw, isSW := w.(*statusWriter); isSW {
			sw.who = p.Name
		}
		ctx := context.WithValue(r.Context(), principalKey{}, &p)
		ctx = context.WithValue(ctx, sessionKey{}, sess)
		r = r.WithContext(ctx)
		if stateChanging(r) && sess != nil {
			// cookies ride along on cross-site requests: demand the token
			// only this session's pages carry, and a same-origin Origin
			if !sameOrigin(r) || !auth.SameToken(csrfOf(r), sess.CSRF) {
				c.fail(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again")
				return
			}
		}
		if !p.Role.Allows(role) {
			c.fail(w, r, http.StatusForbidden, "your role ("+string(p.Role)+") may not do this: it needs "+string(role))
			return
		}
		h(w, r)
	}
}

// csrfOf reads the CSRF token from the X-CSRF-Token header or the csrf
// form field.
func csrfOf(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return r.PostFormValue("csrf")
	}
	return ""
}

// sameOrigin refuses a state-changing request whose Origin (or, without
// one, Sec-Fetch-Site) says it came from another site.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		return err == nil && u.Host == r.Host
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

func (c *Console) currentSession(r *http.Request) (auth.Session, bool, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return auth.Session{}, false, nil
	}
	return c.sessions.Get(r.Context(), ck.Value)
}

func (c *Console) setSessionCookie(w http.ResponseWriter, id string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Expires: expires,
		HttpOnly: true, Secure: c.opt.Secure, SameSite: http.SameSiteStrictMode})
}

func (c *Console) unauthenticated(w http.ResponseWriter, r *http.Request, why string) {
	if isAPI(r) || r.Header.Get("Authorization") != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="synwatch"`)
		msg := "authentication required: send Authorization: Bearer TOKEN (synwatch auth add-token)"
		if why != "" {
			msg = why
		}
		writeJSON(w, http.StatusUnauthorized, apiError{Error: msg})
		return
	}
	next := r.URL.Path
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	if r.Method != http.MethodGet {
		next = "/"
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// fail answers an error: JSON for the API, a page otherwise.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if isAPI(r) || strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, code, apiError{Error: msg})
		return
	}
	c.render(w, r, code, "error.html", &errorPage{Code: code, Status: http.StatusText(code), Message: msg})
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	_ = e.Encode(v)
}

// sweepSessions deletes expired sessions (run with the inventory refresh).
func (c *Console) sweepSessions(ctx context.Context) {
	var dead []string
	now := c.now()
	_ = c.store.ListDocs(ctx, auth.SessionColl, func(id string, doc []byte) bool {
		var s auth.Session
		if json.Unmarshal(doc, &s) != nil || !now.Before(s.Expires) {
			dead = append(dead, id)
		}
		return true
	})
	for _, id := range dead {
		_ = c.store.DeleteDoc(ctx, auth.SessionColl, id)
	}
}
