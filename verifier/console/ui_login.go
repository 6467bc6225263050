package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/verifier/console/auth"
)

type loginPage struct {
	CSRF  string
	Next  string
	User  string
	Error string
}

// safeNext keeps a post-login redirect on this site.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return "/"
	}
	return s
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok, _ := c.currentSession(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	tok := auth.RandomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", MaxAge: 3600,
		HttpOnly: true, Secure: c.opt.Secure, SameSite: http.SameSiteStrictMode})
	c.render(w, r, http.StatusOK, "login.html", &loginPage{CSRF: tok, Next: safeNext(r.URL.Query().Get("next"))})
}

// login checks the password. Failures count per address and per user name
// (5 in 5 minutes), and the hash is not even computed past that.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !auth.SameToken(ck.Value, r.PostFormValue("csrf")) {
		c.fail(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the login page and try again")
		return
	}
	user, pass := strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	keys := []string{"addr:" + remoteAddr(r).String(), "user:" + user}
	page := &loginPage{CSRF: ck.Value, Next: next, User: user}
	if ok, wait := c.limiter.Allow(keys...); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
		c.log.Warn("console: login refused: too many failures", "remote", remoteAddr(r))
		page.Error = "Too many failed logins. Try again in " + wait.Round(time.Second).String() + "."
		c.render(w, r, http.StatusTooManyRequests, "login.html", page)
		return
	}
	f := c.auth.Current()
	p, ok := f.Password(user, pass)
	if !ok {
		c.limiter.Fail(keys...)
		// a name that is no user may be a password typed in the wrong field
		logged := "(not a user)"
		if _, known := f.User(user); known {
			logged = user
		}
		c.log.Info("console: login failed", "user", logged, "remote", remoteAddr(r))
		page.Error = "Wrong user name or password."
		c.render(w, r, http.StatusUnauthorized, "login.html", page)
		return
	}
	c.limiter.Succeed(keys[1])
	id, s, err := c.sessions.Create(r.Context(), p.Name)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	c.setSessionCookie(w, id, s.Expires)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1})
	c.log.Info("console: login", "user", p.Name, "role", p.Role, "remote", remoteAddr(r))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		_ = c.sessions.End(r.Context(), ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.opt.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
