package guard

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Job step tuning.
const (
	// maxSteps bounds the steps one invocation takes; each step's state is
	// saved before the next begins.
	maxSteps = 8
	// maxAttempts bounds retries of one step after transient errors.
	maxAttempts = 8
	// maxReplans bounds plans redone because the cluster kept changing.
	maxReplans = 3
	// pollEvery is how soon an AKS operation still running is polled again.
	pollEvery = 30 * time.Second
	// slotWait is how long a job waits for a free update slot.
	slotWait = 5 * time.Minute
	// safetyWake re-wakes a job whose invocation died between steps.
	safetyWake = 10 * time.Minute
	// minWindowLeft is how much of a maintenance window must remain for an
	// update to start in it.
	minWindowLeft = 30 * time.Minute
	// maxRetryWait caps the wait a Retry-After may ask for.
	maxRetryWait = time.Hour
	// forbiddenRetries is how often a write refused for a missing
	// permission is retried: a role granted moments ago takes a while to
	// reach every ARM replica.
	forbiddenRetries = 3
	// minDeadline is how much of the invocation must be left to send the
	// PUT; with less, the job continues in the next invocation.
	minDeadline = time.Minute
	// updateTimeout fails an update AKS has not finished after this long.
	updateTimeout = 3 * time.Hour
)

// HandleMessage applies one queue message. It returns an error only when
// the guard could not record state; the caller then fails the delivery so
// Service Bus redelivers it. Every wait is a scheduled message, never a
// redelivery.
func (s *Service) HandleMessage(ctx context.Context, m Message) (Outcome, error) {
	why := cause{id: m.ID, what: "message " + string(m.Kind) + " (" + m.Reason + ")"}
	switch {
	case m.Cluster.IsZero():
		return Outcome{Result: ResultRejected, Detail: "message names no cluster"}, nil
	case m.Kind == MessageEvaluate:
		return s.reevaluate(ctx, m, why)
	case m.Kind == MessageJob && m.JobID != "":
		return s.runJob(ctx, m, why)
	case m.Kind == MessageJob:
		return Outcome{Result: ResultRejected, Cluster: m.Cluster, Detail: "job message names no job"}, nil
	}
	return Outcome{Result: ResultRejected, Cluster: m.Cluster, Detail: "unknown message kind " + strconv.Quote(string(m.Kind))}, nil
}

// reevaluate reads a cluster again for a scheduled re-evaluation. When ARM
// cannot serve the read now, it schedules the next try instead of failing
// the delivery, which Service Bus would retry at once.
func (s *Service) reevaluate(ctx context.Context, m Message, why cause) (Outcome, error) {
	pre, err := s.readFor(ctx, m.Cluster)
	switch kind := KindOf(err); {
	case err == nil:
		out, _, _, err := s.record(ctx, m.Cluster, why, false, &pre)
		return out, err
	case kind == KindTransient:
		n := m.Seq + 1 // counts the tries of this re-evaluation
		if n > maxAttempts {
			return s.unreadable(ctx, m.Cluster, why, err)
		}
		at := s.now().Add(retryWait(err, n))
		base, _, _ := strings.Cut(m.ID, "-retry-")
		retry := Message{ID: base + "-retry-" + strconv.Itoa(n), Kind: MessageEvaluate, Cluster: m.Cluster, Seq: n,
			Reason: m.Reason, NotBefore: at}
		if err := s.queue.Send(ctx, retry); err != nil {
			return Outcome{}, fmt.Errorf("schedule the re-evaluation again: %w", err)
		}
		return Outcome{Result: ResultRetry, Cluster: m.Cluster, Detail: "ARM did not answer (" + err.Error() + "); reading again at " + stamp(at)}, nil
	}
	return s.unreadable(ctx, m.Cluster, why, err)
}

// readFor reads a cluster to record the result: the finding's ETag first,
// so record can tell whether a newer read overtook this one.
func (s *Service) readFor(ctx context.Context, id ClusterID) (readResult, error) {
	f, err := s.loadFinding(ctx, id)
	if err != nil {
		return readResult{}, err
	}
	pre, err := s.readCluster(ctx, id)
	pre.basis = f.ETag
	return pre, err
}

// loadJob returns the job with its leftover effects carried out.
func (s *Service) loadJob(ctx context.Context, id ClusterID, jobID string) (Job, error) {
	j, err := s.store.Job(ctx, id, jobID)
	if err != nil {
		return Job{}, err
	}
	return j, s.drainJob(ctx, &j)
}

func (s *Service) drainJob(ctx context.Context, j *Job) error {
	reload := func(ctx context.Context) error {
		g, err := s.store.Job(ctx, j.Cluster, j.ID)
		if err != nil {
			return err
		}
		*j = g
		return nil
	}
	save := func(ctx context.Context) error { return s.store.SaveJob(ctx, j) }
	return s.drain(ctx, j, reload, save)
}

// run is one wake-up of one job.
type run struct {
	s   *Service
	why cause
	m   Message
	// cluster is the cluster as read in this invocation; nil when gone.
	cluster *Cluster
	finding Finding
	// claimed is set when this invocation claimed the update, so it alone
	// may send the PUT.
	claimed bool
	// configs are the cluster's maintenance configurations once read in
	// this invocation: planning and the window check both need them.
	configs     []MaintenanceConfig
	configsRead bool
}

// maintenance reads the cluster's maintenance configurations, once per
// invocation.
func (r *run) maintenance(ctx context.Context, id ClusterID) ([]MaintenanceConfig, error) {
	if r.configsRead {
		return r.configs, nil
	}
	configs, err := r.s.clusters.MaintenanceConfigs(ctx, id)
	if err != nil {
		return nil, err
	}
	r.configs, r.configsRead = configs, true
	return configs, nil
}

// runJob wakes a job: it re-reads the cluster, then moves the job on step
// by step until it must wait — a scheduled message — or it ends.
func (s *Service) runJob(ctx context.Context, m Message, why cause) (Outcome, error) {
	r := &run{s: s, why: why, m: m}
	read := false
	for attempt := 0; attempt <= maxConflicts; attempt++ {
		// The finding as record left it, else as stored now.
		fresh := false
		// A claim lost to another worker's save does not carry over.
		r.claimed = false
		j, err := s.loadJob(ctx, m.Cluster, m.JobID)
		if KindOf(err) == KindNotFound {
			return Outcome{Result: ResultIgnored, Cluster: m.Cluster, JobID: m.JobID, Detail: "job not found"}, nil
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("load job %s: %w", m.JobID, err)
		}
		out := Outcome{Cluster: m.Cluster, JobID: j.ID}
		if m.Seq != 0 && m.Seq != j.WakeSeq {
			out.Result, out.Detail = ResultDuplicate, fmt.Sprintf("stale timer %d; the job's timer is %d", m.Seq, j.WakeSeq)
			return out, nil
		}
		if j.State.Terminal() {
			if r.finding, err = s.loadFinding(ctx, m.Cluster); err != nil {
				return Outcome{}, err
			}
			return s.restart(ctx, j, r)
		}
		if !read {
			// A cluster ARM cannot serve now is a reason to wait, recorded
			// as a scheduled retry, not a failed delivery.
			pre, err := s.readFor(ctx, m.Cluster)
			if err != nil {
				out, serr := r.save(ctx, &j, r.failure(j, "read the cluster", err, s.now()))
				if KindOf(serr) == KindConflict {
					continue
				}
				return out, serr
			}
			_, c, f, err := s.record(ctx, m.Cluster, why, false, &pre)
			if err != nil {
				return Outcome{}, err
			}
			r.cluster, r.finding, read, fresh = c, f, true, true
		}
		if !fresh {
			if r.finding, err = s.loadFinding(ctx, m.Cluster); err != nil {
				return Outcome{}, err
			}
		}
		out, err = r.advance(ctx, &j)
		if KindOf(err) == KindConflict {
			continue
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("job %s: %w", j.ID, err)
		}
		if j.State == JobSucceeded && r.cluster != nil {
			// Record what the job just verified: the finding resolves now,
			// not at the next event. Should the finding have changed since
			// this invocation loaded it, record reads the cluster again.
			basis := &readResult{cluster: r.cluster, basis: r.finding.ETag}
			if _, _, _, err := s.record(ctx, j.Cluster, why, false, basis); err != nil {
				return Outcome{}, err
			}
		}
		return out, nil
	}
	return Outcome{}, Errorf(KindTransient, "job %s changed by others %d times in a row", m.JobID, maxConflicts)
}

// move is one step of a job: where it goes and what it tells.
type move struct {
	state   JobState
	outcome string
	// wait is when to wake next; zero goes on at once (or ends the job).
	wait time.Time
	// alert is published when the state changes.
	alert AlertType
	// err keeps the service error behind a failure or block.
	err  string
	edit func(*Job)
	// claim marks the move that claims the update: once it is saved, this
	// invocation alone may send the PUT.
	claim bool
}

// advance takes steps until the job must wait or ends.
func (r *run) advance(ctx context.Context, j *Job) (Outcome, error) {
	for range maxSteps {
		mv, err := r.step(ctx, j)
		if err != nil {
			return Outcome{}, err
		}
		if mv.state == j.State && mv.wait.IsZero() && mv.edit == nil && mv.outcome == "" {
			// Nothing to record: a timer is already pending.
			return r.outcome(*j), nil
		}
		if _, err := r.save(ctx, j, mv); err != nil {
			return Outcome{}, err
		}
		r.claimed = r.claimed || mv.claim
		if j.State.Terminal() || !mv.wait.IsZero() {
			return r.outcome(*j), nil
		}
	}
	return r.outcome(*j), nil
}

// save applies a move and writes the job.
func (r *run) save(ctx context.Context, j *Job, mv move) (Outcome, error) {
	r.applyMove(j, mv)
	if err := r.s.saveJob(ctx, j); err != nil {
		return Outcome{}, err
	}
	return r.outcome(*j), nil
}

// readCluster reads the cluster for a job: a missing cluster is a result,
// not an error.
func (s *Service) readCluster(ctx context.Context, id ClusterID) (readResult, error) {
	c, err := s.clusters.GetCluster(ctx, id)
	switch {
	case err == nil:
		return readResult{cluster: &c}, nil
	case KindOf(err) == KindNotFound:
		return readResult{}, nil
	}
	return readResult{}, err
}

// saveJob writes j with its effects and carries them out. A conflict is
// returned as is, so the caller re-reads and decides again.
func (s *Service) saveJob(ctx context.Context, j *Job) error {
	if err := s.store.SaveJob(ctx, j); err != nil {
		return err
	}
	return s.drainJob(ctx, j)
}

// applyMove records a move on the job, with its timer, audit entry and alert,
// in that order: the wake-up goes out first, so an alert that cannot be
// published never holds the job up.
func (r *run) applyMove(j *Job, mv move) {
	now := r.s.now()
	prev := j.State
	if mv.err == "" && !mv.claim {
		// A step that worked ends a run of retries. Claiming the update is
		// not such a step: it comes before each try of the PUT.
		j.Attempts = 0
	}
	if mv.edit != nil {
		mv.edit(j)
	}
	j.State, j.UpdatedAt = mv.state, now
	if mv.outcome != "" {
		j.Outcome = mv.outcome
	}
	if mv.err != "" {
		j.Error = mv.err
	}
	switch wait := mv.wait; {
	case j.State.Terminal():
		// Timers still pending find the job ended and stop at once.
		j.WakeSeq++
	case wait.IsZero() && j.NextWake.After(now):
	default:
		if wait.IsZero() {
			// Going on at once: should this invocation die before the
			// next save, this timer picks the job up again.
			wait = now.Add(safetyWake)
		}
		j.WakeSeq++
		j.NextWake = wait
		j.Outbox = append(j.Outbox, Effect{Message: &Message{
			ID: j.ID + "-wake-" + strconv.Itoa(j.WakeSeq), Kind: MessageJob, Cluster: j.Cluster, JobID: j.ID,
			Seq: j.WakeSeq, Reason: string(j.State), NotBefore: wait,
		}})
	}
	if mv.state == prev {
		return
	}
	detail := j.Outcome
	if mv.state == JobPlanned && j.Plan != nil {
		detail = j.Plan.Summary() // the plan itself is in the job's Plan column
	}
	if mv.err != "" {
		detail += " (" + mv.err + ")"
	}
	j.Outbox = append(j.Outbox, Effect{Audit: &AuditEntry{Cluster: j.Cluster, Key: auditKey(now, "job-"+string(mv.state), j.ID),
		At: now, Action: "job-" + string(mv.state), Actor: r.why.actorName(), Cause: r.why.String(), Detail: detail, JobID: j.ID}})
	if mv.alert != "" {
		j.Outbox = append(j.Outbox, Effect{Alert: r.jobAlert(*j, mv.alert, now)})
	}
}

func (r *run) jobAlert(j Job, t AlertType, now time.Time) *Alert {
	d := AlertData{ClusterID: j.Cluster.String(), Summary: "remediation of " + j.Cluster.Name + ": " + j.Outcome,
		Finding: string(r.finding.State), Verdict: r.finding.Verdict, JobID: j.ID, JobState: string(j.State), Error: j.Error}
	if j.Approval != nil {
		d.Actor = j.Approval.By.String()
	}
	if t == AlertPlanned && j.Plan != nil {
		d.Summary = "remediation of " + j.Cluster.Name + " planned: " + j.Plan.Summary()
		d.Reasons = j.Plan.Lines()
		if len(d.Reasons) > maxAlertLines {
			d.Reasons = append(d.Reasons[:maxAlertLines], fmt.Sprintf("… %d more lines in the job's plan", len(d.Reasons)-maxAlertLines))
		}
	}
	if t == AlertSucceeded && j.Plan != nil {
		sp := j.Plan.ServicePrincipal
		d.FollowUp = "delete the old service principal " + sp.AppID + " once nothing else uses it: az ad sp delete --id " + sp.AppID
	}
	return &Alert{ID: alertID(t, j.Cluster, now) + "-" + shortHash(j.ID), Type: t, Cluster: j.Cluster, Time: now, Data: d}
}

func (r *run) outcome(j Job) Outcome {
	res := Result(j.State)
	if j.State == JobAwaitingApproval {
		res = ResultParked
	}
	return Outcome{Result: res, Cluster: j.Cluster, JobID: j.ID, Detail: j.Outcome}
}

// maxAlertLines bounds the plan lines an alert carries, so the alert and
// the outbox holding it stay small; the job keeps the whole plan.
const maxAlertLines = 40

// step decides the job's next move from its state.
func (r *run) step(ctx context.Context, j *Job) (move, error) {
	now := r.s.now()
	if !j.State.mutating() {
		if stop, mv := r.stillWanted(*j); stop {
			return mv, nil
		}
	}
	switch j.State {
	case JobAwaitingApproval:
		return r.awaitingApproval(ctx, *j, now), nil
	case JobPlanned, JobWaitingWindow:
		return r.ready(ctx, *j, now), nil
	case JobGrantingRoles:
		return r.grantAhead(ctx, *j, now), nil
	case JobUpdating:
		return r.update(ctx, *j, now), nil
	case JobRegranting:
		return r.regrant(ctx, *j, now), nil
	case JobVerifying:
		return r.verify(ctx, *j, now), nil
	}
	return move{state: JobFailed, outcome: "unknown job state " + string(j.State)}, nil
}

// stillWanted cancels a job that has not changed the cluster yet when its
// finding closed or its approval was taken away.
func (r *run) stillWanted(j Job) (bool, move) {
	f := r.finding
	switch {
	case f.State != FindingOpen || f.JobID != j.ID:
		reason := "finding is " + string(f.State)
		if f.Resolution != "" {
			reason += ": " + f.Resolution
		}
		if f.JobID != j.ID {
			reason = "the finding moved on to job " + f.JobID
		}
		return true, move{state: JobCancelled, outcome: "cancelled: " + reason, alert: AlertCancelled}
	case j.State != JobAwaitingApproval && !f.Approval.approved():
		outcome := "cancelled: the approval was removed before the update (" + approvalText(f.Approval) + ")"
		if len(j.Granted) > 0 {
			outcome += fmt.Sprintf("; the %d role assignment(s) already granted to %s stay", len(j.Granted), j.Plan.Target.UserAssigned)
		}
		return true, move{state: JobCancelled, outcome: outcome, alert: AlertCancelled}
	}
	return false, move{}
}

func approvalText(a *Approval) string {
	if a == nil {
		return "no approval tag"
	}
	if a.Reason != "" {
		return string(a.Status) + ": " + a.Reason
	}
	return string(a.Status) + " by " + a.By.String()
}

// awaitingApproval parks the job until the finding records an approval,
// then plans.
func (r *run) awaitingApproval(ctx context.Context, j Job, now time.Time) move {
	f := r.finding
	if !f.Approval.approved() {
		if r.m.Seq == 0 && j.NextWake.After(now) {
			return move{state: j.State}
		}
		text := awaitingApproval
		switch v, _ := r.cluster.tag(ApprovalTag); {
		case f.Approval != nil && f.Approval.Status != ApprovalRemoved && strings.EqualFold(v, f.Approval.Value):
			text += " (last value not accepted: " + approvalText(f.Approval) + ")"
		case strings.EqualFold(strings.TrimSpace(v), "approved"):
			text += " (the tag says approved, but no tags write that set it was seen: with an approver list, approve with az tag update)"
		}
		return move{state: j.State, outcome: text, wait: now.Add(r.s.backoff(j.WakeSeq))}
	}
	if r.cluster == nil {
		return move{state: JobCancelled, outcome: "cancelled: cluster deleted", alert: AlertCancelled}
	}
	p, err := r.plan(ctx, *r.cluster)
	if err != nil {
		return r.failure(j, "plan", err, now)
	}
	edit := func(j *Job) { j.Plan, j.Approval, j.Mode = p, f.Approval, r.s.modeFor(j.Cluster) }
	if p.Blocked != "" {
		return move{state: JobBlocked, outcome: "blocked: " + p.Blocked, alert: AlertBlocked, edit: edit}
	}
	return move{state: JobPlanned, outcome: "planned: " + strings.Join(p.Lines(), "; "), alert: AlertPlanned, edit: edit}
}

func (s *Service) modeFor(id ClusterID) Mode {
	if s.enforces(id) {
		return ModeEnforce
	}
	return ModeDryRun
}

// ready runs a planned job in dry-run, or takes it into the update once the
// maintenance window is open and a slot is free.
func (r *run) ready(ctx context.Context, j Job, now time.Time) move {
	if mv, stop := r.gates(ctx, j, now); stop {
		return mv
	}
	if j.Plan.Target.Type == "UserAssigned" && len(j.Plan.ControlPlane) > 0 {
		return move{state: JobGrantingRoles, outcome: "started: granting roles to the user-assigned identity before the update", alert: AlertStarted}
	}
	return move{state: JobUpdating, outcome: "started: updating the cluster to a " + j.Plan.Target.Type + " identity", alert: AlertStarted,
		claim: true, edit: func(j *Job) { j.UpdateStartedAt = now }}
}

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

// windowClosed keeps the job waiting for its maintenance window.
func (r *run) windowClosed(ctx context.Context, j Job, now time.Time) (move, bool) {
	configs, err := r.maintenance(ctx, j.Cluster)
	if err != nil {
		return r.failure(j, "read maintenance configurations", err, now), true
	}
	ws := MaintenanceWindowAt(configs, now)
	if ws.Source == NoWindow && len(ws.Unusable) > 0 {
		// A window the guard cannot read is not "any time".
		return move{state: JobBlocked, outcome: "blocked: the cluster's maintenance configuration cannot be read: " + strings.Join(ws.Unusable, "; "), alert: AlertBlocked}, true
	}
	if ws.Open && (ws.Closes.IsZero() || ws.Closes.Sub(now) >= minWindowLeft) {
		return move{}, false
	}
	if ws.Open {
		// Too little of this window is left for a migration that takes
		// minutes and reimages every node: wait for the next one.
		ws = MaintenanceWindowAt(configs, ws.Closes.Add(time.Second))
	}
	if ws.Next.IsZero() {
		return move{state: JobBlocked, outcome: "blocked: no maintenance window opens within a year (" + ws.Describe + ")", alert: AlertBlocked}, true
	}
	return move{state: JobWaitingWindow, outcome: "waiting for the maintenance window " + ws.Describe + " opening at " + stamp(ws.Next), wait: ws.Next}, true
}

// noSlot keeps the job waiting while MaxUpdating clusters are updating.
func (r *run) noSlot(ctx context.Context, j Job, now time.Time) (move, bool) {
	jobs, err := r.s.store.Jobs(ctx)
	if err != nil {
		return r.failure(j, "count updating jobs", err, now), true
	}
	busy := 0
	for _, o := range jobs {
		if (o.State == JobUpdating || o.State == JobGrantingRoles) && o.ID != j.ID {
			busy++
		}
	}
	if busy < r.s.maxUpdating {
		return move{}, false
	}
	return move{state: j.State, outcome: fmt.Sprintf("waiting for an update slot: %d clusters are updating (cap %d)", busy, r.s.maxUpdating),
		wait: now.Add(slotWait)}, true
}

// grantAhead grants the user-assigned identity its control-plane roles
// before the update, then lets them propagate.
func (r *run) grantAhead(ctx context.Context, j Job, now time.Time) move {
	granted, err := r.grant(ctx, j, j.Plan.ControlPlane, j.Plan.TargetPrincipal.ObjectID)
	if err != nil {
		mv := r.failure(j, "grant roles to "+j.Plan.Target.UserAssigned, err, now)
		return withGranted(mv, granted)
	}
	return withGranted(move{state: JobUpdating, outcome: "roles granted to the user-assigned identity; updating after " + r.s.propagation.String() + " for them to propagate",
		wait: now.Add(r.s.propagation)}, granted)
}

// withGranted records grants made even when the step fails later.
func withGranted(mv move, granted []string) move {
	if len(granted) == 0 {
		return mv
	}
	edit := mv.edit
	mv.edit = func(j *Job) {
		j.Granted = append(j.Granted, granted...)
		if edit != nil {
			edit(j)
		}
	}
	return mv
}

// grant makes the assignments for principal that are not done yet and
// returns the keys of those it made.
func (r *run) grant(ctx context.Context, j Job, as []RoleAssignment, principal string) ([]string, error) {
	var made []string
	for _, a := range as {
		a.ID, a.PrincipalID, a.PrincipalType = "", principal, "ServicePrincipal"
		k := a.key()
		if slices.Contains(j.Granted, k) || slices.Contains(made, k) {
			continue
		}
		err := r.s.roles.Assign(ctx, a)
		if err != nil && KindOf(err) != KindNotFound {
			return made, fmt.Errorf("assign %s: %w", a.describe(), err)
		}
		// A scope that no longer exists needs no grant.
		made = append(made, k)
	}
	return made, nil
}

// migrated reports whether the cluster already uses the plan's identity.
func migrated(c *Cluster, p *Plan) bool {
	if c == nil || !c.usesMSI() || !strings.EqualFold(c.IdentityType, p.Target.Type) {
		return false
	}
	if p.Target.Type == "UserAssigned" {
		for _, id := range c.UserAssignedIdentities {
			if strings.EqualFold(id, p.Target.UserAssigned) {
				return true
			}
		}
		return false
	}
	return c.PrincipalID != ""
}

// update sends the PUT that moves the control plane to the managed
// identity, then polls it, a bounded while per invocation. Until the PUT is
// sent the job may still be cancelled or sent back; once it may have been
// sent, the job only goes forward.
func (r *run) update(ctx context.Context, j Job, now time.Time) move {
	c, p := r.cluster, j.Plan
	switch {
	case c == nil:
		return move{state: JobCancelled, outcome: "cancelled: cluster deleted during the update", alert: AlertCancelled}
	case migrated(c, p):
		return move{state: JobRegranting, outcome: "the cluster uses its managed identity; re-granting roles", edit: clearUpdate}
	case j.ResumeToken != "":
		if now.Sub(j.UpdateStartedAt) > updateTimeout {
			return move{state: JobFailed, outcome: "failed: AKS did not finish the update within " + updateTimeout.String() +
				"; approve again to resume", alert: AlertFailed}
		}
		st, err := r.s.clusters.ResumeIdentityUpdate(ctx, j.Cluster, j.ResumeToken, r.s.pollWait)
		return r.afterUpdate(ctx, j, st, err, now)
	case !r.claimed && !j.UpdateStartedAt.IsZero() && now.Before(j.UpdateStartedAt.Add(r.claimTTL())):
		// Another invocation claimed the update moments ago.
		return move{state: j.State, outcome: "another worker is sending the update", wait: j.UpdateStartedAt.Add(r.claimTTL())}
	case busy(c.ProvisioningState):
		// An operation runs: ours, if a PUT went out before its token was
		// saved, or someone else's. Either way, wait and read again.
		return move{state: j.State, outcome: "the cluster is " + c.ProvisioningState + "; reading it again at " + stamp(now.Add(pollEvery)),
			wait: now.Add(pollEvery)}
	case !r.claimed:
		// No PUT went out (the cluster is neither migrated nor busy): check
		// everything again, then claim. The claim is saved with the job's
		// ETag, so of two racing workers one sends the PUT.
		if mv, stop := r.gates(ctx, j, now); stop {
			return mv
		}
		return move{state: JobUpdating, outcome: "sending the update", claim: true, edit: func(j *Job) { j.UpdateStartedAt = now }}
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < minDeadline {
		return move{state: j.State, outcome: "too little of this invocation is left to send the update; continuing in the next",
			wait: now.Add(time.Second), edit: func(j *Job) { j.UpdateStartedAt = time.Time{} }}
	}
	if c.ETag != p.ClusterETag {
		return r.replan(ctx, j, *c, "the cluster changed since it was planned", now)
	}
	st, err := r.s.clusters.StartIdentityUpdate(ctx, j.Cluster, c.ETag, p.Target, r.s.pollWait)
	if KindOf(err) == KindConflict {
		return r.afterConflict(ctx, j, err, now)
	}
	// Set while a PUT may be in flight, so other workers leave it alone; a
	// PUT refused without an operation changed nothing, and the job may
	// still be cancelled or planned again.
	started := now
	if err != nil && st.ResumeToken == "" {
		started = time.Time{}
	}
	j.UpdateStartedAt = started
	mv := r.afterUpdate(ctx, j, st, err, now)
	prev := mv.edit
	mv.edit = func(j *Job) {
		j.UpdateStartedAt = started
		if prev != nil {
			prev(j)
		}
	}
	return mv
}

// gates are what must hold right before the PUT: the finding still open
// with this job and approved, the mode still enforce, the window open, a
// slot free.
func (r *run) gates(ctx context.Context, j Job, now time.Time) (move, bool) {
	if stop, mv := r.stillWanted(j); stop {
		return mv, true
	}
	if mv, dry := r.dryRun(j); dry {
		return mv, true
	}
	if mv, wait := r.windowClosed(ctx, j, now); wait {
		return mv, true
	}
	return r.noSlot(ctx, j, now)
}

// afterConflict reads the cluster again when the PUT was refused for its
// eTag. The PUT may have been ours, accepted with its answer lost and
// retried: then the cluster is busy or migrated and the job goes on.
// Otherwise someone changed the cluster and the job plans again.
func (r *run) afterConflict(ctx context.Context, j Job, conflict error, now time.Time) move {
	c, err := r.s.clusters.GetCluster(ctx, j.Cluster)
	if err != nil {
		return r.failure(j, "read the cluster after a refused update", err, now)
	}
	r.cluster = &c
	switch {
	case migrated(&c, j.Plan):
		return move{state: JobRegranting, outcome: "the cluster uses its managed identity; re-granting roles", edit: clearUpdate}
	case busy(c.ProvisioningState):
		return move{state: JobUpdating, outcome: "the cluster is " + c.ProvisioningState + " after the update; reading it again at " +
			stamp(now.Add(pollEvery)), wait: now.Add(pollEvery), edit: func(j *Job) { j.UpdateStartedAt = now }}
	}
	return r.replan(ctx, j, c, "the cluster changed right before the update ("+conflict.Error()+")", now)
}

// claimTTL is how long a claim on the update holds: a PUT and one bounded
// poll, with room to spare.
func (r *run) claimTTL() time.Duration { return r.s.pollWait + 2*time.Minute }

// clearUpdate forgets a finished update's polling state.
func clearUpdate(j *Job) { j.ResumeToken = "" }

// busy reports whether a provisioning state means an operation runs.
func busy(state string) bool {
	switch strings.ToLower(state) {
	case "", "succeeded", "failed", "canceled", "cancelled":
		return false
	}
	return true
}

func (r *run) afterUpdate(ctx context.Context, j Job, st UpdateStatus, err error, now time.Time) move {
	switch {
	case err != nil && KindOf(err) == KindNotFound:
		pre, rerr := r.s.readCluster(ctx, j.Cluster)
		switch {
		case rerr == nil && pre.cluster == nil:
			return move{state: JobCancelled, outcome: "cancelled: cluster deleted during the update", alert: AlertCancelled}
		case rerr != nil:
			err = rerr
		default:
			// The operation is unknown to ARM but the cluster is there:
			// retry, reading the cluster to see where it stands.
			err = Errorf(KindTransient, "update the cluster's identity: %w", err)
			st.ResumeToken = ""
		}
		fallthrough
	case err != nil:
		// A failed poll keeps its token (the operation may still run); a
		// failed operation has none, so a retry starts the update over.
		mv := r.failure(j, "update the cluster's identity", err, now)
		edit := mv.edit
		mv.edit = func(j *Job) {
			j.ResumeToken = st.ResumeToken
			if edit != nil {
				edit(j)
			}
		}
		return mv
	case st.Done:
		r.cluster = nil // read before the update; the re-grant reads it again
		return move{state: JobRegranting, outcome: "AKS finished the update; re-granting roles", edit: clearUpdate}
	}
	return move{state: JobUpdating, outcome: "AKS is updating the cluster; polling again at " + stamp(now.Add(pollEvery)),
		wait: now.Add(pollEvery), edit: func(j *Job) { j.ResumeToken = st.ResumeToken }}
}

// replan plans again when the cluster changed under the job before any
// PUT of its own applied, from the cluster as just read.
func (r *run) replan(ctx context.Context, j Job, c Cluster, why string, now time.Time) move {
	if j.Replans >= maxReplans {
		return move{state: JobFailed, outcome: "failed: " + why + ", " + strconv.Itoa(maxReplans) + " times", alert: AlertFailed}
	}
	p, err := r.plan(ctx, c)
	if err != nil {
		return r.failure(j, "plan again", err, now)
	}
	edit := func(j *Job) { j.Replans++; j.Plan = p; j.UpdateStartedAt = time.Time{} }
	if p.Blocked != "" {
		return move{state: JobBlocked, outcome: "blocked: " + p.Blocked, alert: AlertBlocked, edit: edit}
	}
	return move{state: JobPlanned, outcome: "planned again: " + why, edit: edit}
}

// regrant gives the new identities the service principal's roles.
func (r *run) regrant(ctx context.Context, j Job, now time.Time) move {
	if r.cluster == nil {
		c, err := r.s.clusters.GetCluster(ctx, j.Cluster)
		if err != nil {
			return r.failure(j, "read the cluster after the update", err, now)
		}
		r.cluster = &c
	}
	c, p := r.cluster, j.Plan
	controlPlane := c.PrincipalID
	if p.Target.Type == "UserAssigned" {
		controlPlane = p.TargetPrincipal.ObjectID
	}
	switch {
	case controlPlane == "" && len(p.ControlPlane) > 0:
		return r.failure(j, "re-grant roles", Errorf(KindTransient, "the cluster's identity has no principal id yet"), now)
	case c.Kubelet == nil && len(p.Kubelet) > 0:
		return r.failure(j, "re-grant AcrPull", Errorf(KindTransient, "the cluster has no kubelet identity yet"), now)
	}
	made, err := r.grant(ctx, j, p.ControlPlane, controlPlane)
	if err == nil && len(p.Kubelet) > 0 {
		var more []string
		more, err = r.grant(ctx, j, p.Kubelet, c.Kubelet.ObjectID)
		made = append(made, more...)
	}
	if err != nil {
		return withGranted(r.failure(j, "re-grant roles", err, now), made)
	}
	return withGranted(move{state: JobVerifying, outcome: fmt.Sprintf("re-granted %d role assignment(s); verifying", len(p.ControlPlane)+len(p.Kubelet))}, made)
}

// verify proves the result: the control plane uses the managed identity and
// the kubelet identity exists.
func (r *run) verify(ctx context.Context, j Job, now time.Time) move {
	c := r.cluster
	if c == nil {
		got, err := r.s.clusters.GetCluster(ctx, j.Cluster)
		if err != nil {
			return r.failure(j, "read the cluster to verify", err, now)
		}
		c = &got
	}
	var missing []string
	if !c.usesMSI() {
		missing = append(missing, "servicePrincipalProfile.clientId is "+c.ServicePrincipalClientID+", not msi")
	}
	if !migrated(c, j.Plan) {
		missing = append(missing, "identity is "+c.IdentityType+" without the planned principal")
	}
	if c.Kubelet == nil {
		missing = append(missing, "no kubelet identity")
	}
	if len(missing) == 0 {
		return move{state: JobSucceeded, outcome: "succeeded: the control plane uses its " + j.Plan.Target.Type + " identity; delete service principal " +
			j.Plan.ServicePrincipal.AppID + " once nothing else uses it", alert: AlertSucceeded}
	}
	if n := j.Attempts + 1; busy(c.ProvisioningState) && n <= maxAttempts {
		return move{state: j.State, outcome: "the cluster is " + c.ProvisioningState + "; verifying again shortly", wait: now.Add(time.Minute),
			err: "verify: the cluster is " + c.ProvisioningState, edit: func(j *Job) { j.Attempts = n }}
	}
	return move{state: JobFailed, outcome: "failed: verification: " + strings.Join(missing, "; "), alert: AlertFailed}
}

// failure turns an error of a step into a move, classified once: transient
// errors retry later with back-off (honouring Retry-After, at most an
// hour), a missing permission blocks (for writes, after a few retries: a
// role granted moments ago takes a while to reach every replica), a
// deleted cluster cancels, anything else fails. The service error is kept.
func (r *run) failure(j Job, what string, err error, now time.Time) move {
	msg := what + ": " + err.Error()
	n := j.Attempts + 1
	retry := func() move {
		wait := retryWait(err, n)
		return move{state: j.State, outcome: "retrying at " + stamp(now.Add(wait)) + " after: " + msg, err: msg, wait: now.Add(wait),
			edit: func(j *Job) { j.Attempts = n }}
	}
	resumable := ""
	if !j.UpdateStartedAt.IsZero() {
		resumable = "; approve again to resume"
	}
	switch KindOf(err) {
	case KindTransient:
		if n > maxAttempts {
			return move{state: JobFailed, outcome: "failed: " + what + " kept failing" + resumable, err: msg, alert: AlertFailed}
		}
		return retry()
	case KindForbidden:
		if writes(j.State) && n <= forbiddenRetries {
			return retry()
		}
		return move{state: JobBlocked, outcome: "blocked: the guard's identity may not " + what + resumable, err: msg, alert: AlertBlocked}
	case KindNotFound:
		if !j.State.mutating() {
			return move{state: JobCancelled, outcome: "cancelled: " + what + ": not found", err: msg, alert: AlertCancelled}
		}
	}
	return move{state: JobFailed, outcome: "failed: " + what + resumable, err: msg, alert: AlertFailed}
}

// writes reports whether a job in state s writes to Azure.
func writes(s JobState) bool {
	return s == JobGrantingRoles || s == JobUpdating || s == JobRegranting
}

// retryWait is the wait before the n-th retry of a step: 30s doubling, at
// most 30 minutes, or longer when ARM asked for it with Retry-After, up to
// an hour.
func retryWait(err error, n int) time.Duration {
	return min(max(RetryAfterOf(err), doubling(30*time.Second, 30*time.Minute, n)), maxRetryWait)
}

// backoff is the wait before the job's n-th timer while it waits for
// approval: ParkBase doubling up to ParkMax.
func (s *Service) backoff(n int) time.Duration { return doubling(s.parkBase, s.parkMax, n) }

// doubling is base doubled n-1 times, at most limit.
func doubling(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// restart answers a person approving again after a job ended. A job that
// had sent its update and then stopped (a role it could not re-grant, an
// operation that failed) resumes where it stopped. One that ended without
// changing the cluster (blocked, failed, dry run, cancelled) is replaced by
// a new job, for example after granting the missing permission or
// switching to enforce mode.
func (s *Service) restart(ctx context.Context, j Job, r *run) (Outcome, error) {
	f := r.finding
	out := Outcome{Result: ResultDuplicate, Cluster: j.Cluster, JobID: j.ID, Detail: "job already " + string(j.State)}
	if j.State == JobSucceeded || r.m.Seq != 0 || f.JobID != j.ID || !f.Approval.approved() || !f.Approval.At.After(j.UpdatedAt) {
		return out, nil
	}
	if !j.UpdateStartedAt.IsZero() && j.Plan != nil && (j.State == JobBlocked || j.State == JobFailed) {
		return s.resume(ctx, j, r)
	}
	if f.State != FindingOpen {
		return out, nil
	}
	now := s.now()
	d := &decision{next: f, now: now, why: r.why, out: Outcome{Cluster: f.Cluster}}
	d.next.Outbox = append([]Effect(nil), f.Outbox...)
	d.next.JobID = newJobID(f.Cluster, now)
	d.audit("job-restarted", "approved again after job "+j.ID+" ended "+string(j.State))
	d.openJob(now, "approved again")
	if err := s.store.SaveFinding(ctx, &d.next); err != nil {
		return Outcome{}, err
	}
	if err := s.drainFinding(ctx, &d.next); err != nil {
		return Outcome{}, err
	}
	return Outcome{Result: ResultFlagged, Cluster: f.Cluster, JobID: d.next.JobID, Detail: "approved again: job " + d.next.JobID + " replaces " + j.ID}, nil
}

// resume takes a job that stopped after its update back into the update
// (still running or to be sent again) or the re-grant.
func (s *Service) resume(ctx context.Context, j Job, r *run) (Outcome, error) {
	pre, err := s.readCluster(ctx, j.Cluster)
	if err != nil {
		return Outcome{}, fmt.Errorf("read cluster to resume job %s: %w", j.ID, err)
	}
	r.cluster = pre.cluster
	next := JobUpdating
	if migrated(pre.cluster, j.Plan) {
		next = JobRegranting
	}
	r.applyMove(&j, move{state: next, outcome: "resumed: approved again by " + r.finding.Approval.By.String(),
		edit: func(j *Job) {
			j.Error = ""
			if j.ResumeToken != "" {
				j.UpdateStartedAt = s.now() // a fresh allowance for the operation
			}
		}})
	if err := s.saveJob(ctx, &j); err != nil {
		return Outcome{}, err
	}
	return r.advance(ctx, &j)
}
