package alert

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/synwatch/synwatch/internal/config"
)

type routedSink struct {
	sink  Sink
	route Route
}

// sinksFromConfig builds every configured sink, reading secrets from their
// files or environment variables. Errors name the key, never the secret.
func sinksFromConfig(c config.Sinks, kafkaCfg config.Kafka, d *Dispatcher, getenv func(string) string) ([]routedSink, error) {
	var out []routedSink
	var errs []error
	if c.Stdout != nil {
		out = append(out, routedSink{NewStdout(os.Stdout, c.Stdout.Format), RouteFrom(c.Stdout.SinkCommon)})
	}
	if c.Slack != nil {
		u, err := readSecret("alert.sinks.slack.url", c.Slack.URLFile, c.Slack.URLEnv, getenv)
		if err == nil && u == "" {
			err = errors.New("alert.sinks.slack: url_file or url_env is required")
		}
		if err == nil {
			var s *Slack
			if s, err = NewSlack(u, c.Slack.DetailsURL); err == nil {
				out = append(out, routedSink{s, RouteFrom(c.Slack.SinkCommon)})
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for i, w := range c.Webhook {
		key := fmt.Sprintf("alert.sinks.webhooks.%d", i)
		u := w.URL
		var err error
		if u == "" {
			u, err = readSecret(key+".url", w.URLFile, w.URLEnv, getenv)
		}
		var hk string
		if err == nil {
			hk, err = readSecret(key+".hmac_key", w.HMACKeyFile, w.HMACKeyEnv, getenv)
		}
		if err == nil {
			var s *Webhook
			s, err = NewWebhook(WebhookOptions{Name: w.Name, URL: u, Key: []byte(hk), Headers: w.Headers, CAFile: w.CAFile})
			if err == nil {
				out = append(out, routedSink{s, RouteFrom(w.SinkCommon)})
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", key, w.Name, err))
		}
	}
	if c.Syslog != nil {
		s, err := NewSyslog(SyslogOptions{Network: c.Syslog.Network, Address: c.Syslog.Address, Facility: c.Syslog.Facility, TLS: c.Syslog.TLS})
		if err != nil {
			errs = append(errs, fmt.Errorf("alert.sinks.syslog: %w", err))
		} else {
			out = append(out, routedSink{s, RouteFrom(c.Syslog.SinkCommon)})
		}
	}
	if c.File != nil {
		s, err := NewFile(c.File.Path)
		if err != nil {
			errs = append(errs, fmt.Errorf("alert.sinks.file: %w", err))
		} else {
			out = append(out, routedSink{s, RouteFrom(c.File.SinkCommon)})
		}
	}
	if c.Kafka != nil {
		s, err := NewKafka(kafkaCfg)
		if err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, routedSink{s, RouteFrom(*c.Kafka)})
		}
	}
	if len(errs) > 0 {
		for _, s := range out {
			if c, ok := s.sink.(Closer); ok {
				_ = c.Close(context.Background())
			}
		}
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// WebhookFromURL builds the sink of `synwatch run --webhook URL` (the
// n-th such flag): named webhook:cli-N, signed when key is not empty.
func WebhookFromURL(n int, url string, key []byte) (*Webhook, error) {
	return NewWebhook(WebhookOptions{Name: fmt.Sprintf("cli-%d", n), URL: url, Key: key})
}
