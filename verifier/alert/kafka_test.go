package alert

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

func TestKafkaAlertsTopicReadBackWithKcat(t *testing.T) {
	testenv.RequireTool(t, "kcat")
	broker := testenv.Kafka(t)
	topic := testenv.KafkaTopic(t, broker, "synwatch.alerts", 1)

	cfg := fastConfig()
	cfg.GiveUp = 30 * time.Second
	cfg.Sinks.Kafka = &config.SinkCommon{}
	kcfg := config.Default().Kafka
	kcfg.Brokers = []string{broker}
	kcfg.Topics.Alerts = topic
	log, _ := testLogger()
	d, err := New(cfg, kcfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	second := change(event.ChangeNew, nil, rec("198.18.0.7", 22, event.TCP, event.StatusExposed, "ssh", "OpenSSH", "9.2p1"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Deliver(ctx, []event.Change{redisChange("chg-kafka-1"), second, redisChange("chg-kafka-1")}); err != nil {
		t.Fatal(err)
	}

	out, err := exec.CommandContext(ctx, "kcat", "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q",
		"-f", `%k\t%h\t%s\n`).Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("topic has %d messages, want 2 (the duplicate must not be written):\n%s", len(lines), out)
	}
	byID := map[string]bool{}
	for _, l := range lines {
		parts := strings.SplitN(l, "\t", 3)
		if len(parts) != 3 {
			t.Fatalf("kcat line %q", l)
		}
		key, headers, value := parts[0], parts[1], parts[2]
		validateAlertJSON(t, []byte(value))
		var a event.Alert
		if err := json.Unmarshal([]byte(value), &a); err != nil {
			t.Fatal(err)
		}
		byID[a.ID] = true
		if key != a.Change.Service.IP.String() {
			t.Errorf("key %q, want the host IP %s", key, a.Change.Service.IP)
		}
		for _, h := range []string{"content-type=application/json", "schema-version=1", "severity=" + string(a.Severity), "alert-id=" + a.ID} {
			if !strings.Contains(headers, h) {
				t.Errorf("headers %q lack %q", headers, h)
			}
		}
	}
	if !byID["chg-kafka-1"] || !byID[second.ID] {
		t.Errorf("alerts on the topic: %v", byID)
	}
}
