package acceltelstatusextension // import "github.com/acceltel/acceltel/extensions/acceltelstatusextension"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/internal/report"
)

// MetricsSink is what the acceltelstatus exporter finds among the host's
// extensions and hands its pipeline's metrics to.
type MetricsSink interface {
	ConsumeStatusMetrics(ctx context.Context, md pmetric.Metrics) error
}

// status holds the last Window of the metrics the page uses in a live
// report.Builder: a ring of Columns time buckets per series, at most
// MaxSeries series, so its memory is bounded whatever the input rate
// (about MaxSeries × Columns × 44 bytes plus labels; see the README).
type status struct {
	cfg    *Config
	logger *zap.Logger
	now    func() time.Time

	mu        sync.Mutex
	b         *report.Builder
	lastSweep time.Time

	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

var _ MetricsSink = (*status)(nil)

func newStatus(cfg *Config, set extension.Settings) *status {
	return &status{cfg: cfg, logger: set.Logger, now: time.Now, b: newBuilder(cfg)}
}

func newBuilder(cfg *Config) *report.Builder {
	return report.NewBuilder(report.Options{Window: cfg.Window, MaxColumns: cfg.Columns, MinStep: time.Second, MaxSeries: cfg.MaxSeries})
}

func (s *status) Start(_ context.Context, _ component.Host) error {
	ln, err := net.Listen("tcp", s.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("acceltelstatus: listening on %s: %w", s.cfg.Endpoint, err)
	}
	s.addr = ln.Addr()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("acceltelstatus: serving the status page failed", zap.Error(err))
		}
	}()
	s.logger.Info("acceltel status page", zap.String("url", "http://"+s.addr.String()+"/"))
	return nil
}

func (s *status) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// Addr is the address the page is served on (after Start).
func (s *status) Addr() net.Addr { return s.addr }

// ConsumeStatusMetrics adds a pipeline's metrics to the window.
func (s *status) ConsumeStatusMetrics(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Forget series silent for a whole window, at most once a minute, so
	// that pods and ranks that are gone free their place under max_series.
	if now.Sub(s.lastSweep) >= time.Minute {
		s.b.Expire(now.Add(-s.cfg.Window))
		s.lastSweep = now
	}
	s.b.AddMetrics(md)
	return nil
}

func (s *status) page(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	d := s.b.Dataset("this collector's pipeline (live, last "+s.cfg.Window.String()+")", s.now())
	s.mu.Unlock()
	// Rendering happens outside the lock: the Dataset is a copy.
	var buf bytes.Buffer
	if err := report.Write(&buf, d, "acceltel live status"); err != nil {
		http.Error(w, "rendering the status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
