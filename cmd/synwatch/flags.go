package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/obs"
)

// One vocabulary: a flag that sets a config key is named after the key's
// last part (sensor.interface → --interface, sensor.stats_interval →
// --stats-interval), and the key's environment variable is
// SYNWATCH_ + the key in upper case (SYNWATCH_SENSOR_INTERFACE). Where the
// last part alone would be unclear the flag names more of it (--sensor-name,
// --kafka for kafka.brokers, --store for store.url). Old names stay as
// hidden, deprecated aliases. docs/reference.md lists them all; it is
// generated from these definitions (TestReference).
//
// A command binds its key flags through keyFlags and applies them over the
// loaded config: file < environment < flags.

// keyAnnotation marks a flag bound to a config key (for the reference).
const keyAnnotation = "synwatch/key"

// keyValue is a flag bound to a config key; it holds the string as given,
// read by config.Set when applied (errors name the flag then).
type keyValue struct {
	key, kind string
	val       string
	set       bool
	alias     string // the deprecated name it was given by, if any
}

func (v *keyValue) String() string { return v.val }

func (v *keyValue) Type() string {
	switch v.kind {
	case "networks":
		return "CIDRs"
	case "list":
		return "strings"
	case "number":
		return "float"
	}
	return v.kind
}

func (v *keyValue) Set(s string) error {
	if v.kind == "networks" {
		if strings.HasPrefix(s, "@") {
			var err error
			if s, err = readNetworkList(s[1:]); err != nil {
				return err
			}
		}
		// given more than once (or as --inside-file too): all of them
		if v.set && v.val != "" && s != "" {
			s = v.val + "," + s
		}
	}
	v.val, v.set = s, true
	return nil
}

// aliasValue is a deprecated name of a key flag.
type aliasValue struct {
	*keyValue
	name string
}

func (a aliasValue) Set(s string) error {
	a.keyValue.alias = a.name
	return a.keyValue.Set(s)
}

// fileValue is --inside-file FILE: the networks listed in FILE.
type fileValue struct{ v *keyValue }

func (f fileValue) String() string { return "" }
func (f fileValue) Type() string   { return "FILE" }
func (f fileValue) Set(s string) error {
	return f.v.Set("@" + s)
}

// readNetworkList reads a file of networks: CIDRs or addresses separated by
// commas, spaces or lines; # starts a comment.
func readNetworkList(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var nets []string
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		nets = append(nets, strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' })...)
	}
	if len(nets) == 0 {
		return "", fmt.Errorf("%s lists no network", path)
	}
	return strings.Join(nets, ","), nil
}

// keyFlags are the key-bound flags of one command.
type keyFlags struct {
	vals  []*keyValue
	names map[string]string // key → flag name
}

// add defines --name bound to key; aliases are deprecated old names.
func (k *keyFlags) add(fs *pflag.FlagSet, name, key, usage string, aliases ...string) *pflag.Flag {
	kind := config.KeyKind(key)
	if kind == "" {
		panic("flag --" + name + ": no config key " + key)
	}
	v := &keyValue{key: key, kind: kind}
	k.vals = append(k.vals, v)
	if k.names == nil {
		k.names = map[string]string{}
	}
	k.names[key] = name
	dv := config.DefaultValue(key)
	bind := func(n string, pv pflag.Value) *pflag.Flag {
		f := fs.VarPF(pv, n, "", usage)
		f.DefValue = dv
		if kind == "bool" {
			f.NoOptDefVal = "true"
		}
		f.Annotations = map[string][]string{keyAnnotation: {key}}
		return f
	}
	f := bind(name, v)
	for _, a := range aliases {
		bind(a, aliasValue{v, a})
		// hidden, and warned about by warnDeprecated: pflag's own
		// deprecation notice goes where cobra points the flag output
		_ = fs.MarkHidden(a)
	}
	return f
}

// addFile defines --NAME-file FILE for the networks key of --NAME.
func (k *keyFlags) addFile(fs *pflag.FlagSet, key, usage string) {
	for _, v := range k.vals {
		if v.key == key {
			f := fs.VarPF(fileValue{v}, k.names[key]+"-file", "", usage)
			f.Annotations = map[string][]string{keyAnnotation: {key}}
			return
		}
	}
	panic("addFile: no flag for " + key)
}

// warnDeprecated says on w which deprecated flag names were used.
func (k *keyFlags) warnDeprecated(w io.Writer) {
	for _, v := range k.vals {
		if v.alias != "" {
			fmt.Fprintf(w, "synwatch: warning: --%s is deprecated, use --%s\n", v.alias, k.names[v.key])
		}
	}
}

// set says whether the flag of key was given.
func (k *keyFlags) set(key string) bool {
	for _, v := range k.vals {
		if v.key == key && v.set {
			return true
		}
	}
	return false
}

// apply sets the keys whose flags were given; a bad value is a usage error
// naming the flag.
func (k *keyFlags) apply(cfg *config.Config) error {
	for _, v := range k.vals {
		if !v.set {
			continue
		}
		if err := config.Set(cfg, v.key, v.val); err != nil {
			return usagef("--%s: %v", k.names[v.key], err)
		}
	}
	return nil
}

// commonOptions are the flags every role shares: the config file, the
// perimeter and the logs; commands add their own key flags to keys.
type commonOptions struct {
	config string
	keys   keyFlags
}

// register adds --config and the log flags.
func (c *commonOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config `FILE` (default: none; env SYNWATCH_CONFIG)")
	c.keys.add(fs, "log-level", "observability.log_level", "debug, info, warn or error")
	c.keys.add(fs, "log-format", "observability.log_format", "text or json")
}

// registerPerimeter adds the flags of the inside and excluded networks.
func (c *commonOptions) registerPerimeter(fs *pflag.FlagSet) {
	c.keys.add(fs, "inside", "inside", "inside networks, comma-separated CIDRs, or @FILE (one or more per line); repeatable")
	c.keys.addFile(fs, "inside", "read the inside networks from `FILE` (one or more per line, # comments)")
	c.keys.add(fs, "exclude", "exclude", "excluded networks: never reported, never scanned; comma-separated CIDRs or @FILE; repeatable")
	c.keys.addFile(fs, "exclude", "read the excluded networks from `FILE`")
}

// load reads the config (file, environment), then applies the flags. The
// caller validates what it needs.
func (c *commonOptions) load(env *Env) (config.Config, error) {
	cfg, err := config.Load(configPath(c.config))
	env.warnUnknownEnv()
	c.keys.warnDeprecated(env.Stderr)
	if err != nil {
		return cfg, err
	}
	return cfg, c.keys.apply(&cfg)
}

// registerCapture adds the capture flags of sensor and run.
func (k *keyFlags) registerCapture(fs *pflag.FlagSet) {
	k.add(fs, "interface", "sensor.interface", "capture live on interface `NAME` (needs CAP_NET_RAW)", "iface")
	k.add(fs, "pcap", "sensor.pcap", "read a pcap or pcapng `FILE` (packet timestamps kept) and exit at its end")
	k.add(fs, "source", "sensor.source", "live capture through pcap (libpcap) or afpacket (TPACKET_V3 with fanout)")
	k.add(fs, "fanout", "sensor.fanout", "AF_PACKET workers in one fanout group")
	k.add(fs, "buffer-mib", "sensor.buffer_mib", "kernel ring / pcap buffer size in MiB")
	k.add(fs, "bpf", "sensor.bpf", "extra BPF `EXPR`ession ANDed with the built-in filter, e.g. 'net 198.18.0.0/15'")
	k.add(fs, "snaplen", "sensor.snaplen", "bytes captured per packet (headers only by default)")
	k.add(fs, "sensor-name", "sensor.name", "sensor `NAME` on every observation (default: hostname)")
	k.add(fs, "promiscuous", "sensor.promiscuous", "put the interface in promiscuous mode", "promisc")
	k.add(fs, "stats-interval", "sensor.stats_interval", "log capture statistics this often (0: never)")
	k.add(fs, "listen", "observability.listen", "serve /metrics, /healthz and /readyz on `HOST:PORT` (empty: no server)")
}

// registerVerifier adds the verification flags of verifier, run and verify.
func (k *keyFlags) registerScan(fs *pflag.FlagSet) {
	k.add(fs, "nmap", "verifier.nmap", "nmap binary `PATH` (default: nmap in PATH)")
	k.add(fs, "vulners", "verifier.vulners", "run nmap's vulners script (needs vulners.com; --vulners=false: no)")
	k.add(fs, "vuln-source", "verifier.vuln_source", "where vulnerabilities come from: vulners, offline or both")
	k.add(fs, "vulndb", "verifier.vulndb", "offline vulnerability index `FILE` (synwatch vulndb import)")
}

// parseBrokers checks --kafka HOST:PORT[,HOST:PORT...].
func checkBrokers(brokers []string) error {
	if len(brokers) == 0 {
		return usagef("--kafka: want HOST:PORT[,HOST:PORT...]")
	}
	if err := config.CheckBrokers(brokers); err != nil {
		return usagef("--kafka: %v", err)
	}
	return nil
}

// configPath is the --config flag, else $SYNWATCH_CONFIG, else none.
func configPath(flag string) string {
	if flag != "" {
		return flag
	}
	return envOr("SYNWATCH_CONFIG", "")
}

// logger is the process logger of cfg, on env.Stderr.
func (c *commonOptions) logger(cfg config.Config, env *Env) *slog.Logger {
	return obs.NewLogger(cfg.Obs, env.Stderr)
}
