package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/acceltel/acceltel/exporters/s3exporter/internal/metadata"
)

const (
	signalMetrics = "metrics"
	signalLogs    = "logs"
)

// objectNamespace seeds the name-based UUIDs of object keys.
var objectNamespace = uuid.MustParse("6d1a3f0e-4c1b-5e8a-9b7d-acce17e1e300")

// s3Exporter writes what exporterhelper hands it, one batch at a time, as
// one object per partition. It holds no data of its own: batching, queueing
// (in memory or persistent) and retries are exporterhelper's, so whatever
// the queue accepted survives until an object with it is stored.
type s3Exporter struct {
	cfg    *Config
	signal string
	enc    encoder
	parts  *partitioner
	prefix string
	sink   sink
	alarm  *alarm
	tel    *metadata.TelemetryBuilder
	attrs  metric.MeasurementOption
	now    func() time.Time
}

func newS3Exporter(cfg *Config, set exporter.Settings, signal string) (*s3Exporter, error) {
	tmpl, err := parseTemplate(cfg.Partition)
	if err != nil {
		return nil, fmt.Errorf("partition: %w", err)
	}
	var s sink
	if cfg.LocalFolder != "" {
		if s, err = newLocalSink(cfg.LocalFolder); err != nil {
			return nil, err
		}
	} else {
		s = newS3Sink(cfg.S3Config)
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &s3Exporter{
		cfg:    cfg,
		signal: signal,
		enc:    formats[cfg.Format](cfg.Compression),
		parts:  &partitioner{tmpl: tmpl, signal: signal},
		prefix: prefix,
		sink:   s,
		alarm:  newAlarm(set.Logger, s.where()),
		tel:    tel,
		attrs: metric.WithAttributeSet(attribute.NewSet(
			attribute.String("format", cfg.Format), attribute.String("signal", signal))),
		now: time.Now,
	}, nil
}

func (e *s3Exporter) start(ctx context.Context, _ component.Host) error {
	if err := e.sink.start(ctx); err != nil {
		// Not fatal: the first write reports it and is retried.
		e.alarm.failed(classify(err), err)
	}
	return nil
}

func (e *s3Exporter) shutdown(context.Context) error {
	e.tel.Shutdown()
	return nil
}

// object is one encoded partition.
type object struct {
	dir    string
	encode func() ([]byte, error)
}

func (e *s3Exporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	parts := e.parts.splitMetrics(md, pcommon.NewTimestampFromTime(e.now()))
	objs := make([]object, len(parts))
	for i, p := range parts {
		objs[i] = object{dir: p.dir, encode: func() ([]byte, error) { return e.enc.encodeMetrics(p.md) }}
	}
	return e.write(ctx, objs)
}

func (e *s3Exporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	parts := e.parts.splitLogs(ld, pcommon.NewTimestampFromTime(e.now()))
	objs := make([]object, len(parts))
	for i, p := range parts {
		objs[i] = object{dir: p.dir, encode: func() ([]byte, error) { return e.enc.encodeLogs(p.ld) }}
	}
	return e.write(ctx, objs)
}

// write encodes and stores the objects of one batch, upload_concurrency at
// a time. When one fails, the whole batch is retried: object names derive
// from their content, so the objects already stored are overwritten with
// identical bytes instead of duplicated.
func (e *s3Exporter) write(ctx context.Context, objs []object) error {
	errs := make([]error, len(objs))
	sem := make(chan struct{}, e.cfg.UploadConcurrency)
	var wg sync.WaitGroup
	for i := range objs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = e.writeOne(ctx, objs[i])
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil {
		e.alarm.succeeded()
	}
	return err
}

func (e *s3Exporter) writeOne(ctx context.Context, o object) error {
	body, err := safeEncode(o.encode)
	if err != nil {
		e.fail(ctx, reasonEncode, err)
		// The same data would fail the same way on every retry.
		return consumererror.NewPermanent(fmt.Errorf("encoding %s as %s for %s: %w", e.signal, e.cfg.Format, o.dir, err))
	}
	key := e.prefix + path.Join(o.dir, "part-"+uuid.NewSHA1(objectNamespace, body).String()+e.enc.extension())
	if err := e.sink.put(ctx, key, body, e.enc.contentType()); err != nil {
		reason := classify(err)
		e.fail(ctx, reason, err)
		e.alarm.failed(reason, err)
		return fmt.Errorf("writing %s to %s (%s): %w", key, e.sink.where(), reason, err)
	}
	e.tel.ExporterS3Objects.Add(ctx, 1, e.attrs)
	e.tel.ExporterS3Bytes.Add(ctx, int64(len(body)), e.attrs)
	return nil
}

func (e *s3Exporter) fail(ctx context.Context, reason string, _ error) {
	e.tel.ExporterS3Failures.Add(ctx, 1, metric.WithAttributes(
		attribute.String("reason", reason), attribute.String("signal", e.signal)))
}

// safeEncode turns a panic of an encoder on data it did not expect into an
// error, so one bad batch cannot take the collector down.
func safeEncode(encode func() ([]byte, error)) (body []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("encoder panicked: %v", r)
		}
	}()
	return encode()
}
