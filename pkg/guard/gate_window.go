package guard

import (
	"context"
	"strings"
	"time"
)

// windowClosed keeps the job waiting for its maintenance window.
func (r *run) windowClosed(ctx context.Context, j Job, now time.Time) (move, bool) {
	return r.windowShut(ctx, j, now, MaintenanceWindowAt, JobWaitingWindow)
}

// windowShut keeps the job waiting, in state waiting, for the window that
// at reads.
func (r *run) windowShut(ctx context.Context, j Job, now time.Time, at func([]MaintenanceConfig, time.Time) WindowState, waiting JobState) (move, bool) {
	configs, err := r.maintenance(ctx, j.Cluster)
	if err != nil {
		return r.failure(j, "read maintenance configurations", err, now), true
	}
	ws := at(configs, now)
	if ws.Source == NoWindow && len(ws.Unusable) > 0 {
		// A window the guard cannot read is not "any time".
		return move{state: JobBlocked, outcome: "blocked: the cluster's maintenance configuration cannot be read: " + strings.Join(ws.Unusable, "; "), alert: AlertBlocked}, true
	}
	if ws.Source == NoWindow && r.s.requireWindow {
		return move{state: JobBlocked, outcome: "blocked: the cluster has no planned maintenance configuration, and AKSGUARD_REQUIRE_WINDOW=true asks for one: " +
			"add a default, aksManagedAutoUpgradeSchedule or aksManagedNodeOSUpgradeSchedule configuration (az aks maintenanceconfiguration add), then approve again", alert: AlertBlocked}, true
	}
	if ws.Open && (ws.Closes.IsZero() || ws.Closes.Sub(now) >= minWindowLeft) {
		return move{}, false
	}
	if ws.Open {
		// Too little of this window is left for a migration that takes
		// minutes and reimages every node: wait for the next one.
		ws = at(configs, ws.Closes.Add(time.Second))
	}
	if ws.Next.IsZero() {
		return move{state: JobBlocked, outcome: "blocked: no maintenance window opens within a year (" + ws.Describe + ")", alert: AlertBlocked}, true
	}
	return move{state: waiting, outcome: "waiting for the maintenance window " + ws.Describe + " opening at " + stamp(ws.Next), wait: ws.Next}, true
}
