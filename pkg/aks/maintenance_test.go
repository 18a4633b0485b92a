package aks_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/aks"
	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

func TestMaintenanceConfigsSamples(t *testing.T) {
	blocked := []guard.DateSpan{{Start: "2023-02-18", End: "2023-02-25"}, {Start: "2023-12-23", End: "2024-01-05"}}
	tests := []struct {
		file string
		want []guard.MaintenanceConfig
	}{
		{
			file: "aks_maintenanceconfig_spec_2025-01-01_Get_default.json",
			want: []guard.MaintenanceConfig{{
				Name:       "default",
				TimeInWeek: []guard.TimeInWeek{{Day: time.Monday, HourSlots: []int{1, 2}}},
				NotAllowedTime: []guard.TimeSpan{{
					Start: time.Date(2020, 11, 26, 3, 0, 0, 0, time.UTC),
					End:   time.Date(2020, 11, 30, 12, 0, 0, 0, time.UTC),
				}},
			}},
		},
		{
			file: "aks_maintenanceconfig_spec_2025-01-01_Get_MaintenanceWindow.json",
			want: []guard.MaintenanceConfig{{
				Name: "aksManagedNodeOSUpgradeSchedule",
				Window: &guard.MaintenanceWindow{
					Schedule:        guard.Schedule{Daily: &guard.DailySchedule{IntervalDays: 3}},
					DurationHours:   4,
					UTCOffset:       "-07:00",
					StartDate:       "2023-01-01",
					StartTime:       "09:30",
					NotAllowedDates: blocked,
				},
			}},
		},
		{
			file: "aks_maintenanceconfig_spec_2025-01-01_List_MaintenanceWindow.json",
			want: []guard.MaintenanceConfig{
				{
					Name: "aksManagedNodeOSUpgradeSchedule",
					Window: &guard.MaintenanceWindow{
						Schedule:      guard.Schedule{Daily: &guard.DailySchedule{IntervalDays: 5}},
						DurationHours: 10,
						UTCOffset:     "-07:00",
						StartDate:     "2023-01-01",
						StartTime:     "13:30",
					},
				},
				{
					Name: "aksManagedAutoUpgradeSchedule",
					Window: &guard.MaintenanceWindow{
						Schedule:        guard.Schedule{AbsoluteMonthly: &guard.AbsoluteMonthlySchedule{IntervalMonths: 3, DayOfMonth: 15}},
						DurationHours:   5,
						UTCOffset:       "+00:00",
						StartDate:       "2023-01-01",
						StartTime:       "08:30",
						NotAllowedDates: blocked,
					},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := azurefake.NewFleet()
			f.Put(spCluster(specCluster, "clientid"))
			f.SetMaintenanceConfigs(specCluster.String(), sampletest.MaintenanceConfigs(t, tt.file))

			got, err := fleetClient(f).MaintenanceConfigs(t.Context(), specCluster)
			if err != nil {
				t.Fatalf("MaintenanceConfigs(%s) error %v", specCluster, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("MaintenanceConfigs(%s) mismatch (-want +got):\n%s", specCluster, diff)
			}
			if n := f.Calls("MaintenanceConfigurationsClient.NewListByManagedClusterPager"); n != 1 {
				t.Errorf("Calls(MaintenanceConfigurationsClient.NewListByManagedClusterPager) = %d, want 1", n)
			}
		})
	}
}

func TestMaintenanceConfigsNone(t *testing.T) {
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	f := azurefake.NewFleet()
	f.Put(spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"))
	got, err := fleetClient(f).MaintenanceConfigs(t.Context(), id)
	if err != nil || got != nil {
		t.Errorf("MaintenanceConfigs(%s) = %v, %v; want none", id, got, err)
	}

	// Setting none removes them.
	f.SetMaintenanceConfigs(id.String(), []armcontainerservice.MaintenanceConfiguration{{Name: to.Ptr("default"), Properties: &armcontainerservice.MaintenanceConfigurationProperties{}}})
	f.SetMaintenanceConfigs(id.String(), nil)
	if got, err := fleetClient(f).MaintenanceConfigs(t.Context(), id); err != nil || got != nil {
		t.Errorf("MaintenanceConfigs(%s) after setting none = %v, %v; want none", id, got, err)
	}
}

func TestMaintenanceConfigsErrors(t *testing.T) {
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	tests := []struct {
		name       string
		setup      func(f *azurefake.Fleet) // nil: the cluster does not exist
		kind       guard.ErrorKind
		code       string
		retryAfter time.Duration
		mention    string
	}{
		{name: "cluster not found", kind: guard.KindNotFound, code: "ResourceNotFound", mention: "list maintenance configurations of " + id.String()},
		{
			name: "throttled",
			setup: func(f *azurefake.Fleet) {
				f.FailNext("MaintenanceConfigurationsClient.NewListByManagedClusterPager", 1, http.StatusTooManyRequests, "TooManyRequests", 20*time.Second)
			},
			kind:       guard.KindTransient,
			code:       "TooManyRequests",
			retryAfter: 20 * time.Second,
		},
		{
			name: "unknown weekday",
			setup: func(f *azurefake.Fleet) {
				f.SetMaintenanceConfigs(id.String(), []armcontainerservice.MaintenanceConfiguration{{
					Name: to.Ptr("default"),
					Properties: &armcontainerservice.MaintenanceConfigurationProperties{
						TimeInWeek: []*armcontainerservice.TimeInWeek{{Day: to.Ptr(armcontainerservice.WeekDay("Fryday")), HourSlots: []*int32{to.Ptr[int32](9)}}},
					},
				}})
			},
			kind:    guard.KindInvalid,
			mention: `maintenance configuration "default": timeInWeek: unknown day "Fryday"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := azurefake.NewFleet()
			if tt.setup != nil {
				f.Put(spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"))
				tt.setup(f)
			}
			got, err := fleetClient(f).MaintenanceConfigs(t.Context(), id)
			if err == nil {
				t.Fatalf("MaintenanceConfigs(%s) = %v, want %s error", id, got, tt.kind)
			}
			if k := guard.KindOf(err); k != tt.kind {
				t.Errorf("KindOf(MaintenanceConfigs()) = %s, want %s (error %v)", k, tt.kind, err)
			}
			if c := guard.CodeOf(err); c != tt.code {
				t.Errorf("CodeOf(MaintenanceConfigs()) = %q, want %q", c, tt.code)
			}
			if ra := guard.RetryAfterOf(err); ra != tt.retryAfter {
				t.Errorf("RetryAfterOf(MaintenanceConfigs()) = %s, want %s", ra, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("MaintenanceConfigs() error = %q, want it to mention %q", err, tt.mention)
			}
		})
	}
}

func TestMaintenanceConfigsAfterNotFound(t *testing.T) {
	// A list that failed leaves nothing behind that breaks the next one.
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	f := azurefake.NewFleet()
	c := fleetClient(f)
	if _, err := c.MaintenanceConfigs(t.Context(), id); guard.KindOf(err) != guard.KindNotFound {
		t.Fatalf("MaintenanceConfigs(%s) error = %v, want %s", id, err, guard.KindNotFound)
	}
	f.Put(spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"))
	f.SetMaintenanceConfigs(id.String(), []armcontainerservice.MaintenanceConfiguration{{Name: to.Ptr("default"), Properties: &armcontainerservice.MaintenanceConfigurationProperties{}}})
	for i := range 2 {
		got, err := c.MaintenanceConfigs(t.Context(), id)
		if want := []guard.MaintenanceConfig{{Name: "default"}}; err != nil || !cmp.Equal(want, got) {
			t.Errorf("call %d: MaintenanceConfigs(%s) = %+v, %v; want %+v", i, id, got, err, want)
		}
	}
	if got := f.Calls("MaintenanceConfigurationsClient.NewListByManagedClusterPager"); got != 3 {
		t.Errorf("Calls(list) = %d, want 3", got)
	}
}

func TestToMaintenanceConfig(t *testing.T) {
	window := func(s *armcontainerservice.Schedule) armcontainerservice.MaintenanceConfiguration {
		return armcontainerservice.MaintenanceConfiguration{
			Name: to.Ptr("aksManagedAutoUpgradeSchedule"),
			Properties: &armcontainerservice.MaintenanceConfigurationProperties{
				MaintenanceWindow: &armcontainerservice.MaintenanceWindow{Schedule: s, DurationHours: to.Ptr[int32](4), StartTime: to.Ptr("02:00")},
			},
		}
	}
	weekly := &armcontainerservice.WeeklySchedule{IntervalWeeks: to.Ptr[int32](2), DayOfWeek: to.Ptr(armcontainerservice.WeekDaySaturday)}
	tests := []struct {
		name    string
		in      armcontainerservice.MaintenanceConfiguration
		want    guard.MaintenanceConfig
		mention string // of the error; "" for none
	}{
		{
			name: "weekly",
			in:   window(&armcontainerservice.Schedule{Weekly: weekly}),
			want: guard.MaintenanceConfig{Name: "aksManagedAutoUpgradeSchedule", Window: &guard.MaintenanceWindow{
				Schedule: guard.Schedule{Weekly: &guard.WeeklySchedule{IntervalWeeks: 2, DayOfWeek: time.Saturday}}, DurationHours: 4, StartTime: "02:00",
			}},
		},
		{
			name: "relative monthly, names in other case",
			in: window(&armcontainerservice.Schedule{RelativeMonthly: &armcontainerservice.RelativeMonthlySchedule{
				IntervalMonths: to.Ptr[int32](1), WeekIndex: to.Ptr(armcontainerservice.Type("last")), DayOfWeek: to.Ptr(armcontainerservice.WeekDay("sunday")),
			}}),
			want: guard.MaintenanceConfig{Name: "aksManagedAutoUpgradeSchedule", Window: &guard.MaintenanceWindow{
				Schedule: guard.Schedule{RelativeMonthly: &guard.RelativeMonthlySchedule{IntervalMonths: 1, WeekIndex: "Last", DayOfWeek: time.Sunday}}, DurationHours: 4, StartTime: "02:00",
			}},
		},
		{name: "no properties", in: armcontainerservice.MaintenanceConfiguration{Name: to.Ptr("default")}, want: guard.MaintenanceConfig{Name: "default"}},
		{
			name: "nil entries",
			in: armcontainerservice.MaintenanceConfiguration{Name: to.Ptr("default"), Properties: &armcontainerservice.MaintenanceConfigurationProperties{
				TimeInWeek:     []*armcontainerservice.TimeInWeek{nil, {Day: to.Ptr(armcontainerservice.WeekDayFriday), HourSlots: []*int32{nil, to.Ptr[int32](23)}}},
				NotAllowedTime: []*armcontainerservice.TimeSpan{nil, {}},
			}},
			want: guard.MaintenanceConfig{Name: "default", TimeInWeek: []guard.TimeInWeek{{Day: time.Friday, HourSlots: []int{23}}}, NotAllowedTime: []guard.TimeSpan{{}}},
		},
		{name: "no schedule", in: window(nil), mention: `maintenance configuration "aksManagedAutoUpgradeSchedule": maintenanceWindow: no schedule`},
		{name: "empty schedule", in: window(&armcontainerservice.Schedule{}), mention: "schedule names no recurrence"},
		{
			name:    "several recurrences",
			in:      window(&armcontainerservice.Schedule{Weekly: weekly, Daily: &armcontainerservice.DailySchedule{IntervalDays: to.Ptr[int32](1)}}),
			mention: "schedule names several recurrences (daily, weekly)",
		},
		{
			name:    "unknown weekly day",
			in:      window(&armcontainerservice.Schedule{Weekly: &armcontainerservice.WeeklySchedule{IntervalWeeks: to.Ptr[int32](1)}}),
			mention: `weekly: unknown dayOfWeek ""`,
		},
		{
			name: "unknown week index",
			in: window(&armcontainerservice.Schedule{RelativeMonthly: &armcontainerservice.RelativeMonthlySchedule{
				IntervalMonths: to.Ptr[int32](1), WeekIndex: to.Ptr(armcontainerservice.Type("Fifth")), DayOfWeek: to.Ptr(armcontainerservice.WeekDayMonday),
			}}),
			mention: `relativeMonthly: unknown weekIndex "Fifth"`,
		},
		{
			name: "hour slot out of range",
			in: armcontainerservice.MaintenanceConfiguration{Name: to.Ptr("default"), Properties: &armcontainerservice.MaintenanceConfigurationProperties{
				TimeInWeek: []*armcontainerservice.TimeInWeek{{Day: to.Ptr(armcontainerservice.WeekDayFriday), HourSlots: []*int32{to.Ptr[int32](24)}}},
			}},
			mention: `maintenance configuration "default": timeInWeek Friday: hour slot 24 outside 0–23`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := aks.ToMaintenanceConfig(tt.in)
			if tt.mention != "" {
				if err == nil || !strings.Contains(err.Error(), tt.mention) {
					t.Errorf("aks.ToMaintenanceConfig() = %+v, %v; want an error mentioning %q", got, err, tt.mention)
				}
				return
			}
			if err != nil {
				t.Fatalf("aks.ToMaintenanceConfig() error %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("aks.ToMaintenanceConfig() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetMaintenanceConfigsPanics(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		cfgs    []armcontainerservice.MaintenanceConfiguration
	}{
		{"not a cluster ID", "payments-prod-weu", nil},
		{"no name", specCluster.String(), []armcontainerservice.MaintenanceConfiguration{{}}},
		{"repeated name", specCluster.String(), []armcontainerservice.MaintenanceConfiguration{{Name: to.Ptr("default")}, {Name: to.Ptr("Default")}}},
		{"another cluster's ID", specCluster.String(), []armcontainerservice.MaintenanceConfiguration{{
			Name: to.Ptr("default"),
			ID:   to.Ptr("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/other/maintenanceConfigurations/default"),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("SetMaintenanceConfigs(%s, %d configurations) did not panic", tt.cluster, len(tt.cfgs))
				}
			}()
			azurefake.NewFleet().SetMaintenanceConfigs(tt.cluster, tt.cfgs)
		})
	}
}
