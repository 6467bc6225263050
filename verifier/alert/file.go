package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// ECSVersion is the Elastic Common Schema version the file sink follows.
const ECSVersion = "8.11.0"

// ECS renders an alert as an Elastic Common Schema document: the standard
// field names where ECS has one, synwatch.* for the rest. docs/alerts.md
// lists the mapping.
func ECS(a *event.Alert) map[string]any {
	r := record(a)
	s := a.Change.Service
	eventType := []string{"info"}
	switch a.Change.Kind {
	case event.ChangeNew, event.ChangeReopened:
		eventType = []string{"start"}
	case event.ChangeClosed, event.ChangeGone:
		eventType = []string{"end"}
	}
	categories := []string{"network"}
	if len(r.Vulns) > 0 {
		// ECS allows only "info" with vulnerability: keep the network
		// type (start, end) and add info, which both categories accept
		categories = append(categories, "vulnerability")
		if eventType[0] != "info" {
			eventType = append(eventType, "info")
		}
	}
	ev := map[string]any{
		"kind":     "alert",
		"category": categories,
		"type":     eventType,
		"action":   string(a.Change.Kind),
		"severity": CEFSeverity(a.Severity),
		"id":       a.ID,
		"created":  a.CreatedAt.UTC().Format(time.RFC3339Nano),
		"dataset":  "synwatch.alert",
		"module":   "synwatch",
		"provider": "synwatch",
		"reason":   strings.Join(a.Reasons, "; "),
	}
	if !r.FirstSeen.IsZero() {
		ev["start"] = r.FirstSeen.UTC().Format(time.RFC3339Nano)
	}
	if !r.LastSeen.IsZero() {
		ev["end"] = r.LastSeen.UTC().Format(time.RFC3339Nano)
	}
	doc := map[string]any{
		"@timestamp": a.CreatedAt.UTC().Format(time.RFC3339Nano),
		"ecs":        map[string]any{"version": ECSVersion},
		"message":    a.Title,
		"event":      ev,
		"network":    map[string]any{"transport": string(s.Proto)},
		"rule": map[string]any{
			"name":     ruleName(a),
			"category": orDash(a.Category),
			"ruleset":  "synwatch",
		},
		"labels": map[string]any{"severity": string(a.Severity), "verdict": orNone(string(r.Status))},
	}
	dst := map[string]any{}
	if s.IP.IsValid() {
		dst["ip"] = s.IP.String()
	}
	if s.Port != 0 {
		dst["port"] = s.Port
	}
	doc["destination"] = dst
	// the exposed service's host, as the security app pivots on host.*,
	// and every address of the alert in related.ip
	related := []string{}
	if s.IP.IsValid() {
		doc["host"] = map[string]any{"ip": []string{s.IP.String()}}
		related = append(related, s.IP.String())
	}
	if r.Name != "" {
		doc["service"] = map[string]any{"name": r.Name}
		doc["network"].(map[string]any)["protocol"] = strings.TrimPrefix(r.Name, "ssl/")
	}
	if o := a.Change.Observation; o != nil {
		src := map[string]any{}
		if o.PeerIP.IsValid() {
			src["ip"] = o.PeerIP.String()
			if !slices.Contains(related, o.PeerIP.String()) {
				related = append(related, o.PeerIP.String())
			}
		}
		if o.PeerPort != 0 {
			src["port"] = o.PeerPort
		}
		if len(src) > 0 {
			doc["source"] = src
		}
		if o.Sensor != "" {
			obs := map[string]any{"name": o.Sensor, "type": "sensor", "vendor": "synwatch"}
			if o.Interface != "" {
				obs["ingress"] = map[string]any{"interface": map[string]any{"name": o.Interface}}
			}
			doc["observer"] = obs
		}
	}
	if len(related) > 0 {
		doc["related"] = map[string]any{"ip": related}
	}
	if len(r.Vulns) > 0 {
		ids := []string{}
		for _, v := range TopVulns(r.Vulns, len(r.Vulns)) {
			ids = append(ids, v.ID)
		}
		vuln := map[string]any{
			"id":       ids,
			"severity": string(a.Severity),
			"category": []string{"Network"},
			"scanner":  map[string]any{"vendor": "synwatch"},
		}
		if top, score := topVuln(r.Vulns); top != nil {
			vuln["score"] = map[string]any{"base": score}
			vuln["reference"] = VulnURL(*top)
		}
		doc["vulnerability"] = vuln
	}
	sw := map[string]any{
		"schema_version": a.SchemaVersion,
		"verdict":        orNone(string(r.Status)),
		"severity":       string(a.Severity),
		"reasons":        a.Reasons,
	}
	if v := strings.TrimSpace(r.Product + " " + r.Version); v != "" {
		sw["product"] = r.Product
		sw["version"] = r.Version
	}
	if len(r.Sensors) > 0 {
		sw["sensors"] = r.Sensors
	}
	if a.Catalogue != "" {
		sw["catalogue"] = a.Catalogue
	}
	if a.Change.Kind == event.ChangeHostSprays && a.Change.Observation != nil {
		sw["ports"] = a.Change.Observation.Ports
	}
	doc["synwatch"] = sw
	return doc
}

func ruleName(a *event.Alert) string {
	if a.Catalogue != "" {
		return "synwatch " + string(a.Change.Kind) + " " + a.Catalogue
	}
	return "synwatch " + string(a.Change.Kind)
}

// File appends one ECS JSON document per line to a file, for Filebeat,
// Fluent Bit or Vector. It follows rotation (see appender).
type File struct {
	a *appender
}

// NewFile opens (creating, appending) the file.
func NewFile(path string) (*File, error) {
	a, err := openAppender(path)
	if err != nil {
		return nil, fmt.Errorf("alert file: %w", err)
	}
	return &File{a: a}, nil
}

// Name implements Sink.
func (f *File) Name() string { return "file" }

// Send implements Sink.
func (f *File) Send(_ context.Context, a *event.Alert) error {
	b, err := json.Marshal(ECS(a))
	if err != nil {
		return Permanent(err)
	}
	return f.a.Append(append(b, '\n'), false)
}

// Reopen reopens the file (call on SIGHUP after rotation; moves are also
// noticed on the next write).
func (f *File) Reopen() error { return f.a.Reopen() }

// Close implements Closer.
func (f *File) Close(context.Context) error { return f.a.Close() }

// Stdout prints alerts: one human line each, or the alert JSON.
type Stdout struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

// NewStdout builds a stdout sink on w; format is "text" (default) or "json".
func NewStdout(w io.Writer, format string) *Stdout {
	return &Stdout{w: w, json: format == "json"}
}

// Name implements Sink.
func (s *Stdout) Name() string { return "stdout" }

// TextLine is the stdout sink's human line for an alert.
func TextLine(a *event.Alert) string {
	why := ""
	if len(a.Reasons) > 0 {
		why = " — " + a.Reasons[0]
		if len(a.Reasons) > 1 {
			why += fmt.Sprintf(" (+%d)", len(a.Reasons)-1)
		}
	}
	return fmt.Sprintf("%s %-8s %s%s [%s]", a.CreatedAt.UTC().Format(time.RFC3339), strings.ToUpper(string(a.Severity)), a.Title, why, a.ID)
}

// Send implements Sink.
func (s *Stdout) Send(_ context.Context, a *event.Alert) error {
	var line []byte
	if s.json {
		b, err := json.Marshal(a)
		if err != nil {
			return Permanent(err)
		}
		line = append(b, '\n')
	} else {
		line = []byte(TextLine(a) + "\n")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(line)
	return err
}
