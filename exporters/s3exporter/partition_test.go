package s3exporter

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"gpu-node-1":          "gpu-node-1",
		"":                    missingValue,
		"a/b":                 "a%2Fb",
		"x=y":                 "x%3Dy",
		"50%":                 "50%25",
		"ns:pod":              "ns%3Apod",
		"tab\there":           "tab%09here",
		"{weird}[x]^|`~<>\"'": "%7Bweird%7D%5Bx%5D%5E%7C%60%7E%3C%3E%22%27",
		"ünïcode ok":          "ünïcode ok",
	} {
		assert.Equal(t, want, sanitize(in), "sanitize(%q)", in)
	}
}

func TestSanitizeBoundsLength(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	a, b := sanitize(long), sanitize(long+"x")
	assert.LessOrEqual(t, len(a), maxValueLen)
	assert.NotEqual(t, a, b, "values cut to the same prefix stay apart")
	assert.True(t, strings.HasPrefix(long, a[:strings.LastIndexByte(a, '-')]), "cut on a rune boundary")
}

func TestRenderTemplate(t *testing.T) {
	tmpl, err := parseTemplate("{signal}/y={year}/m={month}/d={day}/{dt}/h={hour}/min={minute}/{host.name}/{host.name}-{k8s.pod.name}")
	require.NoError(t, err)
	assert.Equal(t, []string{"host.name", "k8s.pod.name"}, tmpl.attrs, "each attribute read once")
	assert.Equal(t, grainMinute, tmpl.grain)
	res := pcommon.NewMap()
	res.PutStr("host.name", "..")
	at := pcommon.NewTimestampFromTime(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))
	got := tmpl.render("logs", tmpl.resourceValues(res), at)
	assert.Equal(t, "logs/y=2026/m=02/d=03/2026-02-03/h=04/min=05/%2E%2E/..-"+missingValue, got,
		"a value alone in a segment cannot climb out of the folder")
}

func TestTemplateGrain(t *testing.T) {
	for tmpl, same := range map[string][2]time.Time{
		"{year}":            {time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
		"{year}/{month}":    {time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)},
		"{dt}":              {time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 23, 59, 59, 0, time.UTC)},
		"{dt}/{hour}":       {time.Date(2026, 3, 5, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 7, 59, 59, 0, time.UTC)},
		"{hour}/{minute}":   {time.Date(2026, 3, 5, 7, 8, 0, 0, time.UTC), time.Date(2026, 3, 5, 7, 8, 59, 0, time.UTC)},
		"{signal}/constant": {time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		p, err := parseTemplate(tmpl)
		require.NoError(t, err)
		a, b := pcommon.NewTimestampFromTime(same[0]), pcommon.NewTimestampFromTime(same[1])
		assert.Equal(t, p.bucket(a), p.bucket(b), "%s: same bucket", tmpl)
		assert.Equal(t, p.render("metrics", nil, a), p.render("metrics", nil, b), "%s: same directory", tmpl)
		if tmpl != "{signal}/constant" {
			next := pcommon.NewTimestampFromTime(same[1].Add(time.Second))
			assert.NotEqual(t, p.bucket(a), p.bucket(next), "%s: next bucket", tmpl)
		}
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, bad := range []string{"", "/x", "x/", "a//b", "{signal}/..", "./{dt}", "{dt", "dt}", "{}", "{a{b}", "{a/b}"} {
		_, err := parseTemplate(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestSplitMergesResourcesOfOnePartition(t *testing.T) {
	md := pmetric.NewMetrics()
	for _, gpu := range []string{"GPU-0", "GPU-1"} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", "node")
		rm.Resource().Attributes().PutStr("hw.id", gpu)
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge()
		g.DataPoints().AppendEmpty().SetTimestamp(ts(0))
		g.DataPoints().AppendEmpty() // no time: filed under the export time
	}
	tmpl, err := parseTemplate(defaultPartition)
	require.NoError(t, err)
	p := &partitioner{tmpl: tmpl, signal: signalMetrics}
	parts := p.splitMetrics(md, ts(2*time.Hour))
	require.Len(t, parts, 2)
	assert.Equal(t, "metrics/dt=2026-11-28/hour=13/host.name=node", parts[0].dir)
	assert.Equal(t, "metrics/dt=2026-11-28/hour=15/host.name=node", parts[1].dir)
	for _, part := range parts {
		assert.Equal(t, 2, part.md.ResourceMetrics().Len(), "both GPUs, each its own resource")
		assert.Equal(t, 2, part.md.DataPointCount())
	}
}

func TestSplitOnePartitionDoesNotCopy(t *testing.T) {
	md := testMetrics()
	tmpl, err := parseTemplate("{signal}")
	require.NoError(t, err)
	parts := (&partitioner{tmpl: tmpl, signal: signalMetrics}).splitMetrics(md, ts(0))
	require.Len(t, parts, 1)
	md.ResourceMetrics().AppendEmpty()
	assert.Equal(t, md.ResourceMetrics().Len(), parts[0].md.ResourceMetrics().Len(), "the request itself")
}
