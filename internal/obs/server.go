package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ShutdownTimeout bounds the graceful shutdown of the HTTP server: requests
// in flight (a scrape, a readiness probe) get this long to finish.
const ShutdownTimeout = 5 * time.Second

// Handler serves /metrics from reg, /healthz and /readyz from health.
//
//	/healthz  200 "ok": the process is serving (liveness)
//	/readyz   200 with one "name: ok" line per check, or 503 with
//	          "name: error" for the failing ones (readiness)
//	/metrics  Prometheus text or OpenMetrics exposition
func Handler(reg *prometheus.Registry, health *Health, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:          reg, // promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          slogPrinter{log},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		results := health.Run(r.Context())
		var b strings.Builder
		failed := 0
		for _, res := range results {
			if res.Err != nil {
				failed++
				// One line per check: newlines in an error would forge lines.
				fmt.Fprintf(&b, "%s: %s\n", res.Name, strings.ReplaceAll(res.Err.Error(), "\n", "; "))
			} else {
				fmt.Fprintf(&b, "%s: ok\n", res.Name)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if failed > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			log.Debug("not ready", "failed", failed, "checks", len(results))
		}
		if len(results) == 0 {
			b.WriteString("ok\n")
		}
		fmt.Fprint(w, b.String())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "synwatch: /metrics /healthz /readyz")
	})
	return mux
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics exposition", "error", fmt.Sprint(v...)) }

// Server is the observability HTTP server of one process.
type Server struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// Listen binds addr (e.g. cfg.Obs.Listen; "127.0.0.1:0" picks a port) so a
// bad or busy address fails at start-up, before capture or consumption
// begins. Call Serve to serve.
func Listen(addr string, reg *prometheus.Registry, health *Health, log *slog.Logger) (*Server, error) {
	if reg == nil || health == nil || log == nil {
		return nil, errors.New("obs: Listen needs a registry, a Health and a logger")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("observability listen %s: %w", addr, err)
	}
	return &Server{
		ln:  ln,
		log: log,
		srv: &http.Server{
			Handler:           Handler(reg, health, log),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}, nil
}

// Addr is the bound address (the real port when ":0" was asked for).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx is done, then shuts down gracefully (requests in
// flight get ShutdownTimeout) and returns nil; any other end is an error.
func (s *Server) Serve(ctx context.Context) error {
	s.log.Info("observability server listening", "addr", s.ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("observability server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("observability server shutdown: %w", err)
	}
	return nil
}

// Serve is Listen then Server.Serve: it serves the endpoints on addr until
// ctx is done. An empty addr (observability.listen unset) serves nothing and
// returns nil when ctx is done, so callers can run it unconditionally.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, health *Health, log *slog.Logger) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	s, err := Listen(addr, reg, health, log)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}
