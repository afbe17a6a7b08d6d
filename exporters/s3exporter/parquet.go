package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/gzip"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// parquetEncoder writes one Parquet file per partition with one row group
// (a batch is bounded by sending_queue.batch.max_size). A writer is made per
// file: parquet-go v0.32 writers reset for reuse do not produce the same
// bytes for the same rows, and object names derive from the bytes. The
// flattening buffers are pooled instead.
type parquetEncoder struct {
	codec   compress.Codec
	metrics sync.Pool // *flatBuf[metricPoint]
	logs    sync.Pool // *flatBuf[logPoint]
}

type flatBuf[P any] struct {
	points []P
	arena  []kv
}

func newParquetEncoder(compression string) encoder {
	var codec compress.Codec
	switch compression {
	case compressionNone:
		codec = &uncompressed.Codec{}
	case compressionGzip:
		codec = &gzip.Codec{Level: gzip.DefaultCompression}
	default:
		codec = &zstd.Codec{Level: zstd.DefaultLevel}
	}
	return &parquetEncoder{codec: codec}
}

func newWriter[T any](e *parquetEncoder, out *bytes.Buffer, schema *parquet.Schema, sortedBy string) *parquet.GenericWriter[T] {
	opts := []parquet.WriterOption{
		schema,
		parquet.Compression(e.codec),
		parquet.CreatedBy("acceltel s3 exporter", "", ""),
		parquet.DataPageStatistics(true),
		// Version 1 pages compress repetition and definition levels with
		// the values; version 2 leaves them raw, and the levels of the
		// attribute maps then weigh five times the rest of the file.
		parquet.DataPageVersion(1),
		parquet.SortingWriterConfig(parquet.SortingColumns(parquet.Ascending(sortedBy))),
	}
	// Min/max of map entries, list elements and bodies prune nothing in any
	// engine, and computing them was a seventh of the encoding time.
	for _, path := range schema.Columns() {
		if len(path) > 1 || path[0] == "body" {
			opts = append(opts, parquet.SkipPageBounds(path...))
		}
	}
	return parquet.NewGenericWriter[T](out, opts...)
}

func (e *parquetEncoder) encodeMetrics(md pmetric.Metrics) ([]byte, error) {
	b, _ := e.metrics.Get().(*flatBuf[metricPoint])
	if b == nil {
		b = &flatBuf[metricPoint]{}
	}
	defer e.metrics.Put(b)
	var order []int32
	b.points, order, b.arena = metricPoints(md, b.points, b.arena)
	var out bytes.Buffer
	err := writeColumns(newWriter[metricRow](e, &out, metricSchema, "metric_name"), metricColumns(), b.points, order)
	// Pooled buffers must not keep pdata alive.
	clear(b.points)
	clear(b.arena)
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	return out.Bytes(), nil
}

func (e *parquetEncoder) encodeLogs(ld plog.Logs) ([]byte, error) {
	b, _ := e.logs.Get().(*flatBuf[logPoint])
	if b == nil {
		b = &flatBuf[logPoint]{}
	}
	defer e.logs.Put(b)
	var order []int32
	b.points, order, b.arena = logPoints(ld, b.points, b.arena)
	var out bytes.Buffer
	err := writeColumns(newWriter[logRow](e, &out, logSchema, "timestamp"), logColumns(), b.points, order)
	clear(b.points)
	clear(b.arena)
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	return out.Bytes(), nil
}

func (e *parquetEncoder) extension() string   { return ".parquet" }
func (e *parquetEncoder) contentType() string { return "application/vnd.apache.parquet" }
