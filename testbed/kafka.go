package testbed

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka is a Kafka-protocol broker (franz-go's kfake) running in the test
// process: real produce, fetch, consumer-group and offset handling, without
// a JVM.
type Kafka struct {
	Addr    string
	cluster *kfake.Cluster
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
	)
	if err != nil {
		t.Fatalf("start kfake on %s: %v", addr, err)
	}
	k := &Kafka{Addr: addr, cluster: cluster}
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
	admin, err := kgo.NewClient(kgo.SeedBrokers(k.Addr))
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
	consumer, err := kgo.NewClient(kgo.SeedBrokers(k.Addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}))
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
