package report_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/internal/report"
	"github.com/acceltel/acceltel/internal/report/fleetgen"
)

var fixtureStart = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func smallFleet() fleetgen.Fleet {
	return fleetgen.Fleet{Nodes: 4, GPUsPerNode: 8, Start: fixtureStart, Interval: 10 * time.Second, Steps: 360}
}

// TestReportFromParquet writes the fleet through the real s3 exporter and
// checks that the page finds every planted problem.
func TestReportFromParquet(t *testing.T) {
	dir := t.TempDir()
	f := smallFleet()
	require.NoError(t, f.WriteParquet(context.Background(), dir))
	from, to := f.Start, f.Start.Add(time.Hour)
	b := report.NewBuilder(report.Options{From: from, To: to})
	st, err := report.ReadParquet(context.Background(), report.LocalSource{Dir: dir}, b, from, to)
	require.NoError(t, err)
	require.Positive(t, st.Files)
	var buf bytes.Buffer
	require.NoError(t, report.Write(&buf, b.Dataset("test", time.Now()), "acceltel report"))
	html := buf.String()
	_ = os.WriteFile(filepath.Join(os.TempDir(), "acceltel-report-test.html"), buf.Bytes(), 0o644)
	for _, want := range []string{
		"hw.gpu.utilization on host.name=" + fleetgen.AnomalyHost,
		"XID 79", "uncorrected ECC", "thermal", "straggler", "namespace inference", "TP=4",
		"congestion",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(html, `class="empty"`) {
		t.Errorf("a section is empty")
	}
	t.Logf("%d bytes, %d files, %d rows", buf.Len(), st.Files, st.Rows)
	require.Equal(t, 1, strings.Count(html, "<html"))
}
