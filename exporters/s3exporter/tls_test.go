package s3exporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap/zapcore"

	"github.com/acceltel/acceltel/internal/s3test"
)

// TestS3OverTLS writes to a store that serves HTTPS only: with its CA in
// tls.ca_file the objects land; without it the write is refused as
// untrusted (reason tls), retried, and logged once with a hint.
func TestS3OverTLS(t *testing.T) {
	srv := s3test.StartTLS(t)
	require.Contains(t, srv.Endpoint, "https://")
	srv.CreateBucket(t, "tls")

	t.Run("trusted", func(t *testing.T) {
		cfg := s3Config(srv, "tls")
		cfg.Prefix = "trusted/"
		cfg.TLS.CAFile = srv.CAFile
		exp := startMetrics(t, cfg)
		require.NoError(t, exp.ConsumeMetrics(context.Background(), testMetrics()))
		assert.NotEmpty(t, srv.ListObjects(t, "tls", "trusted/"))
	})
	t.Run("untrusted", func(t *testing.T) {
		cfg := s3Config(srv, "tls")
		cfg.Prefix = "untrusted/"
		exp, logs := observed(t, cfg)
		err := exp.ConsumeMetrics(context.Background(), testMetrics())
		require.Error(t, err)
		assert.False(t, consumererror.IsPermanent(err), "an operator can fix it: retry")
		assert.Contains(t, err.Error(), "("+reasonTLS+")")
		alarms := logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("tls.ca_file").All()
		assert.Len(t, alarms, 1)
		assert.Empty(t, srv.ListObjects(t, "tls", "untrusted/"))
	})
	t.Run("plaintext client", func(t *testing.T) {
		cfg := s3Config(srv, "tls")
		cfg.Endpoint = "http://" + srv.Endpoint[len("https://"):]
		exp, _ := observed(t, cfg)
		require.Error(t, exp.ConsumeMetrics(context.Background(), testMetrics()), "an HTTPS-only store refuses plaintext")
	})
}
