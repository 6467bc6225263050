package deploy

import (
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const composeDir = "compose"

func TestCompose(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(composeDir, "compose.yaml")), &doc); err != nil {
		t.Fatal(err)
	}
	services, _ := doc["services"].(map[string]any)
	for _, want := range []string{"kafka", "redis", "sensor", "verifier"} {
		if services[want] == nil {
			t.Errorf("compose.yaml: no service %s", want)
		}
	}
	if img := str(services, "kafka", "image"); !strings.HasPrefix(img, "apache/kafka:") {
		t.Errorf("kafka image %q, want apache/kafka (KRaft)", img)
	}
	if str(services, "kafka", "environment", "KAFKA_PROCESS_ROLES") != "broker,controller" {
		t.Error("kafka: KAFKA_PROCESS_ROLES must be broker,controller (KRaft, no ZooKeeper)")
	}
	// Loopback ports published by some service: what a host-network service reaches.
	published := map[string]bool{}
	for _, svc := range services {
		for _, p := range strs(svc, "ports") {
			if parts := strings.Split(p, ":"); len(parts) == 3 {
				published[parts[0]+":"+parts[1]] = true
			}
		}
	}
	cmds := commands(t)
	for name, svc := range services {
		target := str(svc, "build", "target")
		if target == "" {
			continue // not a synwatch image
		}
		t.Run(name, func(t *testing.T) {
			where := "compose.yaml service " + name
			df, _ := filepath.Abs(filepath.Join(composeDir, str(svc, "build", "context"), str(svc, "build", "dockerfile")))
			if want, _ := filepath.Abs(dockerfilePath); df != want {
				t.Errorf("%s: builds %s, want %s", where, df, dockerfilePath)
			}
			ep, defCmd, imgEnv := imageTarget(t, target)
			if len(ep) != 1 || !strings.HasSuffix(ep[0], "/synwatch") {
				t.Fatalf("%s: image entrypoint %v", where, ep)
			}
			args := strs(svc, "command")
			if args == nil {
				args = defCmd
			}
			cfgPath := checkInvocation(t, cmds, invocation{where + " command", args})
			// The config file: mounted from this directory at --config.
			var hostCfg string
			for _, v := range strs(svc, "volumes") {
				parts := strings.Split(v, ":")
				if len(parts) >= 2 && parts[1] == cfgPath {
					hostCfg = filepath.Join(composeDir, parts[0])
				}
			}
			if cfgPath == "" || hostCfg == "" {
				t.Fatalf("%s: --config %q is not a file mounted from %s", where, cfgPath, composeDir)
			}
			cfg := loadConfig(t, hostCfg, mustRead(t, hostCfg))
			env := map[string]string{}
			for k, v := range imgEnv {
				env[k] = v
			}
			if m, ok := get(svc, "environment").(map[string]any); ok {
				for k, v := range m {
					s, _ := v.(string)
					env[k] = s
					checkEnv(t, where+" environment", k, s, envRefs(cfg))
				}
			} else if get(svc, "environment") != nil {
				t.Errorf("%s: environment: use the map form", where)
			}
			cfg = applyEnv(t, where, cfg, env)

			hostNet := str(svc, "network_mode") == "host"
			capAdd := strs(svc, "cap_add")
			if !slices.Equal(strs(svc, "cap_drop"), []string{"ALL"}) {
				t.Errorf("%s: cap_drop %v, want [ALL]", where, strs(svc, "cap_drop"))
			}
			for _, c := range capAdd {
				if c != "NET_RAW" {
					t.Errorf("%s: cap_add %s: synwatch needs NET_RAW at most", where, c)
				}
			}
			for _, o := range strs(svc, "security_opt") {
				if strings.HasPrefix(o, "no-new-privileges") && len(capAdd) > 0 {
					t.Errorf("%s: security_opt %s voids the image's file capability", where, o)
				}
			}
			if args[0] == "sensor" {
				if !hostNet || !slices.Equal(capAdd, []string{"NET_RAW"}) {
					t.Errorf("%s: the sensor needs network_mode: host and cap_add [NET_RAW]", where)
				}
			}
			// Metrics port: published from the listen port (or host network).
			port := listenPort(t, where, cfg)
			if port == "" && args[0] != "kafka" {
				t.Errorf("%s: observability.listen is off", where)
			}
			for _, p := range strs(svc, "ports") {
				parts := strings.Split(p, ":")
				if parts[len(parts)-1] != port {
					t.Errorf("%s: publishes %s, but synwatch listens on port %s", where, p, port)
				}
			}
			if hostNet && len(strs(svc, "ports")) > 0 {
				t.Errorf("%s: ports: on the host network nothing is published", where)
			}
			// The sensor's spool lies on a writable volume (the root is read-only).
			if args[0] == "sensor" {
				spool, ok := cfg.Kafka.Spool.Dir, false
				for _, v := range strs(svc, "volumes") {
					parts := strings.Split(v, ":")
					if len(parts) >= 2 && under(spool, parts[1]) && !(len(parts) == 3 && parts[2] == "ro") {
						ok = true
					}
				}
				if spool == "" || !ok {
					t.Errorf("%s: kafka.spool.dir %q is not on a writable volume", where, spool)
				}
			}
			// Kafka and Redis are reached where they are.
			if args[0] == "sensor" || args[0] == "verifier" || args[0] == "kafka" {
				for _, b := range cfg.Kafka.Brokers {
					host, p, err := net.SplitHostPort(b)
					switch {
					case err != nil:
						t.Errorf("%s: broker %q: %v", where, b, err)
					case hostNet && !published[b]:
						t.Errorf("%s: on the host network, broker %s is no published loopback port (%v)", where, b, keys(published))
					case !hostNet && (services[host] == nil || p == ""):
						t.Errorf("%s: broker %s: no service %s", where, b, host)
					}
				}
			}
			if args[0] == "verifier" {
				host := strings.TrimPrefix(strings.TrimPrefix(cfg.Store.URL, "redis://"), "rediss://")
				host, _, _ = strings.Cut(host, ":")
				if services[host] == nil {
					t.Errorf("%s: store.url %s: no service %s", where, cfg.Store.URL, host)
				}
			}
			for dep := range asMap(get(svc, "depends_on")) {
				if services[dep] == nil {
					t.Errorf("%s: depends_on %s: no such service", where, dep)
				}
			}
		})
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
