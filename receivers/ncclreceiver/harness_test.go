package ncclreceiver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

var testNow = time.Unix(1_700_000_000, 0)

const nativeDir = "../../native/nccl-profiler"

// buildNative compiles the plugin and the harness with the flags of
// native/nccl-profiler/Makefile into the test's temporary directory.
func buildNative(t testing.TB) (pluginSO, harness string) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: the plugin cannot be built")
	}
	dir := t.TempDir()
	pluginSO = filepath.Join(dir, "libnccl-profiler-acceltel.so")
	harness = filepath.Join(dir, "harness")
	flags := []string{"-O2", "-g", "-Wall", "-Wextra", "-Werror", "-std=gnu11"}
	for _, args := range [][]string{
		append(flags, "-fPIC", "-shared", "-fvisibility=hidden", "-o", pluginSO, filepath.Join(nativeDir, "plugin.c"), "-lpthread", "-ldl"),
		append(flags, "-rdynamic", "-o", harness, filepath.Join(nativeDir, "test", "harness.c"), "-lpthread", "-ldl"),
	} {
		out, err := exec.Command("gcc", args...).CombinedOutput()
		require.NoError(t, err, "gcc: %s", out)
	}
	return pluginSO, harness
}

// startReceiver runs a receiver on a fresh socket and collects what it decodes.
func startReceiver(t *testing.T, opts ...func(*Config)) (*ncclReceiver, *Config, func() []record, func() int32) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	for _, o := range opts {
		o(cfg)
	}
	// Short path: sun_path holds 107 bytes and t.TempDir() can be long.
	dir, err := os.MkdirTemp("/tmp", "nccl")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.SocketPath = filepath.Join(dir, "s", "nccl.sock")
	r := newNCCLReceiver(cfg, receivertest.NewNopSettings(typ))
	var mu sync.Mutex
	var got []record
	var pid int32
	r.onRecords = func(p int32, recs []record) { // set before start: the read loop reads it
		mu.Lock()
		got = append(got, recs...)
		pid = p
		mu.Unlock()
	}
	require.NoError(t, r.start(context.Background(), componenttest.NewNopHost()))
	require.True(t, r.available)
	t.Cleanup(func() { _ = r.shutdown(context.Background()) })
	return r, cfg, func() []record {
			mu.Lock()
			defer mu.Unlock()
			return append([]record(nil), got...)
		}, func() int32 {
			mu.Lock()
			defer mu.Unlock()
			return pid
		}
}

var statsRE = regexp.MustCompile(`ops=(\d+) callbacks=(\d+) ns_per_callback=([\d.]+) ns_per_op=([\d.]+) sent=(\d+) dropped=(\d+)`)

func runHarness(t *testing.T, ctx context.Context, socket string, args ...string) (sent, dropped int, nsPerCallback float64) {
	t.Helper()
	so, h := buildNative(t)
	cmd := exec.CommandContext(ctx, h, append([]string{so}, args...)...)
	cmd.Env = append(os.Environ(), "ACCELTEL_NCCL_SOCKET="+socket, "ACCELTEL_NCCL_FLUSH_MS=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "harness: %s", out)
	m := statsRE.FindStringSubmatch(string(out))
	require.NotNil(t, m, "harness output: %s", out)
	sent, _ = strconv.Atoi(m[5])
	dropped, _ = strconv.Atoi(m[6])
	nsPerCallback, _ = strconv.ParseFloat(m[3], 64)
	t.Logf("harness: %s", out)
	return sent, dropped, nsPerCallback
}

// recFlagProxy is record.h's REC_FLAG_PROXY: completion seen through proxy
// operations (interfaces v1 and v2).
const recFlagProxy = 1 << 1

// TestPluginEndToEnd drives the plugin as NCCL would from four threads
// (four ranks of one communicator) through each interface it exports and
// checks every record the receiver got against what the harness did, then
// the metrics built from them. v5 and v4 know the communicator from init and
// have GPU timers; v3 (NCCL 2.25) completes through kernel channels without
// timers, v2 and v1 (2.24, 2.23) through proxy operations, and none of the
// three says how many ranks there are.
func TestPluginEndToEnd(t *testing.T) {
	for _, version := range []int{5, 4, 3, 2, 1} {
		t.Run("v"+strconv.Itoa(version), func(t *testing.T) {
			const threads, ops = 4, 500
			r, cfg, got, credPID := startReceiver(t)
			sent, dropped, _ := runHarness(t, context.Background(), cfg.SocketPath, strconv.Itoa(version), strconv.Itoa(threads), strconv.Itoa(ops))
			require.Equal(t, threads*ops, sent+dropped, "every operation completed and was sent or counted")
			require.Equal(t, threads*ops, sent)
			require.Zero(t, dropped)
			require.Eventually(t, func() bool { return len(got()) == threads*ops }, 10*time.Second, 10*time.Millisecond)

			funcs := []string{"AllReduce", "AllGather", "ReduceScatter", "Broadcast", "Reduce", "AllToAll"}
			nfuncs := 6
			if version < 4 {
				nfuncs = 5 // the collectives NCCL had (no AllToAll)
			}
			seen := map[[2]int]bool{}
			sends := map[int]int{}
			for _, rec := range got() {
				rank := int(rec.Rank)
				i := int(rec.Seq)
				// Common to both kinds.
				assert.Equal(t, uint64(0xacce17e1000), rec.CommID)
				assert.Equal(t, int32(rank), rec.CUDADev, "device from cudaGetDevice on the init thread")
				assert.Positive(t, rec.DurationNs)
				assert.InDelta(t, time.Now().UnixNano(), int64(rec.StartUnixNs), float64(time.Minute))
				assert.Equal(t, credPID(), rec.PID, "the plugin's pid is the one the kernel reports")
				if version >= 4 {
					assert.Equal(t, int32(8), rec.NRanks)
					assert.Equal(t, int32(2), rec.NNodes)
					assert.NotZero(t, rec.Flags&flagGPUTimer)
				} else {
					assert.Zero(t, rec.NRanks, "v%d does not carry nranks", version)
					assert.Zero(t, rec.NNodes)
					assert.Zero(t, rec.ExecNs, "no GPU timer before v4")
					assert.Zero(t, rec.Flags&flagGPUTimer)
					if version <= 2 {
						assert.NotZero(t, rec.Flags&recFlagProxy, "completion through proxy ops")
					} else {
						assert.Zero(t, rec.Flags&recFlagProxy)
					}
				}
				algbw, busbw := bandwidths(&rec)
				assert.Positive(t, algbw)
				if rec.Kind == kindP2P {
					assert.Equal(t, "Send", cstr(rec.Func[:]))
					assert.Equal(t, int32((rank+1)%8), rec.Peer)
					assert.Equal(t, "ncclBfloat16", cstr(rec.Datatype[:]))
					assert.Zero(t, rec.Seq)
					assert.Positive(t, busbw, "send: factor 1 whatever nranks")
					sends[rank]++
					continue
				}
				require.Equal(t, uint8(kindColl), rec.Kind)
				require.False(t, seen[[2]int{rank, i}], "duplicate rank %d seq %d", rank, i)
				seen[[2]int{rank, i}] = true
				assert.Equal(t, int32(-1), rec.Peer)
				fn := funcs[i%nfuncs]
				assert.Equal(t, fn, cstr(rec.Func[:]))
				assert.Equal(t, "ncclFloat32", cstr(rec.Datatype[:]))
				algo := "Ring"
				if i%2 == 1 {
					algo = "Tree"
				}
				assert.Equal(t, algo, cstr(rec.Algo[:]))
				assert.Equal(t, "Simple", cstr(rec.Proto[:]))
				assert.Equal(t, uint8(2), rec.Channels)
				want := uint64(1024*(1+i%4)) * 4
				if (fn == "AllGather" || fn == "ReduceScatter") && version >= 4 {
					want *= 8 // nccl-tests size: the whole buffer; unknown without nranks
				}
				assert.Equal(t, want, rec.Bytes, "seq %d", i)
				if version >= 4 {
					assert.Equal(t, uint64(10000*(1+i%5)), rec.ExecNs, "GPU time across both channels")
				} else if fn == "AllReduce" || fn == "AllGather" || fn == "ReduceScatter" {
					assert.Zero(t, busbw, "%s: no bus bandwidth without nranks", fn)
				} else {
					assert.Positive(t, busbw, "%s: factor 1", fn)
				}
			}
			// Every collective of every rank, once; P2P every tenth op.
			assert.Len(t, seen, threads*ops*9/10)
			for rank := 0; rank < threads; rank++ {
				assert.Equal(t, ops/10, sends[rank], "sends of rank %d", rank)
			}

			md, err := r.scrape(context.Background())
			require.NoError(t, err)
			checkMetrics(t, md, version, threads, ops)
		})
	}
}

func checkMetrics(t *testing.T, md pmetric.Metrics, version, threads, ops int) {
	t.Helper()
	var count int64
	var busbwPoints int
	nodesWant := int64(2)
	if version < 4 {
		nodesWant = 0 // not reported before v4
	}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch m.Name() {
			case "acceltel.receiver.available":
				assert.Equal(t, int64(1), m.Gauge().DataPoints().At(0).IntValue())
			case "nccl.operation.count":
				for k := 0; k < m.Sum().DataPoints().Len(); k++ {
					count += m.Sum().DataPoints().At(k).IntValue()
				}
			case "nccl.collective.bus_bandwidth":
				assert.Equal(t, "By/s", m.Unit())
				for k := 0; k < m.Gauge().DataPoints().Len(); k++ {
					dp := m.Gauge().DataPoints().At(k)
					fn, _ := dp.Attributes().Get("nccl.collective")
					nodes, _ := dp.Attributes().Get("nccl.communicator.nodes")
					assert.Equal(t, nodesWant, nodes.Int())
					if version < 4 {
						// Without nranks only factor-1 operations have a bus bandwidth.
						assert.Contains(t, []string{"Broadcast", "Reduce", "Send"}, fn.Str())
						assert.Positive(t, dp.DoubleValue())
					} else if fn.Str() == "AllReduce" {
						// The harness's AllReduces are i ≡ 0 (mod 6): 4 KiB·(1+i%4)
						// in 10 µs·(1+i%5) of GPU time, on 8 ranks.
						want := 0.0
						for i := 0; i < ops; i += 6 {
							want = max(want, float64(4096*(1+i%4))/(1e-5*float64(1+i%5))*2*7/8)
						}
						assert.InEpsilon(t, want, dp.DoubleValue(), 1e-9)
					}
					busbwPoints++
				}
			case "nccl.operation.duration", "nccl.operation.bus_bandwidth":
				assert.Positive(t, m.Histogram().DataPoints().Len())
			}
		}
	}
	assert.Equal(t, int64(threads*ops), count)
	assert.Positive(t, busbwPoints)
}

// TestReceiverKilledMidStream: the plugin keeps running at full speed when
// the collector goes away; it drops and counts, and the job never blocks.
func TestReceiverKilledMidStream(t *testing.T) {
	r, cfg, got, _ := startReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		for len(got()) < 1000 {
			time.Sleep(time.Millisecond)
		}
		_ = r.shutdown(context.Background())
	}()
	start := time.Now()
	// 4 threads × 200k ops, pausing 1 ms every 100: a few seconds of stream.
	sent, dropped, _ := runHarness(t, ctx, cfg.SocketPath, "5", "4", "200000", "1000")
	elapsed := time.Since(start)
	require.NoError(t, ctx.Err(), "the harness blocked")
	assert.Positive(t, sent)
	assert.Positive(t, dropped, "records after the receiver died are counted as dropped")
	assert.Equal(t, 4*200000, sent+dropped)
	t.Logf("harness finished in %s with the receiver gone: sent %d, dropped %d", elapsed, sent, dropped)
}

func TestSocketCannotBeCreated(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.SocketPath = "/dev/null/nccl.sock"
	r := newNCCLReceiver(cfg, receivertest.NewNopSettings(typ))
	require.NoError(t, r.start(context.Background(), componenttest.NewNopHost()), "the collector keeps running")
	assert.False(t, r.available)
	md, err := r.scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, md.ResourceMetrics().Len())
	m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	assert.Equal(t, "acceltel.receiver.available", m.Name())
	assert.Equal(t, int64(0), m.Gauge().DataPoints().At(0).IntValue())
	require.NoError(t, r.shutdown(context.Background()))
}
