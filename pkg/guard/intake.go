package guard

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ApprovalTag is the cluster tag a person sets to approve or exempt a
// remediation.
const ApprovalTag = "aksguard-remediation"

// cause is why the guard looked at a cluster: an event or a queue message.
type cause struct {
	id    string
	what  string
	at    time.Time // when the change happened; zero when unknown
	actor Actor
}

func (c cause) String() string { return c.what + " " + c.id }

func (c cause) actorName() string {
	if c.actor.IsZero() {
		return "aksguard"
	}
	return c.actor.String()
}

func eventCause(ev Event) cause {
	what := "event " + ev.Type
	if ev.Operation != "" {
		what = "event " + ev.Operation
	}
	return cause{id: ev.ID, what: what, at: ev.Time, actor: ev.Actor}
}

// HandleEvent applies one triaged event. It returns an error only when the
// event should be delivered again (a transient failure); everything else,
// including bad input, is an Outcome.
func (s *Service) HandleEvent(ctx context.Context, ev Event) (Outcome, error) {
	switch {
	case ev.Invalid:
		return Outcome{Result: ResultRejected, Detail: ev.Reason}, nil
	case ev.Action == ActionIgnore:
		return Outcome{Result: ResultIgnored, Cluster: ev.Cluster, Detail: ev.Reason}, nil
	case ev.Actor.Is(s.self):
		return Outcome{Result: ResultIgnored, Cluster: ev.Cluster, Detail: "caused by the guard's own identity"}, nil
	}
	switch ev.Action {
	case ActionEvaluate:
		return s.evaluate(ctx, ev.Cluster, eventCause(ev), true)
	case ActionApprovalCheck, ActionClose:
		return s.evaluate(ctx, ev.Cluster, eventCause(ev), false)
	}
	return Outcome{Result: ResultRejected, Cluster: ev.Cluster, Detail: "unknown action " + string(ev.Action)}, nil
}

// loadFinding returns the cluster's finding, or a new one when none exists.
func (s *Service) loadFinding(ctx context.Context, id ClusterID) (Finding, error) {
	f, err := s.store.Finding(ctx, id)
	if KindOf(err) == KindNotFound {
		return Finding{Cluster: id}, nil
	}
	if err != nil {
		return Finding{}, fmt.Errorf("load finding %s: %w", id, err)
	}
	return f, nil
}

// drainFinding carries out a finding's leftover effects.
func (s *Service) drainFinding(ctx context.Context, f *Finding) error {
	reload := func(ctx context.Context) error {
		g, err := s.store.Finding(ctx, f.Cluster)
		if err != nil {
			return err
		}
		*f = g
		return nil
	}
	save := func(ctx context.Context) error { return s.store.SaveFinding(ctx, f) }
	return s.drain(ctx, f, reload, save)
}

// evaluate reads the cluster from ARM and records what its verdict means.
// With coalesce, an event that an earlier read already covers is dropped,
// and events shortly after a read are folded into one scheduled
// re-evaluation, so a burst costs at most two ARM reads.
func (s *Service) evaluate(ctx context.Context, id ClusterID, why cause, coalesce bool) (Outcome, error) {
	var cluster *Cluster // read at most once, whatever the conflicts
	gone := false
	for attempt := 0; attempt <= maxConflicts; attempt++ {
		f, err := s.loadFinding(ctx, id)
		if err != nil {
			return Outcome{}, err
		}
		if err := s.drainFinding(ctx, &f); err != nil {
			return Outcome{}, err
		}
		now := s.now()
		if coalesce && cluster == nil && !gone {
			out, done, err := s.coalesce(ctx, &f, why, now)
			if KindOf(err) == KindConflict {
				continue
			}
			if err != nil || done {
				return out, err
			}
		}
		if cluster == nil && !gone {
			c, err := s.clusters.GetCluster(ctx, id)
			switch kind := KindOf(err); {
			case err == nil:
				cluster = &c
			case kind == KindNotFound:
				gone = true
			case kind == KindTransient:
				return Outcome{}, fmt.Errorf("read cluster %s: %w", id, err)
			default:
				return s.unreadable(ctx, id, why, err)
			}
		}
		next, out, changed := decide(f, cluster, now, why, s.debounce)
		if !changed {
			return out, nil
		}
		if err := s.store.SaveFinding(ctx, &next); err != nil {
			if KindOf(err) == KindConflict {
				continue
			}
			return Outcome{}, fmt.Errorf("save finding %s: %w", id, err)
		}
		if err := s.drainFinding(ctx, &next); err != nil {
			return Outcome{}, err
		}
		return out, nil
	}
	return Outcome{}, Errorf(KindTransient, "finding %s changed by others %d times in a row", id, maxConflicts)
}

// coalesce decides whether an event needs a fresh ARM read. done is true
// when it does not; the outcome then says why.
func (s *Service) coalesce(ctx context.Context, f *Finding, why cause, now time.Time) (out Outcome, done bool, err error) {
	if f.LastEvaluated.IsZero() {
		return Outcome{}, false, nil
	}
	out = Outcome{Cluster: f.Cluster, JobID: f.JobID}
	if !why.at.IsZero() && !why.at.Add(clockSkew).After(f.LastEvaluated) {
		out.Result = ResultDuplicate
		out.Detail = "cluster was read at " + stamp(f.LastEvaluated) + ", after this change at " + stamp(why.at)
		return out, true, nil
	}
	until := f.LastEvaluated.Add(s.debounce)
	if !now.Before(until) {
		return Outcome{}, false, nil
	}
	out.Result = ResultCoalesced
	if f.RecheckAt.After(now) {
		out.Detail = "re-evaluation already scheduled at " + stamp(f.RecheckAt)
		return out, true, nil
	}
	f.RecheckAt = until
	f.Outbox = append(f.Outbox, Effect{Message: &Message{
		ID:        "evaluate-" + shortHash(f.Cluster.Key(), strconv.FormatInt(until.UnixNano(), 10)),
		Kind:      MessageEvaluate,
		Cluster:   f.Cluster,
		Reason:    "events after the read at " + stamp(f.LastEvaluated),
		NotBefore: until,
	}})
	if err := s.store.SaveFinding(ctx, f); err != nil {
		return Outcome{}, false, err
	}
	if err := s.drainFinding(ctx, f); err != nil {
		return Outcome{}, false, err
	}
	out.Detail = "re-evaluation scheduled at " + stamp(until)
	return out, true, nil
}

// unreadable records that the cluster could not be read for a reason
// retrying will not fix (a missing permission, a malformed ID), so the
// event is answered and the problem is on record.
func (s *Service) unreadable(ctx context.Context, id ClusterID, why cause, readErr error) (Outcome, error) {
	now := s.now()
	detail := "cannot read cluster: " + readErr.Error()
	e := AuditEntry{Cluster: id, Key: auditKey(now, "unreadable", why.id), At: now, Action: "unreadable",
		Actor: why.actorName(), Cause: why.String(), Detail: detail}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		return Outcome{}, fmt.Errorf("append audit entry for %s: %w", id, err)
	}
	return Outcome{Result: ResultFailed, Cluster: id, Detail: detail}, nil
}

// decide is the intake's rule book: given the stored finding and the cluster
// as ARM returned it (nil when ARM says it does not exist), it returns the
// next finding with its effects in the outbox, and whether anything must be
// saved.
func decide(f Finding, c *Cluster, now time.Time, why cause, debounce time.Duration) (Finding, Outcome, bool) {
	id := f.Cluster
	next := f
	next.Outbox = slices.Clone(f.Outbox)
	next.LastEvaluated = now
	if next.FirstSeen.IsZero() {
		next.FirstSeen = now
	}
	if !next.RecheckAt.After(now) {
		next.RecheckAt = time.Time{}
	}
	out := Outcome{Cluster: id, JobID: f.JobID}
	audit := func(action, detail string) {
		next.Outbox = append(next.Outbox, Effect{Audit: &AuditEntry{
			Cluster: id, Key: auditKey(now, action, why.id), At: now, Action: action,
			Actor: why.actorName(), Cause: why.String(), Detail: detail, JobID: next.JobID,
		}})
	}
	alert := func(t AlertType, summary string) {
		next.Outbox = append(next.Outbox, Effect{Alert: &Alert{
			ID: alertID(t, id, now), Type: t, Cluster: id, Time: now,
			Data: AlertData{ClusterID: id.String(), Summary: summary, Verdict: next.Verdict, Reasons: next.Reasons,
				Finding: string(next.State), JobID: next.JobID, Actor: why.actorName()},
		}})
	}
	wakeJob := func(reason string) {
		if next.JobID == "" {
			return
		}
		next.Outbox = append(next.Outbox, Effect{Message: &Message{
			ID: next.JobID + "-" + shortHash(reason, strconv.FormatInt(now.UnixNano(), 10)), Kind: MessageJob,
			Cluster: id, JobID: next.JobID, Reason: reason,
		}})
	}

	if c == nil {
		switch f.State {
		case "":
			return f, Outcome{Result: ResultIgnored, Cluster: id, Detail: "cluster not found"}, false
		case FindingOpen:
			next.State = FindingResolved
			next.Resolution = resolutionDeleted
			next.ClosedAt = now
			audit("resolved", resolutionDeleted)
			alert(AlertResolved, "AKS cluster "+id.Name+" was deleted; its finding is closed")
			wakeJob(resolutionDeleted)
		default:
			if f.State == FindingDeleted || f.Resolution == resolutionDeleted {
				return f, Outcome{Result: ResultDuplicate, Cluster: id, Detail: "cluster already recorded as deleted"}, false
			}
			next.State = FindingDeleted
			next.Resolution = resolutionDeleted
			next.ClosedAt = now
			audit("deleted", resolutionDeleted)
		}
		out.Result = ResultResolved
		out.Detail = resolutionDeleted
		return next, out, true
	}

	ev := Evaluate(*c)
	next.Verdict = ev.Verdict
	next.Reasons = ev.Reasons
	next.SPClientID = ""
	if ev.Verdict.Flagged() {
		next.SPClientID = strings.TrimSpace(c.ServicePrincipalClientID)
	}
	verdict := string(ev.Verdict) + ": " + strings.Join(ev.Reasons, "; ")
	out.Detail = verdict

	switch {
	case f.State == FindingExempt:
		audit("evaluated", "exempt; "+verdict)
		out.Result = ResultEvaluated
	case ev.Verdict.Flagged() && f.State == FindingOpen:
		audit("evaluated", "still flagged; "+verdict)
		out.Result = ResultEvaluated
	case ev.Verdict.Flagged():
		wake := now.Add(debounce)
		next.State = FindingOpen
		next.FlaggedAt = now
		next.ClosedAt = time.Time{}
		next.Resolution = ""
		next.JobID = newJobID(id, now)
		next.RecheckAt = wake
		out.JobID = next.JobID
		audit("flagged", verdict)
		next.Outbox = append(next.Outbox,
			Effect{Job: &Job{Cluster: id, ID: next.JobID, State: JobAwaitingApproval, CreatedAt: now, UpdatedAt: now,
				NextWake: wake, WakeSeq: 1, Outcome: awaitingApproval}},
			Effect{Message: &Message{ID: next.JobID + "-wake-1", Kind: MessageJob, Cluster: id, JobID: next.JobID,
				Seq: 1, Reason: "job created", NotBefore: wake}})
		alert(AlertFlagged, flaggedSummary(id, ev.Verdict, next.SPClientID, next.JobID))
		out.Result = ResultFlagged
	case ev.Verdict.Compliant() && f.State == FindingOpen:
		next.State = FindingResolved
		next.Resolution = "now uses a managed identity"
		next.ClosedAt = now
		audit("resolved", verdict)
		alert(AlertResolved, "AKS cluster "+id.Name+" now uses a managed identity; its finding is closed")
		wakeJob("finding resolved")
		out.Result = ResultResolved
	default:
		if f.State == "" || f.State == FindingDeleted {
			next.State = FindingClear
		}
		audit("evaluated", verdict)
		out.Result = ResultEvaluated
	}
	return next, out, true
}

const resolutionDeleted = "cluster deleted"

const awaitingApproval = "awaiting approval: tag the cluster " + ApprovalTag + "=approved"

func flaggedSummary(id ClusterID, v Verdict, sp, jobID string) string {
	if v == VerdictMixed {
		return "AKS cluster " + id.Name + " has a managed identity but still names service principal " + sp +
			"; review it by hand (job " + jobID + ")"
	}
	return "AKS cluster " + id.Name + " authenticates its control plane with service principal " + sp +
		"; remediation job " + jobID + " is " + awaitingApproval
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
