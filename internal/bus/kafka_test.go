package bus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
)

const secret = "s3cr3t-Pa55"

// The password comes from a file or the environment and never shows when the
// mechanism (or a Dialer holding it) is printed, nor in errors.
func TestMechanismRedacts(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SYNWATCH_TEST_KAFKA_PW", secret)
	for _, c := range []config.SASL{
		{Mechanism: "PLAIN", Username: "sensor", PasswordFile: pwFile},
		{Mechanism: "SCRAM-SHA-256", Username: "sensor", PasswordEnv: "SYNWATCH_TEST_KAFKA_PW"},
		{Mechanism: "SCRAM-SHA-512", Username: "sensor", PasswordFile: pwFile},
	} {
		t.Run(c.Mechanism, func(t *testing.T) {
			m, err := Mechanism(c)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name() != c.Mechanism {
				t.Errorf("Name() = %q", m.Name())
			}
			d, err := Dialer(config.Kafka{SASL: c})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m), fmt.Sprintf("%+v", *d)} {
				if strings.Contains(s, secret) {
					t.Errorf("printed form shows the password: %s", s)
				}
			}
			if want := c.Mechanism + "(user=sensor, password=REDACTED)"; fmt.Sprint(m) != want {
				t.Errorf("String() = %q, want %q", fmt.Sprint(m), want)
			}
		})
	}
}

func TestMechanismErrors(t *testing.T) {
	for _, tc := range []struct {
		c    config.SASL
		want string
	}{
		{config.SASL{Mechanism: "PLAIN", PasswordEnv: "SYNWATCH_TEST_UNSET_VAR"}, "sasl password_env: environment variable SYNWATCH_TEST_UNSET_VAR is not set"},
		{config.SASL{Mechanism: "PLAIN", PasswordFile: "/nonexistent/pw"}, "sasl password_file: open /nonexistent/pw: no such file or directory"},
		{config.SASL{Mechanism: "GSSAPI", PasswordFile: "/dev/null"}, `sasl mechanism "GSSAPI" not supported`},
	} {
		if _, err := Mechanism(tc.c); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: err = %v, want %s", tc.c, err, tc.want)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	if tc, err := TLSConfig(config.TLS{}); tc != nil || err != nil {
		t.Errorf("TLS off: %v %v", tc, err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	if _, err := TLSConfig(config.TLS{Enabled: true, CAFile: notPEM}); err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Errorf("CA without PEM: %v", err)
	}
	if _, err := TLSConfig(config.TLS{Enabled: true, CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}); err == nil || !strings.HasPrefix(err.Error(), "tls client certificate:") {
		t.Errorf("missing client cert: %v", err)
	}
}

func brokerCfg(t *testing.T) config.Kafka {
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Brokers = []string{testenv.Kafka(t)}
	return cfg.Kafka
}

// EnsureTopics creates missing topics with the settings asked for and leaves
// existing ones alone.
func TestEnsureTopicsIdempotent(t *testing.T) {
	cfg := brokerCfg(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	cfg.Topics = config.Topics{Observations: "t.obs." + suffix, Alerts: "t.alerts." + suffix, DeadLetter: "t.dlq." + suffix,
		Partitions: 3, Replication: 1, Retention: 2 * time.Hour}
	topics := Topics(cfg)
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	t.Cleanup(func() {
		client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{cfg.Topics.Observations, cfg.Topics.Alerts, cfg.Topics.DeadLetter}})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created, err := EnsureTopics(ctx, cfg, topics...)
	if err != nil || len(created) != 3 {
		t.Fatalf("first run: created %v, err %v", created, err)
	}
	created, err = EnsureTopics(ctx, cfg, topics...)
	if err != nil || len(created) != 0 {
		t.Fatalf("second run: created %v, err %v (want none, no error)", created, err)
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.Topics.Observations}})
	if err != nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 3 {
		t.Fatalf("metadata: %+v %v", md, err)
	}
	dc, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: cfg.Topics.Alerts, ConfigNames: []string{"retention.ms"}}}})
	if err != nil || len(dc.Resources) != 1 || len(dc.Resources[0].ConfigEntries) != 1 {
		t.Fatalf("describe configs: %+v %v", dc, err)
	}
	if v := dc.Resources[0].ConfigEntries[0].ConfigValue; v != "7200000" {
		t.Errorf("retention.ms = %s, want 7200000", v)
	}
}

func TestEnsureTopicsBrokerDown(t *testing.T) {
	cfg := config.Kafka{Brokers: []string{"127.0.0.1:1"}, Topics: config.Topics{Observations: "x", Partitions: 1, Replication: 1}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := EnsureTopics(ctx, cfg, Topic{Name: "x", Partitions: 1, Replication: 1})
	if err == nil || !strings.Contains(err.Error(), "is the broker running and reachable?") {
		t.Errorf("err = %v", err)
	}
}

// Every compression the config accepts round-trips through the broker, keys
// and headers included.
func TestWriterCompressionsRoundTrip(t *testing.T) {
	base := brokerCfg(t)
	for _, comp := range []string{"zstd", "lz4", "snappy", "gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			cfg := base
			cfg.Compression = comp
			topic := testenv.KafkaTopic(t, cfg.Brokers[0], "bus", 1)
			w, err := NewWriter(cfg, topic)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			hs := Headers(1, "application/json")
			if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("198.18.0.1"), Value: []byte(`{"x":1}`), Headers: hs}); err != nil {
				t.Fatalf("write with %s: %v", comp, err)
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Key) != "198.18.0.1" || string(m.Value) != `{"x":1}` || len(m.Headers) != 2 ||
				m.Headers[0].Key != HeaderSchemaVersion || string(m.Headers[0].Value) != "1" || string(m.Headers[1].Value) != "application/json" {
				t.Errorf("read back %q %q %v", m.Key, m.Value, m.Headers)
			}
		})
	}
}

// A broker address that cannot work fails at once, with what is wrong,
// instead of a client that retries forever without a word.
func TestBadBrokerRefusedAtOnce(t *testing.T) {
	for in, want := range map[string]string{
		"localhost":       `broker "localhost": want HOST:PORT`,
		"kafka://b:9092":  "without a scheme",
		"127.0.0.1:0":     "port must be 1-65535",
		"127.0.0.1:70000": "port must be 1-65535",
		"":                "empty broker address",
	} {
		cfg := config.Default().Kafka
		cfg.Brokers = []string{in}
		start := time.Now()
		if _, err := NewWriter(cfg, "t"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewWriter(%q): %v, want %q", in, err, want)
		}
		if _, err := EnsureTopics(context.Background(), cfg, Topics(cfg)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("EnsureTopics(%q): %v, want %q", in, err, want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%q took %v to refuse", in, d)
		}
	}
}
