package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

const (
	formatParquet   = "parquet"
	formatOTLPJSON  = "otlp_json"
	formatOTLPProto = "otlp_proto"

	compressionNone = "none"
	compressionGzip = "gzip"
	compressionZstd = "zstd"
)

var compressions = []string{compressionNone, compressionGzip, compressionZstd}

// encoder turns one partition into the bytes of one object.
type encoder interface {
	encodeMetrics(md pmetric.Metrics) ([]byte, error)
	encodeLogs(ld plog.Logs) ([]byte, error)
	// extension ends every key, so that readers can tell the format and
	// compression from the name alone.
	extension() string
	contentType() string
}

var formats = map[string]func(compression string) encoder{
	formatParquet:   newParquetEncoder,
	formatOTLPJSON:  func(c string) encoder { return newOTLPEncoder(false, c) },
	formatOTLPProto: func(c string) encoder { return newOTLPEncoder(true, c) },
}

func formatNames() []string {
	names := make([]string, 0, len(formats))
	for n := range formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// otlpEncoder writes one OTLP request message per object, as protobuf or as
// the OTLP/JSON encoding (one line), optionally compressed as a whole.
type otlpEncoder struct {
	proto       bool
	compression string
}

func newOTLPEncoder(proto bool, compression string) encoder {
	return &otlpEncoder{proto: proto, compression: compression}
}

func (e *otlpEncoder) encodeMetrics(md pmetric.Metrics) ([]byte, error) {
	var raw []byte
	var err error
	if e.proto {
		raw, err = (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	} else {
		raw, err = (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	}
	if err != nil {
		return nil, err
	}
	return e.finish(raw)
}

func (e *otlpEncoder) encodeLogs(ld plog.Logs) ([]byte, error) {
	var raw []byte
	var err error
	if e.proto {
		raw, err = (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	} else {
		raw, err = (&plog.JSONMarshaler{}).MarshalLogs(ld)
	}
	if err != nil {
		return nil, err
	}
	return e.finish(raw)
}

func (e *otlpEncoder) finish(raw []byte) ([]byte, error) {
	if !e.proto {
		// A trailing newline makes each file valid JSON Lines as well, the
		// layout of the collector's file exporter.
		raw = append(raw, '\n')
	}
	return compressBytes(e.compression, raw)
}

func (e *otlpEncoder) extension() string {
	ext := ".json"
	if e.proto {
		ext = ".binpb"
	}
	return ext + compressionExtension(e.compression)
}

func (e *otlpEncoder) contentType() string {
	switch e.compression {
	case compressionGzip:
		return "application/gzip"
	case compressionZstd:
		return "application/zstd"
	}
	if e.proto {
		return "application/x-protobuf"
	}
	return "application/json"
}

func compressionExtension(c string) string {
	switch c {
	case compressionGzip:
		return ".gz"
	case compressionZstd:
		return ".zst"
	}
	return ""
}

// zstdEncoder is shared: EncodeAll is safe for concurrent use and keeps its
// state in an internal pool.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(fmt.Sprintf("zstd encoder with constant options: %v", err))
	}
	return enc
})

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func compressBytes(c string, raw []byte) ([]byte, error) {
	switch c {
	case compressionZstd:
		return zstdEncoder().EncodeAll(raw, make([]byte, 0, len(raw)/4)), nil
	case compressionGzip:
		var buf bytes.Buffer
		buf.Grow(len(raw) / 4)
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		w.Reset(&buf)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return raw, nil
}
