package benchmarkreceiver // import "github.com/acceltel/acceltel/receivers/benchmarkreceiver"

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/plugins/sdk"
	"github.com/acceltel/acceltel/receivers/benchmarkreceiver/internal/metadata"
)

// supervisor owns one plugin process: it starts it when a run needs it,
// kills it when it hangs, restarts it with backoff after a crash, and runs
// its benchmarks one after the other on the schedule.
type supervisor struct {
	r       *benchReceiver
	name    string
	cfg     PluginConfig
	benches []BenchmarkConfig
	logger  *zap.Logger

	conn    *sdk.Conn
	info    sdk.Info
	backoff time.Duration   // wait before the next start; 0 after a success
	skipped map[string]bool // benchmarks reported as not runnable, once each
}

func newSupervisor(r *benchReceiver, name string, cfg PluginConfig, benches []BenchmarkConfig) *supervisor {
	return &supervisor{r: r, name: name, cfg: cfg, benches: benches, skipped: map[string]bool{},
		logger: r.set.Logger.With(zap.String("plugin", name), zap.String("path", cfg.Path))}
}

func (s *supervisor) loop(ctx context.Context) {
	defer s.stop()
	sched := s.r.cfg.Schedule
	wait := time.Duration(0)
	if !sched.RunAtStart {
		wait = sched.Interval
	}
	for {
		if sched.Jitter > 0 {
			wait += rand.N(sched.Jitter)
		}
		if !sleep(ctx, wait) {
			return
		}
		for _, b := range s.benches {
			if ctx.Err() != nil {
				return
			}
			s.runOne(ctx, b)
		}
		wait = sched.Interval
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *supervisor) stop() {
	if s.conn != nil {
		s.conn.Kill()
		s.conn = nil
	}
}

// failed counts a failure, reports it and arranges the backoff; the plugin
// is killed unless it is healthy and the benchmark itself returned an error.
func (s *supervisor) failed(res *run, reason metadata.AttributeReason, err error) {
	res.failed, res.reason = true, reason
	s.logger.Error("benchmark run failed", zap.String("benchmark", res.benchmark), zap.String("reason", reason.String()), zap.Error(err))
	s.r.report(componentstatus.NewRecoverableErrorEvent(fmt.Errorf("plugin %s, benchmark %s: %s: %w", s.name, res.benchmark, reason, err)))
	if reason != metadata.AttributeReasonError {
		s.stop()
		s.backoff = min(max(2*s.backoff, s.r.cfg.RestartBackoff.Initial), s.r.cfg.RestartBackoff.Max)
	}
	s.r.emit(res)
}

func (s *supervisor) runOne(ctx context.Context, b BenchmarkConfig) {
	res := &run{plugin: s.name, benchmark: b.Name}
	if s.conn == nil || s.conn.Exited() {
		if s.conn != nil {
			s.logger.Warn("plugin exited between runs; restarting it")
			s.conn = nil
		}
		if !sleep(ctx, s.backoff) {
			return
		}
		if err := s.start(ctx); err != nil {
			reason := metadata.AttributeReasonStart
			if errors.Is(err, sdk.ErrChecksum) {
				reason = metadata.AttributeReasonChecksum
			}
			s.failed(res, reason, err)
			return
		}
	}
	if !s.runnable(b) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, s.r.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err := s.conn.Run(rctx, b.Name, b.params(), func(m sdk.Measurement) { res.measurements = append(res.measurements, m) })
	res.duration = time.Since(start)
	switch {
	case err == nil:
		s.backoff = 0
		s.r.report(componentstatus.NewEvent(componentstatus.StatusOK))
		s.r.emit(res)
	case ctx.Err() != nil: // shutting down: not the plugin's fault
	case errors.Is(rctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		s.failed(res, metadata.AttributeReasonTimeout, fmt.Errorf("no result within the timeout of %s; plugin killed and to be restarted", s.r.cfg.Timeout))
	case s.exited():
		s.failed(res, metadata.AttributeReasonCrash, fmt.Errorf("plugin process died during the run (%w); to be restarted", err))
	default:
		s.failed(res, metadata.AttributeReasonError, err)
	}
}

// exited waits briefly for go-plugin to notice a dead process, since a
// broken stream is seen before the process is reaped.
func (s *supervisor) exited() bool {
	for range 40 {
		if s.conn.Exited() {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}

func (s *supervisor) start(ctx context.Context) error {
	env := make([]string, 0, len(s.cfg.Env))
	for _, k := range slices.Sorted(maps.Keys(s.cfg.Env)) {
		env = append(env, k+"="+s.cfg.Env[k])
	}
	sum := s.cfg.SHA256
	if s.cfg.SHA256File != "" {
		var err error
		if sum, err = readDigestFile(s.cfg.SHA256File); err != nil {
			return err
		}
	}
	conn, err := sdk.Open(sdk.HostConfig{
		Path: s.cfg.Path, Args: s.cfg.Args, Env: env,
		SHA256: sum, InsecureSkipChecksum: s.cfg.InsecureSkipChecksum,
		StartTimeout: s.r.cfg.StartTimeout,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "plugin." + s.name, Level: hclog.Warn,
			Output: zap.NewStdLog(s.logger).Writer(), DisableTime: true}),
	})
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, s.r.cfg.StartTimeout)
	defer cancel()
	info, err := conn.Describe(dctx)
	if err != nil {
		conn.Kill()
		return fmt.Errorf("describe: %w", err)
	}
	s.conn, s.info = conn, info
	s.logger.Info("plugin started", zap.String("name", info.Name), zap.String("version", info.Version))
	return nil
}

// runnable checks a benchmark against the plugin's description and the
// host's capabilities; what cannot run is reported once and skipped.
func (s *supervisor) runnable(b BenchmarkConfig) bool {
	desc, ok := s.info.Find(b.Name)
	var why error
	if !ok {
		why = fmt.Errorf("plugin %s has no benchmark %q", s.info.Name, b.Name)
	} else if _, err := sdk.CheckParams(desc, b.params()); err != nil {
		why = err
	} else {
		for _, c := range desc.RequiredCapabilities {
			if !s.r.caps[c] {
				why = fmt.Errorf("needs %q, which this host lacks", c)
			}
		}
	}
	s.r.mu.Lock()
	if why == nil {
		s.r.available[s.name] = true
	} else if _, seen := s.r.available[s.name]; !seen {
		s.r.available[s.name] = false
	}
	s.r.mu.Unlock()
	if why != nil && !s.skipped[b.Name] {
		s.skipped[b.Name] = true
		s.logger.Warn("benchmark skipped", zap.String("benchmark", b.Name), zap.Error(why))
		s.r.emit(nil)
	}
	return why == nil
}
