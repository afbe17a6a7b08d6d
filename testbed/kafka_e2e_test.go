package testbed

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

const (
	kafkaTopic      = "acceltel-metrics"
	kafkaPartitions = 4
	gpuModel        = "NVIDIA H100 80GB HBM3"
)

// simGPU is one GPU of a simulated node, as the nvml receiver describes it.
type simGPU struct {
	uuid, pod string
	util      float64 // hw.gpu.utilization, 0..1
	smClock   int64   // nvidia.gpu.clock.frequency{nvidia.gpu.clock=sm}, Hz
}

// simNode is a GPU node: its agent's K8S_NODE_NAME and its GPUs.
type simNode struct {
	name string
	gpus []simGPU
}

// fleet is three nodes of four GPUs. Their names hash to three different
// partitions of four, so the test sees the fleet spread over partitions.
// One GPU of dgx-h100-02 runs its SM clock 30% below its siblings: the
// gateway's in-node peer group must flag it.
func fleet() []simNode {
	var nodes []simNode
	for n, name := range []string{"dgx-h100-01", "dgx-h100-02", "dgx-h100-03"} {
		node := simNode{name: name}
		for i := range 4 {
			g := simGPU{
				uuid:    fmt.Sprintf("GPU-8c1c4c1e-%04d-4000-8000-%012d", n, i),
				pod:     fmt.Sprintf("train-llama-%d", 4*n+i),
				util:    0.90 + 0.01*float64(i),
				smClock: 1_980_000_000 - int64(i)*15_000_000,
			}
			if name == "dgx-h100-02" && i == 3 {
				g.smClock = 1_410_000_000
			}
			node.gpus = append(node.gpus, g)
		}
		nodes = append(nodes, node)
	}
	return nodes
}

// energy is hw.energy of GPU i in round r: a counter that grows each round.
func energy(i, r int) float64 { return 1e6 + float64(i)*1000 + float64(r)*7000 }

// tokens is the training job's ml.train.tokens on a node in round r.
func tokens(r int) int64 { return 4_194_304 * int64(r+1) }

// nodeScrape is one scrape of a node as its receivers and its training job
// would send it: one resource per GPU (no host.name: the agent adds it) and
// one for the job's own OTLP metrics.
func nodeScrape(node simNode, r int, start, ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i, g := range node.gpus {
		rm := md.ResourceMetrics().AppendEmpty()
		res := rm.Resource().Attributes()
		res.PutStr("hw.id", g.uuid)
		res.PutStr("hw.model", gpuModel)
		res.PutStr("hw.vendor", "NVIDIA")
		res.PutStr("hw.name", fmt.Sprintf("nvidia%d", i))
		res.PutInt("nvidia.gpu.index", int64(i))
		res.PutStr("pci.bus_id", fmt.Sprintf("0000:%02x:00.0", 0x17+i))
		res.PutStr("k8s.pod.name", g.pod)
		res.PutStr("k8s.namespace.name", "training")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("github.com/acceltel/acceltel/receivers/nvmlreceiver")

		m := sm.Metrics().AppendEmpty()
		m.SetName("hw.gpu.utilization")
		m.SetUnit("1")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(g.util)
		dp.Attributes().PutStr("hw.gpu.task", "general")

		m = sm.Metrics().AppendEmpty()
		m.SetName("nvidia.gpu.clock.frequency")
		m.SetUnit("Hz")
		dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetIntValue(g.smClock)
		dp.Attributes().PutStr("nvidia.gpu.clock", "sm")

		m = sm.Metrics().AppendEmpty()
		m.SetName("hw.energy")
		m.SetUnit("J")
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp = sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(energy(i, r))
	}
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("service.name", "trainer")
	res.PutStr("service.instance.id", node.name+"-rank0")
	res.PutStr("ml.job.id", "llama-70b-pretrain")
	res.PutStr("k8s.pod.name", node.gpus[0].pod)
	res.PutStr("k8s.namespace.name", "training")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("ml.train.tokens")
	m.SetUnit("{token}")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sum.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetIntValue(tokens(r))
	return md
}

// sendOTLP exports md over OTLP/gRPC as a receiver-less client would.
func sendOTLP(ctx context.Context, c *Collector, md pmetric.Metrics) error {
	// agent.yaml takes OTLP over TLS with its bearer token only.
	tlsCfg := &tls.Config{RootCAs: c.PKI.Pool(), MinVersion: tls.VersionTLS12}
	conn, err := grpc.NewClient(c.OTLPGRPC, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.Token)
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	return err
}

// decoded is a Kafka record and the metrics in it.
type decoded struct {
	*kgo.Record
	md pmetric.Metrics
}

func decodeRecords(recs []*kgo.Record) ([]decoded, error) {
	out := make([]decoded, 0, len(recs))
	var u pmetric.ProtoUnmarshaler
	for _, r := range recs {
		md, err := u.UnmarshalMetrics(r.Value)
		if err != nil {
			return nil, fmt.Errorf("partition %d offset %d: %w", r.Partition, r.Offset, err)
		}
		out = append(out, decoded{r, md})
	}
	return out, nil
}

// hasPointAt reports whether md has a point of metric name stamped ts on a
// resource whose host.name is host.
func hasPointAt(md pmetric.Metrics, host, name string, ts time.Time) bool {
	want := pcommon.NewTimestampFromTime(ts)
	for _, rm := range md.ResourceMetrics().All() {
		if h, _ := rm.Resource().Attributes().Get("host.name"); h.Str() != host {
			continue
		}
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != name {
					continue
				}
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						if dp.Timestamp() == want {
							return true
						}
					}
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						if dp.Timestamp() == want {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

// waitInKafka waits until every node's point of metric name stamped ts is
// on the topic, so that the next round becomes a record of its own.
func waitInKafka(ctx context.Context, t *testing.T, k *Kafka, name string, ts time.Time, nodes ...string) {
	t.Helper()
	require.NoError(t, Eventually(ctx, 100*time.Millisecond, func() error {
		recs, err := k.Records(ctx, kafkaTopic)
		if err != nil {
			return err
		}
		dec, err := decodeRecords(recs)
		if err != nil {
			return err
		}
		for _, node := range nodes {
			found := false
			for _, d := range dec {
				if hasPointAt(d.md, node, name, ts) {
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("%s of %s at %s not on %s yet", name, node, ts.Format(time.RFC3339Nano), kafkaTopic)
			}
		}
		return nil
	}))
}

// checkNodePartitioning asserts the agents' guarantee on what is on the
// topic: every record is keyed by its node's name, sits on the partition the
// Sarama-compatible hash of that key picks, and carries only that node's
// resources, so each node's data is on exactly one partition.
func checkNodePartitioning(t *testing.T, dec []decoded, nodes []string) {
	t.Helper()
	partitionsOf := map[string]map[int32]bool{}
	var wrong []string
	for _, d := range dec {
		key := string(d.Key)
		if want := SaramaPartition(key, kafkaPartitions); key == "" || d.Partition != want {
			wrong = append(wrong, fmt.Sprintf("record key %q on partition %d, want a node's name on partition %d", key, d.Partition, want))
		}
		for _, rm := range d.md.ResourceMetrics().All() {
			host, _ := rm.Resource().Attributes().Get("host.name")
			if host.Str() != key {
				wrong = append(wrong, fmt.Sprintf("resource of host %q in a record keyed %q", host.Str(), key))
			}
			if partitionsOf[host.Str()] == nil {
				partitionsOf[host.Str()] = map[int32]bool{}
			}
			partitionsOf[host.Str()][d.Partition] = true
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("%d of the topic's records or resources break the node keying, e.g. %s", len(wrong), strings.Join(wrong[:min(3, len(wrong))], "; "))
	}
	used := map[int32]bool{}
	for _, node := range nodes {
		require.Len(t, partitionsOf[node], 1, "partitions holding %s: %v", node, partitionsOf[node])
		for p := range partitionsOf[node] {
			used[p] = true
		}
	}
	// The node names were picked to hash apart; one partition for all would
	// mean the key is not the node.
	assert.Len(t, used, len(nodes), "nodes should spread over partitions: %v", partitionsOf)
}

// telemetryValue sums the samples of a metric in a collector's own
// telemetry whose labels include want.
func telemetryValue(ctx context.Context, addr, name string, want map[string]string) (float64, bool, error) {
	fams, err := scrape(ctx, addr)
	if err != nil {
		return 0, false, err
	}
	fam := fams[name]
	if fam == nil {
		return 0, false, nil
	}
	var sum float64
	found := false
	for _, m := range fam.GetMetric() {
		match := true
		for k, v := range want {
			if label(m, k) != v {
				match = false
			}
		}
		if match {
			found = true
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum, found, nil
}

// expectSeries polls PromQL q until it returns exactly one series with
// value want, and returns its labels.
func expectSeries(ctx context.Context, t *testing.T, prom *Prometheus, q string, want float64) map[string]string {
	t.Helper()
	var labels map[string]string
	require.NoError(t, Eventually(ctx, 250*time.Millisecond, func() error {
		samples, err := prom.Query(ctx, q)
		if err != nil {
			return err
		}
		if len(samples) != 1 {
			return fmt.Errorf("%s: %d series, want 1: %v", q, len(samples), samples)
		}
		if samples[0].Value != want {
			return fmt.Errorf("%s = %v, want %v", q, samples[0].Value, want)
		}
		labels = samples[0].Labels
		return nil
	}), q)
	return labels
}

func configPath(t *testing.T, name string) string {
	return filepath.Join(RepoRoot(t), "distributions", "otelcol-acceltel", name)
}

// startAgent runs agent.yaml as the agent of node, sending to brokers.
func startAgent(t *testing.T, node, brokers, storage string, args ...string) *Collector {
	t.Helper()
	return StartCollectorWith(t, configPath(t, "agent.yaml"), CollectorOptions{
		Name: "agent " + node,
		Env: []string{
			"K8S_NODE_NAME=" + node,
			"ACCELTEL_KAFKA_BROKERS=" + brokers,
			"ACCELTEL_STORAGE_DIR=" + storage,
			// One record per round: the test waits for each round on
			// the topic before sending the next.
			"ACCELTEL_BATCH_TIMEOUT=100ms",
		},
		Args: args,
	})
}

// startGateway runs gateway.yaml reading from brokers and writing to remoteWrite.
func startGateway(t *testing.T, brokers, remoteWrite string, args ...string) *Collector {
	t.Helper()
	return StartCollectorWith(t, configPath(t, "gateway.yaml"), CollectorOptions{
		Name: "gateway",
		Env: []string{
			"ACCELTEL_KAFKA_BROKERS=" + brokers,
			"ACCELTEL_REMOTE_WRITE_ENDPOINT=" + remoteWrite,
			"ACCELTEL_KAFKA_GROUP_ID=testbed-" + strings.ReplaceAll(t.Name(), "/", "-"),
		},
		Args: args,
	})
}

// TestKafkaScaleOut runs the fleet path end to end: three node agents
// (agent.yaml) receive their nodes' GPU and training-job metrics over OTLP
// and produce them to a Kafka topic of four partitions; a gateway
// (gateway.yaml) consumes the topic in a consumer group and remote-writes
// into a real Prometheus. PromQL must find every series with its value and
// the resource attributes dashboards join on as labels; the topic must hold
// each node on one partition; and the gateway must flag the GPU that lags
// its node's peers, which it can only do if a node's GPUs reach it together.
func TestKafkaScaleOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	prom := StartPrometheusWith(t, PrometheusOptions{RemoteWriteReceiver: true, NativeHistograms: true})
	gateway := startGateway(t, kafka.Addr, prom.RemoteWriteURL())
	nodes := fleet()
	names := make([]string, 0, len(nodes))
	agents := map[string]*Collector{}
	for _, n := range nodes {
		names = append(names, n.name)
		agents[n.name] = startAgent(t, n.name, kafka.Addr, t.TempDir())
	}

	// Three scrapes 10 s apart in data time. Each round is waited for on
	// the topic, so it is one record and one peer interval at the gateway;
	// the straggler flag needs k=3 intervals.
	const rounds = 3
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	var last time.Time
	for r := range rounds {
		last = start.Add(time.Duration(r+1) * 10 * time.Second)
		for _, n := range nodes {
			require.NoError(t, sendOTLP(ctx, agents[n.name], nodeScrape(n, r, start, last)), n.name)
		}
		waitInKafka(ctx, t, kafka, "hw.gpu.utilization", last, names...)
	}

	recs, err := kafka.Records(ctx, kafkaTopic)
	require.NoError(t, err)
	dec, err := decodeRecords(recs)
	require.NoError(t, err)
	checkNodePartitioning(t, dec, names)

	// Every series, its last value, and the labels dashboards join on:
	// the agent's host.name and k8s.node.name, the GPU's hw.id and model,
	// the pod's name and namespace.
	for _, n := range nodes {
		for i, g := range n.gpus {
			sel := fmt.Sprintf(`{hw_id=%q}`, g.uuid)
			labels := expectSeries(ctx, t, prom, "hw_gpu_utilization_ratio"+sel, g.util)
			assert.Equal(t, n.name, labels["host_name"])
			assert.Equal(t, n.name, labels["k8s_node_name"])
			assert.Equal(t, gpuModel, labels["hw_model"])
			assert.Equal(t, g.pod, labels["k8s_pod_name"])
			assert.Equal(t, "training", labels["k8s_namespace_name"])
			assert.Equal(t, "general", labels["hw_gpu_task"])
			expectSeries(ctx, t, prom, "hw_energy_joules_total"+sel, energy(i, rounds-1))
			expectSeries(ctx, t, prom, fmt.Sprintf(`nvidia_gpu_clock_frequency_hertz{hw_id=%q,nvidia_gpu_clock="sm"}`, g.uuid), float64(g.smClock))
		}
		labels := expectSeries(ctx, t, prom, fmt.Sprintf(`ml_train_tokens_total{host_name=%q}`, n.name), float64(tokens(rounds-1)))
		assert.Equal(t, "trainer", labels["job"])
		assert.Equal(t, "llama-70b-pretrain", labels["ml_job_id"])
	}
	// No series lost or merged: one per GPU.
	expectSeries(ctx, t, prom, "count(hw_gpu_utilization_ratio)", 12)
	// All three rounds arrived, in order (Prometheus refuses out-of-order
	// samples): three samples per series.
	expectSeries(ctx, t, prom, fmt.Sprintf(`count_over_time(hw_energy_joules_total{hw_id=%q}[10m])`, nodes[0].gpus[0].uuid), rounds)

	// The in-node peer group: the slow GPU of dgx-h100-02 is a straggler,
	// its siblings and the other nodes' GPUs are not.
	slow := nodes[1].gpus[3].uuid
	expectSeries(ctx, t, prom, fmt.Sprintf(`acceltel_anomaly_straggler{hw_id=%q,nvidia_gpu_clock="sm"}`, slow), 1)
	expectSeries(ctx, t, prom, `sum(acceltel_anomaly_straggler{nvidia_gpu_clock="sm"})`, 1)
	expectSeries(ctx, t, prom, `count(acceltel_anomaly_straggler{nvidia_gpu_clock="sm"})`, 12)

	for _, n := range names {
		require.NoError(t, agents[n].Stop(15*time.Second), n)
		assert.NotContains(t, agents[n].Output(), "panic")
	}
	require.NoError(t, gateway.Stop(15*time.Second))
	assert.NotContains(t, gateway.Output(), "panic")
}

// withHost sets host.name on every resource, as an agent does before
// producing to Kafka.
func withHost(md pmetric.Metrics, host string) pmetric.Metrics {
	for _, rm := range md.ResourceMetrics().All() {
		rm.Resource().Attributes().PutStr("host.name", host)
	}
	return md
}

// logLacks reports which of want the process's output lacks (the output
// itself is printed when the test fails).
func logLacks(p *Process, want ...string) error {
	out := p.Output()
	var missing []string
	for _, w := range want {
		if !strings.Contains(out, w) {
			missing = append(missing, strconv.Quote(w))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s's log lacks %s", p.Name, strings.Join(missing, ", "))
	}
	return nil
}

// TestGatewayRemoteWriteOutage runs gateway.yaml while its remote-write
// endpoint does not answer. Remote write is synchronous (no in-memory
// queue), so the kafka receiver does not mark a record until Prometheus has
// it: each attempt that runs past the retry deadline fails back to the
// receiver, which logs the cause (the endpoint, connection refused), backs
// off and retries the same record while the backlog waits in Kafka. The
// gateway keeps running, and once a Prometheus listens there every record
// is stored, none dropped, in order.
func TestGatewayRemoteWriteOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	rwAddr := FreePort(t) // nothing listens here until the end
	gateway := startGateway(t, kafka.Addr, "http://"+rwAddr+"/api/v1/write",
		// The shipped deadline is 5 minutes; 3 s shows an export call
		// failing back to the receiver within the test, and short
		// intervals show the recovery.
		"--set=exporters::prometheusremotewrite::retry_on_failure::initial_interval=200ms",
		"--set=exporters::prometheusremotewrite::retry_on_failure::max_interval=500ms",
		"--set=exporters::prometheusremotewrite::retry_on_failure::max_elapsed_time=3s",
		"--set=receivers::kafka::error_backoff::max_interval=500ms")

	// The agents' records, as agent.yaml produces them: keyed by node, on
	// the partition the Sarama-compatible hash picks.
	producer, err := kafka.Client(kgo.DefaultProduceTopic(kafkaTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer producer.Close()
	node := fleet()[0]
	start := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	rounds := 0
	produce := func() error {
		md := withHost(nodeScrape(node, rounds, start, start.Add(time.Duration(rounds+1)*time.Second)), node.name)
		value, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			return err
		}
		rec := &kgo.Record{Key: []byte(node.name), Value: value, Partition: SaramaPartition(node.name, kafkaPartitions)}
		if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return err
		}
		rounds++
		return nil
	}

	// While Prometheus is away the first record's export fails back to
	// the kafka receiver after each 3 s of retries; the receiver logs why
	// and retries it. The records after it wait in Kafka.
	require.NoError(t, Eventually(ctx, 300*time.Millisecond, func() error {
		if rounds < 5 {
			if err := produce(); err != nil {
				return err
			}
			return fmt.Errorf("%d records produced", rounds)
		}
		return logLacks(gateway.Process, "Backing off due to error from the next consumer.", "connection refused", rwAddr)
	}))
	require.False(t, gateway.Exited(), "gateway exited while its endpoint was down")
	require.NoError(t, WaitHTTP(ctx, gateway.Process, "http://"+gateway.Health+"/"))

	// The endpoint comes back, and one more record follows. Every record
	// is in Prometheus, each sample once and in time order (Prometheus
	// refuses out-of-order samples); the last one is the newest value.
	prom := StartPrometheusWith(t, PrometheusOptions{Addr: rwAddr, RemoteWriteReceiver: true, NativeHistograms: true})
	require.NoError(t, produce())
	for i, g := range node.gpus {
		expectSeries(ctx, t, prom, fmt.Sprintf(`hw_energy_joules_total{hw_id=%q}`, g.uuid), energy(i, rounds-1))
		expectSeries(ctx, t, prom, fmt.Sprintf(`count_over_time(hw_energy_joules_total{hw_id=%q}[10m])`, g.uuid), float64(rounds))
	}
	assert.NotContains(t, gateway.Output(), "Dropping data")
	t.Logf("%d records, all stored after the outage", rounds)
	require.NoError(t, gateway.Stop(15*time.Second))
	assert.NotContains(t, gateway.Output(), "panic")
}

// TestAgentBrokerOutage runs agent.yaml while no Kafka broker answers: the
// agent logs why, retries, and holds what it receives in its persistent
// queue (otelcol_exporter_queue_size grows), keeps it across a restart, and
// delivers all of it, keyed by node, once the broker is up.
func TestAgentBrokerOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kafkaAddr := FreePort(t) // the broker starts here at the end
	storage := t.TempDir()
	node := fleet()[1]
	// Short attempts and retries, so that recovery shows within the test.
	fast := []string{
		"--set=exporters::kafka::timeout=1s",
		"--set=exporters::kafka::retry_on_failure::initial_interval=200ms",
		"--set=exporters::kafka::retry_on_failure::max_interval=500ms",
	}
	agent := startAgent(t, node.name, kafkaAddr, storage, fast...)

	start := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	var sent []time.Time
	send := func(c *Collector) error {
		ts := start.Add(time.Duration(len(sent)+1) * time.Second)
		if err := sendOTLP(ctx, c, nodeScrape(node, len(sent), start, ts)); err != nil {
			return err
		}
		sent = append(sent, ts)
		return nil
	}
	queueSize := map[string]string{"exporter": "kafka"}
	queued := func(c *Collector) (float64, error) {
		v, _, err := telemetryValue(ctx, c.Telemetry, "otelcol_exporter_queue_size", queueSize)
		return v, err
	}

	// The first batch is retried; the ones after it wait on disk.
	require.NoError(t, Eventually(ctx, 300*time.Millisecond, func() error {
		if err := send(agent); err != nil {
			return err
		}
		v, err := queued(agent)
		if err != nil {
			return err
		}
		if v <= 0 {
			return fmt.Errorf("otelcol_exporter_queue_size{exporter=kafka} = %v after %d scrapes", v, len(sent))
		}
		return nil
	}))
	require.NoError(t, Eventually(ctx, 200*time.Millisecond, func() error {
		return logLacks(agent.Process, "unable to open connection to broker", kafkaAddr, "connection refused",
			"kafka records export failed", "Exporting failed. Will retry the request after interval.")
	}))
	require.False(t, agent.Exited(), "agent exited while the broker was down")

	// A restart keeps the queue: the new process starts with it.
	require.NoError(t, agent.Stop(15*time.Second))
	agent = startAgent(t, node.name, kafkaAddr, storage, fast...)
	v, err := queued(agent)
	require.NoError(t, err)
	assert.Positive(t, v, "queue after restart")
	require.NoError(t, send(agent))

	// The broker comes up: everything sent, before and after the restart,
	// reaches the topic, on the node's partition, and the queue empties.
	kafka := StartKafka(t, kafkaAddr, kafkaTopic, kafkaPartitions)
	for _, ts := range sent {
		waitInKafka(ctx, t, kafka, "hw.energy", ts, node.name)
	}
	recs, err := kafka.Records(ctx, kafkaTopic)
	require.NoError(t, err)
	dec, err := decodeRecords(recs)
	require.NoError(t, err)
	checkNodePartitioning(t, dec, []string{node.name})
	require.NoError(t, Eventually(ctx, 200*time.Millisecond, func() error {
		v, err := queued(agent)
		if err != nil {
			return err
		}
		if v != 0 {
			return fmt.Errorf("otelcol_exporter_queue_size{exporter=kafka} = %v", v)
		}
		return nil
	}))
	require.NoError(t, agent.Stop(15*time.Second))
	assert.NotContains(t, agent.Output(), "panic")
}
