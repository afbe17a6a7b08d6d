package testbed

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/acceltel/acceltel/internal/s3test"
)

// crashMetric is the metric the crash test's sender numbers its points in:
// one point per sequence number, the number both as the value and as the
// point's attribute "seq", so every point is a series of its own in
// Prometheus (a redelivered point is then an identical sample, never an
// out-of-order one) and can be found by its number in S3.
const crashMetric = "acceltel.e2e.crash.seq"

// crashSender pushes uniquely numbered points into an agent over OTLP/gRPC
// (TLS + bearer token), as an OTLP SDK would: a request that is not
// acknowledged (the agent died, refused or timed out) is retried, unchanged,
// until it is. "Sent" therefore means acknowledged by the agent.
type crashSender struct {
	addr    string
	tlsCfg  *tls.Config
	token   string
	perReq  int64
	stop    atomic.Bool
	acked   atomic.Int64 // sequence numbers [0, acked) are acknowledged
	retries atomic.Int64
	err     error // set when the test context ended with a request unacknowledged
	done    chan struct{}
}

func crashPoints(first, n int64, ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("acceltel.e2e.sender", "crash")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(crashMetric)
	dps := m.SetEmptyGauge().DataPoints()
	for seq := first; seq < first+n; seq++ {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetIntValue(seq)
		dp.Attributes().PutStr("seq", strconv.FormatInt(seq, 10))
	}
	return md
}

func (s *crashSender) run(ctx context.Context) {
	defer close(s.done)
	var conn *grpc.ClientConn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for next := int64(0); !s.stop.Load(); {
		// Data time is the time of the first attempt; retries resend the
		// same request, timestamps included.
		req := pmetricotlp.NewExportRequestFromMetrics(crashPoints(next, s.perReq, time.Now()))
		for {
			var err error
			if conn == nil {
				conn, err = grpc.NewClient(s.addr, grpc.WithTransportCredentials(credentials.NewTLS(s.tlsCfg)))
			}
			if err == nil {
				rctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.token), 10*time.Second)
				_, err = pmetricotlp.NewGRPCClient(conn).Export(rctx, req)
				cancel()
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				s.err = fmt.Errorf("points %d..%d never acknowledged: %w", next, next+s.perReq-1, err)
				return
			}
			s.retries.Add(1)
			// A fresh connection: gRPC's own reconnect backoff grows to
			// minutes, far longer than an agent takes to restart.
			if conn != nil {
				_ = conn.Close()
				conn = nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		next += s.perReq
		s.acked.Store(next)
		// A steady trickle rather than a flood: the test is about crashes.
		time.Sleep(40 * time.Millisecond)
	}
}

// seqCounts counts how often each sequence number of crashMetric occurs.
type seqCounts map[int64]int

func (c seqCounts) add(md pmetric.Metrics) {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != crashMetric || m.Type() != pmetric.MetricTypeGauge {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					c[dp.IntValue()]++
				}
			}
		}
	}
}

// tally compares counts with the sequence numbers [0, sent): how many of
// them arrived, how many are missing, and how many extra copies arrived.
// Numbers at or above sent were received but never acknowledged (the
// sender was stopped while retrying them); they are neither.
func (c seqCounts) tally(sent int64) (received, lost, duplicated int64, missing []int64) {
	for seq := range sent {
		n := c[seq]
		if n == 0 {
			lost++
			if len(missing) < 20 {
				missing = append(missing, seq)
			}
			continue
		}
		received++
		duplicated += int64(n - 1)
	}
	return received, lost, duplicated, missing
}

// s3Reader reads back every object of a bucket the s3 exporter writes in
// otlp_proto format, each object once (their keys derive from their
// content, so an object never changes).
type s3Reader struct {
	srv    *s3test.Server
	bucket string
	seen   map[string]bool
	counts seqCounts
}

func (r *s3Reader) sync(t *testing.T) error {
	for _, o := range r.srv.ListObjects(t, r.bucket, "") {
		if r.seen[o.Key] {
			continue
		}
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(r.srv.Get(t, r.bucket, o.Key)); err != nil {
			return fmt.Errorf("object %s: %w", o.Key, err)
		}
		r.counts.add(req.Metrics())
		r.seen[o.Key] = true
	}
	return nil
}

// promSeqs reads from Prometheus every sequence number of crashMetric stored
// in the last hour (each is a series of its own, labelled seq). Prometheus
// keeps one sample per timestamp, so a redelivered point is stored once.
func promSeqs(ctx context.Context, prom *Prometheus) (seqCounts, error) {
	samples, err := prom.Query(ctx, "count_over_time(acceltel_e2e_crash_seq[1h])")
	if err != nil {
		return nil, err
	}
	c := seqCounts{}
	for _, s := range samples {
		seq, err := strconv.ParseInt(s.Labels["seq"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("series %v: %w", s.Labels, err)
		}
		c[seq] += int(s.Value)
	}
	return c, nil
}

// kafkaAccepted is what a gateway's kafka receiver has passed on since the
// process started.
func kafkaAccepted(ctx context.Context, c *Collector) (float64, error) {
	fams, err := scrape(ctx, c.Telemetry)
	if err != nil {
		return 0, err
	}
	var n float64
	for name, f := range fams {
		if !strings.HasPrefix(name, "otelcol_receiver_accepted_metric_points") {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "receiver") == "kafka" {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n, nil
}

// TestCrashSafety kills the agent and the gateway with SIGKILL at random
// moments while numbered points flow
//
//	sender -(OTLP, TLS, token)-> agent (agent.yaml, persistent Kafka queue)
//	  -> Kafka (kfake) -> gateway (gateway.yaml, static group member)
//	  -> Prometheus (remote write) and S3 (versitygw, persistent queue)
//
// restarting each on its storage directory and ports, and then counts every
// acknowledged point in Prometheus (PromQL) and in S3 (every object read
// back): none may be lost; duplicates are counted (at-least-once).
// ACCELTEL_CRASH_KILLS raises the number of kills (default 20).
func TestCrashSafety(t *testing.T) {
	kills := 20
	if v := os.Getenv("ACCELTEL_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "ACCELTEL_CRASH_KILLS")
		kills = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(120+8*kills)*time.Second)
	defer cancel()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))

	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	prom := StartPrometheusWith(t, PrometheusOptions{RemoteWriteReceiver: true, NativeHistograms: true})
	srv := s3test.StartTLS(t) // the gateway's S3 is over TLS, as in production
	const bucket = "crash"
	srv.CreateBucket(t, bucket)
	s3cfg := S3Exporter(srv, bucket)
	// Objects the test decodes without Parquet: one OTLP request each.
	s3cfg["format"] = "otlp_proto"
	s3cfg["compression"] = "none"
	overlay := WriteConfig(t, map[string]any{"exporters": map[string]any{"s3": s3cfg}})

	// The agent keeps its OTLP port, certificate and token across restarts,
	// as a DaemonSet pod does, so the sender retries the same endpoint.
	pki := NewPKI(t)
	cert := pki.Server(t, "agent")
	token := "crash-token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tokenFile := filepath.Join(pki.Dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token), 0o600))
	agentEnv := []string{
		"K8S_NODE_NAME=crash-node",
		"ACCELTEL_KAFKA_BROKERS=" + kafka.Addr,
		"ACCELTEL_STORAGE_DIR=" + t.TempDir(),
		"ACCELTEL_BATCH_TIMEOUT=100ms",
		"ACCELTEL_OTLP_GRPC_ENDPOINT=" + FreePort(t),
		"ACCELTEL_TLS_CERT_FILE=" + cert.CertFile,
		"ACCELTEL_TLS_KEY_FILE=" + cert.KeyFile,
		"ACCELTEL_AUTH_TOKEN_FILE=" + tokenFile,
		// The internal hop's exporter dials this port while the agent
		// starts, before its receiver listens. A port from the ephemeral
		// range (FreePort's) can then be taken by that very dial (TCP
		// self-connect) and the receiver fails to bind: it happened once in
		// 60 restarts. Deployments use 14317, below the range; so does this.
		"ACCELTEL_FORWARD_ENDPOINT=" + FreePort(t),
	}
	agentAddr := strings.TrimPrefix(agentEnv[4], "ACCELTEL_OTLP_GRPC_ENDPOINT=")
	gatewayEnv := []string{
		"ACCELTEL_KAFKA_BROKERS=" + kafka.Addr,
		"ACCELTEL_REMOTE_WRITE_ENDPOINT=" + prom.RemoteWriteURL(),
		"ACCELTEL_KAFKA_GROUP_ID=testbed-crash",
		// Static membership, as the StatefulSet sets it: the restarted
		// gateway takes its partitions back at once instead of waiting
		// for the dead member's session (30 s) to time out.
		"ACCELTEL_KAFKA_GROUP_INSTANCE_ID=gateway-0",
		"ACCELTEL_STORAGE_DIR=" + t.TempDir(),
		"ACCELTEL_S3_FLUSH_TIMEOUT=1s",
		"ACCELTEL_S3_CA_FILE=" + srv.CAFile,
	}
	startAgentC := func() *Collector {
		return StartCollectorWith(t, configPath(t, "agent.yaml"), CollectorOptions{Name: "agent", Env: agentEnv})
	}
	startGatewayC := func() *Collector {
		return StartCollectorWith(t, configPath(t, "gateway.yaml"), CollectorOptions{
			Name: "gateway", Env: gatewayEnv,
			Args: []string{"--config", overlay,
				// Back to work soon after a refusal (Prometheus or S3
				// busy while the other side restarts).
				"--set=receivers::kafka::error_backoff::max_interval=1s"},
		})
	}
	gateway := startGatewayC()
	agent := startAgentC()

	sender := &crashSender{
		addr:   agentAddr,
		tlsCfg: &tls.Config{RootCAs: pki.Pool(), MinVersion: tls.VersionTLS12},
		token:  token, perReq: 10, done: make(chan struct{}),
	}
	// The sender's own context ends with the test function, so a test that
	// fails half-way does not wait for retries against a dead agent.
	sendCtx, stopSending := context.WithCancel(ctx)
	go sender.run(sendCtx)
	defer func() {
		stopSending()
		<-sender.done
	}()

	// progress waits until the pipeline moves again after a restart: the
	// agent acknowledges new points, or the restarted gateway passes on
	// records from Kafka.
	waitAcked := func(n int64) {
		t.Helper()
		require.NoError(t, Eventually(ctx, 50*time.Millisecond, func() error {
			if got := sender.acked.Load(); got < n {
				return fmt.Errorf("sender: %d points acknowledged, want %d", got, n)
			}
			return nil
		}))
	}
	waitAcked(100)

	agentKills, gatewayKills := 0, 0
	began := time.Now()
	for k := range kills {
		// A random moment: 0.2..1.5 s of flow after the pipeline moved.
		time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
		// Mostly the agent (where the sender's retries meet the queue),
		// but at least a third of the kills hit the gateway.
		hitGateway := rng.IntN(3) == 0 || gatewayKills < (k+1)/3
		if hitGateway {
			require.NoError(t, gateway.Kill())
			gatewayKills++
			gateway = startGatewayC()
			require.NoError(t, Eventually(ctx, 100*time.Millisecond, func() error {
				n, err := kafkaAccepted(ctx, gateway)
				if err != nil {
					return err
				}
				if n == 0 {
					return fmt.Errorf("restarted gateway has passed on no records yet")
				}
				return nil
			}), "gateway after kill %d", k+1)
		} else {
			require.NoError(t, agent.Kill())
			agentKills++
			before := sender.acked.Load()
			agent = startAgentC()
			waitAcked(before + 20)
		}
	}
	flowed := time.Since(began)
	sender.stop.Store(true)
	<-sender.done
	require.NoError(t, sender.err)
	sent := sender.acked.Load()

	// Drain: every acknowledged point must reach both destinations.
	reader := &s3Reader{srv: srv, bucket: bucket, seen: map[string]bool{}, counts: seqCounts{}}
	var promCounts seqCounts
	// Generous for a loaded machine (S3 flushes every second, remote write
	// is synchronous), yet short of the test's deadline so the figures of a
	// run that lost data are still reported.
	drainCtx, cancelDrain := context.WithTimeout(ctx, 90*time.Second)
	defer cancelDrain()
	drainErr := Eventually(drainCtx, 2*time.Second, func() error {
		var err error
		if promCounts, err = promSeqs(drainCtx, prom); err != nil {
			return err
		}
		if err := reader.sync(t); err != nil {
			return err
		}
		_, promLost, _, promMissing := promCounts.tally(sent)
		_, s3Lost, _, s3Missing := reader.counts.tally(sent)
		if promLost > 0 || s3Lost > 0 {
			return fmt.Errorf("missing in Prometheus %d (e.g. %v), in S3 %d (e.g. %v)", promLost, promMissing, s3Lost, s3Missing)
		}
		return nil
	})
	promRecv, promLost, promDup, _ := promCounts.tally(sent)
	s3Recv, s3Lost, s3Dup, _ := reader.counts.tally(sent)
	t.Logf("crash safety: %d kills (agent %d, gateway %d) in %s of flow; %d points sent (acknowledged; %d sends retried)",
		agentKills+gatewayKills, agentKills, gatewayKills, flowed.Round(time.Second), sent, sender.retries.Load())
	t.Logf("crash safety: Prometheus received %d, lost %d, duplicated %d (samples with one timestamp are stored once)", promRecv, promLost, promDup)
	t.Logf("crash safety: S3 received %d, lost %d, duplicated %d (%d objects)", s3Recv, s3Lost, s3Dup, len(reader.seen))
	require.NoError(t, drainErr)
	assert.GreaterOrEqual(t, agentKills+gatewayKills, kills)

	for _, c := range []*Collector{agent, gateway} {
		require.NoError(t, c.Stop(15*time.Second), c.Name)
		assert.NotContains(t, c.Output(), "panic")
	}
}
