package testbed

import (
	"context"
	"crypto/tls"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/acceltel/acceltel/internal/pkitest"
)

// The brokers of every test speak TLS and SASL/SCRAM-SHA-512 only, as
// agent.yaml and gateway.yaml require. One CA and one user serve the whole
// test process, so a collector started before its broker (an outage test)
// already has what it needs: StartCollectorWith passes KafkaEnv to every
// collector.
const (
	KafkaUser     = "acceltel-testbed"
	KafkaPassword = "testbed-kafka-password-6d1f"
)

var kafkaPKI = sync.OnceValues(func() (*kafkaCerts, error) {
	dir, err := os.MkdirTemp("", "acceltel-kafka-pki-")
	if err != nil {
		return nil, err
	}
	ca, err := pkitest.NewAt(dir)
	if err != nil {
		return nil, err
	}
	files, err := ca.IssueServer("kafka")
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	if err != nil {
		return nil, err
	}
	return &kafkaCerts{ca: ca, server: &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}}, nil
})

type kafkaCerts struct {
	ca     *PKI
	server *tls.Config
}

func mustKafkaCerts(t testing.TB) *kafkaCerts {
	t.Helper()
	c, err := kafkaPKI()
	if err != nil {
		t.Fatalf("kafka test PKI: %v", err)
	}
	return c
}

// KafkaEnv is what agent.yaml and gateway.yaml read to reach the test brokers.
func KafkaEnv(t testing.TB) []string {
	c := mustKafkaCerts(t)
	return []string{
		"ACCELTEL_KAFKA_CA_FILE=" + c.ca.CAFile,
		"ACCELTEL_KAFKA_USERNAME=" + KafkaUser,
		"ACCELTEL_KAFKA_PASSWORD=" + KafkaPassword,
	}
}

// KafkaClientOpts are the franz-go options of a test client of the brokers
// at addr (TLS and SCRAM), before any of the caller's.
func KafkaClientOpts(t testing.TB, addr string, opts ...kgo.Opt) []kgo.Opt {
	c := mustKafkaCerts(t)
	return append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DialTLSConfig(&tls.Config{RootCAs: c.ca.Pool(), MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: KafkaUser, Pass: KafkaPassword}.AsSha512Mechanism()),
	}, opts...)
}

// Kafka is a Kafka-protocol broker (franz-go's kfake) running in the test
// process: real produce, fetch, consumer-group and offset handling, without
// a JVM.
type Kafka struct {
	Addr    string
	cluster *kfake.Cluster
	t       testing.TB
}

// Client is a franz-go client of this broker with TLS and SCRAM.
func (k *Kafka) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(KafkaClientOpts(k.t, k.Addr, opts...)...)
}

// StartKafka starts a one-broker cluster listening on addr (a free loopback
// port when empty) with topic already created with the given number of
// partitions, as an operator would create it: the agents do not create
// topics. The broker stops when the test ends, or earlier with Close.
func StartKafka(t testing.TB, addr, topic string, partitions int32) *Kafka {
	t.Helper()
	if addr == "" {
		addr = FreePort(t)
	}
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.SeedTopics(partitions, topic),
		kfake.TLS(mustKafkaCerts(t).server),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", KafkaUser, KafkaPassword),
	)
	if err != nil {
		t.Fatalf("start kfake on %s: %v", addr, err)
	}
	k := &Kafka{Addr: addr, cluster: cluster, t: t}
	t.Cleanup(k.Close)
	return k
}

// Close stops the broker; records it held are gone. Closing twice is fine.
func (k *Kafka) Close() {
	if k.cluster != nil {
		k.cluster.Close()
		k.cluster = nil
	}
}

// Records reads every record of topic, from the start of each partition to
// its end offset as listed when the call begins.
func (k *Kafka) Records(ctx context.Context, topic string) ([]*kgo.Record, error) {
	admin, err := k.Client()
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(admin).ListEndOffsets(ctx, topic)
	admin.Close()
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	start := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			start[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	consumer, err := k.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}))
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %d partitions not read to the end: %w", topic, len(want), err)
		}
		var ferr error
		fetches.EachError(func(_ string, p int32, err error) {
			ferr = fmt.Errorf("read %s partition %d: %w", topic, p, err)
		})
		if ferr != nil {
			return nil, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			out = append(out, r)
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}

// SaramaPartition is the partition the kafka exporter's default
// partitioner (sticky_key with the Sarama-compatible FNV-1a hasher) picks
// for a record key among n partitions.
func SaramaPartition(key string, n int) int32 {
	hasher := kgo.SaramaCompatHasher(func(b []byte) uint32 {
		h := fnv.New32a()
		_, _ = h.Write(b)
		return h.Sum32()
	})
	return int32(hasher([]byte(key), n))
}
