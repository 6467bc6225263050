package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/synwatch/synwatch/internal/event"
)

// Slack posts a Block Kit message to an incoming webhook.
type Slack struct {
	p *poster
}

// NewSlack builds the Slack sink. url is the incoming-webhook URL (a
// secret: never logged, never in errors).
func NewSlack(url string) (*Slack, error) {
	p, err := newPoster(url, "")
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return &Slack{p: p}, nil
}

// Name implements Sink.
func (s *Slack) Name() string { return "slack" }

// Send implements Sink.
func (s *Slack) Send(ctx context.Context, a *event.Alert) error {
	body, err := json.Marshal(SlackMessage(a))
	if err != nil {
		return Permanent(fmt.Errorf("encode message: %w", err))
	}
	return s.p.post(ctx, body, http.Header{"Content-Type": {"application/json"}})
}

// slack Block Kit types: only what the message uses.
type slackText struct {
	Type string `json:"type"` // plain_text, mrkdwn
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"` // header, section, context, divider
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

// SlackPayload is the JSON posted to the incoming webhook.
type SlackPayload struct {
	Text   string       `json:"text"` // notification fallback
	Blocks []slackBlock `json:"blocks"`
}

var sevEmoji = map[event.Severity]string{
	event.SevCritical: ":red_circle:",
	event.SevHigh:     ":large_orange_circle:",
	event.SevMedium:   ":large_yellow_circle:",
	event.SevLow:      ":large_blue_circle:",
	event.SevInfo:     ":white_circle:",
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// VulnURL links a vulnerability id: NVD for CVEs, vulners otherwise.
func VulnURL(v event.Vuln) string {
	if strings.HasPrefix(v.ID, "CVE-") {
		return "https://nvd.nist.gov/vuln/detail/" + v.ID
	}
	t := v.Type
	if t == "" {
		t = "vulners"
	}
	return "https://vulners.com/" + t + "/" + v.ID
}

// TopVulns returns up to n vulnerabilities, highest CVSS first, exploits
// first among equals.
func TopVulns(vs []event.Vuln, n int) []event.Vuln {
	out := append([]event.Vuln(nil), vs...)
	score := func(v event.Vuln) float64 {
		if v.CVSS == nil {
			return -1
		}
		return *v.CVSS
	}
	sort.SliceStable(out, func(i, j int) bool {
		if score(out[i]) != score(out[j]) {
			return score(out[i]) > score(out[j])
		}
		return out[i].IsExploit && !out[j].IsExploit
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func record(a *event.Alert) *event.Record {
	if a.Change.After != nil {
		return a.Change.After
	}
	if a.Change.Before != nil {
		return a.Change.Before
	}
	return &event.Record{Service: a.Change.Service}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// SlackMessage builds the Block Kit message for an alert.
func SlackMessage(a *event.Alert) SlackPayload {
	r := record(a)
	svc := a.Change.Service
	name := r.Name
	if name == "" {
		name = "unknown"
	}
	version := strings.TrimSpace(r.Product + " " + r.Version)
	if version == "" {
		version = "-"
	}
	verdict := string(r.Status)
	if verdict == "" {
		verdict = "unverified"
	}
	sensor := "-"
	if a.Change.Observation != nil && a.Change.Observation.Sensor != "" {
		sensor = a.Change.Observation.Sensor
	} else if len(r.Sensors) > 0 {
		sensor = strings.Join(r.Sensors, ", ")
	}
	port := fmt.Sprintf("%d/%s", svc.Port, svc.Proto)
	if a.Change.Kind == event.ChangeHostSprays {
		port = "many"
		if a.Change.Observation != nil {
			port = fmt.Sprintf("%d ports", a.Change.Observation.Ports)
		}
	}
	header := fmt.Sprintf("%s %s", strings.ToUpper(string(a.Severity)), a.Title)
	header = truncate(header, 150) // Slack's limit for header text
	fields := []slackText{
		{Type: "mrkdwn", Text: "*Host*\n" + slackEscape(svc.IP.String())},
		{Type: "mrkdwn", Text: "*Port*\n" + port},
		{Type: "mrkdwn", Text: "*Service*\n" + slackEscape(name)},
		{Type: "mrkdwn", Text: "*Version*\n" + slackEscape(version)},
		{Type: "mrkdwn", Text: "*Verdict*\n" + verdict},
		{Type: "mrkdwn", Text: "*Severity*\n" + sevEmoji[a.Severity] + " " + string(a.Severity)},
		{Type: "mrkdwn", Text: "*First seen*\n" + fmtTime(r.FirstSeen)},
		{Type: "mrkdwn", Text: "*Sensor*\n" + slackEscape(sensor)},
	}
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: header}},
		{Type: "section", Fields: fields},
	}
	if len(a.Reasons) > 0 {
		var b strings.Builder
		b.WriteString("*Why*\n")
		for _, reason := range a.Reasons {
			b.WriteString("• " + slackEscape(reason) + "\n")
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(b.String(), 3000)}})
	}
	if top := TopVulns(r.Vulns, 5); len(top) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "*Top vulnerabilities* (%d known)\n", len(r.Vulns))
		for _, v := range top {
			score := "n/a"
			if v.CVSS != nil {
				score = fmt.Sprintf("%.1f", *v.CVSS)
			}
			mark := ""
			if v.IsExploit {
				mark = " :boom: exploit"
			}
			fmt.Fprintf(&b, "• <%s|%s> CVSS %s%s\n", VulnURL(v), slackEscape(v.ID), score, mark)
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(b.String(), 3000)}})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{
		{Type: "mrkdwn", Text: fmt.Sprintf("synwatch · %s · alert `%s` · %s", a.Change.Kind, slackEscape(a.ID), fmtTime(a.CreatedAt))},
	}})
	return SlackPayload{
		Text:   fmt.Sprintf("[%s] %s", a.Severity, a.Title),
		Blocks: blocks,
	}
}

// truncate shortens s to at most n bytes, on a rune boundary, marking
// the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
