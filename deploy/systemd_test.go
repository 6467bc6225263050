package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/testenv"
)

const systemdDir = "systemd"

// unit is a systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, file string) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(mustRead(t, file)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case section == "":
			t.Errorf("%s:%d: key outside a section", file, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("%s:%d: not KEY=VALUE: %s", file, n, line)
				continue
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// parseEnvFile reads KEY=VALUE lines (systemd EnvironmentFile=).
func parseEnvFile(t *testing.T, file string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(string(mustRead(t, file)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: not KEY=VALUE: %s", file, line)
			continue
		}
		env[k] = strings.Trim(v, `"'`)
	}
	return env
}

func TestSystemdUnits(t *testing.T) {
	cmds := commands(t)
	ports := map[string]string{}
	for _, role := range []string{"sensor", "verifier"} {
		file := filepath.Join(systemdDir, "synwatch-"+role+".service")
		t.Run(role, func(t *testing.T) {
			u := parseUnit(t, file)
			exec := strings.Fields(u.get("Service", "ExecStart"))
			if len(exec) < 2 || exec[0] != "/usr/local/bin/synwatch" || exec[1] != role {
				t.Fatalf("%s: ExecStart %v, want /usr/local/bin/synwatch %s ...", file, exec, role)
			}
			cfgPath := checkInvocation(t, cmds, invocation{file + " ExecStart", exec[1:]})
			if cfgPath != "/etc/synwatch/synwatch.yaml" {
				t.Fatalf("%s: --config %q, want /etc/synwatch/synwatch.yaml (installed from %s/synwatch.yaml)", file, cfgPath, systemdDir)
			}
			cfgFile := filepath.Join(systemdDir, "synwatch.yaml")
			cfg := loadConfig(t, cfgFile, mustRead(t, cfgFile))

			// Environment files: the examples shipped beside the unit.
			env := map[string]string{}
			for _, ef := range u["Service"]["EnvironmentFile"] {
				ex := filepath.Join(systemdDir, filepath.Base(strings.TrimPrefix(ef, "-"))+".example")
				for k, v := range parseEnvFile(t, ex) {
					env[k] = v
					checkEnv(t, ex, k, v, envRefs(cfg))
				}
			}
			for _, kv := range u["Service"]["Environment"] {
				k, v, _ := strings.Cut(strings.Trim(kv, `"`), "=")
				env[k] = v
				checkEnv(t, file+" Environment", k, v, envRefs(cfg))
			}
			// Each secret the role reads through the environment is in its file.
			for name, key := range forRole(envRefs(cfg), role) {
				if _, ok := env[name]; !ok {
					t.Errorf("%s: %s names %s, which no EnvironmentFile example of the %s sets", file, key, name, role)
				}
			}
			cfg = applyEnv(t, file, cfg, env)
			ports[role] = listenPort(t, file, cfg)

			want := map[string]string{
				"AmbientCapabilities":     "CAP_NET_RAW",
				"CapabilityBoundingSet":   "CAP_NET_RAW",
				"NoNewPrivileges":         "yes",
				"ProtectSystem":           "strict",
				"ProtectHome":             "yes",
				"PrivateTmp":              "yes",
				"SystemCallFilter":        "@system-service",
				"SystemCallArchitectures": "native",
				"User":                    "synwatch",
			}
			for k, v := range want {
				if got := u.get("Service", k); got != v {
					t.Errorf("%s: %s=%q, want %q", file, k, got, v)
				}
			}
			fams := strings.Fields(u.get("Service", "RestrictAddressFamilies"))
			for _, f := range []string{"AF_PACKET", "AF_INET", "AF_INET6", "AF_UNIX"} {
				if !slices.Contains(fams, f) {
					t.Errorf("%s: RestrictAddressFamilies lacks %s", file, f)
				}
			}
			if role == "sensor" {
				if spool := cfg.Kafka.Spool.Dir; spool == "" || !under(spool, u.get("Service", "ReadWritePaths")) {
					t.Errorf("%s: kafka.spool.dir %q is not under ReadWritePaths=%s (ProtectSystem=strict)", file, spool, u.get("Service", "ReadWritePaths"))
				}
			}
			sd := u.get("Service", "StateDirectory")
			if sd == "" || u.get("Service", "ReadWritePaths") != "/var/lib/"+sd {
				t.Errorf("%s: StateDirectory=%q and ReadWritePaths=%q: the spool/state must be writable", file, sd, u.get("Service", "ReadWritePaths"))
			}
		})
	}
	if ports["sensor"] != "" && ports["sensor"] == ports["verifier"] {
		t.Errorf("sensor and verifier units both listen on port %s: they may share a host", ports["sensor"])
	}
}

// systemd-analyze verify finds unknown keys, bad values and unknown syscall
// groups; it must print nothing. The binary path is pointed at the test build
// (verify checks that ExecStart's program exists).
func TestSystemdAnalyzeVerify(t *testing.T) {
	testenv.RequireTool(t, "systemd-analyze")
	bin := synwatchBin(t)
	dir := t.TempDir()
	units, _ := filepath.Glob(filepath.Join(systemdDir, "*.service"))
	var paths []string
	for _, f := range units {
		data := strings.ReplaceAll(string(mustRead(t, f)), "ExecStart=/usr/local/bin/synwatch ", "ExecStart="+bin+" ")
		p := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
