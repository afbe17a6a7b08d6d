package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/internal/report/browsertest"
	"github.com/acceltel/acceltel/internal/report/fleetgen"
	"github.com/acceltel/acceltel/internal/s3test"
)

var reportStart = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// reportFixture writes an hour of a 32-GPU fleet with planted problems
// through the real s3 exporter into a local folder.
func reportFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	f := fleetgen.Fleet{Nodes: 4, GPUsPerNode: 8, Start: reportStart, Interval: 10 * time.Second, Steps: 360}
	require.NoError(t, f.WriteParquet(context.Background(), dir))
	return dir
}

// TestReportInChromium renders the fixture with the CLI and opens the file
// in headless Chromium: a non-blank screenshot, every chart laid out and
// non-empty, no console error, the planted problems in the summary.
func TestReportInChromium(t *testing.T) {
	browsertest.Chromium(t)
	dir := reportFixture(t)
	out := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := runCLI(t, "report", "--input", dir, "--from", "2026-11-28T12:00:00Z", "--to", "2026-11-28T13:00:00Z", "--output", out)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "wrote "+out)
	res := browsertest.Open(t, "file://"+out)
	if p := os.Getenv("ACCELTEL_SCREENSHOT"); p != "" {
		_ = os.WriteFile(p, res.Screenshot, 0o644)
	}
	browsertest.CheckFleetPage(t, res)
}

// TestReportBadInput: an empty range, a missing folder, a corrupt Parquet
// file, a range without data: one clear line, no stack trace, exit 1 or 2.
func TestReportBadInput(t *testing.T) {
	empty := t.TempDir()
	corrupt := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(corrupt, "metrics", "dt=2026-11-28", "hour=12"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(corrupt, "metrics", "dt=2026-11-28", "hour=12", "part-x.parquet"), []byte("PAR1 this is not parquet at all PAR1"), 0o644))
	truncated := t.TempDir()
	good := reportFixture(t)
	// A real file cut in half.
	var src string
	_ = filepath.WalkDir(good, func(p string, d os.DirEntry, _ error) error {
		if src == "" && strings.HasSuffix(p, ".parquet") {
			src = p
		}
		return nil
	})
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(truncated, "part-cut.parquet"), data[:len(data)/2], 0o644))
	out := filepath.Join(t.TempDir(), "r.html")
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"empty range", []string{"--input", good, "--from", "2026-11-28T13:00:00Z", "--to", "2026-11-28T12:00:00Z"}, 2, "empty range: --to 2026-11-28T12:00:00Z is not after --from 2026-11-28T13:00:00Z"},
		{"no data in range", []string{"--input", good, "--from", "2026-11-20", "--to", "2026-11-21"}, 1, "no data in folder " + good + " between 2026-11-20T00:00:00Z and 2026-11-21T00:00:00Z"},
		{"missing folder", []string{"--input", filepath.Join(empty, "nope"), "--from", "-1h"}, 1, "input folder " + filepath.Join(empty, "nope") + " does not exist"},
		{"no parquet files", []string{"--input", empty, "--from", "-1h"}, 1, "no metrics Parquet files (*.parquet) in folder " + empty},
		{"corrupt file", []string{"--input", corrupt, "--from", "2026-11-28T12:00:00Z", "--to", "2026-11-28T13:00:00Z"}, 1, "metrics/dt=2026-11-28/hour=12/part-x.parquet in folder " + corrupt + ": corrupt"},
		{"truncated file", []string{"--input", truncated, "--from", "2026-11-28T12:00:00Z", "--to", "2026-11-28T13:00:00Z"}, 1, "part-cut.parquet in folder " + truncated + ": corrupt"},
		{"bad time", []string{"--input", good, "--from", "yesterday"}, 2, `--from: "yesterday" is not a time`},
		{"no source", []string{"--from", "-1h"}, 2, "exactly one of --input and --prometheus is required"},
		{"s3 flags on a folder", []string{"--input", good, "--from", "-1h", "--s3-endpoint", "http://x"}, 2, "apply to an s3:// --input only"},
		{"bad s3 url", []string{"--input", "s3://", "--from", "-1h"}, 2, `"s3://" names no bucket`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"report", "--output", out}, tc.args...)...)
			require.Equal(t, tc.code, code, stderr)
			require.Contains(t, stderr, tc.msg)
			require.True(t, strings.HasPrefix(stderr, "acceltel report: "), stderr)
			require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %s", stderr)
			for _, trace := range []string{"goroutine ", "panic", ".go:"} {
				require.NotContains(t, stderr, trace)
			}
			_, err := os.Stat(out)
			require.True(t, os.IsNotExist(err), "no report written")
		})
	}
}

// TestReportFromS3 reads the fixture from a real S3 server (versitygw),
// with credentials from the standard AWS chain (the environment) and the
// S3-compatible store flags.
func TestReportFromS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "telemetry")
	dir := reportFixture(t)
	client := srv.Client()
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		_, err = client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("telemetry"), Key: aws.String("fleet-a/" + filepath.ToSlash(rel)), Body: bytes.NewReader(data)})
		return err
	}))
	require.Positive(t, n)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	out := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := runCLI(t, "report", "--input", "s3://telemetry/fleet-a", "--s3-endpoint", srv.Endpoint, "--s3-path-style", "--s3-region", srv.Region,
		"--from", "2026-11-28T12:00:00Z", "--to", "2026-11-28T13:00:00Z", "--output", out)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "wrote")
	html, err := os.ReadFile(out)
	require.NoError(t, err)
	for _, want := range []string{"source: s3://telemetry/fleet-a at " + srv.Endpoint, "XID 79", "namespace " + fleetgen.IdleNamespace, "nccl.rank=5"} {
		require.Contains(t, string(html), want)
	}
	// A wrong key is one clear line, not a stack trace.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	code, _, stderr = runCLI(t, "report", "--input", "s3://telemetry/fleet-a", "--s3-endpoint", srv.Endpoint, "--s3-path-style", "--s3-region", srv.Region,
		"--from", "2026-11-28T12:00:00Z", "--to", "2026-11-28T13:00:00Z", "--output", out+".2")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "acceltel report: listing s3://telemetry/fleet-a at "+srv.Endpoint)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, stderr)
}
