package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Prometheus names: the collector's Prometheus exporters turn dots into
// underscores, add the unit (by its Prometheus name) and _total to
// counters. The suffixes below are tried for every metric the page uses.
var promUnitSuffixes = map[string]string{
	"": "", "_ratio": "1", "_bytes": "By", "_seconds": "s", "_watts": "W", "_celsius": "Cel",
	"_joules": "J", "_bytes_per_second": "By/s", "_hertz": "Hz",
}

// promLabelKeys maps a Prometheus label back to the attribute it came
// from, for the attributes the views group by.
var promLabelKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{aHost, aHwID, aGPUIndex, aTask, aSensor, aThrottle, aXID, aErrType, aEccCounter, aCollective, aComm, aRank,
		aIBDevice, aIBPort, aDirection, aContainer, aPodUID, aPodName, aCgroup, aDevice, aOperation, aNamespace, aJobName, aJobID,
		aIdleReason, aAnomMetric, aDetector, aLayout, "ml.parallel.tensor", "ml.parallel.pipeline", "ml.parallel.data", "ml.parallel.context",
		"ml.parallel.virtual_stages", "ml.zero.stage", "ml.recompute", "ml.train.micro_batch_size", "acceltel.cost.rate_kind"} {
		m[strings.NewReplacer(".", "_").Replace(k)] = k
	}
	return m
}()

var planMetrics = []string{mPlanSpeedup, mPlanRecommend, mPlanMeasured, mPlanPredicted, mPlanStepCost, mPlanHeadroom, mPlanError}

type promName struct {
	metric, unit string
	counter      bool
}

func promNames() map[string]promName {
	out := map[string]promName{}
	for _, m := range append(WantedMetrics(), planMetrics...) {
		base := strings.ReplaceAll(m, ".", "_")
		for suf, unit := range promUnitSuffixes {
			out[base+suf] = promName{m, unit, false}
			out[base+suf+"_total"] = promName{m, unit, true}
		}
	}
	return out
}

// QueryPrometheus fills b with query_range results of the metrics the page
// uses, at the Builder's step. Counters (_total) are read as cumulative
// sums; classic histograms are not read (the latency and bandwidth
// distributions need the Parquet input).
func QueryPrometheus(ctx context.Context, base string, b *Builder, from, to time.Time) error {
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/v1/query_range")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("--prometheus %q is not an http(s) URL", base)
	}
	names := promNames()
	alts := make([]string, 0, len(names))
	for n := range names {
		alts = append(alts, regexp.QuoteMeta(n))
	}
	// Prometheus evaluates at start, start+step, …, to the latest sample at
	// or before each time: the value at t closes the bucket that ends at
	// t. So the evaluations run from the range's start (whose value is
	// the base of the first bucket, before the range) to its end, on
	// whole milliseconds (the API's resolution) at or before the bucket
	// edges, and each value goes into the bucket it closes.
	start, end := from.Truncate(time.Millisecond), to.Truncate(time.Millisecond)
	q := url.Values{}
	q.Set("query", `{__name__=~"`+strings.Join(alts, "|")+`"}`)
	q.Set("start", strconv.FormatFloat(float64(start.UnixMilli())/1e3, 'f', 3, 64))
	q.Set("end", strconv.FormatFloat(float64(end.UnixMilli())/1e3, 'f', 3, 64))
	q.Set("step", strconv.FormatFloat(b.Step().Seconds(), 'f', -1, 64))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(q.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("querying Prometheus at %s: %w", base, err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end or abandoned on error
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return fmt.Errorf("reading Prometheus's answer: %w", err)
	}
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("the Prometheus at %s answered %s, not its JSON API: %.200s", base, resp.Status, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("the Prometheus at %s: %s: %s", base, r.ErrorType, r.Error)
	}
	l := Labels{}
	for _, s := range r.Data.Result {
		pn, ok := names[s.Metric["__name__"]]
		if !ok {
			continue
		}
		clear(l)
		for k, v := range s.Metric {
			if k == "__name__" || k == "job" || k == "instance" {
				continue
			}
			if dotted, ok := promLabelKeys[k]; ok {
				k = dotted
			}
			l[k] = v
		}
		kind := KindGauge
		if pn.counter {
			kind = KindCumulative
		}
		for _, pt := range s.Values {
			ts, ok1 := pt[0].(float64)
			vs, ok2 := pt[1].(string)
			if !ok1 || !ok2 {
				continue
			}
			v, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				continue
			}
			b.AddNumber(pn.metric, pn.unit, kind, l, int64(math.Round(ts*1e3))*1e6-1, v)
		}
	}
	return nil
}
