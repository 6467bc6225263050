package alert

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// A product banner is the remote host's text: in the notification text, as
// in the blocks, <!channel> must reach Slack escaped, or it pings the channel.
func TestSlackFallbackTextEscaped(t *testing.T) {
	rv := newReceiver(t, nil)
	urlFile := filepath.Join(t.TempDir(), "slack_url")
	if err := os.WriteFile(urlFile, []byte(rv.srv.URL+"/services/T000/B000/X\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.Sinks.Slack = &config.SlackSink{URLFile: urlFile}
	d, _, _ := newTestDispatcher(t, cfg)
	c := change(event.ChangeNew, nil, rec("198.18.0.7", 8080, event.TCP, event.StatusExposed, "http", "<!channel> admin <@U123>", "1.0"))
	c.ID = "chg-banner"
	if err := d.Deliver(context.Background(), []event.Change{c}); err != nil {
		t.Fatal(err)
	}
	if rv.count() != 1 {
		t.Fatalf("slack got %d posts", rv.count())
	}
	var msg struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(rv.bodies[0], &msg); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.Text, "<!channel>") || strings.Contains(msg.Text, "<@U123>") || !strings.Contains(msg.Text, "&lt;!channel&gt;") {
		t.Errorf("notification text not escaped: %q", msg.Text)
	}
	dig := SlackDigest([]*event.Alert{{Severity: event.SevHigh, Title: "<!here> x"}, {Severity: event.SevLow, Title: "y"}}, "")
	if strings.Contains(dig.Text, "<!here>") {
		t.Errorf("digest notification text not escaped: %q", dig.Text)
	}
}

// The digest's "details" line links the configured address (the console of
// an all-in-one run, where `synwatch exposures` cannot open the store it
// holds); without one it names the command.
func TestSlackDigestDetails(t *testing.T) {
	alerts := []*event.Alert{{Severity: event.SevHigh, Title: "a"}, {Severity: event.SevLow, Title: "b"}}
	ctxLine := func(p SlackPayload) string {
		last := p.Blocks[len(p.Blocks)-1]
		return last.Elements[0].Text
	}
	if got := ctxLine(SlackDigest(alerts, "http://127.0.0.1:9110/services")); !strings.Contains(got, "details: <http://127.0.0.1:9110/services> ·") {
		t.Errorf("with a details URL: %q", got)
	}
	if got := ctxLine(SlackDigest(alerts, "")); !strings.Contains(got, "details: `synwatch exposures` ·") {
		t.Errorf("without: %q", got)
	}
}
