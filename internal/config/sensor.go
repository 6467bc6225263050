package config

import "time"

// Sensor configures capture, decoding and detection.
type Sensor struct {
	Name       string        `yaml:"name"`        // names the sensor on every observation; default: hostname
	Interface  string        `yaml:"interface"`   // live capture interface
	Pcap       string        `yaml:"pcap"`        // read a pcap/pcapng file instead
	Source     string        `yaml:"source"`      // pcap | afpacket
	Snaplen    int           `yaml:"snaplen"`     // bytes per packet; headers only by default
	Promisc    bool          `yaml:"promiscuous"` // needs CAP_NET_ADMIN
	BufferMiB  int           `yaml:"buffer_mib"`  // kernel ring / pcap buffer size
	Fanout     int           `yaml:"fanout"`      // AF_PACKET workers
	ExtraBPF   string        `yaml:"bpf"`         // ANDed with the built-in filter
	Output     string        `yaml:"output"`      // "-" (stdout), a file path, or "kafka"
	UDP        UDPDetect     `yaml:"udp"`
	Handshake  Handshake     `yaml:"handshake"`
	Spray      Spray         `yaml:"spray"`
	Refresh    time.Duration `yaml:"refresh"`          // emit each (ip, proto, port) at most once per refresh
	SuppressN  int           `yaml:"suppress_entries"` // services the suppression table holds
	StatsEvery time.Duration `yaml:"stats_interval"`   // periodic capture statistics log line
}

// UDPDetect configures UDP service detection (request/reply pairing).
type UDPDetect struct {
	Enabled   bool          `yaml:"enabled"`
	Window    time.Duration `yaml:"window"`     // reply must follow the request within this
	HighPorts []uint16      `yaml:"high_ports"` // ports above 1024 to watch; all others above 1024 are ignored
	MaxFlows  int           `yaml:"max_flows"`  // bound of the request table
}

// Handshake configures handshake trust: the outside SYNs the sensor
// remembers, so that a SYN-ACK whose ack is not the SYN's seq+1 is not
// trusted. SYN-ACKs whose SYN was not seen (one-way feeds) are reported with
// handshake "syn_not_seen".
type Handshake struct {
	Window   time.Duration `yaml:"window"`    // a SYN is remembered this long
	MaxFlows int           `yaml:"max_flows"` // bound of the SYN table (oldest replaced when full)
}

// Spray configures the spray guard. A host that answers SYN-ACK on more than
// Ports distinct ports within Window (SYN proxies, tarpits, DDoS scrubbers
// answer on every port; ports reported within the refresh interval are not
// counted again) yields one host_sprays observation, and its
// per-port observations are held down for HoldDown. Within a window, a
// host's first Ports/8 new ports are reported at once; further ones wait
// for the window to end (then they are reported, with their packet times)
// or for the guard to trip (then they are dropped), so a spraying host makes
// a handful of service observations, not Ports of them.
type Spray struct {
	Ports    int           `yaml:"ports"`     // K distinct ports ...
	Window   time.Duration `yaml:"window"`    // ... within T
	HoldDown time.Duration `yaml:"hold_down"` // per-port observations held down this long
	MaxHosts int           `yaml:"max_hosts"` // hosts tracked at once (least recently seen forgotten)
}

func defaultSensor() Sensor {
	return Sensor{
		Source:     "pcap",
		Snaplen:    256,
		Promisc:    true,
		BufferMiB:  64,
		Fanout:     1,
		Output:     "-",
		UDP:        UDPDetect{Enabled: true, Window: 5 * time.Second, MaxFlows: 65536},
		Handshake:  Handshake{Window: 30 * time.Second, MaxFlows: 65536},
		Spray:      Spray{Ports: 64, Window: 10 * time.Second, HoldDown: 10 * time.Minute, MaxHosts: 65536},
		Refresh:    time.Hour,
		SuppressN:  1 << 20,
		StatsEvery: time.Minute,
	}
}

func (s *Sensor) validate() []error {
	var errs []error
	if s.Interface != "" && s.Pcap != "" {
		errs = append(errs, fieldErr("sensor.interface", "set either sensor.interface or sensor.pcap, not both"))
	}
	switch s.Source {
	case "pcap", "afpacket":
	default:
		errs = append(errs, fieldErr("sensor.source", "must be pcap or afpacket, not %q", s.Source))
	}
	if s.Snaplen < 96 || s.Snaplen > 262144 {
		errs = append(errs, fieldErr("sensor.snaplen", "must be 96-262144 (headers of tunnelled frames need ~200), not %d", s.Snaplen))
	}
	if s.BufferMiB < 1 {
		errs = append(errs, fieldErr("sensor.buffer_mib", "must be at least 1"))
	}
	if s.Fanout < 1 || s.Fanout > 64 {
		errs = append(errs, fieldErr("sensor.fanout", "must be 1-64, not %d", s.Fanout))
	}
	if s.Refresh < time.Second {
		errs = append(errs, fieldErr("sensor.refresh", "must be at least 1s"))
	}
	if s.SuppressN < 1 {
		errs = append(errs, fieldErr("sensor.suppress_entries", "must be positive"))
	}
	if s.Spray.Ports < 2 {
		errs = append(errs, fieldErr("sensor.spray.ports", "must be at least 2"))
	}
	if s.Spray.Window <= 0 {
		errs = append(errs, fieldErr("sensor.spray.window", "must be positive"))
	}
	if s.Spray.HoldDown < 0 {
		errs = append(errs, fieldErr("sensor.spray.hold_down", "must not be negative"))
	}
	if s.Spray.MaxHosts < 1 {
		errs = append(errs, fieldErr("sensor.spray.max_hosts", "must be positive"))
	}
	if s.Handshake.Window <= 0 {
		errs = append(errs, fieldErr("sensor.handshake.window", "must be positive"))
	}
	if s.Handshake.MaxFlows < 1 {
		errs = append(errs, fieldErr("sensor.handshake.max_flows", "must be positive"))
	}
	if s.StatsEvery < 0 {
		errs = append(errs, fieldErr("sensor.stats_interval", "must not be negative (0: no periodic line)"))
	}
	if s.UDP.Window <= 0 {
		errs = append(errs, fieldErr("sensor.udp.window", "must be positive"))
	}
	if s.UDP.MaxFlows < 1 {
		errs = append(errs, fieldErr("sensor.udp.max_flows", "must be positive"))
	}
	return errs
}
