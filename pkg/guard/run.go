package guard

import (
	"context"
	"errors"
	"fmt"
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
	// forbiddenRetries is how often a call refused for a missing
	// permission is retried: a role granted moments ago takes a while to
	// reach every ARM replica, for reads as for writes.
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
	if err == nil {
		var out Outcome
		out, _, _, err = s.record(ctx, m.Cluster, why, false, &pre)
		if !errors.As(err, new(readError)) {
			return out, err
		}
	}
	switch kind := KindOf(err); {
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
		return Outcome{Result: ResultRetry, Cluster: m.Cluster, Detail: "the read failed (" + err.Error() + "); reading again at " + stamp(at)}, nil
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
	// fresh is set while cluster and finding come from a read recorded in
	// the step under way: a step that claims the update needs one.
	fresh bool
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
		// A claim lost to another worker's save does not carry over, nor
		// does a read older than that save.
		r.claimed, r.fresh = false, attempt == 0
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
			if err := r.observe(ctx); err != nil {
				out, serr := r.save(ctx, &j, r.failure(j, "read the cluster", err, s.now()))
				if KindOf(serr) == KindConflict {
					continue
				}
				return out, serr
			}
			read, fresh = true, true
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

// then returns mv with edit done after its own edit.
func (mv move) then(edit func(*Job)) move {
	prev := mv.edit
	mv.edit = func(j *Job) {
		if prev != nil {
			prev(j)
		}
		edit(j)
	}
	return mv
}

// advance takes steps until the job must wait or ends.
func (r *run) advance(ctx context.Context, j *Job) (Outcome, error) {
	out, err := r.steps(ctx, j)
	if err != nil || (j.State != JobSucceeded && j.State != JobKubeletPending) || r.cluster == nil {
		return out, err
	}
	// Record what the job just verified: the finding resolves now, not at
	// the next event. Should the finding have changed since this invocation
	// loaded it, record reads the cluster again.
	basis := &readResult{cluster: r.cluster, basis: r.finding.ETag}
	if _, _, _, err := r.s.record(ctx, j.Cluster, r.why, false, basis); err != nil {
		return Outcome{}, err
	}
	return out, nil
}

// steps takes steps until the job must wait or ends.
func (r *run) steps(ctx context.Context, j *Job) (Outcome, error) {
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
		r.fresh = false
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

// observe reads the cluster and records the read, as an event would: the
// finding then says what the cluster says now (a removed approval, an
// exemption, a resolution), and the job decides on both.
func (r *run) observe(ctx context.Context) error {
	pre, err := r.s.readFor(ctx, r.m.Cluster)
	if err != nil {
		return err
	}
	_, c, f, err := r.s.record(ctx, r.m.Cluster, r.why, false, &pre)
	if err != nil {
		return err
	}
	r.cluster, r.finding, r.fresh = c, f, true
	return nil
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
	if t := mv.alert; t != "" {
		if (t == AlertFailed || t == AlertBlocked) && j.committed() {
			t = AlertNeedsAttention
		}
		j.Outbox = append(j.Outbox, Effect{Alert: r.jobAlert(*j, t, now)})
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
	if t == AlertNeedsAttention {
		d.FollowUp = "the cluster's identity update was sent (If-Match " + j.UpdateETag + ") and the job stopped: the cluster may run on a new identity without the roles it needs; read the job's outcome and follow the runbook for needs-attention (docs/operate.md) now"
	}
	if t == AlertSucceeded && j.Plan != nil {
		// The outcome says whether other clusters still use it.
		d.FollowUp = strings.TrimPrefix(j.Outcome, succeededOutcome)
	}
	if t == AlertKubeletPending && j.Plan != nil && r.cluster != nil {
		var cmds []string
		for _, p := range untried(j.Kubelet.onServicePrincipal(*r.cluster), j.NoNewerImage) {
			cmds = append(cmds, nodeImageCommand(j.Cluster, p))
		}
		d.FollowUp = "run in a maintenance window, one pool at a time: " + strings.Join(cmds, "; ") + "; keep service principal " + j.Plan.ServicePrincipal.AppID + " until the finding resolves"
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
	if !j.committed() {
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
	case JobUpgradingNodeImages:
		return r.upgradeNodeImages(ctx, *j, now), nil
	}
	return move{state: JobFailed, outcome: "unknown job state " + string(j.State)}, nil
}
