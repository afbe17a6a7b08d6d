package testbed

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gpuRow is a GPU sample as a Parquet row, with the column kinds the s3
// exporter's files have: strings, doubles, int64 counters, a nanosecond
// timestamp and an optional column.
type gpuRow struct {
	Time        time.Time `parquet:"time,timestamp(nanosecond)"`
	HostName    string    `parquet:"host_name"`
	HwID        string    `parquet:"hw_id"`
	Utilization float64   `parquet:"hw_gpu_utilization"`
	Energy      float64   `parquet:"hw_energy"`
	Tokens      int64     `parquet:"ml_train_tokens"`
	Pod         *string   `parquet:"k8s_pod_name,optional"`
}

// TestDuckDBReadsParquet writes a Parquet file with parquet-go and reads it
// back through DuckDB: row count, per-host aggregates, exact int64 values,
// timestamps and NULLs as the DuckDB helper documents them.
func TestDuckDBReadsParquet(t *testing.T) {
	base := time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.UTC)
	pod := "train-llama-0"
	var rows []gpuRow
	for h := range 2 {
		for g := range 4 {
			for s := range 3 {
				r := gpuRow{
					Time:        base.Add(time.Duration(s) * 10 * time.Second),
					HostName:    fmt.Sprintf("dgx-h100-%02d", h+1),
					HwID:        fmt.Sprintf("GPU-%d-%d", h, g),
					Utilization: 0.25 * float64(g),
					Energy:      1e6 + float64(s)*7000.5,
					Tokens:      1<<53 + int64(s), // beyond float64's exact integers
				}
				if g == 0 {
					r.Pod = &pod
				}
				rows = append(rows, r)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "gpu.parquet")
	require.NoError(t, parquet.WriteFile(path, rows))
	from := fmt.Sprintf("read_parquet('%s')", strings.ReplaceAll(path, "'", "''"))

	got := DuckDB(t, "SELECT count(*)::INTEGER AS n FROM "+from)
	require.Equal(t, []map[string]any{{"n": 24.0}}, got)

	got = DuckDB(t, `SELECT host_name, count(DISTINCT hw_id)::INTEGER AS gpus,
		avg(hw_gpu_utilization) AS util, max(ml_train_tokens) AS tokens
		FROM `+from+` GROUP BY host_name ORDER BY host_name`)
	require.Equal(t, []map[string]any{
		{"host_name": "dgx-h100-01", "gpus": 4.0, "util": 0.375, "tokens": "9007199254740994"},
		{"host_name": "dgx-h100-02", "gpus": 4.0, "util": 0.375, "tokens": "9007199254740994"},
	}, got)

	got = DuckDB(t, `SELECT time, hw_energy, k8s_pod_name FROM `+from+`
		WHERE hw_id = 'GPU-1-0' OR hw_id = 'GPU-1-1' ORDER BY hw_id, time LIMIT 4`)
	require.Len(t, got, 4)
	// DuckDB reads a UTC-adjusted nanosecond timestamp as TIMESTAMPTZ,
	// which keeps microseconds: the nanoseconds are cut.
	assert.Equal(t, "2026-11-28 12:00:00.123456+00", got[0]["time"])
	assert.Equal(t, 1e6+2*7000.5, got[2]["hw_energy"])
	assert.Equal(t, pod, got[0]["k8s_pod_name"])
	assert.Nil(t, got[3]["k8s_pod_name"])

	// A bad query fails with DuckDB's own message.
	_, err := QueryDuckDB(RepoRoot(t), "SELECT no_such_column FROM "+from)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Referenced column "no_such_column" not found`)
}
