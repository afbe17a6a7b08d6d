package testbed

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/acceltel/acceltel/internal/s3test"
)

// procStatusKiB reads a field such as VmRSS or VmHWM (peak RSS) of a
// process from /proc/<pid>/status, in KiB: what the process holds resident,
// whatever cgroup it runs in.
func procStatusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// discardRemoteWrite is a remote-write endpoint that accepts and discards
// every request, for tests about something else than what Prometheus
// stores. The flood's points are one series each (to be counted in S3),
// which would have a real Prometheus index millions of series and make it,
// not the gateway, the subject of the test.
func discardRemoteWrite(t *testing.T) string {
	return slowRemoteWrite(t, 0)
}

// slowRemoteWrite is discardRemoteWrite taking delay to answer each
// request: a remote-write backend slower than the flood.
func slowRemoteWrite(t *testing.T, delay time.Duration) string {
	t.Helper()
	addr := FreePort(t)
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(delay)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.ListenAndServe() }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + addr + "/api/v1/write"
}

// ackedRange is a request's points the gateway acknowledged.
type ackedRange struct{ first, n int64 }

// TestOverloadGateway floods gateway.yaml's OTLP receiver from several
// senders, without pause, with a small memory limit set the way a deployment
// sets it (GOMEMLIMIT, and ACCELTEL_MEMORY_LIMIT_MIB as there is no cgroup
// limit here): the gateway's resident memory stays within the container
// limit + 10% (its anonymous memory within GOMEMLIMIT + 10%),
// senders get retryable refusals (gRPC Unavailable or ResourceExhausted:
// back-pressure), the gateway accepts again once the flood stops, and every
// point it acknowledged reaches S3 through its persistent queue.
func TestOverloadGateway(t *testing.T) {
	// As the manifests size it: GOMEMLIMIT (and with it the memory
	// limiter's hard limit) is 80% of the container's memory limit; the
	// rest is room for what the Go runtime does not manage, mostly the
	// pages of the binary itself (about 90 MiB resident).
	const containerMiB = 384
	const limitMiB = containerMiB * 8 / 10
	floodFor := 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	srv := s3test.Start(t)
	const bucket = "overload"
	srv.CreateBucket(t, bucket)
	s3cfg := S3Exporter(srv, bucket)
	s3cfg["format"] = "otlp_proto"
	s3cfg["compression"] = "none"
	overlay := WriteConfig(t, map[string]any{"exporters": map[string]any{"s3": s3cfg}})
	gw := StartCollectorWith(t, configPath(t, "gateway.yaml"), CollectorOptions{
		Name: "gateway",
		Env: []string{
			"GOMEMLIMIT=" + strconv.Itoa(limitMiB) + "MiB",
			"ACCELTEL_MEMORY_LIMIT_MIB=" + strconv.Itoa(limitMiB),
			"ACCELTEL_KAFKA_BROKERS=" + kafka.Addr,
			// Each remote-write request takes 300 ms: what the gateway
			// sustains is far below what the senders offer, so requests
			// pile up in it, as behind a slow Prometheus.
			"ACCELTEL_REMOTE_WRITE_ENDPOINT=" + slowRemoteWrite(t, 300*time.Millisecond),
			"ACCELTEL_KAFKA_GROUP_ID=testbed-overload",
			"ACCELTEL_S3_FLUSH_TIMEOUT=1s",
		},
		Args: []string{"--config", overlay},
	})
	pid := gw.Pid()

	// RSS is sampled while the flood runs; VmHWM, the kernel's peak, is
	// read at the end and covers moments between samples.
	// RssAnon (the Go heap and runtime) and RssFile (the binary's pages)
	// say where the memory went.
	var peakSampled, peakAnon, peakFile atomic.Int64
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		for ctx.Err() == nil && !gw.Exited() {
			for field, peak := range map[string]*atomic.Int64{"VmRSS": &peakSampled, "RssAnon": &peakAnon, "RssFile": &peakFile} {
				if kib, err := procStatusKiB(pid, field); err == nil && kib > peak.Load() {
					peak.Store(kib)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	tlsCfg := &tls.Config{RootCAs: gw.PKI.Pool(), MinVersion: tls.VersionTLS12}
	conn, err := grpc.NewClient(gw.OTLPGRPC, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	require.NoError(t, err)
	defer conn.Close()
	client := pmetricotlp.NewGRPCClient(conn)
	authCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+gw.Token)
	export := func(first, n int64) error {
		rctx, cancel := context.WithTimeout(authCtx, 30*time.Second)
		defer cancel()
		_, err := client.Export(rctx, pmetricotlp.NewExportRequestFromMetrics(crashPoints(first, n, time.Now())))
		return err
	}

	const senders, perReq = 48, 10000
	var (
		mu        sync.Mutex
		acked     []ackedRange
		refusals  = map[codes.Code]int{}
		otherErrs []error
		offered   atomic.Int64
	)
	floodCtx, stopFlood := context.WithTimeout(ctx, floodFor)
	defer stopFlood()
	var wg sync.WaitGroup
	began := time.Now()
	for s := range senders {
		wg.Go(func() {
			// Each sender numbers its own range; refused requests are not
			// retried here: the flood keeps offering new data.
			for i := int64(0); floodCtx.Err() == nil; i++ {
				first := int64(s)*1_000_000_000 + i*perReq
				offered.Add(perReq)
				err := export(first, perReq)
				mu.Lock()
				switch code := status.Code(err); {
				case err == nil:
					acked = append(acked, ackedRange{first, perReq})
				case code == codes.Unavailable || code == codes.ResourceExhausted:
					refusals[code]++
				default:
					if floodCtx.Err() == nil || !errors.Is(err, context.DeadlineExceeded) {
						otherErrs = append(otherErrs, err)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	flood := time.Since(began)
	require.False(t, gw.Exited(), "the gateway died under the flood:\n%s", gw.Output())

	// Recovery: once the flood stops a request of normal size is accepted
	// (the memory limiter lets go as soon as the heap is back under its
	// soft limit).
	recovery := time.Now()
	require.NoError(t, Eventually(ctx, 500*time.Millisecond, func() error {
		err := export(2_000_000_000_000, 10)
		if err == nil {
			mu.Lock()
			acked = append(acked, ackedRange{2_000_000_000_000, 10})
			mu.Unlock()
		}
		return err
	}), "the gateway did not accept again after the flood")
	recovered := time.Since(recovery)

	var ackedPoints int64
	for _, r := range acked {
		ackedPoints += r.n
	}
	t.Logf("overload: %d senders offered %d points in %s (%.0f/s); accepted %d (%.0f/s); refused %v; other errors %d",
		senders, offered.Load(), flood.Round(time.Second), float64(offered.Load())/flood.Seconds(),
		ackedPoints, float64(ackedPoints)/flood.Seconds(), refusals, len(otherErrs))
	t.Logf("overload: accepting again %s after the flood", recovered.Round(10*time.Millisecond))

	// Everything acknowledged reaches S3: it was in the gateway's
	// persistent queue when the sender got its OK.
	reader := &s3Reader{srv: srv, bucket: bucket, seen: map[string]bool{}, counts: seqCounts{}}
	var lost, dup int64
	require.NoError(t, Eventually(ctx, 2*time.Second, func() error {
		if err := reader.sync(t); err != nil {
			return err
		}
		lost, dup = 0, 0
		var missing []int64
		for _, r := range acked {
			for seq := r.first; seq < r.first+r.n; seq++ {
				switch n := reader.counts[seq]; n {
				case 0:
					lost++
					if len(missing) < 10 {
						missing = append(missing, seq)
					}
				default:
					dup += int64(n - 1)
				}
			}
		}
		if lost > 0 {
			return fmt.Errorf("%d of %d acknowledged points not in S3 yet, e.g. %v", lost, ackedPoints, missing)
		}
		return nil
	}))
	hwm, err := procStatusKiB(pid, "VmHWM")
	require.NoError(t, err)
	cancel()
	<-sampling
	limitKiB, containerKiB := int64(limitMiB)*1024, int64(containerMiB)*1024
	t.Logf("overload: S3 holds all %d acknowledged points (%d duplicated, %d objects)", ackedPoints, dup, len(reader.seen))
	t.Logf("overload: peak RSS %d MiB (VmHWM; sampled %d MiB) against a container limit of %d MiB (%.0f%%); anonymous (Go heap and runtime) %d MiB against GOMEMLIMIT %d MiB (%.0f%%); file-backed %d MiB",
		hwm/1024, peakSampled.Load()/1024, containerMiB, 100*float64(hwm)/float64(containerKiB),
		peakAnon.Load()/1024, limitMiB, 100*float64(peakAnon.Load())/float64(limitKiB), peakFile.Load()/1024)

	assert.Empty(t, otherErrs, "errors other than back-pressure")
	assert.Positive(t, refusals[codes.Unavailable]+refusals[codes.ResourceExhausted], "the flood was never refused: it did not overload the gateway")
	assert.Positive(t, ackedPoints, "nothing was accepted during the flood")
	assert.LessOrEqual(t, hwm, containerKiB*11/10, "peak RSS above the container limit + 10%%")
	assert.LessOrEqual(t, peakAnon.Load(), limitKiB*11/10, "anonymous memory above GOMEMLIMIT + 10%%")
	require.NoError(t, gw.Stop(30*time.Second))
	assert.NotContains(t, gw.Output(), "panic")
}
