package testbed

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// TestGatewayOIDC runs gateway.yaml with DEPLOY.md's oidc overlay against a
// real (test) identity provider: OTLP is accepted only with an ID token the
// provider signed for the gateway's audience and that has not expired; the
// shipped static token no longer opens the door.
func TestGatewayOIDC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka := StartKafka(t, "", kafkaTopic, kafkaPartitions)
	// The extension fetches the discovery document when it starts, and the
	// collector does not start without it, so the issuer comes first.
	idp := StartOIDCIssuer(t, "acceltel")
	overlay := filepath.Join(t.TempDir(), "oidc.yaml")
	require.NoError(t, os.WriteFile(overlay, fmt.Appendf(nil, `
extensions:
  oidc:
    issuer_url: %s
    audience: acceltel
    issuer_ca_path: %s
receivers:
  otlp:
    protocols:
      grpc: {auth: {authenticator: oidc}}
      http: {auth: {authenticator: oidc}}
service:
  extensions: [health_check, file_storage, oidc]
`, idp.URL, idp.CAFile), 0o600))
	gw := startGateway(t, kafka.Addr, discardRemoteWrite(t), "--config", overlay)
	trusted := credentials.NewTLS(gw.PKI.ClientTLS(t, nil))
	httpURL := "https://" + gw.OTLPHTTP

	refused := map[string]string{
		"no token":              "",
		"static token":          gw.Token,
		"wrong audience":        idp.Token(t, "trainer", TokenAudience("grafana")),
		"expired":               idp.Token(t, "trainer", TokenExpired()),
		"signed by another key": idp.Token(t, "trainer", TokenSignedByOtherKey()),
		"other issuer":          idp.Token(t, "trainer", TokenIssuer("https://login.example.com")),
	}
	for name, token := range refused {
		err := exportGRPC(ctx, gw.OTLPGRPC, trusted, token)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "gRPC %s: %v", name, err)
		code, err := exportHTTP(ctx, httpURL, gw.PKI.ClientTLS(t, nil), token)
		require.NoError(t, err, name)
		assert.Equal(t, http.StatusUnauthorized, code, "HTTP %s", name)
	}
	assert.Zero(t, acceptedPoints(ctx, t, gw), "nothing refused may reach the pipeline")

	valid := idp.Token(t, "trainer")
	require.NoError(t, exportGRPC(ctx, gw.OTLPGRPC, trusted, valid))
	code, err := exportHTTP(ctx, httpURL, gw.PKI.ClientTLS(t, nil), valid)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	require.NoError(t, Eventually(ctx, 200*time.Millisecond, func() error {
		if n := acceptedPoints(ctx, t, gw); n != 2 {
			return fmt.Errorf("accepted %v points, want 2", n)
		}
		if n, want := refusedRequests(ctx, t, gw), float64(2*len(refused)); n < want {
			return fmt.Errorf("counted %v refused requests, want %v", n, want)
		}
		return nil
	}))
	assert.NotContains(t, gw.Output(), valid)
}
