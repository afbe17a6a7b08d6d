package anomaly

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Replay scores every timestamp,value row of in (a header row is optional)
// and writes timestamp,value,anomaly_score rows to out, as `acceltel anomaly
// replay` does. Its errors start with the line number ("12: ...") so that
// the caller can prefix the file name.
func Replay(in io.Reader, out io.Writer, score Scorer) (int, error) {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	w := csv.NewWriter(out)
	if err := w.Write([]string{"timestamp", "value", "anomaly_score"}); err != nil {
		return 0, fmt.Errorf(" %w", err)
	}
	rows := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return rows, fmt.Errorf("%d: %w", pe.Line, pe.Err)
			}
			return rows, fmt.Errorf(" %w", err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != 2 {
			return rows, fmt.Errorf("%d: want 2 fields (timestamp,value), got %d", line, len(rec))
		}
		ts, vs := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil {
			if rows == 0 && line == 1 {
				continue // a header row
			}
			return rows, fmt.Errorf("%d: value %q is not a number", line, rec[1])
		}
		if ts == "" {
			return rows, fmt.Errorf("%d: empty timestamp", line)
		}
		s := score(v)
		if err := w.Write([]string{ts, vs, strconv.FormatFloat(s, 'f', -1, 64)}); err != nil {
			return rows, fmt.Errorf(" %w", err)
		}
		rows++
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return rows, fmt.Errorf(" %w", err)
	}
	return rows, nil
}
