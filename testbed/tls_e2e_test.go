package testbed

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// tlsMetrics is one gauge point, enough to tell accepted from refused.
func tlsMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "tls-node")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("acceltel.e2e.tls")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	dp.SetDoubleValue(1)
	return md
}

// exportGRPC sends md to endpoint with the given transport and token ("" for none).
func exportGRPC(ctx context.Context, endpoint string, creds credentials.TransportCredentials, token string) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(tlsMetrics()))
	return err
}

// exportHTTP posts md as OTLP/HTTP protobuf and returns the status code.
func exportHTTP(ctx context.Context, url string, tlsCfg *tls.Config, token string) (int, error) {
	body, err := pmetricotlp.NewExportRequestFromMetrics(tlsMetrics()).MarshalProto()
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/metrics", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// acceptedPoints reads what the gateway's otlp receiver accepted, from its
// own telemetry.
func acceptedPoints(ctx context.Context, t *testing.T, c *Collector) float64 {
	t.Helper()
	families, err := scrape(ctx, c.Telemetry)
	require.NoError(t, err)
	var n float64
	for name, f := range families {
		if !strings.HasPrefix(name, "otelcol_receiver_accepted_metric_points") {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "receiver") == "otlp" {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// refusedRequests counts the gateway's requests answered Unauthenticated
// (gRPC) or 401 (HTTP), from the RPC and HTTP server metrics of its telemetry.
func refusedRequests(ctx context.Context, t *testing.T, c *Collector) float64 {
	t.Helper()
	families, err := scrape(ctx, c.Telemetry)
	require.NoError(t, err)
	var n float64
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case strings.HasPrefix(name, "rpc_server_") && label(m, "rpc_response_status_code") == "UNAUTHENTICATED":
			case strings.HasPrefix(name, "http_server_") && label(m, "http_response_status_code") == "401":
			default:
				continue
			}
			if h := m.GetHistogram(); h != nil && strings.Contains(name, "duration") {
				n += float64(h.GetSampleCount())
			}
		}
	}
	return n
}

// TestGatewayRequiresTLSAndToken runs gateway.yaml as shipped: its OTLP
// receivers take only TLS connections carrying the bearer token; everything
// else is refused, the refusals counted, and nothing of it accepted.
func TestGatewayRequiresTLSAndToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	// Remote write is synchronous (gateway.yaml): OTLP is acknowledged only
	// once the endpoint took the data, so one must answer.
	gw := startGateway(t, kafka.Addr, discardRemoteWrite(t))
	trusted := credentials.NewTLS(gw.PKI.ClientTLS(t, nil))

	// Refused: plaintext, no token, a wrong token, a server the client does not trust.
	err := exportGRPC(ctx, gw.OTLPGRPC, insecure.NewCredentials(), gw.Token)
	require.Error(t, err, "plaintext gRPC")
	assert.Equal(t, codes.Unavailable, status.Code(err), "plaintext gRPC: %v", err)
	for name, token := range map[string]string{"no token": "", "wrong token": "not-" + gw.Token} {
		err := exportGRPC(ctx, gw.OTLPGRPC, trusted, token)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "%s: %v", name, err)
	}
	other := NewPKI(t)
	err = exportGRPC(ctx, gw.OTLPGRPC, credentials.NewTLS(other.ClientTLS(t, nil)), gw.Token)
	assert.ErrorContains(t, err, "certificate signed by unknown authority")

	httpURL := "https://" + gw.OTLPHTTP
	// Go's TLS server answers plain HTTP with a bare 400 and closes.
	code, err := exportHTTP(ctx, "http://"+gw.OTLPHTTP, nil, gw.Token)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, code, "plaintext HTTP to a TLS listener")
	for name, token := range map[string]string{"no token": "", "wrong token": "not-" + gw.Token} {
		code, err := exportHTTP(ctx, httpURL, gw.PKI.ClientTLS(t, nil), token)
		require.NoError(t, err, name)
		assert.Equal(t, http.StatusUnauthorized, code, "HTTP %s", name)
	}
	assert.Zero(t, acceptedPoints(ctx, t, gw), "nothing refused may reach the pipeline")

	// Accepted: TLS with the token, over gRPC and HTTP.
	require.NoError(t, exportGRPC(ctx, gw.OTLPGRPC, trusted, gw.Token))
	code, err = exportHTTP(ctx, httpURL, gw.PKI.ClientTLS(t, nil), gw.Token)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	require.NoError(t, Eventually(ctx, 200*time.Millisecond, func() error {
		if n := acceptedPoints(ctx, t, gw); n != 2 {
			return fmt.Errorf("accepted %v points, want 2", n)
		}
		if n := refusedRequests(ctx, t, gw); n < 4 {
			return fmt.Errorf("counted %v refused requests, want 4 (2 gRPC, 2 HTTP)", n)
		}
		return nil
	}))
	// Neither the token nor what a client sent in its place is ever logged.
	assert.NotContains(t, gw.Output(), gw.Token)
}

// TestGatewayMutualTLS turns on client certificates: a client certificate
// from the CA is required, and an expired one is refused like none at all.
func TestGatewayMutualTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	clientCA := NewPKI(t)
	gw := StartCollectorWith(t, configPath(t, "gateway.yaml"), CollectorOptions{
		Name: "gateway",
		Env: []string{
			"ACCELTEL_KAFKA_BROKERS=" + kafka.Addr,
			"ACCELTEL_REMOTE_WRITE_ENDPOINT=" + discardRemoteWrite(t),
			"ACCELTEL_KAFKA_GROUP_ID=testbed-mtls",
			"ACCELTEL_TLS_CLIENT_CA_FILE=" + clientCA.CAFile,
		},
	})
	valid := clientCA.Client(t, "sidecar")
	expired := clientCA.Expired(t, "old-sidecar")
	withCert := func(pair *CertPair) credentials.TransportCredentials {
		cfg := gw.PKI.ClientTLS(t, pair)
		return credentials.NewTLS(cfg)
	}

	for name, pair := range map[string]*CertPair{"no client certificate": nil, "expired client certificate": &expired} {
		err := exportGRPC(ctx, gw.OTLPGRPC, withCert(pair), gw.Token)
		require.Error(t, err, name)
		assert.Equal(t, codes.Unavailable, status.Code(err), "%s: %v", name, err)
	}
	require.NoError(t, exportGRPC(ctx, gw.OTLPGRPC, withCert(&valid), gw.Token))
	// The certificate is not a substitute for the token.
	err := exportGRPC(ctx, gw.OTLPGRPC, withCert(&valid), "")
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
	assert.Equal(t, float64(1), acceptedPoints(ctx, t, gw))
}

// TestGatewayExpiredServerCertificate: a gateway that serves an expired
// certificate is refused by its clients rather than trusted.
func TestGatewayExpiredServerCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	pki := NewPKI(t)
	expired := pki.Expired(t, "gateway")
	gw := StartCollectorWith(t, configPath(t, "gateway.yaml"), CollectorOptions{
		Name: "gateway",
		Env: []string{
			"ACCELTEL_KAFKA_BROKERS=" + kafka.Addr,
			"ACCELTEL_REMOTE_WRITE_ENDPOINT=" + discardRemoteWrite(t),
			"ACCELTEL_KAFKA_GROUP_ID=testbed-expired",
			"ACCELTEL_TLS_CERT_FILE=" + expired.CertFile,
			"ACCELTEL_TLS_KEY_FILE=" + expired.KeyFile,
		},
	})
	err := exportGRPC(ctx, gw.OTLPGRPC, credentials.NewTLS(pki.ClientTLS(t, nil)), gw.Token)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate has expired")
}

// TestKafkaRequiresTLSAndSASL: the test brokers, like the production ones
// agent.yaml and gateway.yaml expect, take TLS with SASL/SCRAM only; a
// collector with a wrong password says so in its log, without the password,
// and keeps its data queued.
func TestKafkaRequiresTLSAndSASL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	ping := func(opts ...kgo.Opt) error {
		c, err := kgo.NewClient(append(opts, kgo.SeedBrokers(kafka.Addr), kgo.RequestRetries(0))...)
		if err != nil {
			return err
		}
		defer c.Close()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return c.Ping(pctx)
	}
	tlsCfg := &tls.Config{RootCAs: mustKafkaCerts(t).ca.Pool(), MinVersion: tls.VersionTLS12}
	assert.Error(t, ping(), "plaintext")
	assert.Error(t, ping(kgo.DialTLSConfig(tlsCfg)), "TLS without SASL")
	assert.Error(t, ping(kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: KafkaUser, Pass: "wrong"}.AsSha512Mechanism())), "a wrong password")
	client, err := kafka.Client()
	require.NoError(t, err)
	require.NoError(t, client.Ping(ctx), "TLS with the user's SCRAM credentials")
	client.Close()

	const wrong = "wrong-password-3c9a7e"
	agent := StartCollectorWith(t, configPath(t, "agent.yaml"), CollectorOptions{
		Name: "agent",
		Env: []string{
			"K8S_NODE_NAME=node-sasl",
			"ACCELTEL_KAFKA_BROKERS=" + kafka.Addr,
			"ACCELTEL_KAFKA_PASSWORD=" + wrong,
			"ACCELTEL_BATCH_TIMEOUT=100ms",
		},
	})
	require.NoError(t, sendOTLP(ctx, agent, tlsMetrics()))
	require.NoError(t, Eventually(ctx, 200*time.Millisecond, func() error {
		if out := agent.Output(); !strings.Contains(strings.ToLower(out), "sasl") {
			return errors.New("no SASL error in the agent's log yet")
		}
		return nil
	}))
	assert.NotContains(t, agent.Output(), wrong)
	recs, err := kafka.Records(ctx, kafkaTopic)
	require.NoError(t, err)
	assert.Empty(t, recs, "nothing reaches a broker the agent cannot authenticate to")
	// Shutting down, the agent tries each queued batch once more against a
	// broker that refuses it, which can outlast the harness's 10 s SIGTERM
	// grace (agent.yaml's README: ~12 s with the broker away); the queue is
	// on disk either way, so end it as a crash would.
	require.NoError(t, agent.Kill())
}

// TestSidecarSendsToAgentOverTLS: sidecar.yaml reaches the node agent only
// over TLS with the agent's token, checking the agent's certificate by name;
// with a wrong token nothing gets through.
func TestSidecarSendsToAgentOverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	agent := startAgent(t, "node-sidecar", kafka.Addr, t.TempDir())
	startSidecar := func(tokenFile string) *Collector {
		return StartCollectorWith(t, configPath(t, "sidecar.yaml"), CollectorOptions{
			Name: "sidecar",
			Env: []string{
				"ACCELTEL_AGENT_ENDPOINT=" + agent.OTLPGRPC,
				"ACCELTEL_AGENT_CA_FILE=" + agent.PKI.CAFile,
				"ACCELTEL_AGENT_TLS_SERVER_NAME=localhost",
				"ACCELTEL_AUTH_TOKEN_FILE=" + tokenFile,
				"ACCELTEL_BATCH_TIMEOUT=100ms",
			},
		})
	}
	send := func(c *Collector) {
		conn, err := grpc.NewClient(c.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(tlsMetrics()))
		require.NoError(t, err, "the job's own loopback OTLP into the sidecar")
	}
	inKafka := func() (int, error) {
		recs, err := kafka.Records(ctx, kafkaTopic)
		if err != nil {
			return 0, err
		}
		dec, err := decodeRecords(recs)
		if err != nil {
			return 0, err
		}
		n := 0
		for _, d := range dec {
			rms := d.md.ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				sms := rms.At(i).ScopeMetrics()
				for j := 0; j < sms.Len(); j++ {
					ms := sms.At(j).Metrics()
					for k := 0; k < ms.Len(); k++ {
						if ms.At(k).Name() == "acceltel.e2e.tls" {
							n++
						}
					}
				}
			}
		}
		return n, nil
	}

	wrongToken := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(wrongToken, []byte("not-the-agent-token"), 0o600))
	bad := startSidecar(wrongToken)
	send(bad)
	require.NoError(t, Eventually(ctx, 200*time.Millisecond, func() error {
		if !strings.Contains(bad.Output(), "Unauthenticated") {
			return errors.New("the sidecar has not been refused yet")
		}
		return nil
	}))
	require.NoError(t, bad.Stop(10*time.Second))

	good := startSidecar(filepath.Join(agent.PKI.Dir, "token"))
	send(good)
	require.NoError(t, Eventually(ctx, 200*time.Millisecond, func() error {
		n, err := inKafka()
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("the sidecar's point is not on Kafka yet")
		}
		return nil
	}))
	n, err := inKafka()
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only the point sent with the agent's token arrives")
}
