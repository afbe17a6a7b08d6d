package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The partition template is a slash-separated path whose {placeholders} are
// filled per data point (per log record):
//
//	{signal}                         metrics or logs
//	{dt}                             date, 2006-01-02
//	{year} {month} {day} {hour} {minute}   two- or four-digit UTC fields
//	{anything.else}                  the resource attribute of that name
//
// Times are those of the data point, in UTC, so a batch that straddles an
// hour is written as two objects.
const defaultPartition = "{signal}/dt={dt}/hour={hour}/host.name={host.name}"

// missingValue is what Hive, Spark, Athena and DuckDB read back as NULL.
const missingValue = "__HIVE_DEFAULT_PARTITION__"

// maxValueLen keeps keys far below S3's 1024-byte limit even with a few
// long attributes; longer values are cut and made unique by a hash suffix.
const maxValueLen = 128

type fieldKind uint8

const (
	fieldLiteral fieldKind = iota
	fieldSignal
	fieldYear
	fieldMonth
	fieldDay
	fieldDate
	fieldHour
	fieldMinute
	fieldResource
)

var timeFields = map[string]fieldKind{
	"signal": fieldSignal,
	"year":   fieldYear,
	"month":  fieldMonth,
	"day":    fieldDay,
	"dt":     fieldDate,
	"hour":   fieldHour,
	"minute": fieldMinute,
}

// grain is the finest time field of a template: points whose times fall in
// the same grain share every time field.
type grain uint8

const (
	grainNone grain = iota
	grainYear
	grainMonth
	grainDay
	grainHour
	grainMinute
)

type templatePart struct {
	kind  fieldKind
	text  string // literal text, or the resource attribute key
	attrI int    // index into template.attrs for fieldResource
}

type template struct {
	parts []templatePart
	attrs []string // resource attribute keys the template reads, deduplicated
	grain grain
}

func parseTemplate(s string) (*template, error) {
	if s == "" {
		return nil, errors.New("is empty")
	}
	if strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//") {
		return nil, fmt.Errorf("%q must not start or end with / or contain //", s)
	}
	t := &template{}
	attrIndex := map[string]int{}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "." || seg == ".." {
			return nil, fmt.Errorf("%q has a %q path segment", s, seg)
		}
	}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if closeBrace := strings.IndexByte(rest, '}'); closeBrace >= 0 && (open < 0 || closeBrace < open) {
			return nil, fmt.Errorf("%q has a } without {", s)
		}
		if open < 0 {
			t.parts = append(t.parts, templatePart{kind: fieldLiteral, text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{kind: fieldLiteral, text: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q has a { without }", s)
		}
		name := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		switch {
		case name == "" || strings.ContainsAny(name, "{/"):
			return nil, fmt.Errorf("%q has an empty or malformed placeholder {%s}", s, name)
		case timeFields[name] != fieldLiteral:
			k := timeFields[name]
			t.parts = append(t.parts, templatePart{kind: k})
			t.grain = max(t.grain, grainOf(k))
		default:
			i, ok := attrIndex[name]
			if !ok {
				i = len(t.attrs)
				attrIndex[name] = i
				t.attrs = append(t.attrs, name)
			}
			t.parts = append(t.parts, templatePart{kind: fieldResource, text: name, attrI: i})
		}
	}
	return t, nil
}

func grainOf(k fieldKind) grain {
	switch k {
	case fieldYear:
		return grainYear
	case fieldMonth:
		return grainMonth
	case fieldDay, fieldDate:
		return grainDay
	case fieldHour:
		return grainHour
	case fieldMinute:
		return grainMinute
	}
	return grainNone
}

// bucket maps a time to the number of its grain, so that points of the same
// bucket render the same time fields.
func (t *template) bucket(ts pcommon.Timestamp) int64 {
	ns := int64(ts)
	switch t.grain {
	case grainMinute:
		return floorDiv(ns, int64(time.Minute))
	case grainHour:
		return floorDiv(ns, int64(time.Hour))
	case grainDay:
		return floorDiv(ns, 24*int64(time.Hour))
	case grainMonth:
		u := ts.AsTime()
		return int64(u.Year())*12 + int64(u.Month())
	case grainYear:
		return int64(ts.AsTime().Year())
	}
	return 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// resourceValues returns the sanitized values of the template's resource
// attributes, in the order of t.attrs.
func (t *template) resourceValues(res pcommon.Map) []string {
	vals := make([]string, len(t.attrs))
	for i, k := range t.attrs {
		v, ok := res.Get(k)
		if !ok {
			vals[i] = missingValue
			continue
		}
		vals[i] = sanitize(v.AsString())
	}
	return vals
}

// render builds the partition directory for one resource and time.
func (t *template) render(signal string, resVals []string, ts pcommon.Timestamp) string {
	u := ts.AsTime()
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case fieldLiteral:
			b.WriteString(p.text)
		case fieldSignal:
			b.WriteString(signal)
		case fieldYear:
			b.WriteString(strconv.Itoa(u.Year()))
		case fieldMonth:
			writeTwo(&b, int(u.Month()))
		case fieldDay:
			writeTwo(&b, u.Day())
		case fieldDate:
			b.WriteString(u.Format(time.DateOnly))
		case fieldHour:
			writeTwo(&b, u.Hour())
		case fieldMinute:
			writeTwo(&b, u.Minute())
		case fieldResource:
			b.WriteString(resVals[p.attrI])
		}
	}
	return cleanSegments(b.String())
}

func writeTwo(b *strings.Builder, n int) {
	if n < 10 {
		b.WriteByte('0')
	}
	b.WriteString(strconv.Itoa(n))
}

// cleanSegments guards against segments that values made empty, "." or
// "..", which a file system (local_folder) would resolve as a path step.
func cleanSegments(dir string) string {
	segs := strings.Split(dir, "/")
	changed := false
	for i, s := range segs {
		switch s {
		case "":
			segs[i], changed = missingValue, true
		case ".", "..":
			segs[i], changed = strings.Repeat("%2E", len(s)), true
		}
	}
	if !changed {
		return dir
	}
	return strings.Join(segs, "/")
}

// sanitize escapes a partition value the way Hive does (%XX for characters
// that are special in paths, URLs or Hive's own syntax), so Spark, Athena and
// DuckDB read the original value back. Empty values become missingValue.
func sanitize(v string) string {
	if v == "" {
		return missingValue
	}
	if len(v) > maxValueLen {
		sum := sha256.Sum256([]byte(v))
		v = truncateUTF8(v, maxValueLen-17) + "-" + hex.EncodeToString(sum[:8])
	}
	needs := false
	for i := 0; i < len(v); i++ {
		if escapeByte(v[i]) {
			needs = true
			break
		}
	}
	if !needs {
		return v
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if escapeByte(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// escapeByte is Hive's FileUtils.escapePathName set plus the characters AWS
// advises against in keys (<, >, |, `, ~, }).
func escapeByte(c byte) bool {
	if c < 0x20 || c == 0x7f {
		return true
	}
	switch c {
	case '"', '#', '%', '\'', '*', '/', ':', '=', '?', '\\', '{', '}', '[', ']', '^', '<', '>', '|', '`', '~':
		return true
	}
	return false
}

func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
