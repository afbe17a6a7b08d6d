package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"context"
	"errors"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/receiver"
)

// nvmlReceiver is what a metrics and a logs pipeline using the same nvml
// receiver share: one NVML session, one set of probed GPUs, one XID event
// goroutine. The collector's sharedcomponent package does this for its own
// receivers but is internal, hence this small copy of the idea.
type nvmlReceiver struct {
	key *Config
	s   *nvmlScraper

	mu      sync.Mutex
	metrics receiver.Metrics // the scrape controller; nil without a metrics pipeline
	started bool
	stopped bool
}

// shared maps a receiver's configuration to its running receiver. The
// collector hands every pipeline of one receiver ID the same *Config.
var shared = struct {
	sync.Mutex
	m map[*Config]*nvmlReceiver
}{m: map[*Config]*nvmlReceiver{}}

func sharedReceiver(cfg *Config, set receiver.Settings, open func(string) nvml.Interface) *nvmlReceiver {
	shared.Lock()
	defer shared.Unlock()
	if r, ok := shared.m[cfg]; ok {
		return r
	}
	r := &nvmlReceiver{key: cfg, s: newScraper(cfg, set, open)}
	shared.m[cfg] = r
	return r
}

// Start opens NVML once. The collector has created every pipeline's
// receiver before it starts any, so whether XID events go to a logs
// pipeline is known here.
func (r *nvmlReceiver) Start(ctx context.Context, host component.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		// Another pipeline's instance: its host hears the same status.
		if r.s.status != nil {
			componentstatus.ReportStatus(host, r.s.status)
		}
		return nil
	}
	r.started = true
	if err := r.s.start(ctx, host); err != nil {
		return err
	}
	if r.metrics != nil {
		return r.metrics.Start(ctx, host)
	}
	return nil
}

// Shutdown closes NVML at the first call; the collector shuts every
// pipeline down together.
func (r *nvmlReceiver) Shutdown(ctx context.Context) error {
	shared.Lock()
	if shared.m[r.key] == r {
		delete(shared.m, r.key)
	}
	shared.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil
	}
	r.stopped = true
	var err error
	if r.metrics != nil {
		err = r.metrics.Shutdown(ctx)
	}
	return errors.Join(err, r.s.shutdown(ctx))
}
