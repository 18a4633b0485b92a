package guard

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// WindowState says whether a mutating step may run at a time.
type WindowState struct {
	Open bool
	// Next is when the window next opens (t itself when Open); zero when no window will open within a year.
	Next time.Time
	// Closes is when the current window closes (zero when not Open or no window is configured).
	Closes time.Time
	// Source names the configuration used: "aksManagedAutoUpgradeSchedule", "default", or "none" (no window configured: always open).
	Source string
	// Describe is one line a person reads in a plan, e.g. "weekly on Monday 01:00–03:00 UTC (default)".
	Describe string
	// Unusable says why configurations that exist could not be used; with
	// Source "none" it means the cluster has a window the guard cannot read.
	Unusable []string
}

// WindowState.Source values. AutoUpgradeSchedule and DefaultSchedule are
// also the names of the maintenance configurations MaintenanceWindowAt reads,
// in the order it prefers them; NoWindow says it used neither.
const (
	AutoUpgradeSchedule = "aksManagedAutoUpgradeSchedule"
	DefaultSchedule     = "default"
	NoWindow            = "none"
	// NodeOSUpgradeSchedule is the window AKS patches node images in;
	// NodeOSWindowAt prefers it for the guard's node image upgrades.
	NodeOSUpgradeSchedule = "aksManagedNodeOSUpgradeSchedule"
)

// searchHorizon is how far ahead MaintenanceWindowAt looks for the next
// opening, and for the end of a window that runs on and on.
const searchHorizon = 400 * 24 * time.Hour

// MaintenanceWindowAt says whether the cluster's planned-maintenance window
// is open at t, when it next opens and when it closes.
//
// It reads the configuration named aksManagedAutoUpgradeSchedule (names
// compare case-insensitively) and, when there is none or it is unusable, the
// one named default; with neither, the window is always open (Source "none",
// Closes zero). A configuration is unusable when AKS could not have accepted
// it: an unparseable startTime, utcOffset or startDate, a schedule with no
// kind or several, an interval, durationHours or day outside the ranges the
// API allows. MaintenanceWindowAt never fails: it falls back as if the
// unusable configuration were absent and says so in Describe.
//
// A window that opened before t and has not closed yet is open, even one that
// opened the day before. Windows that touch (one closes as the next opens,
// such as hour slots 1 and 2, or a daily 24-hour window) count as one; Closes
// is the end of the run, looked for no further than 400 days ahead. Next is
// zero when no window opens within 400 days (a startDate far ahead,
// notAllowedDates covering the rest of the year): the caller should re-check
// later rather than wait for it.
//
// Times come back in UTC, except Next, which is t itself when Open.
func MaintenanceWindowAt(configs []MaintenanceConfig, t time.Time) WindowState {
	return windowAt(configs, t, AutoUpgradeSchedule, DefaultSchedule)
}

// NodeOSWindowAt is MaintenanceWindowAt for node image upgrades: the
// configuration named aksManagedNodeOSUpgradeSchedule when it is there and
// usable, else as MaintenanceWindowAt.
func NodeOSWindowAt(configs []MaintenanceConfig, t time.Time) WindowState {
	return windowAt(configs, t, NodeOSUpgradeSchedule, AutoUpgradeSchedule, DefaultSchedule)
}

// windowAt reads the first usable configuration of names, in order.
func windowAt(configs []MaintenanceConfig, t time.Time, names ...string) WindowState {
	var unusable []string
	for _, name := range names {
		c, ok := findConfig(configs, name)
		if !ok {
			continue
		}
		r, err := compileConfig(name, c)
		if err != nil {
			unusable = append(unusable, fmt.Sprintf("%s unusable: %v", name, err))
			continue
		}
		st := stateAt(r, t)
		st.Source, st.Unusable = name, unusable
		st.Describe = fmt.Sprintf("%s (%s)", r, name)
		if len(unusable) > 0 {
			st.Describe = fmt.Sprintf("%s; using %s: %s", strings.Join(unusable, "; "), name, st.Describe)
		}
		return st
	}
	st := WindowState{Open: true, Next: t, Source: NoWindow, Describe: "no maintenance window configured: any time", Unusable: unusable}
	if len(unusable) > 0 {
		st.Describe = strings.Join(unusable, "; ") + "; no usable maintenance window: any time"
	}
	return st
}

func findConfig(configs []MaintenanceConfig, name string) (MaintenanceConfig, bool) {
	for _, c := range configs {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return MaintenanceConfig{}, false
}

// span is the half-open interval [start, end).
type span struct{ start, end time.Time }

// rule is a compiled maintenance configuration.
type rule interface {
	// spans yields, in order of start, the allowed spans that end after
	// from, beginning with any that contains it, for 400 days and a little
	// more. Spans do not overlap; they may touch.
	spans(from time.Time) iter.Seq[span]
	// String describes the rule for a person, without its source.
	String() string
}

// stateAt walks r's spans from t: the first one says whether the window is
// open or when it opens; while open, touching spans extend Closes.
func stateAt(r rule, t time.Time) WindowState {
	limit := t.Add(searchHorizon)
	var st WindowState
	for s := range r.spans(t) {
		if s.start.After(limit) {
			break
		}
		switch {
		case !st.Open && s.start.After(t):
			return WindowState{Next: s.start.UTC()}
		case !st.Open:
			st = WindowState{Open: true, Next: t, Closes: s.end.UTC()}
		case s.start.After(st.Closes):
			return st
		case s.end.After(st.Closes):
			st.Closes = s.end.UTC()
		}
	}
	return st
}

// compileConfig checks the configuration named name and compiles it. A
// maintenanceWindow wins. Without one, default falls back on its timeInWeek
// hour slots: "From the 2023-05-01 API version onwards, use the properties in
// the following table for default configuration" (the maintenanceWindow
// ones), and a default created with the deprecated timeInWeek "migrates
// automatically to the new properties"
// (https://learn.microsoft.com/azure/aks/planned-maintenance), but older
// API versions and the spec's own example still show timeInWeek.
func compileConfig(name string, c MaintenanceConfig) (rule, error) {
	if c.Window != nil {
		return compileWindow(*c.Window)
	}
	if name != DefaultSchedule {
		return nil, errors.New("no maintenanceWindow")
	}
	return compileSlots(c)
}

// subtract returns the parts of s outside every blocked span, in order.
func subtract(s span, blocked []span) []span {
	parts := []span{s}
	for _, b := range blocked {
		var kept []span
		for _, p := range parts {
			if !b.start.Before(p.end) || !b.end.After(p.start) {
				kept = append(kept, p)
				continue
			}
			if p.start.Before(b.start) {
				kept = append(kept, span{p.start, b.start})
			}
			if b.end.Before(p.end) {
				kept = append(kept, span{b.end, p.end})
			}
		}
		parts = kept
	}
	return parts
}

// day is a calendar date, counted in days from 1970-01-01 (a Thursday).
type day int

// horizonDays is how many days a rule's spans run past the day before from.
const horizonDays = 402

func dateDay(y int, m time.Month, d int) day {
	return day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// dayOf is the date of t in t's location.
func dayOf(t time.Time) day { return dateDay(t.Date()) }

func (d day) date() (int, time.Month, int) { return time.Unix(int64(d)*86400, 0).UTC().Date() }

func (d day) weekday() time.Weekday { return time.Weekday(floorMod(int(d)+4, 7)) }

// at is the time h:m on d in loc.
func (d day) at(h, m int, loc *time.Location) time.Time {
	y, mo, dd := d.date()
	return time.Date(y, mo, dd, h, m, 0, 0, loc)
}

func (d day) String() string {
	y, m, dd := d.date()
	return fmt.Sprintf("%04d-%02d-%02d", y, m, dd)
}

// weekStart is the Sunday that begins d's week.
func (d day) weekStart() day { return d - day(d.weekday()) }

func monthIndex(y int, m time.Month) int { return y*12 + int(m) - 1 }

func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

func floorMod(a, n int) int { return ((a % n) + n) % n }

// clock formats minutes after midnight as "15:04" ("24:00" for the end of
// the day), and a time past midnight as "02:00 next day".
func clock(minutes int) string {
	if minutes > 24*60 {
		return fmt.Sprintf("%02d:%02d next day", (minutes-24*60)/60, minutes%60)
	}
	return fmt.Sprintf("%02d:%02d", minutes/60, minutes%60)
}

// Limits AKS puts on a maintenanceWindow. The API reference gives the ranges
// (generated from the REST spec, e.g. Azure/bicep-types-az
// generated/containerservice/microsoft.containerservice/2024-05-01/types.md):
// durationHours 4–24 ("Length of maintenance window range from 4 to 24
// hours", also armcontainerservice.MaintenanceWindow; the planned-maintenance
// page adds "When you're using auto-upgrade, to ensure proper functionality,
// use a maintenance window with a duration of four hours or more"),
// intervalDays 1–7, intervalWeeks 1–4, intervalMonths 1–6, dayOfMonth 1–31, startTime
// "^\d{2}:\d{2}$" from 00:00 to 23:59, utcOffset "^(-|\+)[0-9]{2}:[0-9]{2}$".
// https://learn.microsoft.com/azure/aks/planned-maintenance: "All of the
// fields shown for each schedule type are required"; weekIndex is First,
// Second, Third, Fourth or Last.
const (
	minDurationHours, maxDurationHours = 4, 24
	maxIntervalDays                    = 7
	maxIntervalWeeks                   = 4
	maxIntervalMonths                  = 6
	maxUTCOffsetHours                  = 14 // the widest offset in use (UTC+14:00)
)

type scheduleKind int

const (
	daily scheduleKind = iota
	weekly
	absoluteMonthly
	relativeMonthly
)

// lastWeek is weekIndex "Last".
const lastWeek = 5

var weekIndexes = map[string]int{"first": 1, "second": 2, "third": 3, "fourth": 4, "last": lastWeek}

var weekIndexNames = [...]string{1: "first", 2: "second", 3: "third", 4: "fourth", lastWeek: "last"}

// windowRule is a checked maintenanceWindow.
//
// Occurrences start at startTime in the window's UTC offset on the dates the
// schedule selects and last durationHours. Dates are counted from startDate
// (from 1970-01-01 when it is empty; AKS sets it to the creation date, so
// that happens only with hand-made input):
//
//   - daily: every intervalDays days from startDate.
//   - weekly: on dayOfWeek every intervalWeeks weeks, weeks (Sunday to
//     Saturday) counted from the week containing startDate. AKS behaves so:
//     with startDate Tuesday 2026-04-14, every 2 weeks on Sunday, the first
//     window opened on 2026-04-26, not 2026-04-19
//     (https://github.com/Azure/AKS/issues/5720).
//   - absoluteMonthly: on dayOfMonth every intervalMonths months from
//     startDate's month. Microsoft's documentation does not say what happens
//     in a month too short for dayOfMonth (the API accepts 1–31 whatever the
//     month); the guard skips such a month, so it never runs in a window AKS
//     might not open.
//   - relativeMonthly: on the first, second, third, fourth or last dayOfWeek
//     of the month (the nth occurrence of that weekday, not the nth calendar
//     week) every intervalMonths months from startDate's month.
//
// An occurrence whose start date, in the window's offset, falls within a
// notAllowedDates range is skipped. The dates block whole days in that
// offset ("with 'utcOffset: +02:00' and 'dateSpan' being '2022-12-23' to
// '2023-01-03', maintenance will be blocked from '2022-12-22 22:00' to
// '2023-01-03 22:00' in UTC time", armcontainerservice.MaintenanceWindow), so
// an occurrence that runs into a blocked range also closes where it begins.
type windowRule struct {
	kind      scheduleKind
	interval  int
	weekday   time.Weekday // weekly, relativeMonthly
	monthDay  int          // absoluteMonthly
	weekIndex int          // relativeMonthly: 1–4 or lastWeek
	hour      int
	minute    int
	duration  time.Duration
	loc       *time.Location
	start     day // startDate, or 1970-01-01
	hasStart  bool
	// notAllowed are the notAllowedDates ranges, both ends included.
	notAllowed [][2]day
	// blocked are the same ranges as times: from the first date's midnight
	// to the midnight after the last, in loc.
	blocked []span
}

func compileWindow(w MaintenanceWindow) (*windowRule, error) {
	r := &windowRule{}
	var err error
	if r.hour, r.minute, err = parseClock(w.StartTime); err != nil {
		return nil, err
	}
	if r.loc, err = parseOffset(w.UTCOffset); err != nil {
		return nil, err
	}
	if w.StartDate != "" {
		if r.start, err = parseDate("startDate", w.StartDate); err != nil {
			return nil, err
		}
		r.hasStart = true
	}
	if w.DurationHours < minDurationHours || w.DurationHours > maxDurationHours {
		return nil, fmt.Errorf("durationHours %d is outside %d–%d", w.DurationHours, minDurationHours, maxDurationHours)
	}
	r.duration = time.Duration(w.DurationHours) * time.Hour
	if err := r.compileSchedule(w.Schedule); err != nil {
		return nil, err
	}
	for i, ds := range w.NotAllowedDates {
		from, err := parseDate(fmt.Sprintf("notAllowedDates[%d].start", i), ds.Start)
		if err != nil {
			return nil, err
		}
		to, err := parseDate(fmt.Sprintf("notAllowedDates[%d].end", i), ds.End)
		if err != nil {
			return nil, err
		}
		if to < from {
			return nil, fmt.Errorf("notAllowedDates[%d] ends %s before it starts %s", i, to, from)
		}
		r.notAllowed = append(r.notAllowed, [2]day{from, to})
		r.blocked = append(r.blocked, span{from.at(0, 0, r.loc), (to + 1).at(0, 0, r.loc)})
	}
	return r, nil
}

func (r *windowRule) compileSchedule(s Schedule) error {
	var kinds []string
	if s.Daily != nil {
		kinds = append(kinds, "daily")
		r.kind, r.interval = daily, s.Daily.IntervalDays
		if err := checkRange("daily.intervalDays", r.interval, 1, maxIntervalDays); err != nil {
			return err
		}
	}
	if s.Weekly != nil {
		kinds = append(kinds, "weekly")
		r.kind, r.interval, r.weekday = weekly, s.Weekly.IntervalWeeks, s.Weekly.DayOfWeek
		if err := checkRange("weekly.intervalWeeks", r.interval, 1, maxIntervalWeeks); err != nil {
			return err
		}
		if err := checkWeekday("weekly.dayOfWeek", r.weekday); err != nil {
			return err
		}
	}
	if s.AbsoluteMonthly != nil {
		kinds = append(kinds, "absoluteMonthly")
		r.kind, r.interval, r.monthDay = absoluteMonthly, s.AbsoluteMonthly.IntervalMonths, s.AbsoluteMonthly.DayOfMonth
		if err := checkRange("absoluteMonthly.intervalMonths", r.interval, 1, maxIntervalMonths); err != nil {
			return err
		}
		if err := checkRange("absoluteMonthly.dayOfMonth", r.monthDay, 1, 31); err != nil {
			return err
		}
	}
	if s.RelativeMonthly != nil {
		kinds = append(kinds, "relativeMonthly")
		r.kind, r.interval, r.weekday = relativeMonthly, s.RelativeMonthly.IntervalMonths, s.RelativeMonthly.DayOfWeek
		if err := checkRange("relativeMonthly.intervalMonths", r.interval, 1, maxIntervalMonths); err != nil {
			return err
		}
		if err := checkWeekday("relativeMonthly.dayOfWeek", r.weekday); err != nil {
			return err
		}
		r.weekIndex = weekIndexes[strings.ToLower(strings.TrimSpace(s.RelativeMonthly.WeekIndex))]
		if r.weekIndex == 0 {
			return fmt.Errorf("relativeMonthly.weekIndex %q is not First, Second, Third, Fourth or Last", s.RelativeMonthly.WeekIndex)
		}
	}
	switch len(kinds) {
	case 0:
		return errors.New("schedule has no kind (daily, weekly, absoluteMonthly or relativeMonthly)")
	case 1:
		return nil
	default:
		return fmt.Errorf("schedule has %d kinds (%s), want exactly one", len(kinds), strings.Join(kinds, ", "))
	}
}

// selects says whether an occurrence starts on d, notAllowedDates aside.
func (r *windowRule) selects(d day) bool {
	if r.hasStart && d < r.start {
		return false
	}
	switch r.kind {
	case daily:
		return floorMod(int(d-r.start), r.interval) == 0
	case weekly:
		weeks := int(d.weekStart()-r.start.weekStart()) / 7
		return d.weekday() == r.weekday && floorMod(weeks, r.interval) == 0
	}
	y, m, dd := d.date()
	sy, sm, _ := r.start.date()
	if floorMod(monthIndex(y, m)-monthIndex(sy, sm), r.interval) != 0 {
		return false
	}
	if r.kind == absoluteMonthly {
		return dd == r.monthDay
	}
	if d.weekday() != r.weekday {
		return false
	}
	if r.weekIndex == lastWeek {
		return dd+7 > daysIn(y, m)
	}
	return (dd-1)/7+1 == r.weekIndex
}

func (r *windowRule) notAllowedOn(d day) bool {
	for _, na := range r.notAllowed {
		if d >= na[0] && d <= na[1] {
			return true
		}
	}
	return false
}

func (r *windowRule) spans(from time.Time) iter.Seq[span] {
	return func(yield func(span) bool) {
		// Occurrences last at most a day: one that contains from began
		// on from's date or the date before, in the window's offset.
		first := dayOf(from.In(r.loc)) - 1
		for d := first; d <= first+horizonDays; d++ {
			if !r.selects(d) || r.notAllowedOn(d) {
				continue
			}
			s := d.at(r.hour, r.minute, r.loc)
			for _, p := range subtract(span{s, s.Add(r.duration)}, r.blocked) {
				if p.end.After(from) && !yield(p) {
					return
				}
			}
		}
	}
}

// String reads like "every 3 days 09:30–13:30 UTC-07:00 from 2023-01-01,
// not 2023-02-18 to 2023-02-25".
func (r *windowRule) String() string {
	var b strings.Builder
	switch r.kind {
	case daily:
		b.WriteString(every(r.interval, "daily", "days"))
	case weekly:
		fmt.Fprintf(&b, "%s on %s", every(r.interval, "weekly", "weeks"), r.weekday)
	case absoluteMonthly:
		fmt.Fprintf(&b, "%s on day %d", every(r.interval, "monthly", "months"), r.monthDay)
	case relativeMonthly:
		fmt.Fprintf(&b, "%s on the %s %s", every(r.interval, "monthly", "months"), weekIndexNames[r.weekIndex], r.weekday)
	}
	start := r.hour*60 + r.minute
	fmt.Fprintf(&b, " %s–%s %s", clock(start), clock(start+int(r.duration/time.Minute)), r.loc)
	if r.hasStart {
		fmt.Fprintf(&b, " from %s", r.start)
	}
	for i, na := range r.notAllowed {
		sep := " or "
		if i == 0 {
			sep = ", not "
		}
		fmt.Fprintf(&b, "%s%s to %s", sep, na[0], na[1])
	}
	return b.String()
}

func every(n int, one, unit string) string {
	if n == 1 {
		return one
	}
	return fmt.Sprintf("every %d %s", n, unit)
}

// slotRule is a checked default configuration in its legacy form: one-hour
// UTC slots on weekdays (slot h is [h:00, h+1:00)), minus notAllowedTime.
// Entries for the same weekday add up.
type slotRule struct {
	hours   [7][24]bool
	blocked []span
}

func compileSlots(c MaintenanceConfig) (*slotRule, error) {
	if len(c.TimeInWeek) == 0 {
		return nil, errors.New("no timeInWeek and no maintenanceWindow")
	}
	r := &slotRule{}
	for i, tw := range c.TimeInWeek {
		if err := checkWeekday(fmt.Sprintf("timeInWeek[%d].day", i), tw.Day); err != nil {
			return nil, err
		}
		for _, h := range tw.HourSlots {
			if err := checkRange(fmt.Sprintf("timeInWeek[%d].hourSlots", i), h, 0, 23); err != nil {
				return nil, err
			}
			r.hours[tw.Day][h] = true
		}
	}
	for i, na := range c.NotAllowedTime {
		if na.End.Before(na.Start) {
			return nil, fmt.Errorf("notAllowedTime[%d] ends %s before it starts %s", i, na.End.UTC().Format(time.RFC3339), na.Start.UTC().Format(time.RFC3339))
		}
		// notAllowedTime is a closed interval; treating its end as open
		// differs by one instant.
		r.blocked = append(r.blocked, span{na.Start, na.End})
	}
	return r, nil
}

// runs yields the runs of consecutive allowed slots on a weekday as
// [first hour, hour after the last).
func (r *slotRule) runs(wd time.Weekday) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		for h := 0; h < 24; h++ {
			if !r.hours[wd][h] {
				continue
			}
			end := h + 1
			for end < 24 && r.hours[wd][end] {
				end++
			}
			if !yield(h, end) {
				return
			}
			h = end
		}
	}
}

func (r *slotRule) spans(from time.Time) iter.Seq[span] {
	return func(yield func(span) bool) {
		first := dayOf(from.UTC()) - 1
		for d := first; d <= first+horizonDays; d++ {
			for h, end := range r.runs(d.weekday()) {
				s := d.at(h, 0, time.UTC)
				for _, p := range subtract(span{s, s.Add(time.Duration(end-h) * time.Hour)}, r.blocked) {
					if p.end.After(from) && !yield(p) {
						return
					}
				}
			}
		}
	}
}

// String reads like "weekly on Monday 01:00–03:00, Wednesday 01:00–02:00 and
// 06:00–07:00 UTC, not 2020-11-26 03:00 to 2020-11-30 12:00 UTC".
func (r *slotRule) String() string {
	var days []string
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		var times []string
		for h, end := range r.runs(wd) {
			times = append(times, clock(h*60)+"–"+clock(end*60))
		}
		if len(times) > 0 {
			days = append(days, wd.String()+" "+strings.Join(times, " and "))
		}
	}
	s := "weekly on " + strings.Join(days, ", ") + " UTC"
	for i, b := range r.blocked {
		sep := " or "
		if i == 0 {
			sep = ", not "
		}
		const layout = "2006-01-02 15:04"
		s += fmt.Sprintf("%s%s to %s UTC", sep, b.start.UTC().Format(layout), b.end.UTC().Format(layout))
	}
	return s
}

func checkRange(field string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %d is outside %d–%d", field, v, lo, hi)
	}
	return nil
}

func checkWeekday(field string, wd time.Weekday) error {
	if wd < time.Sunday || wd > time.Saturday {
		return fmt.Errorf("%s %d is not a weekday", field, int(wd))
	}
	return nil
}

// parseClock reads startTime, "15:04" from 00:00 to 23:59.
func parseClock(s string) (hour, minute int, err error) {
	hour, okH := twoDigits(s, 0)
	minute, okM := twoDigits(s, 3)
	if len(s) != 5 || s[2] != ':' || !okH || !okM || hour > 23 || minute > 59 {
		return 0, 0, fmt.Errorf("startTime %q is not HH:MM from 00:00 to 23:59", s)
	}
	return hour, minute, nil
}

// parseOffset reads utcOffset, "+05:30" or "-07:00"; empty means UTC.
func parseOffset(s string) (*time.Location, error) {
	if s == "" {
		return time.UTC, nil
	}
	h, okH := twoDigits(s, 1)
	m, okM := twoDigits(s, 4)
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !okH || !okM || h > maxUTCOffsetHours || m > 59 {
		return nil, fmt.Errorf("utcOffset %q is not +HH:MM or -HH:MM", s)
	}
	secs := (h*60 + m) * 60
	if s[0] == '-' {
		secs = -secs
	}
	if secs == 0 {
		return time.UTC, nil
	}
	return time.FixedZone("UTC"+s, secs), nil
}

func parseDate(field, s string) (day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a date (YYYY-MM-DD)", field, s)
	}
	return dayOf(t), nil
}

func twoDigits(s string, i int) (int, bool) {
	if i+2 > len(s) || s[i] < '0' || s[i] > '9' || s[i+1] < '0' || s[i+1] > '9' {
		return 0, false
	}
	return int(s[i]-'0')*10 + int(s[i+1]-'0'), true
}
