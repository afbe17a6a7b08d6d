package s3exporter

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestParquetSchemaGolden pins the schema users query: a changed column is a
// breaking change for every saved query and table definition, so it has to
// show up in review as a changed golden file (go test -run Golden -update).
func TestParquetSchemaGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		encode func() ([]byte, error)
		schema *parquet.Schema
	}{
		{"metrics.schema.golden", func() ([]byte, error) { return newParquetEncoder(compressionZstd).encodeMetrics(testMetrics()) }, metricSchema},
		{"logs.schema.golden", func() ([]byte, error) { return newParquetEncoder(compressionZstd).encodeLogs(testLogs()) }, logSchema},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			body, err := tc.encode()
			require.NoError(t, err)
			// The schema as written in a file, not just as declared.
			f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
			require.NoError(t, err)
			got := f.Schema().String() + "\n"
			assert.Equal(t, tc.schema.String()+"\n", got)

			path := filepath.Join("testdata", tc.golden)
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run Golden -update to create it")
			assert.Equal(t, string(want), got)
		})
	}
}

// TestParquetFileMetadata checks what engines use to skip data: one row
// group, the sorting column declared, page indexes and v1 pages (whose
// levels are compressed with the values).
func TestParquetFileMetadata(t *testing.T) {
	body, err := newParquetEncoder(compressionZstd).encodeMetrics(testMetrics())
	require.NoError(t, err)
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	require.NoError(t, err)
	md := f.Metadata()
	require.Len(t, md.RowGroups, 1)
	assert.EqualValues(t, testMetrics().DataPointCount(), md.NumRows)
	sc := md.RowGroups[0].SortingColumns
	require.Len(t, sc, 1)
	lc, _ := metricSchema.Lookup("metric_name")
	assert.EqualValues(t, lc.ColumnIndex, sc[0].ColumnIdx)
	assert.NotEmpty(t, f.ColumnIndexes(), "page index written")
	assert.Contains(t, md.CreatedBy, "acceltel")
	for _, c := range md.RowGroups[0].Columns {
		assert.Equal(t, "ZSTD", c.MetaData.Codec.String(), "%v", c.MetaData.PathInSchema)
	}
}
