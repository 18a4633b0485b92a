package aks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// MaintenanceConfigs lists the cluster's planned-maintenance configurations
// with MaintenanceConfigurationsClient.NewListByManagedClusterPager, every
// page, in the order ARM returns them; none (nil) when it has none. Every
// failure is a *guard.Error: ARM errors are classified by azerr.Classify (a
// missing cluster is KindNotFound); an incomplete id and a configuration
// the guard cannot read (an unknown weekday or week index, a window with no
// schedule or with several, an hour slot outside 0–23) are KindInvalid,
// naming the configuration.
func (c *Client) MaintenanceConfigs(ctx context.Context, id guard.ClusterID) ([]guard.MaintenanceConfig, error) {
	op := "list maintenance configurations of " + id.String()
	s, err := c.sdkFor(op, id)
	if err != nil {
		return nil, err
	}
	var out []guard.MaintenanceConfig
	pager := s.maintenance.NewListByManagedClusterPager(id.ResourceGroup, id.Name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, azerr.Classify(op, err)
		}
		for _, mc := range page.Value {
			if mc == nil {
				continue
			}
			cfg, err := toMaintenanceConfig(*mc)
			if err != nil {
				return nil, guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
			}
			out = append(out, cfg)
		}
	}
	return out, nil
}

// toMaintenanceConfig converts a maintenance configuration as ARM returns
// it. Missing optional fields read as zero values; dates come back as
// "2006-01-02" and times as UTC instants. The error names the
// configuration.
func toMaintenanceConfig(mc armcontainerservice.MaintenanceConfiguration) (guard.MaintenanceConfig, error) {
	cfg := guard.MaintenanceConfig{Name: deref(mc.Name)}
	fail := func(format string, args ...any) (guard.MaintenanceConfig, error) {
		return guard.MaintenanceConfig{}, fmt.Errorf("maintenance configuration %q: %s", cfg.Name, fmt.Sprintf(format, args...))
	}
	p := mc.Properties
	if p == nil {
		return cfg, nil
	}
	for _, tw := range p.TimeInWeek {
		if tw == nil {
			continue
		}
		day, ok := weekday(tw.Day)
		if !ok {
			return fail("timeInWeek: unknown day %q", deref(tw.Day))
		}
		slots := make([]int, 0, len(tw.HourSlots))
		for _, h := range tw.HourSlots {
			if h == nil {
				continue
			}
			if *h < 0 || *h > 23 {
				return fail("timeInWeek %s: hour slot %d outside 0–23", day, *h)
			}
			slots = append(slots, int(*h))
		}
		cfg.TimeInWeek = append(cfg.TimeInWeek, guard.TimeInWeek{Day: day, HourSlots: slots})
	}
	for _, ts := range p.NotAllowedTime {
		if ts == nil {
			continue
		}
		cfg.NotAllowedTime = append(cfg.NotAllowedTime, guard.TimeSpan{Start: utc(ts.Start), End: utc(ts.End)})
	}
	if mw := p.MaintenanceWindow; mw != nil {
		sched, err := toSchedule(mw.Schedule)
		if err != nil {
			return fail("maintenanceWindow: %v", err)
		}
		w := &guard.MaintenanceWindow{
			Schedule:  sched,
			UTCOffset: deref(mw.UTCOffset),
			StartDate: date(mw.StartDate),
			StartTime: deref(mw.StartTime),
		}
		if mw.DurationHours != nil {
			w.DurationHours = int(*mw.DurationHours)
		}
		for _, ds := range mw.NotAllowedDates {
			if ds == nil {
				continue
			}
			w.NotAllowedDates = append(w.NotAllowedDates, guard.DateSpan{Start: date(ds.Start), End: date(ds.End)})
		}
		cfg.Window = w
	}
	return cfg, nil
}

// toSchedule converts a recurrence that must name exactly one kind.
func toSchedule(s *armcontainerservice.Schedule) (guard.Schedule, error) {
	if s == nil {
		return guard.Schedule{}, fmt.Errorf("no schedule")
	}
	var out guard.Schedule
	var kinds []string
	if d := s.Daily; d != nil {
		kinds = append(kinds, "daily")
		out.Daily = &guard.DailySchedule{IntervalDays: int32Of(d.IntervalDays)}
	}
	if w := s.Weekly; w != nil {
		kinds = append(kinds, "weekly")
		day, ok := weekday(w.DayOfWeek)
		if !ok {
			return guard.Schedule{}, fmt.Errorf("weekly: unknown dayOfWeek %q", deref(w.DayOfWeek))
		}
		out.Weekly = &guard.WeeklySchedule{IntervalWeeks: int32Of(w.IntervalWeeks), DayOfWeek: day}
	}
	if m := s.AbsoluteMonthly; m != nil {
		kinds = append(kinds, "absoluteMonthly")
		out.AbsoluteMonthly = &guard.AbsoluteMonthlySchedule{IntervalMonths: int32Of(m.IntervalMonths), DayOfMonth: int32Of(m.DayOfMonth)}
	}
	if m := s.RelativeMonthly; m != nil {
		kinds = append(kinds, "relativeMonthly")
		day, ok := weekday(m.DayOfWeek)
		if !ok {
			return guard.Schedule{}, fmt.Errorf("relativeMonthly: unknown dayOfWeek %q", deref(m.DayOfWeek))
		}
		index, ok := weekIndex(m.WeekIndex)
		if !ok {
			return guard.Schedule{}, fmt.Errorf("relativeMonthly: unknown weekIndex %q", deref(m.WeekIndex))
		}
		out.RelativeMonthly = &guard.RelativeMonthlySchedule{IntervalMonths: int32Of(m.IntervalMonths), WeekIndex: index, DayOfWeek: day}
	}
	switch len(kinds) {
	case 0:
		return guard.Schedule{}, fmt.Errorf("schedule names no recurrence")
	case 1:
		return out, nil
	}
	return guard.Schedule{}, fmt.Errorf("schedule names several recurrences (%s)", strings.Join(kinds, ", "))
}

// weekday returns the day ARM names, matching case-insensitively.
func weekday(d *armcontainerservice.WeekDay) (time.Weekday, bool) {
	if d == nil {
		return 0, false
	}
	for w := time.Sunday; w <= time.Saturday; w++ {
		if strings.EqualFold(string(*d), w.String()) {
			return w, true
		}
	}
	return 0, false
}

// weekIndex returns ARM's week index in its canonical spelling.
func weekIndex(t *armcontainerservice.Type) (string, bool) {
	if t == nil {
		return "", false
	}
	i := slices.IndexFunc(armcontainerservice.PossibleTypeValues(), func(v armcontainerservice.Type) bool {
		return strings.EqualFold(string(v), string(*t))
	})
	if i < 0 {
		return "", false
	}
	return string(armcontainerservice.PossibleTypeValues()[i]), true
}

func int32Of(p *int32) int {
	if p == nil {
		return 0
	}
	return int(*p)
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// date formats a date-only field; the SDK parses it as midnight UTC.
func date(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}
