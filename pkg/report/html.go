package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"

	"github.com/aksguard/aksguard/pkg/guard"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"percent": Percent,
	"short":   Short,
	"mttr":    MTTR,
	"stamp":   func(t interface{ Format(string) string }) string { return t.Format("2006-01-02 15:04 UTC") },
}).Parse(pageHTML))

// chart geometry, in SVG user units.
const (
	chartW, chartH = 640, 200
	chartPad       = 32
	barH, barGap   = 22, 8
	barLabelW      = 130
)

// view is what the page template reads: the report and the drawings made
// from it.
type view struct {
	Report
	Flagged   []flaggedRow
	TrendPath string
	TrendDots []dot
	// FirstDay and LastDay label the trend's ends.
	FirstDay, LastDay string
	Bars              []bar
	BarsH             int
	Ages              []count
}

type dot struct {
	X, Y  float64
	Label string
}

type bar struct {
	Label string
	Count int
	Y, W  float64
}

type count struct {
	Label string
	N     int
}

type flaggedRow struct {
	guard.FlaggedCluster
	Name, Age string
}

// HTML writes the report as one self-contained page.
func (r Report) HTML(w io.Writer) error {
	v := view{Report: r}
	v.TrendPath, v.TrendDots = trend(r.History)
	if n := len(r.History); n > 0 {
		v.FirstDay, v.LastDay = r.History[0].Day, r.History[n-1].Day
	}
	v.Bars, v.BarsH = bars(r.Latest.Findings)
	for _, b := range guard.AgeBuckets {
		v.Ages = append(v.Ages, count{b, r.Latest.OpenByAge[b]})
	}
	for _, f := range r.Latest.Flagged {
		v.Flagged = append(v.Flagged, flaggedRow{FlaggedCluster: f, Name: Short(f.Cluster), Age: Age(r.Latest.At, f.FlaggedAt)})
	}
	return page.Execute(w, v)
}

// trend draws compliance over time as an SVG path, 0–100% bottom to top.
func trend(days []DayFigure) (string, []dot) {
	if len(days) == 0 {
		return "", nil
	}
	var b strings.Builder
	var dots []dot
	step := float64(chartW-2*chartPad) / float64(max(len(days)-1, 1))
	for i, d := range days {
		x := float64(chartPad) + step*float64(i)
		y := float64(chartH-chartPad) - d.ComplianceRate*float64(chartH-2*chartPad)
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%.1f %.1f ", cmd, x, y)
		dots = append(dots, dot{X: x, Y: y, Label: d.Day + ": " + Percent(d.ComplianceRate)})
	}
	return strings.TrimSpace(b.String()), dots
}

// bars draws the findings by state as horizontal bars, longest first.
func bars(by map[guard.FindingState]int) ([]bar, int) {
	states := make([]guard.FindingState, 0, len(by))
	top := 0
	for s, n := range by {
		states = append(states, s)
		top = max(top, n)
	}
	slices.SortFunc(states, func(a, b guard.FindingState) int {
		if by[a] != by[b] {
			return by[b] - by[a]
		}
		return strings.Compare(string(a), string(b))
	})
	var out []bar
	for i, s := range states {
		w := 0.0
		if top > 0 {
			w = float64(by[s]) / float64(top) * float64(chartW-barLabelW-60)
		}
		out = append(out, bar{Label: string(s), Count: by[s], Y: float64(i * (barH + barGap)), W: w})
	}
	return out, max(len(out)*(barH+barGap), barH)
}
