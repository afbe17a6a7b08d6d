package costprocessor // import "github.com/acceltel/acceltel/processors/costprocessor"

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.uber.org/zap"
)

// stateKey is the storage key of the whole state. One JSON document keeps
// a checkpoint atomic: series totals and the GPU sample times they were
// billed up to are always restored together, so an interval is billed
// exactly once whatever moment the collector stopped.
const stateKey = "cost_state"

const stateVersion = 1

type kv struct {
	K string `json:"k"`
	V string `json:"v"`
}

type gpuState struct {
	// Last is the time (unix ns) the GPU is billed up to.
	Last        int64   `json:"last"`
	Energy      float64 `json:"energy,omitempty"`
	EnergyStart int64   `json:"energy_start,omitempty"`
	HasEnergy   bool    `json:"has_energy,omitempty"`
	BenchFLOPS  float64 `json:"bench_flops,omitempty"`
}

type seriesState struct {
	Metric string `json:"metric"`
	HWID   string `json:"hw_id"`
	Attrs  []kv   `json:"attrs,omitempty"`
	// Start is the series' start time, Updated its latest point (unix ns).
	Start   int64 `json:"start"`
	Updated int64 `json:"updated"`
	Nanos   int64 `json:"nanos"`
}

type jobState struct {
	// Cost is the job's cumulative cost in nano-dollars since first seen.
	Cost         int64   `json:"cost"`
	Tokens       float64 `json:"tokens,omitempty"`
	TokenStart   int64   `json:"token_start,omitempty"`
	CostAtTokens int64   `json:"cost_at_tokens,omitempty"`
	HasTokens    bool    `json:"has_tokens,omitempty"`
	Seen         int64   `json:"seen"`
}

type state struct {
	Version int                     `json:"version"`
	GPUs    map[string]*gpuState    `json:"gpus"`
	Series  map[string]*seriesState `json:"series"`
	Jobs    map[string]*jobState    `json:"jobs"`
}

func newState() *state {
	return &state{Version: stateVersion, GPUs: map[string]*gpuState{}, Series: map[string]*seriesState{}, Jobs: map[string]*jobState{}}
}

func seriesKey(metric, hwid string, attrs []kv) string {
	var b strings.Builder
	b.WriteString(metric)
	b.WriteByte(0)
	b.WriteString(hwid)
	for _, a := range attrs {
		b.WriteByte(0)
		b.WriteString(a.K)
		b.WriteByte('=')
		b.WriteString(a.V)
	}
	return b.String()
}

func (s *state) marshal() ([]byte, error) { return json.Marshal(s) }

func unmarshalState(data []byte) (*state, error) {
	s := newState()
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("cost state is not valid JSON: %w", err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("cost state has version %d, this collector writes %d", s.Version, stateVersion)
	}
	if s.GPUs == nil {
		s.GPUs = map[string]*gpuState{}
	}
	if s.Series == nil {
		s.Series = map[string]*seriesState{}
	}
	if s.Jobs == nil {
		s.Jobs = map[string]*jobState{}
	}
	return s, nil
}

// evict drops what has not been seen for ttl (unix ns), so pods that came
// and went do not keep series forever; a series that comes back later
// starts again with a new start time, which is what cumulative consumers expect.
func (s *state) evict(now, ttl int64) {
	for k, g := range s.GPUs {
		if now-g.Last > ttl {
			delete(s.GPUs, k)
		}
	}
	for k, se := range s.Series {
		if now-se.Updated > ttl {
			delete(s.Series, k)
		}
	}
	for k, j := range s.Jobs {
		if now-j.Seen > ttl {
			delete(s.Jobs, k)
		}
	}
}

func (p *costProcessor) load(ctx context.Context) error {
	data, err := p.client.Get(ctx, stateKey)
	if err != nil {
		return fmt.Errorf("reading cost state from storage %s: %w", p.cfg.Storage, err)
	}
	if data == nil {
		return nil
	}
	s, err := unmarshalState(data)
	if err != nil {
		// A state this version cannot read must not stop the collector;
		// costs start again from zero with new start times, which is correct
		// for cumulative sums, and the log says so.
		p.logger.Warn("ignoring stored cost state; cumulative costs start again from zero", zap.Error(err))
		return nil
	}
	p.st = s
	return nil
}

func (p *costProcessor) save(ctx context.Context) error {
	if p.client == nil {
		return nil
	}
	data, err := p.st.marshal()
	if err != nil {
		return err
	}
	return p.client.Set(ctx, stateKey, data)
}
