package fleet

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/testbed"
)

// Producer is the fleet's agents: it scrapes each simulated node in turn
// and produces the scrape to Kafka as agent.yaml's kafka exporter does: one
// otlp_proto record per node scrape, keyed by the node's name, partitioned
// by the sticky_key partitioner with the Sarama-compatible FNV-1a hash,
// zstd-compressed, acks from all in-sync replicas, idempotent.
//
// Scrapes are spread evenly in time (the agents of a fleet are not in
// step), and their spacing sets the rate: each record is followed by a gap
// of its points over the target rate. A real agent scrapes every 10 s; a
// higher rate here means the same nodes scraped more often.
type Producer struct {
	nodes  []*Node
	client *kgo.Client
	topic  string

	rate   atomic.Uint64 // float64 bits, data points per second
	wake   chan struct{}
	points atomic.Int64 // produced and acknowledged
	sent   atomic.Int64 // handed to the client
	failed atomic.Int64

	mu     sync.Mutex
	err    error
	scrape []int // acknowledged scrapes per node
}

// NewProducer connects to the test broker (with its TLS and SASL
// settings); nothing is produced before Run.
func NewProducer(k *testbed.Kafka, topic string, nodes []*Node) (*Producer, error) {
	client, err := k.Client(
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a))),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(1_000_000),
	)
	if err != nil {
		return nil, err
	}
	return &Producer{nodes: nodes, client: client, topic: topic, wake: make(chan struct{}, 1), scrape: make([]int, len(nodes))}, nil
}

func fnv32a(b []byte) uint32 {
	h := fnv.New32a()
	_, _ = h.Write(b)
	return h.Sum32()
}

// SetRate changes the target rate in data points per second; 0 pauses.
func (p *Producer) SetRate(dps float64) {
	p.rate.Store(math.Float64bits(dps))
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Points is the number of data points produced and acknowledged so far.
func (p *Producer) Points() int64 { return p.points.Load() }

// Sent is the number of data points handed to the Kafka client so far: the
// agents' pace, whatever the broker's acknowledgements lag behind.
func (p *Producer) Sent() int64 { return p.sent.Load() }

// Scrapes is the number of acknowledged scrapes of each node.
func (p *Producer) Scrapes() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.scrape...)
}

// Err is the first produce error, if any.
func (p *Producer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Run produces at the current rate until ctx ends, then waits for every
// record in flight to be acknowledged.
func (p *Producer) Run(ctx context.Context) error {
	var m pmetric.ProtoMarshaler
	next := time.Now()
	for i := 0; ; i = (i + 1) % len(p.nodes) {
		rate := math.Float64frombits(p.rate.Load())
		for rate <= 0 {
			select {
			case <-ctx.Done():
				return p.flush()
			case <-p.wake:
			}
			rate = math.Float64frombits(p.rate.Load())
			next = time.Now()
		}
		// Pace: wait for this record's turn. A producer that fell behind
		// (the machine was busy) catches up for at most a second rather
		// than bursting.
		now := time.Now()
		if d := next.Sub(now); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return p.flush()
			case <-p.wake:
				t.Stop()
				next = time.Now()
			case <-t.C:
			}
		} else if -d > time.Second {
			next = now
		}
		if ctx.Err() != nil {
			return p.flush()
		}
		n, idx := p.nodes[i], i
		value, err := m.MarshalMetrics(n.Scrape(time.Now()))
		if err != nil {
			return err
		}
		points := n.Points
		p.sent.Add(int64(points))
		// Once handed over, a record is delivered even if ctx ends now:
		// the counts must match what is on the topic.
		p.client.Produce(context.WithoutCancel(ctx), &kgo.Record{Key: []byte(n.Name), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				p.failed.Add(1)
				p.mu.Lock()
				if p.err == nil {
					p.err = fmt.Errorf("produce %s: %w", n.Name, err)
				}
				p.mu.Unlock()
				return
			}
			p.points.Add(int64(points))
			p.mu.Lock()
			p.scrape[idx]++
			p.mu.Unlock()
		})
		next = next.Add(time.Duration(float64(points) / rate * float64(time.Second)))
	}
}

func (p *Producer) flush() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.client.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return p.Err()
}

// Close disconnects from the brokers.
func (p *Producer) Close() { p.client.Close() }
