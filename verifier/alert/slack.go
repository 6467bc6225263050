package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/synwatch/synwatch/internal/event"
)

// Slack posts a Block Kit message to an incoming webhook, one at a time.
// Alerts that arrive while a message is on its way wait and go out
// together in the next one, a digest of up to slackDigestMax: a firewall
// change that exposes hundreds of services makes a handful of messages, not
// hundreds (Slack also allows about one message a second per webhook). A
// lone alert still gets its full message at once.
type Slack struct {
	p       *poster
	details string // where the digest sends readers for details (a console URL); "": the exposures command

	mu       sync.Mutex
	waiting  []*slackWaiter
	posting  bool      // a drain goroutine runs
	lastPost time.Time // owned by the drain goroutine
}

type slackWaiter struct {
	ctx  context.Context
	a    *event.Alert
	done chan error // buffered: the drain never blocks on a waiter that left
}

// slackDigestMax bounds the alerts in one message (Slack allows 50 blocks
// and 3,000 characters a section); it is also the sink's concurrency, so
// that many alerts can wait for one message.
const slackDigestMax = 100

// slackGap spaces messages as Slack's incoming webhooks ask (about one a
// second); alerts arriving meanwhile join the next message.
const slackGap = time.Second

// NewSlack builds the Slack sink. url is the incoming-webhook URL (a
// secret: never logged, never in errors); details, when set, is the address
// digests link to for details (alert.sinks.slack.details_url, e.g. the
// console).
func NewSlack(url, details string) (*Slack, error) {
	p, err := newPoster(url, "")
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return &Slack{p: p, details: details}, nil
}

// Name implements Sink.
func (s *Slack) Name() string { return "slack" }

// Concurrency lets up to slackDigestMax alerts wait for one message.
func (s *Slack) Concurrency() int { return slackDigestMax }

// Send implements Sink: it returns when the message that carries a went
// out (or failed: every alert in it is then retried on its own).
func (s *Slack) Send(ctx context.Context, a *event.Alert) error {
	w := &slackWaiter{ctx: ctx, a: a, done: make(chan error, 1)}
	s.mu.Lock()
	s.waiting = append(s.waiting, w)
	if !s.posting {
		s.posting = true
		go s.drain()
	}
	s.mu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain posts what waits, one message at a time, until nothing does.
func (s *Slack) drain() {
	for {
		time.Sleep(time.Until(s.lastPost.Add(slackGap)))
		s.mu.Lock()
		var batch []*slackWaiter
		n := 0
		for _, w := range s.waiting {
			switch {
			case w.ctx.Err() != nil: // its Send has returned
			case len(batch) < slackDigestMax:
				batch = append(batch, w)
			default:
				s.waiting[n] = w
				n++
			}
		}
		clear(s.waiting[n:])
		s.waiting = s.waiting[:n]
		if len(batch) == 0 {
			s.posting = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.lastPost = time.Now()
		err := s.post(batch)
		for _, w := range batch {
			w.done <- err
		}
	}
}

// post sends one message for batch, under the earliest of their deadlines.
func (s *Slack) post(batch []*slackWaiter) error {
	alerts := make([]*event.Alert, len(batch))
	deadline := time.Now().Add(time.Minute)
	for i, w := range batch {
		alerts[i] = w.a
		if d, ok := w.ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
	}
	msg := SlackMessage(alerts[0])
	if len(alerts) > 1 {
		msg = SlackDigest(alerts, s.details)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return Permanent(fmt.Errorf("encode message: %w", err))
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
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
			score := "unknown"
			if v.CVSS != nil && *v.CVSS > 0 {
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
		Text:   fmt.Sprintf("[%s] %s", a.Severity, slackEscape(a.Title)), // mrkdwn: a banner must not ping
		Blocks: blocks,
	}
}

// SlackDigest builds one message for several alerts: a count by severity,
// then one line each, most severe first; its last line sends readers to
// details (a URL), else to `synwatch exposures`.
func SlackDigest(alerts []*event.Alert, details string) SlackPayload {
	sorted := slices.Clone(alerts)
	slices.SortStableFunc(sorted, func(a, b *event.Alert) int { return b.Severity.Rank() - a.Severity.Rank() })
	count := map[event.Severity]int{}
	for _, a := range sorted {
		count[a.Severity]++
	}
	var summary []string
	for _, sev := range []event.Severity{event.SevCritical, event.SevHigh, event.SevMedium, event.SevLow, event.SevInfo} {
		if count[sev] > 0 {
			summary = append(summary, fmt.Sprintf("%s %d %s", sevEmoji[sev], count[sev], sev))
		}
	}
	top := sorted[0].Severity
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: fmt.Sprintf("%s %d synwatch alerts at once", strings.ToUpper(string(top)), len(sorted))}},
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: strings.Join(summary, " · ")}},
	}
	// one section per ~2,800 characters of lines (Slack: 3,000 a section)
	var b strings.Builder
	for _, a := range sorted {
		line := "• " + sevEmoji[a.Severity] + " " + slackEscape(truncate(a.Title, 200)) // the title names host, port and product
		if b.Len()+len(line) > 2800 {
			blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: b.String()}})
			b.Reset()
		}
		b.WriteString(line + "\n")
	}
	hint := "`synwatch exposures`"
	if details != "" {
		hint = "<" + slackEscape(details) + ">"
	}
	blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: b.String()}},
		slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: fmt.Sprintf(
			"synwatch · %d alerts in one message; details: %s · %s", len(sorted), hint, fmtTime(sorted[0].CreatedAt))}}})
	return SlackPayload{
		// the notification text is mrkdwn too: a banner saying <!channel>
		// must not ping anyone
		Text:   fmt.Sprintf("[%s] %d synwatch alerts: %s", top, len(sorted), slackEscape(sorted[0].Title)),
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
