// Package browsertest opens a page in a real headless Chromium through the
// DevTools protocol (chromedp) and reports what a person would see: a
// screenshot, the charts as rendered, console errors, the summary table.
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/internal/report/fleetgen"
)

// Chart is one svg.chart as laid out by the browser.
type Chart struct {
	Label  string  `json:"label"`
	Width  float64 `json:"w"`
	Height float64 `json:"h"`
	Shapes int     `json:"shapes"`
	// Images counts the chart's embedded images that decoded to a
	// non-empty bitmap; BadImages those that did not.
	Images    int `json:"images"`
	BadImages int `json:"badImages"`
}

// Result is what the page showed.
type Result struct {
	Screenshot    []byte // PNG of the viewport
	Charts        []Chart
	ConsoleErrors []string
	Summary       string // text of the summary table (or its empty line)
	EmptySections []string
	Title         string
}

// Chromium finds the browser. Without it the test is skipped locally, and
// fails when CI is set: CI must run these tests, not skip them.
func Chromium(t testing.TB) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "headless Chromium not found: install the Debian package chromium (apt-get install -y --no-install-recommends chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this is a failure)")
	}
	t.Skip(msg)
	return ""
}

// Open loads url and waits until the page is laid out.
func Open(t testing.TB, url string) Result {
	t.Helper()
	exe := Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1800),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	var res Result
	errs := make(chan string, 100)
	chromedp.ListenTarget(bctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeAssert {
				var b bytes.Buffer
				for _, a := range e.Args {
					b.Write(a.Value)
					b.WriteString(a.Description)
				}
				select {
				case errs <- "console." + string(e.Type) + ": " + b.String():
				default:
				}
			}
		case *runtime.EventExceptionThrown:
			select {
			case errs <- "exception: " + e.ExceptionDetails.Text:
			default:
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.LevelError {
				select {
				case errs <- fmt.Sprintf("%s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL):
				default:
				}
			}
		}
	})
	const probe = `(async () => {
	  const out = [];
	  for (const s of document.querySelectorAll('svg.chart')) {
	    const r = s.getBoundingClientRect();
	    let images = 0, bad = 0;
	    for (const im of s.querySelectorAll('image')) {
	      const img = new Image();
	      img.src = im.getAttribute('href');
	      try { await img.decode(); if (img.naturalWidth > 0 && img.naturalHeight > 0) images++; else bad++; } catch (e) { bad++; }
	    }
	    out.push({label: s.getAttribute('aria-label'), w: r.width, h: r.height,
	      shapes: s.querySelectorAll('rect,polyline,line,image,circle,path,text').length, images: images, badImages: bad});
	  }
	  return out;
	})()`
	awaitPromise := func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }
	err := chromedp.Run(bctx,
		log.Enable(),
		runtime.Enable(),
		chromedp.Navigate(url),
		chromedp.WaitReady("body"),
		chromedp.Title(&res.Title),
		chromedp.Evaluate(probe, &res.Charts, awaitPromise),
		chromedp.Evaluate(`(document.querySelector('#summary-table') || document.querySelector('#summary + p') || {innerText: ''}).innerText`, &res.Summary),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('p.empty')).map(p => p.closest('section') ? p.closest('section').id : 'summary')`, &res.EmptySections),
		chromedp.CaptureScreenshot(&res.Screenshot),
	)
	if err != nil {
		t.Fatalf("driving Chromium on %s: %v", url, err)
	}
	// Late console messages arrive asynchronously; give them a moment.
	time.Sleep(300 * time.Millisecond)
	close(errs)
	for e := range errs {
		res.ConsoleErrors = append(res.ConsoleErrors, e)
	}
	return res
}

// CheckScreenshot fails unless the PNG decodes and is not blank: many
// colours, and a good share of pixels that are not the background.
func CheckScreenshot(t testing.TB, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	colours := map[uint32]bool{}
	nonWhite, total := 0, 0
	bnds := img.Bounds()
	for y := bnds.Min.Y; y < bnds.Max.Y; y += 2 {
		for x := bnds.Min.X; x < bnds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[(r>>8)<<16|(g>>8)<<8|b>>8] = true
			if r < 0xf000 || g < 0xf000 || b < 0xf000 {
				nonWhite++
			}
			total++
		}
	}
	if len(colours) < 30 || nonWhite < total/20 {
		t.Fatalf("screenshot looks blank: %d colours, %d of %d sampled pixels not white (%v)", len(colours), nonWhite, total, bnds)
	}
}

// CheckFleetPage holds the checks the report and the live page share, on
// a page of a fleetgen fleet: a non-blank screenshot, every chart laid out
// and non-empty, no console error, no section without data, and the
// planted problems in the summary, worst first.
func CheckFleetPage(t *testing.T, res Result) {
	t.Helper()
	CheckScreenshot(t, res.Screenshot)
	require.Empty(t, res.ConsoleErrors, "console errors")
	require.Empty(t, res.EmptySections, "sections without data")
	// Heatmaps ×5 + small multiples, events, NCCL, IB ×2, latency, anomaly context, cost ×2, plan.
	require.GreaterOrEqual(t, len(res.Charts), 14, "charts: %+v", res.Charts)
	for _, c := range res.Charts {
		require.Greater(t, c.Width, 100.0, "chart %q not laid out", c.Label)
		require.Greater(t, c.Height, 30.0, "chart %q not laid out", c.Label)
		require.Greater(t, c.Shapes, 3, "chart %q is empty", c.Label)
		require.Zero(t, c.BadImages, "chart %q has an image that does not decode", c.Label)
	}
	for _, want := range []string{
		"anomaly", "hw.gpu.utilization on host.name=" + fleetgen.AnomalyHost,
		"straggler", "nccl.rank=5",
		"throttling", fleetgen.ThrottleHost + "/gpu5",
		"xid", "XID 79", "ecc", "uncorrected",
		"idle cost", "namespace " + fleetgen.IdleNamespace,
		"congestion", fleetgen.CongestedHost,
	} {
		require.Contains(t, res.Summary, want)
	}
	// Worst first: the critical rows come before the warnings.
	require.Less(t, strings.Index(res.Summary, "critical"), strings.Index(res.Summary, "warning"))
}
