package report

import (
	"html/template"
	"io"
)

// The page is plain HTML and CSS around inline SVG: no script, no external
// resource, so it opens the same offline, from a mail attachment or from a
// collector's loopback port.
var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<link rel="icon" href="data:,">
{{if .Live}}<meta http-equiv="refresh" content="30">{{end}}
<title>{{.Title}}</title>
<style>
body{font-family:sans-serif;margin:16px 24px;color:#111;max-width:1400px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px;border-bottom:1px solid #ccc;padding-bottom:3px}
.meta{color:#555;font-size:12px;margin:2px 0}
table{border-collapse:collapse;font-size:12px;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.sev-critical{background:#fee2e2;font-weight:bold}.sev-warning{background:#fef3c7}.sev-info{background:#eef2ff}
.empty{color:#666;font-style:italic}.note{color:#444;font-size:12px}svg.chart{display:block;margin:8px 0}
nav a{margin-right:10px;font-size:12px}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="meta">{{.Range}} · source: {{.Source}} · {{.Stats}}</p>
<p class="meta" id="sampling">{{.Sampling}}</p>
<nav>{{range .Sections}}<a href="#{{.ID}}">{{.Title}}</a>{{end}}</nav>
<h2 id="summary">Needs attention</h2>
{{if .Summary}}<table id="summary-table"><tr><th>severity</th><th>what</th><th>where</th><th>detail</th><th>when (UTC)</th></tr>
{{range .Summary}}<tr class="sev-{{.Severity}}"><td>{{.Severity}}</td><td><a href="#{{.Section}}">{{.Kind}}</a></td><td>{{.Subject}}</td><td>{{.Detail}}</td><td>{{.When}}</td></tr>
{{end}}</table>{{else}}<p class="empty">Nothing needs attention in this range: no anomaly, straggler, throttling, XID/ECC error or idle cost found.</p>{{end}}
{{range .Sections}}<section id="{{.ID}}"><h2>{{.Title}}</h2>
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
{{if .Empty}}<p class="empty">{{.Empty}}</p>{{end}}
{{range .Body}}{{.}}
{{end}}</section>
{{end}}
</body></html>
`))

// Render writes the page as one self-contained HTML document.
func (p *Page) Render(w io.Writer) error { return pageTmpl.Execute(w, p) }

// Write builds the page from d and writes it.
func Write(w io.Writer, d *Dataset, title string) error { return BuildPage(d, title).Render(w) }
