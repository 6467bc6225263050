package deploy

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

const dockerfilePath = "docker/Dockerfile"

type instruction struct {
	line int
	cmd  string // upper case
	args string
}

type stage struct {
	name, from string
	ins        []instruction
}

// parseDockerfile splits a Dockerfile into stages of instructions (line
// continuations joined, comments dropped, ARG defaults before the first FROM
// substituted into FROM lines).
func parseDockerfile(t *testing.T, data string) (stages []*stage, args map[string]string) {
	t.Helper()
	args = map[string]string{}
	var cur *stage
	var buf strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(buf.String())
		buf.Reset()
		if text == "" {
			return
		}
		cmd, rest, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(rest)}
		switch {
		case in.cmd == "ARG" && cur == nil:
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case in.cmd == "FROM":
			f := strings.Fields(expand(in.args, args))
			st := &stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			cur = st
		case cur == nil:
			t.Errorf("%s:%d: %s before FROM", dockerfilePath, in.line, in.cmd)
		default:
			cur.ins = append(cur.ins, in)
		}
	}
	for i, line := range strings.Split(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if buf.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			buf.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		buf.WriteString(trimmed)
		flush()
	}
	flush()
	return stages, args
}

var argRef = regexp.MustCompile(`\$\{(\w+)\}`)

func expand(s string, args map[string]string) string {
	return argRef.ReplaceAllStringFunc(s, func(m string) string { return args[argRef.FindStringSubmatch(m)[1]] })
}

// chain returns the instructions in effect for target: its own and those of
// the stages it is built FROM, base first.
func chain(stages []*stage, target string) []instruction {
	byName := map[string]*stage{}
	for _, s := range stages {
		byName[s.name] = s
	}
	var out []instruction
	for s := byName[target]; s != nil; s = byName[s.from] {
		out = append(append([]instruction{}, s.ins...), out...)
	}
	return out
}

// last returns the args of the last instruction cmd in ins ("" if none).
func last(ins []instruction, cmd string) string {
	v := ""
	for _, in := range ins {
		if in.cmd == cmd {
			v = in.args
		}
	}
	return v
}

func all(ins []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// envOf parses every ENV KEY=VALUE of ins (quotes removed).
func envOf(ins []instruction) map[string]string {
	env := map[string]string{}
	for _, in := range all(ins, "ENV") {
		for _, kv := range strings.Fields(in.args) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = strings.Trim(v, `"'`)
		}
	}
	return env
}

func jsonArray(t *testing.T, where, s string) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Errorf("%s: want the exec (JSON array) form, got %s", where, s)
	}
	return out
}

// imageInvocation is the synwatch command line an image target runs by
// default, and its environment.
func imageTarget(t *testing.T, target string) (entrypoint []string, cmd []string, env map[string]string) {
	t.Helper()
	stages, _ := parseDockerfile(t, string(mustRead(t, dockerfilePath)))
	ins := chain(stages, target)
	if len(ins) == 0 {
		t.Fatalf("%s: no target %q", dockerfilePath, target)
	}
	return jsonArray(t, dockerfilePath+" ENTRYPOINT", last(ins, "ENTRYPOINT")),
		jsonArray(t, dockerfilePath+" CMD", last(ins, "CMD")), envOf(ins)
}

func TestDockerfile(t *testing.T) {
	stages, _ := parseDockerfile(t, string(mustRead(t, dockerfilePath)))
	names := map[string]*stage{}
	for _, s := range stages {
		names[s.name] = s
	}
	build := names["build"]
	if build == nil || !strings.HasPrefix(build.from, "golang:1.26-bookworm") {
		t.Fatalf("build stage: want FROM golang:1.26-bookworm AS build, got %+v", build)
	}
	buildRuns := ""
	for _, in := range all(build.ins, "RUN") {
		buildRuns += in.args + "\n"
	}
	for _, want := range []string{"libpcap-dev", "CGO_ENABLED=1", "./cmd/synwatch"} {
		if !strings.Contains(buildRuns, want) {
			t.Errorf("build stage does not RUN with %q", want)
		}
	}
	for _, s := range stages {
		for _, in := range all(s.ins, "COPY") {
			if m := regexp.MustCompile(`--from=(\S+)`).FindStringSubmatch(in.args); m != nil && names[m[1]] == nil {
				t.Errorf("%s:%d: COPY --from=%s: no such stage", dockerfilePath, in.line, m[1])
			}
		}
		for _, in := range append(all(s.ins, "ENV"), all(s.ins, "ARG")...) {
			if regexp.MustCompile(`(?i)(password|secret|token|hmac|_key\b|apikey)`).MatchString(in.args) {
				t.Errorf("%s:%d: %s %s: no secret is baked into an image", dockerfilePath, in.line, in.cmd, in.args)
			}
		}
	}

	cmds := commands(t)
	cases := []struct {
		target  string
		setcap  string
		needPkg []string
		notPkg  []string
	}{
		{"sensor", "setcap cap_net_raw+ep /usr/local/bin/synwatch", []string{"libpcap0.8", "ca-certificates"}, []string{"nmap"}},
		{"verifier", "setcap cap_net_raw+p /usr/local/bin/synwatch", []string{"libpcap0.8", "ca-certificates", "nmap"}, nil},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			ins := chain(stages, c.target)
			where := dockerfilePath + " target " + c.target
			var runtime string // the image the target's stage chain starts from
			for s := names[c.target]; s != nil; s = names[s.from] {
				runtime = s.from
			}
			if runtime != "debian:bookworm-slim" {
				t.Errorf("%s: runtime image %s, want debian:bookworm-slim", where, runtime)
			}
			runs := ""
			for _, in := range all(ins, "RUN") {
				runs += in.args + "\n"
			}
			if !strings.Contains(runs, c.setcap) {
				t.Errorf("%s: no %q", where, c.setcap)
			}
			for _, p := range c.needPkg {
				if !regexp.MustCompile(`apt-get install[^&]*\b` + regexp.QuoteMeta(p) + `\b`).MatchString(runs) {
					t.Errorf("%s: package %s not installed", where, p)
				}
			}
			for _, p := range c.notPkg {
				if regexp.MustCompile(`apt-get install[^&]*\b` + regexp.QuoteMeta(p) + `\b`).MatchString(runs) {
					t.Errorf("%s: package %s installed, but the %s image must not carry it", where, p, c.target)
				}
			}
			user := last(ins, "USER")
			if user == "" || user == "root" || strings.HasPrefix(user, "0:") || user == "0" {
				t.Errorf("%s: USER %q, want a non-root user", where, user)
			}
			ep, cmd, env := imageTarget(t, c.target)
			if len(ep) != 1 || ep[0] != "/usr/local/bin/synwatch" {
				t.Fatalf("%s: ENTRYPOINT %v, want [/usr/local/bin/synwatch]", where, ep)
			}
			if cmd[0] != c.target {
				t.Errorf("%s: CMD %v does not run synwatch %s", where, cmd, c.target)
			}
			checkInvocation(t, cmds, invocation{where + " CMD", cmd})
			for k, v := range env {
				checkEnv(t, where+" ENV", k, v, nil)
			}
			// The health check asks /healthz on the port synwatch listens on
			// and the image exposes.
			listen := env["SYNWATCH_OBSERVABILITY_LISTEN"]
			_, port, _ := strings.Cut(listen, ":")
			if port == "" {
				t.Fatalf("%s: ENV SYNWATCH_OBSERVABILITY_LISTEN=%q: the health check needs the server", where, listen)
			}
			hc := last(ins, "HEALTHCHECK")
			if !strings.Contains(hc, "/dev/tcp/127.0.0.1/"+port) || !strings.Contains(hc, "GET /healthz") {
				t.Errorf("%s: HEALTHCHECK %s does not ask /healthz on port %s", where, hc, port)
			}
			if exp := last(ins, "EXPOSE"); exp != port {
				t.Errorf("%s: EXPOSE %s, listen port %s", where, exp, port)
			}
		})
	}
}
