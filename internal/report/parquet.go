package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// row is the part of the s3 exporter's metrics schema the page reads
// (exporters/s3exporter/parquet_metrics.go, testdata/metrics.schema.golden);
// parquet-go projects the file onto it, so the other columns are never
// decoded.
type row struct {
	Timestamp       int64             `parquet:"timestamp,timestamp(microsecond)"`
	MetricName      string            `parquet:"metric_name"`
	Value           *float64          `parquet:"value,optional"`
	HostName        *string           `parquet:"host_name,optional"`
	HwID            *string           `parquet:"hw_id,optional"`
	Namespace       *string           `parquet:"k8s_namespace_name,optional"`
	PodName         *string           `parquet:"k8s_pod_name,optional"`
	Attributes      map[string]string `parquet:"attributes"`
	MetricType      string            `parquet:"metric_type"`
	Unit            string            `parquet:"unit"`
	Temporality     *string           `parquet:"temporality,optional"`
	Monotonic       *bool             `parquet:"monotonic,optional"`
	Count           *int64            `parquet:"count,optional"`
	Sum             *float64          `parquet:"sum,optional"`
	BucketCounts    []int64           `parquet:"bucket_counts,optional,list"`
	ExplicitBounds  []float64         `parquet:"explicit_bounds,optional,list"`
	Scale           *int32            `parquet:"scale,optional"`
	ZeroCount       *int64            `parquet:"zero_count,optional"`
	ZeroThreshold   *float64          `parquet:"zero_threshold,optional"`
	PositiveOffset  *int32            `parquet:"positive_offset,optional"`
	PositiveBuckets []int64           `parquet:"positive_bucket_counts,optional,list"`
	Flags           int32             `parquet:"flags"`
	ResourceAttrs   map[string]string `parquet:"resource_attributes"`
}

// isNarrow says which metrics are read as columns (columns.go), without
// the resource attributes and histogram columns: all but the
// histograms, the metrics whose series are told apart by resource
// attributes (the eBPF receiver's container, the parallelism processor's
// job), and the memory limit, read whole once per GPU and scrape so that
// the GPU's index (a resource attribute) names its rows.
func isNarrow(name string) bool {
	switch name {
	case mMemLimit, mRunq, mBlockIO, mOffCPU, mNCCLBusBWHist:
		return false
	}
	return !strings.HasPrefix(name, "acceltel.plan.")
}

// Object is one file of a Source.
type Object struct {
	Key  string // relative to the source's root, with / separators
	Size int64
}

// Source lists and opens the files the s3 exporter wrote.
type Source interface {
	// String names the source for messages ("folder /x", "s3://b/p").
	String() string
	List(ctx context.Context) ([]Object, error)
	Open(ctx context.Context, o Object) (io.ReaderAt, error)
}

// ReadStats says what a read found.
type ReadStats struct {
	Files, Skipped int
	Rows           int64
}

// ReadParquet reads every metrics Parquet file of src whose partition may
// hold points in the Builder's range, and adds the points the page uses.
func ReadParquet(ctx context.Context, src Source, b *Builder, from, to time.Time) (ReadStats, error) {
	var st ReadStats
	objs, err := src.List(ctx)
	if err != nil {
		return st, err
	}
	var files []Object
	any := false
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".parquet") || strings.HasPrefix(path.Base(o.Key), ".") {
			continue
		}
		if strings.HasPrefix(o.Key, "logs/") || strings.Contains(o.Key, "/logs/") {
			continue
		}
		any = true
		if !partitionOverlaps(o.Key, from, to) {
			st.Skipped++
			continue
		}
		files = append(files, o)
	}
	if !any {
		return st, fmt.Errorf("no metrics Parquet files (*.parquet) in %s", src)
	}
	// Partitions in time order, so that counters are met in order within a
	// series (the Builder does not depend on it, but it is cheaper).
	slices.SortFunc(files, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	for _, o := range files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		ra, err := src.Open(ctx, o)
		if err != nil {
			return st, fmt.Errorf("opening %s in %s: %w", o.Key, src, err)
		}
		n, err := readFile(ra, o.Size, b)
		if err != nil {
			return st, fmt.Errorf("%s in %s: %w", o.Key, src, err)
		}
		st.Files++
		st.Rows += n
	}
	return st, nil
}

// partitionOverlaps reads dt= and hour= segments of a Hive-style key (the
// s3 exporter's default layout) and says whether that hour or day can hold
// points in [from, to); keys without them always can.
func partitionOverlaps(key string, from, to time.Time) bool {
	var day string
	hour := -1
	for _, seg := range strings.Split(key, "/") {
		if v, ok := strings.CutPrefix(seg, "dt="); ok {
			day = v
		} else if v, ok := strings.CutPrefix(seg, "hour="); ok {
			if h, err := strconv.Atoi(v); err == nil {
				hour = h
			}
		}
	}
	if day == "" {
		return true
	}
	start, err := time.Parse("2006-01-02", day)
	if err != nil {
		return true
	}
	end := start.Add(24 * time.Hour)
	if hour >= 0 {
		start = start.Add(time.Duration(hour) * time.Hour)
		end = start.Add(time.Hour)
	}
	return start.Before(to) && end.After(from)
}

// ErrNotMetrics is returned for a Parquet file without the s3 exporter's
// metrics columns.
var ErrNotMetrics = errors.New("not a metrics file of the s3 exporter (no metric_name, timestamp and value columns)")

type rowRange struct {
	start, end int64
	narrow     bool
}

// readFile adds the rows of one file. parquet-go panics on some corrupt
// input rather than returning an error; a file is data from outside, so
// such a panic becomes an error naming the file instead of a crash.
func readFile(ra io.ReaderAt, size int64, b *Builder) (n int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Parquet file: %v", r)
		}
	}()
	f, err := parquet.OpenFile(ra, size)
	if err != nil {
		return 0, fmt.Errorf("corrupt or not a Parquet file: %w", err)
	}
	for _, c := range []string{"metric_name", "timestamp", "value", "attributes"} {
		if _, ok := f.Schema().Lookup(c); !ok {
			if _, ok := f.Schema().Lookup(c, "key_value", "key"); !ok {
				return 0, ErrNotMetrics
			}
		}
	}
	cols, err := readColumns(f)
	if err != nil {
		return 0, err
	}
	var wide *parquet.GenericReader[row]
	defer func() {
		if wide != nil {
			_ = wide.Close() // read-only: nothing to lose
		}
	}()
	l := Labels{}
	for _, r := range rangesOf(cols) {
		if r.narrow {
			cols.addRows(b, int(r.start), int(r.end), l)
			n += r.end - r.start
			continue
		}
		if wide == nil {
			wide = parquet.NewGenericReader[row](f)
		}
		c, err := readRange(wide, r, func(x *row) { addRow(b, x, l) })
		n += c
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func readRange[T any](rd *parquet.GenericReader[T], r rowRange, add func(*T)) (int64, error) {
	if err := rd.SeekToRow(r.start); err != nil {
		return 0, fmt.Errorf("corrupt Parquet file: %w", err)
	}
	buf := make([]T, 1024)
	var n int64
	for pos := r.start; pos < r.end; {
		want := min(int64(len(buf)), r.end-pos)
		clear(buf[:want])
		k, err := rd.Read(buf[:want])
		for i := 0; i < k; i++ {
			add(&buf[i])
		}
		pos += int64(k)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("corrupt Parquet file: %w", err)
		}
		if k == 0 {
			break
		}
	}
	return n, nil
}

// rangesOf finds the rows of the metrics the page uses. Rows are sorted by
// metric name, so they are a few contiguous ranges, and the other metrics'
// rows (most of a fleet's: clocks, PCIe, NVLink, ...) are skipped whole.
// The page index is too coarse for this: the s3 exporter's metric_name
// pages cover whole files.
func rangesOf(c *columns) []rowRange {
	var out []rowRange
	last, lastWanted, lastNarrow := "", false, false
	for i, name := range c.name {
		pos := int64(i)
		if name != last || i == 0 {
			last, lastWanted, lastNarrow = name, Wanted(name), isNarrow(name)
		}
		if !lastWanted {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k].end == pos && out[k].narrow == lastNarrow {
			out[k].end++
		} else {
			out = append(out, rowRange{pos, pos + 1, lastNarrow})
		}
	}
	return out
}

// putStr sets a join-key column's value unless the point's own attributes
// already had the key: the column is the resource's value, and a point
// attribute (the namespace a cost is charged to) is the more specific.
func putStr(l Labels, k string, v *string) {
	if _, ok := l[k]; !ok && v != nil && *v != "" {
		l[k] = *v
	}
}

func addRow(b *Builder, x *row, l Labels) {
	if x.Flags&1 != 0 || !Wanted(x.MetricName) {
		return
	}
	ts := x.Timestamp * 1000
	if !b.InRange(ts) {
		return
	}
	clear(l)
	for k, v := range x.ResourceAttrs {
		l[k] = v
	}
	for k, v := range x.Attributes {
		l[k] = v
	}
	putStr(l, aHost, x.HostName)
	putStr(l, aHwID, x.HwID)
	putStr(l, aNamespace, x.Namespace)
	putStr(l, aPodName, x.PodName)
	delta := x.Temporality != nil && *x.Temporality == "delta"
	switch x.MetricType {
	case "gauge":
		if x.Value != nil {
			b.AddNumber(x.MetricName, x.Unit, KindGauge, l, ts, *x.Value)
		}
	case "sum":
		if x.Value != nil {
			b.AddNumber(x.MetricName, x.Unit, SumKind(x.Monotonic != nil && *x.Monotonic, delta), l, ts, *x.Value)
		}
	case "histogram":
		if len(x.BucketCounts) != len(x.ExplicitBounds)+1 {
			return
		}
		h := Hist{Bounds: x.ExplicitBounds, Counts: make([]float64, len(x.BucketCounts))}
		for i, c := range x.BucketCounts {
			h.Counts[i] = float64(c)
		}
		h.Count, h.Sum = float64(orZero(x.Count)), orZero(x.Sum)
		// The row buffer is reused: keep a copy.
		h.Bounds = slices.Clone(h.Bounds)
		b.AddHistogram(x.MetricName, x.Unit, delta, l, ts, h)
	case "exponential_histogram":
		scale, off := orZero(x.Scale), orZero(x.PositiveOffset)
		zc, zt := orZero(x.ZeroCount), orZero(x.ZeroThreshold)
		count, sum := orZero(x.Count), orZero(x.Sum)
		counts := make([]uint64, len(x.PositiveBuckets))
		for i, c := range x.PositiveBuckets {
			counts[i] = uint64(max(c, 0))
		}
		b.AddHistogram(x.MetricName, x.Unit, delta, l, ts, ExpHist(scale, uint64(max(zc, 0)), zt, off, counts, uint64(max(count, 0)), sum))
	}
}

// orZero is *p, or T's zero value for a null column.
func orZero[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
