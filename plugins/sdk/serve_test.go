package sdk

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/acceltel/acceltel/plugins/sdk/proto/benchv1"
)

// BenchmarkServeOverhead measures what the SDK does in a plugin for each
// Run (ask Describe, find the benchmark, check the parameters, convert the
// measurement) without the process boundary, whose noise on a small VM is
// larger than this whole cost. The plugin mirrors misbehave's "ok", the
// benchmark that BenchmarkRun runs.
func BenchmarkServeOverhead(b *testing.B) {
	s := &server{impl: okPlugin{}}
	stream := discardStream{ctx: context.Background()}
	req := &pb.RunRequest{Benchmark: "ok"}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Run(req, stream); err != nil {
			b.Fatal(err)
		}
	}
}

type okPlugin struct{}

func (okPlugin) Describe(context.Context) (Info, error) {
	return Info{Name: "misbehave", Version: "test", Benchmarks: []Benchmark{
		{Name: "ok", Parameters: []Parameter{{Name: "value", Type: Double, Default: "42"}}},
		{Name: "hang", Description: "Sleeps through its context, as a wedged driver call would."},
		{Name: "crash", Description: "Sends one measurement, then exits with status 3."},
		{Name: "needs_cuda", RequiredCapabilities: []string{"cuda"}},
	}}, nil
}

func (okPlugin) Run(_ context.Context, _ string, p Params, emit func(Measurement) error) error {
	return emit(Measurement{Name: "test.value", Unit: "1", Value: p.Double("value"), Peak: 84,
		Attributes: map[string]string{"pid": "4242"}, Duration: time.Millisecond})
}

// discardStream is the server side of a Run stream that drops what is sent;
// gRPC's own work (marshalling, framing) is not the SDK's.
type discardStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s discardStream) Context() context.Context { return s.ctx }
func (discardStream) Send(*pb.Measurement) error { return nil }
