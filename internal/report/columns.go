package report

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// columns holds the narrow columns of one file, one entry per row, read
// column by column: parquet-go's row-by-row reconstruction into structs
// (with its schema conversion) was three quarters of the time of a day's
// report, while decoding a column's values is a tight loop. Strings are
// interned per file, since the dictionary-encoded columns repeat a few
// values.
type columns struct {
	n          int
	ts         []int64
	value      []float64
	hasValue   []bool
	name       []string
	host, hwID []string
	mtype      []string
	unit       []string
	temporal   []string
	monotonic  []bool
	flags      []int32
	// attributes of row i are keys[attrStart[i]:attrStart[i+1]].
	attrStart  []int32
	keys, vals []string
	intern     map[string]string
}

func (c *columns) str(b []byte) string {
	if s, ok := c.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	c.intern[s] = s
	return s
}

// eachValue calls fn with every value of a leaf column, in row order.
func eachValue(f *parquet.File, fn func(v parquet.Value), path ...string) error {
	col, ok := f.Schema().Lookup(path...)
	if !ok {
		return fmt.Errorf("no column %v", path)
	}
	buf := make([]parquet.Value, 4096)
	for _, rg := range f.RowGroups() {
		pages := rg.ColumnChunks()[col.ColumnIndex].Pages()
		for {
			p, err := pages.ReadPage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = pages.Close() // already failing
				return err
			}
			vr := p.Values()
			for {
				n, err := vr.ReadValues(buf)
				for i := 0; i < n; i++ {
					fn(buf[i])
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					parquet.Release(p)
					_ = pages.Close() // already failing
					return err
				}
				if n == 0 {
					break
				}
			}
			parquet.Release(p)
		}
		if err := pages.Close(); err != nil {
			return err
		}
	}
	return nil
}

// readColumns decodes the narrow columns of f.
func readColumns(f *parquet.File) (*columns, error) {
	n := int(f.NumRows())
	c := &columns{n: n, intern: map[string]string{}}
	c.ts, c.value, c.hasValue = make([]int64, 0, n), make([]float64, 0, n), make([]bool, 0, n)
	c.name, c.host, c.hwID = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	c.mtype, c.unit, c.temporal = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	c.monotonic, c.flags = make([]bool, 0, n), make([]int32, 0, n)
	strCol := func(dst *[]string) func(parquet.Value) {
		return func(v parquet.Value) {
			if v.IsNull() {
				*dst = append(*dst, "")
			} else {
				*dst = append(*dst, c.str(v.ByteArray()))
			}
		}
	}
	steps := []struct {
		path []string
		fn   func(parquet.Value)
	}{
		{[]string{"timestamp"}, func(v parquet.Value) { c.ts = append(c.ts, v.Int64()) }},
		{[]string{"value"}, func(v parquet.Value) {
			c.hasValue = append(c.hasValue, !v.IsNull())
			if v.IsNull() {
				c.value = append(c.value, 0)
			} else {
				c.value = append(c.value, v.Double())
			}
		}},
		{[]string{"metric_name"}, strCol(&c.name)},
		{[]string{"host_name"}, strCol(&c.host)},
		{[]string{"hw_id"}, strCol(&c.hwID)},
		{[]string{"metric_type"}, strCol(&c.mtype)},
		{[]string{"unit"}, strCol(&c.unit)},
		{[]string{"temporality"}, strCol(&c.temporal)},
		{[]string{"monotonic"}, func(v parquet.Value) { c.monotonic = append(c.monotonic, !v.IsNull() && v.Boolean()) }},
		{[]string{"flags"}, func(v parquet.Value) { c.flags = append(c.flags, v.Int32()) }},
	}
	for _, s := range steps {
		if err := eachValue(f, s.fn, s.path...); err != nil {
			return nil, fmt.Errorf("corrupt Parquet file: column %v: %w", s.path, err)
		}
	}
	// The attribute map: a repetition level of 0 starts a row; a null
	// (definition level 0) is a row without attributes.
	c.attrStart = make([]int32, 0, n+1)
	if err := eachValue(f, func(v parquet.Value) {
		if v.RepetitionLevel() == 0 {
			c.attrStart = append(c.attrStart, int32(len(c.keys)))
		}
		if !v.IsNull() {
			c.keys = append(c.keys, c.str(v.ByteArray()))
		}
	}, "attributes", "key_value", "key"); err != nil {
		return nil, fmt.Errorf("corrupt Parquet file: attribute keys: %w", err)
	}
	c.attrStart = append(c.attrStart, int32(len(c.keys)))
	if err := eachValue(f, func(v parquet.Value) {
		if !v.IsNull() {
			c.vals = append(c.vals, c.str(v.ByteArray()))
		}
	}, "attributes", "key_value", "value"); err != nil {
		return nil, fmt.Errorf("corrupt Parquet file: attribute values: %w", err)
	}
	for _, l := range []int{len(c.ts), len(c.value), len(c.name), len(c.host), len(c.hwID), len(c.mtype), len(c.unit), len(c.temporal), len(c.monotonic), len(c.flags), len(c.attrStart) - 1} {
		if l != n {
			return nil, fmt.Errorf("corrupt Parquet file: a column has %d values for %d rows", l, n)
		}
	}
	if len(c.vals) != len(c.keys) {
		return nil, fmt.Errorf("corrupt Parquet file: %d attribute keys for %d values", len(c.keys), len(c.vals))
	}
	return c, nil
}

// addRows adds rows [start, end) read as columns.
func (c *columns) addRows(b *Builder, start, end int, l Labels) {
	for i := start; i < end; i++ {
		if c.flags[i]&1 != 0 || !c.hasValue[i] {
			continue
		}
		ts := c.ts[i] * 1000
		if !b.InRange(ts) {
			continue
		}
		clear(l)
		for j := c.attrStart[i]; j < c.attrStart[i+1]; j++ {
			l[c.keys[j]] = c.vals[j]
		}
		if _, ok := l[aHost]; !ok && c.host[i] != "" {
			l[aHost] = c.host[i]
		}
		if _, ok := l[aHwID]; !ok && c.hwID[i] != "" {
			l[aHwID] = c.hwID[i]
		}
		kind := KindGauge
		if c.mtype[i] == "sum" {
			kind = SumKind(c.monotonic[i], c.temporal[i] == "delta")
		} else if c.mtype[i] != "gauge" {
			continue
		}
		b.AddNumber(c.name[i], c.unit[i], kind, l, ts, c.value[i])
	}
}
