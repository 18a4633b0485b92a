// Package report turns the sweep's daily KPI snapshots into what people
// read: JSON for other tools, a self-contained HTML page (inline CSS and
// server-rendered SVG, no scripts, fonts or CDNs) and a terminal table.
// It reads the snapshots alone, never every finding, so what a request
// costs does not grow with the fleet.
package report

import (
	"context"
	"fmt"
	"time"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

// Days is how much history a report shows.
const Days = 90

// Report is the fleet as of the last sweep, and the days before it.
type Report struct {
	// Generated is when the report was made; Latest.At is when the sweep
	// it shows ran.
	Generated time.Time `json:"generated"`
	// Empty is true before any sweep: there are no figures to show.
	Empty   bool        `json:"empty"`
	Latest  guard.KPIs  `json:"latest"`
	History []DayFigure `json:"history"`
}

// DayFigure is one day's headline figures, for the trend.
type DayFigure struct {
	Day            string  `json:"day"`
	Clusters       int     `json:"clusters"`
	ComplianceRate float64 `json:"complianceRate"`
	Open           int     `json:"open"`
}

// Build reads the last Days of snapshots from store.
func Build(ctx context.Context, store guard.Store, now time.Time) (Report, error) {
	hist, err := store.KPIHistory(ctx, now.AddDate(0, 0, -Days))
	if err != nil {
		return Report{}, fmt.Errorf("read the KPI history: %w", err)
	}
	r := Report{Generated: now, Empty: len(hist) == 0, History: []DayFigure{}}
	for _, k := range hist {
		r.History = append(r.History, DayFigure{Day: guard.KPIDay(k.At), Clusters: k.Clusters,
			ComplianceRate: k.ComplianceRate, Open: k.Findings[guard.FindingOpen] + k.Findings[guard.FindingKubeletPending]})
	}
	if len(hist) > 0 {
		r.Latest = hist[len(hist)-1]
	}
	return r, nil
}

// Short names a cluster by its resource group and name, which is what a
// person looks for; the full ID is in the JSON.
func Short(id string) string {
	c, err := armid.ParseCluster(id)
	if err != nil {
		return id
	}
	return c.ResourceGroup + "/" + c.Name
}

// Percent writes a rate as a person reads it: "62.5%".
func Percent(rate float64) string { return fmt.Sprintf("%.1f%%", rate*100) }

// Age writes how long ago t was, in whole days or hours.
func Age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "—"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dm", int(d/time.Minute))
}

// MTTR writes the mean time to remediate.
func MTTR(seconds float64) string {
	if seconds <= 0 {
		return "—"
	}
	d := time.Duration(seconds * float64(time.Second))
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	}
	return fmt.Sprintf("%.0fm", d.Minutes())
}
