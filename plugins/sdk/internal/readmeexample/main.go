// Command hello is a complete third-party acceltel benchmark plugin.
package main

import (
	"context"
	"time"

	"github.com/acceltel/acceltel/plugins/sdk"
)

type hello struct{}

// Describe tells the host who we are and what we can run.
func (hello) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name:    "hello",
		Version: "1.0.0",
		Benchmarks: []sdk.Benchmark{{
			Name:        "sleep.accuracy",
			Description: "How long a requested sleep really takes.",
			Parameters: []sdk.Parameter{
				{Name: "sleep", Type: sdk.Duration, Default: "10ms", Unit: "s"},
			},
			Units: []string{"s"},
		}},
	}, nil
}

// Run measures and emits; params are already checked and defaulted.
func (hello) Run(ctx context.Context, benchmark string, p sdk.Params, emit func(sdk.Measurement) error) error {
	want := p.Duration("sleep")
	start := time.Now()
	select {
	case <-time.After(want):
	case <-ctx.Done():
		return ctx.Err()
	}
	took := time.Since(start)
	return emit(sdk.Measurement{
		Name:       "sleep.duration",
		Unit:       "s",
		Value:      took.Seconds(),
		Attributes: map[string]string{"requested": want.String()},
		Duration:   took,
	})
}

func main() { sdk.Serve(hello{}) }
