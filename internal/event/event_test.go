package event

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func validObservation() Observation {
	return Observation{
		SchemaVersion: SchemaVersion,
		ID:            "0f3c",
		Kind:          KindService,
		Proto:         TCP,
		IP:            netip.MustParseAddr("198.18.1.1"),
		Port:          443,
		PeerIP:        netip.MustParseAddr("198.19.0.7"),
		PeerPort:      51234,
		ObservedAt:    time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC),
		Sensor:        "tap-1",
		Handshake:     HandshakeVerified,
	}
}

func TestObservationValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(o *Observation)
		want string // substring of the error; "" = valid
	}{
		{"valid", func(o *Observation) {}, ""},
		{"sprays need no port", func(o *Observation) { o.Kind, o.Port, o.Ports = KindHostSprays, 0, 70 }, ""},
		{"sprays count ports", func(o *Observation) { o.Kind, o.Port, o.Ports = KindHostSprays, 0, 0 }, "host_sprays ports 0: must be 1-65535"},
		{"sprays port count over 65535", func(o *Observation) { o.Kind, o.Port, o.Ports = KindHostSprays, 0, 70000 }, "host_sprays ports 70000"},
		{"service carries no port count", func(o *Observation) { o.Ports = 3 }, "only host_sprays carries a port count"},
		{"long id", func(o *Observation) { o.ID = strings.Repeat("x", 257) }, "id is 257 bytes long (limit 256)"},
		{"long sensor", func(o *Observation) { o.Sensor = strings.Repeat("s", 100000) }, "sensor is 100000 bytes long"},
		{"long interface", func(o *Observation) { o.Interface = strings.Repeat("i", 300) }, "interface is 300 bytes long"},
		{"long kind not quoted", func(o *Observation) { o.ID, o.Kind = strings.Repeat("x", 300), Kind(strings.Repeat("k", 5000)) }, "id is 300"},
		{"too many vlans", func(o *Observation) { o.VLANs = []uint16{1, 2, 3} }, "3 vlans (limit 2)"},
		{"vlan id", func(o *Observation) { o.VLANs = []uint16{4096} }, "vlan 4096: must be 0-4095"},
		{"tunnel kind", func(o *Observation) { o.Tunnel = &Tunnel{Kind: "x:y"} }, `unknown tunnel kind "x:y"`},
		{"tunnel ok", func(o *Observation) { o.Tunnel = &Tunnel{Kind: "vxlan", ID: 7} }, ""},
		{"far future", func(o *Observation) { o.ObservedAt = time.Now().Add(48 * time.Hour) }, "in the future"},
		{"clock skew tolerated", func(o *Observation) { o.ObservedAt = time.Now().Add(30 * time.Minute) }, ""},
		{"future schema", func(o *Observation) { o.SchemaVersion = 2 }, "unsupported schema_version 2"},
		{"unknown kind", func(o *Observation) { o.Kind = "flow" }, `unknown kind "flow"`},
		{"unknown proto", func(o *Observation) { o.Proto = "sctp" }, `unknown proto "sctp"`},
		{"no ip", func(o *Observation) { o.IP = netip.Addr{} }, "ip missing"},
		{"port zero", func(o *Observation) { o.Port = 0 }, "port must be 1-65535"},
		{"no time", func(o *Observation) { o.ObservedAt = time.Time{} }, "observed_at missing"},
		{"bad handshake", func(o *Observation) { o.Handshake = "maybe" }, `unknown handshake "maybe"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := validObservation()
			c.mut(&o)
			err := o.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// The wire format is the contract: field names and the nanosecond timestamp.
func TestObservationJSON(t *testing.T) {
	o := validObservation()
	o.VLANs = []uint16{100, 200}
	o.Tunnel = &Tunnel{Kind: "vxlan", ID: 4242}
	b, err := json.Marshal(&o)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema_version":1,"id":"0f3c","kind":"service","proto":"tcp","ip":"198.18.1.1","port":443,` +
		`"peer_ip":"198.19.0.7","peer_port":51234,"observed_at":"2026-11-22T10:00:00.123456789Z","sensor":"tap-1",` +
		`"vlans":[100,200],"tunnel":{"kind":"vxlan","id":4242},"handshake":"verified"}`
	if string(b) != want {
		t.Errorf("json:\n got %s\nwant %s", b, want)
	}
	var back Observation
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.IP != o.IP || !back.ObservedAt.Equal(o.ObservedAt) || back.Tunnel.ID != 4242 || o.Key() != "198.18.1.1" {
		t.Errorf("round trip lost data: %+v", back)
	}
	if s := o.Service().String(); s != "198.18.1.1:443/tcp" {
		t.Errorf("service string %s", s)
	}
}

func TestVerificationScores(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	v := Verification{Vulns: []Vuln{{ID: "a", CVSS: f(5)}, {ID: "b"}, {ID: "c", CVSS: f(9.8), IsExploit: true}}}
	if v.MaxCVSS() != 9.8 || !v.HasExploit() {
		t.Errorf("max %v exploit %v", v.MaxCVSS(), v.HasExploit())
	}
	if (&Verification{}).MaxCVSS() != 0 {
		t.Error("no vulns should score 0")
	}
}

func TestSeverityRank(t *testing.T) {
	order := []Severity{SevInfo, SevLow, SevMedium, SevHigh, SevCritical}
	for i, s := range order {
		if s.Rank() != i {
			t.Errorf("%s rank %d", s, s.Rank())
		}
	}
	if Severity("urgent").Rank() != -1 {
		t.Error("unknown severity must rank -1")
	}
}
