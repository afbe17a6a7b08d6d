package fleet

import (
	"context"
	"net"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
)

// Sink is an OTLP/gRPC metrics endpoint in the test process that counts
// what a gateway's otlp exporter sends it and keeps nothing else: the cheap
// destination that shows what the gateway itself costs, as opposed to
// remote write into Prometheus, whose ingestion shares the machine.
type Sink struct {
	Addr string
	srv  *grpc.Server

	mu       sync.Mutex
	requests int64
	total    int64
	input    map[string]int64 // the agents' points by host.name
	derived  map[string]int64 // the gateway processors' points by metric name
	unpriced float64          // sum of acceltel.cost.unpriced: GPUs the cost processor could not price
}

// derivedPrefixes name what the gateway's processors add; everything else
// is the agents' data passed through.
var derivedPrefixes = []string{"acceltel.anomaly.", "acceltel.cost."}

// StartSink listens on a free loopback port.
func StartSink() (*Sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{Addr: l.Addr().String(), input: map[string]int64{}, derived: map[string]int64{}}
	s.srv = grpc.NewServer(grpc.MaxRecvMsgSize(256 << 20))
	pmetricotlp.RegisterGRPCServer(s.srv, &sinkServer{s: s})
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Stop closes the listener and every connection.
func (s *Sink) Stop() { s.srv.Stop() }

// Totals returns every point received, the agents' points by host and the
// processors' points by metric name.
func (s *Sink) Totals() (total int64, input, derived map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	input, derived = map[string]int64{}, map[string]int64{}
	for k, v := range s.input {
		input[k] = v
	}
	for k, v := range s.derived {
		derived[k] = v
	}
	return s.total, input, derived
}

// Unpriced is the sum of every acceltel.cost.unpriced point: 0 when the
// cost processor priced every GPU it saw.
func (s *Sink) Unpriced() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unpriced
}

// InputPoints is the number of the agents' points received.
func (s *Sink) InputPoints() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, v := range s.input {
		n += v
	}
	return n
}

type sinkServer struct {
	pmetricotlp.UnimplementedGRPCServer
	s *Sink
}

func (h *sinkServer) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	md := req.Metrics()
	input := map[string]int64{}
	derived := map[string]int64{}
	var total int64
	var unpriced float64
	for _, rm := range md.ResourceMetrics().All() {
		host := ""
		if v, ok := rm.Resource().Attributes().Get("host.name"); ok {
			host = v.Str()
		}
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				n := int64(pointCount(m))
				total += n
				if isDerived(m.Name()) {
					derived[m.Name()] += n
					if m.Name() == "acceltel.cost.unpriced" && m.Type() == pmetric.MetricTypeGauge {
						for _, dp := range m.Gauge().DataPoints().All() {
							unpriced += float64(dp.IntValue())
						}
					}
				} else {
					input[host] += n
				}
			}
		}
	}
	s := h.s
	s.mu.Lock()
	s.requests++
	s.total += total
	s.unpriced += unpriced
	for k, v := range input {
		s.input[k] += v
	}
	for k, v := range derived {
		s.derived[k] += v
	}
	s.mu.Unlock()
	return pmetricotlp.NewExportResponse(), nil
}

func isDerived(name string) bool {
	for _, p := range derivedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// pointCount is the number of data points of a metric, whatever its type.
func pointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
