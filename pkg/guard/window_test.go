package guard_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

// loadMaintenanceSample reads the configurations in a sample (real
// payloads from the azure-rest-api-specs examples; SOURCES.md says from
// where exactly) the way serve does: through the armcontainerservice
// adapter, over the SDK's fake, for the specs' cluster they belong to.
func loadMaintenanceSample(t *testing.T, name string) []guard.MaintenanceConfig {
	t.Helper()
	fleet, err := azurefake.LoadFleet(bytes.NewReader(sampletest.Array(t, "aks_get_spec_2025-01-01_ManagedClustersGet_sp.json")))
	if err != nil {
		t.Fatal(err)
	}
	const cluster = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1"
	fleet.SetMaintenanceConfigs(cluster, sampletest.MaintenanceConfigs(t, name))
	configs, err := fleet.Client().MaintenanceConfigs(t.Context(), id(t, cluster))
	if err != nil {
		t.Fatalf("MaintenanceConfigs(%s): %v", name, err)
	}
	return configs
}

// utc parses an RFC 3339 time written in a test table.
func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func renamed(cs []guard.MaintenanceConfig, from, to string) []guard.MaintenanceConfig {
	out := make([]guard.MaintenanceConfig, len(cs))
	for i, c := range cs {
		if c.Name == from {
			c.Name = to
		}
		out[i] = c
	}
	return out
}

func autoUpgrade(w guard.MaintenanceWindow) guard.MaintenanceConfig {
	return guard.MaintenanceConfig{Name: guard.AutoUpgradeSchedule, Window: &w}
}

func slots(day time.Weekday, hours ...int) guard.TimeInWeek {
	return guard.TimeInWeek{Day: day, HourSlots: hours}
}

// open and closed build the guard.WindowState guard.MaintenanceWindowAt should return,
// Describe aside.
func open(at, closes, source string) guard.WindowState {
	return guard.WindowState{Open: true, Next: utc(at), Closes: utc(closes), Source: source}
}

func closed(next, source string) guard.WindowState {
	st := guard.WindowState{Source: source}
	if next != "" {
		st.Next = utc(next)
	}
	return st
}

var ignoreDescribe = cmpopts.IgnoreFields(guard.WindowState{}, "Describe")

// windowCase is one guard.MaintenanceWindowAt call and what it must return;
// describe, when set, is the exact Describe.
type windowCase struct {
	name     string
	configs  []guard.MaintenanceConfig
	at       string
	want     guard.WindowState
	describe string
}

func runWindowCases(t *testing.T, tests []windowCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := utc(tt.at)
			got := guard.MaintenanceWindowAt(tt.configs, at)
			if diff := cmp.Diff(tt.want, got, ignoreDescribe); diff != "" {
				t.Errorf("MaintenanceWindowAt(%s) mismatch (-want +got):\n%s", tt.at, diff)
			}
			if tt.describe != "" && got.Describe != tt.describe {
				t.Errorf("MaintenanceWindowAt(%s).Describe = %q, want %q", tt.at, got.Describe, tt.describe)
			}
		})
	}
}

func TestMaintenanceWindowAtSamples(t *testing.T) {
	defaultCfg := loadMaintenanceSample(t, "aks_maintenanceconfig_spec_2025-01-01_Get_default.json")
	nodeOS := loadMaintenanceSample(t, "aks_maintenanceconfig_spec_2025-01-01_Get_MaintenanceWindow.json")
	list := loadMaintenanceSample(t, "aks_maintenanceconfig_spec_2025-01-01_List_MaintenanceWindow.json")
	// The node OS sample's daily window (every 3 days from 2023-01-01,
	// 09:30–13:30 at -07:00, i.e. 16:30–20:30 UTC) read as if it were the
	// auto-upgrade schedule.
	dailyAsAuto := renamed(nodeOS, "aksManagedNodeOSUpgradeSchedule", guard.AutoUpgradeSchedule)

	tests := []windowCase{
		// default: Monday slots 1 and 2 (01:00–03:00 UTC), not
		// 2020-11-26T03:00Z to 2020-11-30T12:00Z, which covers Monday
		// 2020-11-30.
		{"default, inside the slots", defaultCfg, "2020-11-23T01:30:00Z",
			open("2020-11-23T01:30:00Z", "2020-11-23T03:00:00Z", "default"),
			"weekly on Monday 01:00–03:00 UTC, not 2020-11-26 03:00 to 2020-11-30 12:00 UTC (default)"},
		{"default, a second before", defaultCfg, "2020-11-16T00:59:59Z",
			closed("2020-11-16T01:00:00Z", "default"), ""},
		{"default, just closed; next Monday not allowed", defaultCfg, "2020-11-23T03:00:00Z",
			closed("2020-12-07T01:00:00Z", "default"), ""},
		{"default, Monday inside notAllowedTime", defaultCfg, "2020-11-30T01:30:00Z",
			closed("2020-12-07T01:00:00Z", "default"), ""},

		{"node OS schedule only: none applies", nodeOS, "2023-02-01T00:00:00Z",
			guard.WindowState{Open: true, Next: utc("2023-02-01T00:00:00Z"), Source: "none"},
			"no maintenance window configured: any time"},

		{"daily every 3 days, inside", dailyAsAuto, "2023-02-15T17:00:00Z",
			open("2023-02-15T17:00:00Z", "2023-02-15T20:30:00Z", guard.AutoUpgradeSchedule),
			"every 3 days 09:30–13:30 UTC-07:00 from 2023-01-01, not 2023-02-18 to 2023-02-25 or 2023-12-23 to 2024-01-05 (aksManagedAutoUpgradeSchedule)"},
		{"daily every 3 days, notAllowedDates skip three", dailyAsAuto, "2023-02-15T20:30:00Z",
			closed("2023-02-27T16:30:00Z", guard.AutoUpgradeSchedule), ""},
		{"daily every 3 days, over the new year", dailyAsAuto, "2023-12-21T20:30:00Z",
			closed("2024-01-08T16:30:00Z", guard.AutoUpgradeSchedule), ""},

		// The list's auto-upgrade schedule: every 3 months on the 15th,
		// 08:30–13:30 UTC, from 2023-01-01. Its node OS schedule is ignored.
		{"absolute monthly every 3 months, inside", list, "2023-01-15T10:00:00Z",
			open("2023-01-15T10:00:00Z", "2023-01-15T13:30:00Z", guard.AutoUpgradeSchedule),
			"every 3 months on day 15 08:30–13:30 UTC from 2023-01-01, not 2023-02-18 to 2023-02-25 or 2023-12-23 to 2024-01-05 (aksManagedAutoUpgradeSchedule)"},
		{"absolute monthly every 3 months, just closed", list, "2023-01-15T13:30:00Z",
			closed("2023-04-15T08:30:00Z", guard.AutoUpgradeSchedule), ""},
		{"absolute monthly every 3 months, into the next year", list, "2023-10-16T00:00:00Z",
			closed("2024-01-15T08:30:00Z", guard.AutoUpgradeSchedule), ""},

		// Monday 2022-12-26 01:30 is inside the default's slots.
		{"auto-upgrade wins over default", append(defaultCfg, list...), "2022-12-26T01:30:00Z",
			closed("2023-01-15T08:30:00Z", guard.AutoUpgradeSchedule), ""},
	}
	runWindowCases(t, tests)
}

func TestMaintenanceWindowAt(t *testing.T) {
	// Tuesday 22:00 to Wednesday 01:00 UTC, one window across midnight.
	lateTuesday := []guard.MaintenanceConfig{{Name: "default", TimeInWeek: []guard.TimeInWeek{slots(time.Tuesday, 23, 22), slots(time.Wednesday, 0)}}}
	// Monday 01:00–03:00 UTC with half an hour not allowed in the middle.
	holedMonday := []guard.MaintenanceConfig{{Name: "default", TimeInWeek: []guard.TimeInWeek{slots(time.Monday, 1, 2)},
		NotAllowedTime: []guard.TimeSpan{{Start: utc("2025-01-06T02:00:00Z"), End: utc("2025-01-06T02:30:00Z")}}}}
	// Every 2 weeks on Sunday from Tuesday 2026-04-14: weeks count from the
	// week (Sunday to Saturday) containing the start date, so 2026-04-12
	// (before the start) is week 0 and the first window opens 2026-04-26.
	fortnightly := []guard.MaintenanceConfig{autoUpgrade(guard.MaintenanceWindow{
		Schedule:      guard.Schedule{Weekly: &guard.WeeklySchedule{IntervalWeeks: 2, DayOfWeek: time.Sunday}},
		DurationHours: 4, StartDate: "2026-04-14", StartTime: "01:00",
	})}
	// Every 3 days from 2024-03-01, 22:00–02:00 at -07:00: 05:00–09:00 UTC
	// the next day.
	lateNights := []guard.MaintenanceConfig{autoUpgrade(guard.MaintenanceWindow{
		Schedule:      guard.Schedule{Daily: &guard.DailySchedule{IntervalDays: 3}},
		DurationHours: 4, UTCOffset: "-07:00", StartDate: "2024-03-01", StartTime: "22:00",
	})}
	monthDay := func(day int) []guard.MaintenanceConfig {
		return []guard.MaintenanceConfig{autoUpgrade(guard.MaintenanceWindow{
			Schedule:      guard.Schedule{AbsoluteMonthly: &guard.AbsoluteMonthlySchedule{IntervalMonths: 1, DayOfMonth: day}},
			DurationHours: 4, UTCOffset: "+00:00", StartDate: "2023-01-01", StartTime: "10:00",
		})}
	}
	relative := func(interval int, index string, wd time.Weekday) []guard.MaintenanceConfig {
		return []guard.MaintenanceConfig{autoUpgrade(guard.MaintenanceWindow{
			Schedule:      guard.Schedule{RelativeMonthly: &guard.RelativeMonthlySchedule{IntervalMonths: interval, WeekIndex: index, DayOfWeek: wd}},
			DurationHours: 6, StartDate: "2025-01-01", StartTime: "20:00",
		})}
	}
	// Daily 22:00–02:00 UTC; 2025-06-02 not allowed.
	nightsButOne := []guard.MaintenanceConfig{autoUpgrade(guard.MaintenanceWindow{
		Schedule:      guard.Schedule{Daily: &guard.DailySchedule{IntervalDays: 1}},
		DurationHours: 4, StartDate: "2025-05-01", StartTime: "22:00",
		NotAllowedDates: []guard.DateSpan{{Start: "2025-06-02", End: "2025-06-02"}},
	})}
	// Sundays 22:00–04:00 at +05:30 (16:30–22:30 UTC), no start date.
	sundayNights := []guard.MaintenanceConfig{autoUpgrade(guard.MaintenanceWindow{
		Schedule:      guard.Schedule{Weekly: &guard.WeeklySchedule{IntervalWeeks: 1, DayOfWeek: time.Sunday}},
		DurationHours: 6, UTCOffset: "+05:30", StartTime: "22:00",
	})}
	allDay := []guard.MaintenanceConfig{autoUpgrade(guard.MaintenanceWindow{
		Schedule:      guard.Schedule{Daily: &guard.DailySchedule{IntervalDays: 1}},
		DurationHours: 24, StartDate: "2025-01-01", StartTime: "00:00",
	})}
	weekly := guard.MaintenanceWindow{
		Schedule:      guard.Schedule{Weekly: &guard.WeeklySchedule{IntervalWeeks: 1, DayOfWeek: time.Saturday}},
		DurationHours: 4, UTCOffset: "-04:00", StartTime: "02:00",
	}
	farAhead, blockedYears := weekly, weekly
	farAhead.StartDate = "2027-06-01"
	blockedYears.NotAllowedDates = []guard.DateSpan{{Start: "2024-12-01", End: "2026-12-31"}}

	tests := []windowCase{
		{"no configs: always open", nil, "2025-01-01T00:00:00Z",
			guard.WindowState{Open: true, Next: utc("2025-01-01T00:00:00Z"), Source: "none"}, "no maintenance window configured: any time"},

		{"slots, inside the first hour", lateTuesday, "2025-01-07T22:30:00Z",
			open("2025-01-07T22:30:00Z", "2025-01-08T01:00:00Z", "default"),
			"weekly on Tuesday 22:00–24:00, Wednesday 00:00–01:00 UTC (default)"},
		{"slots, past midnight", lateTuesday, "2025-01-08T00:15:00Z",
			open("2025-01-08T00:15:00Z", "2025-01-08T01:00:00Z", "default"), ""},
		{"slots, a minute before", lateTuesday, "2025-01-07T21:59:00Z",
			closed("2025-01-07T22:00:00Z", "default"), ""},
		{"slots, just closed", lateTuesday, "2025-01-08T01:00:00Z",
			closed("2025-01-14T22:00:00Z", "default"), ""},

		{"notAllowedTime, before the hole", holedMonday, "2025-01-06T01:30:00Z",
			open("2025-01-06T01:30:00Z", "2025-01-06T02:00:00Z", "default"),
			"weekly on Monday 01:00–03:00 UTC, not 2025-01-06 02:00 to 2025-01-06 02:30 UTC (default)"},
		{"notAllowedTime, in the hole", holedMonday, "2025-01-06T02:10:00Z",
			closed("2025-01-06T02:30:00Z", "default"), ""},
		{"notAllowedTime, after the hole", holedMonday, "2025-01-06T02:45:00Z",
			open("2025-01-06T02:45:00Z", "2025-01-06T03:00:00Z", "default"), ""},
		{"notAllowedTime, a week later", holedMonday, "2025-01-13T02:10:00Z",
			open("2025-01-13T02:10:00Z", "2025-01-13T03:00:00Z", "default"), ""},

		{"weekly every 2, before the start", fortnightly, "2026-04-14T00:00:00Z",
			closed("2026-04-26T01:00:00Z", guard.AutoUpgradeSchedule),
			"every 2 weeks on Sunday 01:00–05:00 UTC from 2026-04-14 (aksManagedAutoUpgradeSchedule)"},
		{"weekly every 2, inside", fortnightly, "2026-04-26T03:00:00Z",
			open("2026-04-26T03:00:00Z", "2026-04-26T05:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"weekly every 2, skips a Sunday", fortnightly, "2026-04-27T00:00:00Z",
			closed("2026-05-10T01:00:00Z", guard.AutoUpgradeSchedule), ""},

		{"daily every 3 at -07:00, before local midnight", lateNights, "2024-03-05T06:00:00Z",
			open("2024-03-05T06:00:00Z", "2024-03-05T09:00:00Z", guard.AutoUpgradeSchedule),
			"every 3 days 22:00–02:00 next day UTC-07:00 from 2024-03-01 (aksManagedAutoUpgradeSchedule)"},
		{"daily every 3 at -07:00, after local midnight", lateNights, "2024-03-05T08:00:00Z",
			open("2024-03-05T08:00:00Z", "2024-03-05T09:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"daily every 3 at -07:00, just closed", lateNights, "2024-03-05T09:00:00Z",
			closed("2024-03-08T05:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"daily every 3 at -07:00, before the start date", lateNights, "2024-02-29T00:00:00Z",
			closed("2024-03-02T05:00:00Z", guard.AutoUpgradeSchedule), ""},

		{"day 31, inside", monthDay(31), "2025-01-31T11:00:00Z",
			open("2025-01-31T11:00:00Z", "2025-01-31T14:00:00Z", guard.AutoUpgradeSchedule),
			"monthly on day 31 10:00–14:00 UTC from 2023-01-01 (aksManagedAutoUpgradeSchedule)"},
		{"day 31 skips February", monthDay(31), "2025-02-01T00:00:00Z",
			closed("2025-03-31T10:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"day 31 skips April (30 days)", monthDay(31), "2025-04-01T00:00:00Z",
			closed("2025-05-31T10:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"day 29 skips February 2025", monthDay(29), "2025-02-01T00:00:00Z",
			closed("2025-03-29T10:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"day 29 in leap February 2024", monthDay(29), "2024-02-01T00:00:00Z",
			closed("2024-02-29T10:00:00Z", guard.AutoUpgradeSchedule), ""},

		{"last Friday", relative(1, "Last", time.Friday), "2025-02-01T02:00:00Z",
			closed("2025-02-28T20:00:00Z", guard.AutoUpgradeSchedule),
			"monthly on the last Friday 20:00–02:00 next day UTC from 2025-01-01 (aksManagedAutoUpgradeSchedule)"},
		{"last Friday, started yesterday, still open", relative(1, "Last", time.Friday), "2025-03-01T01:00:00Z",
			open("2025-03-01T01:00:00Z", "2025-03-01T02:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"last Friday of a month with five", relative(1, "last", time.Friday), "2025-01-01T00:00:00Z",
			closed("2025-01-31T20:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"fourth Friday of a month with five", relative(1, "Fourth", time.Friday), "2025-01-01T00:00:00Z",
			closed("2025-01-24T20:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"last Friday every 2 months", relative(2, "Last", time.Friday), "2025-02-01T02:00:00Z",
			closed("2025-03-28T20:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"first Monday on the 1st", relative(1, "First", time.Monday), "2025-08-05T02:00:00Z",
			closed("2025-09-01T20:00:00Z", guard.AutoUpgradeSchedule), ""},

		{"notAllowedDates cut a window short", nightsButOne, "2025-06-01T23:00:00Z",
			open("2025-06-01T23:00:00Z", "2025-06-02T00:00:00Z", guard.AutoUpgradeSchedule),
			"daily 22:00–02:00 next day UTC from 2025-05-01, not 2025-06-02 to 2025-06-02 (aksManagedAutoUpgradeSchedule)"},
		{"notAllowedDates skip that day's window", nightsButOne, "2025-06-02T00:00:00Z",
			closed("2025-06-03T22:00:00Z", guard.AutoUpgradeSchedule), ""},

		{"started yesterday in its offset, still open", sundayNights, "2025-01-05T19:00:00Z",
			open("2025-01-05T19:00:00Z", "2025-01-05T22:30:00Z", guard.AutoUpgradeSchedule),
			"weekly on Sunday 22:00–04:00 next day UTC+05:30 (aksManagedAutoUpgradeSchedule)"},
		{"no start date, next Sunday", sundayNights, "2025-01-05T22:30:00Z",
			closed("2025-01-12T16:30:00Z", guard.AutoUpgradeSchedule), ""},

		// Back-to-back daily windows never close; Closes stops at the
		// last window that opens within 400 days.
		{"back-to-back windows", allDay, "2025-01-01T12:00:00Z",
			open("2025-01-01T12:00:00Z", "2026-02-06T00:00:00Z", guard.AutoUpgradeSchedule), ""},

		{"default as a maintenanceWindow", []guard.MaintenanceConfig{{Name: "default", Window: &weekly}}, "2025-01-04T05:00:00Z",
			closed("2025-01-04T06:00:00Z", "default"), "weekly on Saturday 02:00–06:00 UTC-04:00 (default)"},
		{"names compare case-insensitively", []guard.MaintenanceConfig{{Name: "Default", Window: &weekly}, {Name: "AKSMANAGEDAUTOUPGRADESCHEDULE", Window: &farAhead}},
			"2025-01-04T05:00:00Z", closed("", guard.AutoUpgradeSchedule), ""},
		{"start date beyond 400 days", []guard.MaintenanceConfig{autoUpgrade(farAhead)}, "2025-01-04T05:00:00Z",
			closed("", guard.AutoUpgradeSchedule), ""},
		{"start date within 400 days", []guard.MaintenanceConfig{autoUpgrade(farAhead)}, "2026-06-01T00:00:00Z",
			closed("2027-06-05T06:00:00Z", guard.AutoUpgradeSchedule), ""},
		{"notAllowedDates beyond 400 days", []guard.MaintenanceConfig{autoUpgrade(blockedYears)}, "2025-01-04T05:00:00Z",
			closed("", guard.AutoUpgradeSchedule), ""},
	}
	runWindowCases(t, tests)
}

func TestMaintenanceWindowAtUnusable(t *testing.T) {
	defaultCfg := loadMaintenanceSample(t, "aks_maintenanceconfig_spec_2025-01-01_Get_default.json")
	// At this time the default sample's window is open.
	at := utc("2020-11-23T01:30:00Z")
	good := guard.MaintenanceWindow{
		Schedule:      guard.Schedule{Weekly: &guard.WeeklySchedule{IntervalWeeks: 1, DayOfWeek: time.Monday}},
		DurationHours: 4, StartTime: "09:30",
	}
	with := func(change func(*guard.MaintenanceWindow)) guard.MaintenanceConfig {
		w := good
		change(&w)
		return autoUpgrade(w)
	}
	tests := []struct {
		name   string
		config guard.MaintenanceConfig
		reason string
	}{
		{"no maintenanceWindow", guard.MaintenanceConfig{Name: guard.AutoUpgradeSchedule, TimeInWeek: []guard.TimeInWeek{slots(time.Monday, 1)}},
			"no maintenanceWindow"},
		{"startTime", with(func(w *guard.MaintenanceWindow) { w.StartTime = "9:3x" }), `startTime "9:3x" is not HH:MM from 00:00 to 23:59`},
		{"startTime 24:00", with(func(w *guard.MaintenanceWindow) { w.StartTime = "24:00" }), `startTime "24:00"`},
		{"startTime empty", with(func(w *guard.MaintenanceWindow) { w.StartTime = "" }), `startTime ""`},
		{"utcOffset", with(func(w *guard.MaintenanceWindow) { w.UTCOffset = "+5:30" }), `utcOffset "+5:30" is not +HH:MM or -HH:MM`},
		{"utcOffset name", with(func(w *guard.MaintenanceWindow) { w.UTCOffset = "PST" }), `utcOffset "PST"`},
		{"startDate", with(func(w *guard.MaintenanceWindow) { w.StartDate = "2023-02-30" }), `startDate "2023-02-30" is not a date (YYYY-MM-DD)`},
		{"durationHours 0", with(func(w *guard.MaintenanceWindow) { w.DurationHours = 0 }), "durationHours 0 is outside 4–24"},
		{"durationHours negative", with(func(w *guard.MaintenanceWindow) { w.DurationHours = -4 }), "durationHours -4 is outside 4–24"},
		{"durationHours 3", with(func(w *guard.MaintenanceWindow) { w.DurationHours = 3 }), "durationHours 3 is outside 4–24"},
		{"durationHours 25", with(func(w *guard.MaintenanceWindow) { w.DurationHours = 25 }), "durationHours 25 is outside 4–24"},
		{"no schedule", with(func(w *guard.MaintenanceWindow) { w.Schedule = guard.Schedule{} }), "schedule has no kind"},
		{"two schedules", with(func(w *guard.MaintenanceWindow) { w.Schedule.Daily = &guard.DailySchedule{IntervalDays: 1} }),
			"schedule has 2 kinds (daily, weekly), want exactly one"},
		{"intervalDays 0", with(func(w *guard.MaintenanceWindow) { w.Schedule = guard.Schedule{Daily: &guard.DailySchedule{}} }), "daily.intervalDays 0 is outside 1–7"},
		{"intervalDays -1", with(func(w *guard.MaintenanceWindow) {
			w.Schedule = guard.Schedule{Daily: &guard.DailySchedule{IntervalDays: -1}}
		}), "daily.intervalDays -1 is outside 1–7"},
		{"intervalDays 8", with(func(w *guard.MaintenanceWindow) {
			w.Schedule = guard.Schedule{Daily: &guard.DailySchedule{IntervalDays: 8}}
		}), "daily.intervalDays 8 is outside 1–7"},
		{"intervalWeeks 0", with(func(w *guard.MaintenanceWindow) { w.Schedule.Weekly = &guard.WeeklySchedule{DayOfWeek: time.Monday} }), "weekly.intervalWeeks 0 is outside 1–4"},
		{"intervalWeeks 5", with(func(w *guard.MaintenanceWindow) { w.Schedule.Weekly = &guard.WeeklySchedule{IntervalWeeks: 5} }), "weekly.intervalWeeks 5 is outside 1–4"},
		{"dayOfWeek 7", with(func(w *guard.MaintenanceWindow) {
			w.Schedule.Weekly = &guard.WeeklySchedule{IntervalWeeks: 1, DayOfWeek: 7}
		}), "weekly.dayOfWeek 7 is not a weekday"},
		{"intervalMonths 0", with(func(w *guard.MaintenanceWindow) {
			w.Schedule = guard.Schedule{AbsoluteMonthly: &guard.AbsoluteMonthlySchedule{DayOfMonth: 1}}
		}), "absoluteMonthly.intervalMonths 0 is outside 1–6"},
		{"intervalMonths 7", with(func(w *guard.MaintenanceWindow) {
			w.Schedule = guard.Schedule{RelativeMonthly: &guard.RelativeMonthlySchedule{IntervalMonths: 7, WeekIndex: "First"}}
		}), "relativeMonthly.intervalMonths 7 is outside 1–6"},
		{"dayOfMonth 0", with(func(w *guard.MaintenanceWindow) {
			w.Schedule = guard.Schedule{AbsoluteMonthly: &guard.AbsoluteMonthlySchedule{IntervalMonths: 1}}
		}), "absoluteMonthly.dayOfMonth 0 is outside 1–31"},
		{"dayOfMonth 32", with(func(w *guard.MaintenanceWindow) {
			w.Schedule = guard.Schedule{AbsoluteMonthly: &guard.AbsoluteMonthlySchedule{IntervalMonths: 1, DayOfMonth: 32}}
		}), "absoluteMonthly.dayOfMonth 32 is outside 1–31"},
		{"weekIndex", with(func(w *guard.MaintenanceWindow) {
			w.Schedule = guard.Schedule{RelativeMonthly: &guard.RelativeMonthlySchedule{IntervalMonths: 1, WeekIndex: "Fifth"}}
		}), `relativeMonthly.weekIndex "Fifth" is not First, Second, Third, Fourth or Last`},
		{"notAllowedDates reversed", with(func(w *guard.MaintenanceWindow) {
			w.NotAllowedDates = []guard.DateSpan{{Start: "2023-02-25", End: "2023-02-18"}}
		}), "notAllowedDates[0] ends 2023-02-18 before it starts 2023-02-25"},
		{"notAllowedDates unparseable", with(func(w *guard.MaintenanceWindow) {
			w.NotAllowedDates = []guard.DateSpan{{Start: "2023-02-18", End: "2023-02-18"}, {Start: "next week", End: "2023-02-18"}}
		}), `notAllowedDates[1].start "next week" is not a date`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := guard.MaintenanceWindowAt(append([]guard.MaintenanceConfig{tt.config}, defaultCfg...), at)
			want := open("2020-11-23T01:30:00Z", "2020-11-23T03:00:00Z", "default")
			if len(got.Unusable) != 1 || !strings.HasPrefix(got.Unusable[0], "aksManagedAutoUpgradeSchedule unusable: "+tt.reason) {
				t.Errorf("MaintenanceWindowAt().Unusable = %q, want the reason %q", got.Unusable, tt.reason)
			}
			got.Unusable = nil
			if diff := cmp.Diff(want, got, ignoreDescribe); diff != "" {
				t.Errorf("guard.MaintenanceWindowAt mismatch (-want +got):\n%s", diff)
			}
			prefix := "aksManagedAutoUpgradeSchedule unusable: " + tt.reason
			if !strings.HasPrefix(got.Describe, prefix) || !strings.Contains(got.Describe, "; using default: weekly on Monday") {
				t.Errorf("MaintenanceWindowAt().Describe = %q, want it to start %q and then use default", got.Describe, prefix)
			}
		})
	}
}

func TestMaintenanceWindowAtNothingUsable(t *testing.T) {
	at := utc("2025-01-01T00:00:00Z")
	bad := autoUpgrade(guard.MaintenanceWindow{StartTime: "9:3x"})
	tests := []struct {
		name     string
		def      guard.MaintenanceConfig
		describe string
	}{
		{"no slots", guard.MaintenanceConfig{Name: "default"},
			`aksManagedAutoUpgradeSchedule unusable: startTime "9:3x" is not HH:MM from 00:00 to 23:59; default unusable: no timeInWeek and no maintenanceWindow; no usable maintenance window: any time`},
		{"hour slot 24", guard.MaintenanceConfig{Name: "default", TimeInWeek: []guard.TimeInWeek{slots(time.Monday, 24)}},
			`aksManagedAutoUpgradeSchedule unusable: startTime "9:3x" is not HH:MM from 00:00 to 23:59; default unusable: timeInWeek[0].hourSlots 24 is outside 0–23; no usable maintenance window: any time`},
		{"day 7", guard.MaintenanceConfig{Name: "default", TimeInWeek: []guard.TimeInWeek{slots(7, 1)}},
			`aksManagedAutoUpgradeSchedule unusable: startTime "9:3x" is not HH:MM from 00:00 to 23:59; default unusable: timeInWeek[0].day 7 is not a weekday; no usable maintenance window: any time`},
		{"notAllowedTime reversed", guard.MaintenanceConfig{Name: "default", TimeInWeek: []guard.TimeInWeek{slots(time.Monday, 1)},
			NotAllowedTime: []guard.TimeSpan{{Start: utc("2025-01-02T00:00:00Z"), End: utc("2025-01-01T00:00:00Z")}}},
			`aksManagedAutoUpgradeSchedule unusable: startTime "9:3x" is not HH:MM from 00:00 to 23:59; default unusable: notAllowedTime[0] ends 2025-01-01T00:00:00Z before it starts 2025-01-02T00:00:00Z; no usable maintenance window: any time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := guard.MaintenanceWindowAt([]guard.MaintenanceConfig{bad, tt.def}, at)
			want := guard.WindowState{Open: true, Next: at, Source: "none", Describe: tt.describe,
				Unusable: strings.Split(strings.TrimSuffix(tt.describe, "; no usable maintenance window: any time"), "; ")}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("guard.MaintenanceWindowAt mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// A configuration that never opens makes guard.MaintenanceWindowAt walk its whole
// horizon; that stays cheap because it steps a day at a time.
func BenchmarkMaintenanceWindowAtNeverOpens(b *testing.B) {
	hours := make([]int, 24)
	for i := range hours {
		hours[i] = i
	}
	cfg := guard.MaintenanceConfig{Name: "default", NotAllowedTime: []guard.TimeSpan{{Start: utc("2024-01-01T00:00:00Z"), End: utc("2027-01-01T00:00:00Z")}}}
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		cfg.TimeInWeek = append(cfg.TimeInWeek, slots(wd, hours...))
	}
	at := utc("2025-01-01T00:00:00Z")
	for b.Loop() {
		if st := guard.MaintenanceWindowAt([]guard.MaintenanceConfig{cfg}, at); st.Open || !st.Next.IsZero() {
			b.Fatalf("guard.MaintenanceWindowAt = %+v, want closed with no next", st)
		}
	}
}
