package guard

// dryRun ends a job that may not change the cluster: planned in dry-run,
// or the mode or the enforce scopes changed since (a kill switch that works
// until the PUT is sent).
func (r *run) dryRun(j Job) (move, bool) {
	switch {
	case j.Mode == ModeEnforce && r.s.enforces(j.Cluster):
		return move{}, false
	case r.s.mode != ModeEnforce:
		return move{state: JobDryRunComplete, outcome: "dry run complete: nothing changed; the plan is recorded (AKSGUARD_MODE is dry-run)"}, true
	case !r.s.enforces(j.Cluster):
		return move{state: JobDryRunComplete, outcome: "dry run complete: nothing changed; the plan is recorded (the cluster is outside AKSGUARD_ENFORCE_SCOPES)"}, true
	}
	return move{state: JobDryRunComplete, outcome: "dry run complete: nothing changed; the plan was made in dry-run mode (approve again to plan it under enforce)"}, true
}
