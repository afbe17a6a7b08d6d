package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Collector is a running otelcol-acceltel and the addresses it listens on.
type Collector struct {
	*Process
	OTLPGRPC, OTLPHTTP, Prometheus, Telemetry, Health string
	// Status is local.yaml's live status page (the acceltelstatus extension).
	Status string
	// PKI issued the certificate of the configs' TLS listeners (gateway.yaml,
	// agent.yaml), and Token is the bearer token they require.
	PKI   *PKI
	Token string
}

// CollectorBinary returns bin/otelcol-acceltel, building it through make when
// it is missing or stale (make does nothing when it is current). make runs
// once per test process: a later run could try to replace the binary while
// collectors started from it are running ("text file busy"), and sources
// edited mid-run are not what this run tests anyway.
func CollectorBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("ACCELTEL_COLLECTOR"); bin != "" {
		return bin
	}
	root := RepoRoot(t)
	buildOnce.Do(func() {
		cmd := exec.Command("make", "-C", root, "--no-print-directory", "build")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("make build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(root, "bin", "otelcol-acceltel")
}

var (
	buildOnce sync.Once
	buildErr  error
)

// StartCollector runs the distribution with a config (and extra flags such
// as --set), every listener on a free loopback port, and waits until
// health_check reports it ready.
func StartCollector(t testing.TB, config string, args ...string) *Collector {
	t.Helper()
	return StartCollectorWith(t, config, CollectorOptions{Args: args})
}

// CollectorOptions are what a test adds to StartCollectorWith's defaults.
type CollectorOptions struct {
	// Name labels the process in the test log (default otelcol-acceltel),
	// so that the output of several collectors can be told apart.
	Name string
	// Env is extra KEY=VALUE pairs (Kafka brokers, remote-write URL,
	// storage directory, ...). They come after the defaults, so a test can
	// also move one of the default listeners.
	Env []string
	// Args are extra command-line flags, such as --set.
	Args []string
}

// StartCollectorWith is StartCollector with a process name and extra
// environment variables.
func StartCollectorWith(t testing.TB, config string, opts CollectorOptions) *Collector {
	t.Helper()
	c := &Collector{
		OTLPGRPC:   FreePort(t),
		OTLPHTTP:   FreePort(t),
		Prometheus: FreePort(t),
		Telemetry:  FreePort(t),
		Health:     FreePort(t),
		Status:     FreePort(t),
	}
	telemetryPort := c.Telemetry[len("127.0.0.1:"):]
	c.PKI = NewPKI(t)
	cert := c.PKI.Server(t, "collector")
	c.Token = "testbed-token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tokenFile := filepath.Join(c.PKI.Dir, "token")
	if err := os.WriteFile(tokenFile, []byte(c.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"ACCELTEL_TLS_CERT_FILE=" + cert.CertFile,
		"ACCELTEL_TLS_KEY_FILE=" + cert.KeyFile,
		"ACCELTEL_AUTH_TOKEN_FILE=" + tokenFile,
		"ACCELTEL_OTLP_GRPC_ENDPOINT=" + c.OTLPGRPC,
		"ACCELTEL_OTLP_HTTP_ENDPOINT=" + c.OTLPHTTP,
		"ACCELTEL_PROMETHEUS_ENDPOINT=" + c.Prometheus,
		"ACCELTEL_TELEMETRY_PORT=" + telemetryPort,
		"ACCELTEL_HEALTH_ENDPOINT=" + c.Health,
		"ACCELTEL_PPROF_ENDPOINT=" + FreePort(t),
		"ACCELTEL_ZPAGES_ENDPOINT=" + FreePort(t),
		"ACCELTEL_STATUS_ENDPOINT=" + c.Status,
		"ACCELTEL_FORWARD_ENDPOINT=" + FreePort(t), // agent.yaml's internal hop
		"ACCELTEL_NCCL_SOCKET=" + filepath.Join(t.TempDir(), "nccl.sock"),
		"ACCELTEL_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"ACCELTEL_QUEUE_DIR=" + filepath.Join(t.TempDir(), "queue"),
		"ACCELTEL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "storage"),
	}
	env = append(env, KafkaEnv(t)...)
	// exec keeps the last value of a repeated key: opts.Env wins.
	env = append(env, opts.Env...)
	name := opts.Name
	if name == "" {
		name = "otelcol-acceltel"
	}
	c.Process = Start(t, name, env, CollectorBinary(t), append([]string{"--config", config}, opts.Args...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := WaitHTTP(ctx, c.Process, "http://"+c.Health+"/"); err != nil {
		t.Fatalf("%v\n%s", err, c.Output())
	}
	return c
}

// Pid is the process's id, for what /proc says about it (testbed/fleet
// reads a gateway's CPU time and peak memory there and pins it to a CPU).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Prometheus is a real Prometheus server (the Debian package) on loopback.
type Prometheus struct {
	*Process
	Addr string
}

// StartPrometheus starts prometheus scraping targets every second.
func StartPrometheus(t testing.TB, targets ...string) *Prometheus {
	t.Helper()
	return StartPrometheusWith(t, PrometheusOptions{Targets: targets})
}

// PrometheusOptions configure StartPrometheusWith.
type PrometheusOptions struct {
	// Targets are scraped every second (job "acceltel", labels honoured).
	Targets []string
	// RemoteWriteReceiver accepts remote write on /api/v1/write
	// (--web.enable-remote-write-receiver); see RemoteWriteURL.
	RemoteWriteReceiver bool
	// NativeHistograms stores native histograms
	// (--enable-feature=native-histograms). Remote write sends exponential
	// histograms (the ebpf receiver's) as native histograms, and a
	// Prometheus 2.x without the feature refuses the whole request.
	NativeHistograms bool
	// Addr is the address to listen on; empty means a free loopback port.
	// A test that starts a collector before its Prometheus sets it.
	Addr string
}

// StartPrometheusWith starts prometheus as opts say.
func StartPrometheusWith(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: `make deps` installs the Debian package")
	}
	dir := t.TempDir()
	cfg := "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
	if len(opts.Targets) > 0 {
		cfg += "scrape_configs:\n  - job_name: acceltel\n    honor_labels: true\n    static_configs:\n      - targets: ["
		for i, target := range opts.Targets {
			if i > 0 {
				cfg += ", "
			}
			cfg += strconv.Quote(target)
		}
		cfg += "]\n"
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Prometheus{Addr: opts.Addr}
	if p.Addr == "" {
		p.Addr = FreePort(t)
	}
	args := []string{
		"--config.file=" + cfgPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + p.Addr,
		"--log.level=warn",
	}
	if opts.RemoteWriteReceiver {
		args = append(args, "--web.enable-remote-write-receiver")
	}
	if opts.NativeHistograms {
		args = append(args, "--enable-feature=native-histograms")
	}
	p.Process = Start(t, "prometheus", nil, bin, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := WaitHTTP(ctx, p.Process, "http://"+p.Addr+"/-/ready"); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	return p
}

// RemoteWriteURL is where a remote-write client sends to this server
// (started with RemoteWriteReceiver).
func (p *Prometheus) RemoteWriteURL() string {
	return "http://" + p.Addr + "/api/v1/write"
}

// Sample is one series of an instant-query result.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query runs an instant PromQL query over the HTTP API.
func (p *Prometheus) Query(ctx context.Context, promql string) ([]Sample, error) {
	u := fmt.Sprintf("http://%s/api/v1/query?query=%s", p.Addr, url.QueryEscape(promql))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: %w", promql, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", promql, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %s, want vector", promql, body.Data.ResultType)
	}
	out := make([]Sample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %w", promql, r.Value[1], err)
		}
		out = append(out, Sample{Labels: r.Metric, Value: v})
	}
	return out, nil
}

// Kill ends the process with SIGKILL, as a crash would, and waits until it
// is gone. The exit is the test's doing, so it is not reported as an error
// when the test ends.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Kill(); err != nil {
		return err
	}
	<-p.done
	p.err = nil
	return nil
}
