package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// Rows are written column by column through parquet-go's ColumnWriters, not
// as Go structs: the reflection path spends most of its time iterating and
// sorting Go maps, which attributes would need. The struct types (metricRow,
// logRow) still define the schema, document it, and read files back.

// leaf is where an emitter writes: the column and its deepest definition
// level (optional and repeated ancestors each add one). Most columns of a
// row are null (a gauge has no buckets), so the nulls one level and two
// levels up are made once.
type leaf struct {
	index  int
	maxDef int
	null1  parquet.Value
	null2  parquet.Value
}

func newLeaf(index, maxDef int) leaf {
	l := leaf{index: index, maxDef: maxDef}
	if maxDef >= 1 {
		l.null1 = parquet.NullValue().Level(0, maxDef-1, index)
	}
	if maxDef >= 2 {
		l.null2 = parquet.NullValue().Level(0, maxDef-2, index)
	}
	return l
}

// emitter appends the values one row holds in one leaf column.
type emitter[R any] func(dst []parquet.Value, r *R, l leaf) []parquet.Value

type boundColumn[R any] struct {
	leaf
	emit emitter[R]
}

// bindColumns pairs every leaf column of schema with its emitter, keyed by
// dotted path; a column without an emitter, or an emitter without a column,
// is a programming error found by the first test that encodes.
func bindColumns[R any](schema *parquet.Schema, emitters map[string]emitter[R]) []boundColumn[R] {
	var cols []boundColumn[R]
	for _, path := range schema.Columns() {
		name := strings.Join(path, ".")
		emit, ok := emitters[name]
		if !ok {
			panic(fmt.Sprintf("parquet column %s has no emitter", name))
		}
		lc, _ := schema.Lookup(path...)
		cols = append(cols, boundColumn[R]{leaf: newLeaf(lc.ColumnIndex, lc.MaxDefinitionLevel), emit: emit})
	}
	if len(cols) != len(emitters) {
		panic(fmt.Sprintf("%d emitters for %d parquet columns", len(emitters), len(cols)))
	}
	slices.SortFunc(cols, func(a, b boundColumn[R]) int { return a.index - b.index })
	return cols
}

// chunkRows bounds the values handed to a column writer at once; it flushes
// a page only between calls, so this also bounds page sizes.
const chunkRows = 1024

// columnWriter is the part of parquet-go's GenericWriter that writeColumns
// uses.
type columnWriter interface {
	ColumnWriters() []*parquet.ColumnWriter
	Close() error
}

// writeColumns writes rows, in order, column after column, and closes the
// file.
func writeColumns[R any](w columnWriter, cols []boundColumn[R], rows []R, order []int32) error {
	writers := w.ColumnWriters()
	var buf []parquet.Value
	for _, c := range cols {
		for start := 0; start < len(order); start += chunkRows {
			buf = buf[:0]
			for _, i := range order[start:min(start+chunkRows, len(order))] {
				buf = c.emit(buf, &rows[i], c.leaf)
			}
			if _, err := writers[c.index].WriteRowValues(buf); err != nil {
				return err
			}
		}
	}
	// The values point into pdata and rows; none of it may be retained.
	clear(buf[:cap(buf)])
	return w.Close()
}

// bytesOf shares a string's bytes with parquet-go, which copies what it
// keeps, sparing a copy per value.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func required(dst []parquet.Value, v parquet.Value, l leaf) []parquet.Value {
	return append(dst, v.Level(0, l.maxDef, l.index))
}

func requiredString(dst []parquet.Value, s string, l leaf) []parquet.Value {
	return required(dst, parquet.ByteArrayValue(bytesOf(s)), l)
}

func optional(dst []parquet.Value, ok bool, v parquet.Value, l leaf) []parquet.Value {
	if !ok {
		return append(dst, l.null1)
	}
	return append(dst, v.Level(0, l.maxDef, l.index))
}

func optionalString(dst []parquet.Value, s *string, l leaf) []parquet.Value {
	if s == nil {
		return append(dst, l.null1)
	}
	return append(dst, parquet.ByteArrayValue(bytesOf(*s)).Level(0, l.maxDef, l.index))
}

// mapEntries writes the keys (or values) of a required MAP column; an empty
// map is a single value at definition level 0.
func mapEntries(dst []parquet.Value, kvs []kv, values bool, l leaf) []parquet.Value {
	if len(kvs) == 0 {
		return append(dst, l.null1)
	}
	for i, e := range kvs {
		s := e.key
		if values {
			s = e.value
		}
		dst = append(dst, parquet.ByteArrayValue(bytesOf(s)).Level(min(i, 1), l.maxDef, l.index))
	}
	return dst
}

// optionalList writes an optional LIST of required elements: null when the
// row has no such list, empty when it has one without elements. at reads
// element i straight from pdata, without copying the slice.
func optionalList(dst []parquet.Value, present bool, n int, at func(int) parquet.Value, l leaf) []parquet.Value {
	switch {
	case !present:
		return append(dst, l.null2)
	case n == 0:
		return append(dst, l.null1)
	}
	for i := range n {
		dst = append(dst, at(i).Level(min(i, 1), l.maxDef, l.index))
	}
	return dst
}
