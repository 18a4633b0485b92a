package guard

import (
	"context"
	"fmt"
	"strconv"
	"time"
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
		return s.evaluate(ctx, m.Cluster, why, false)
	case m.Kind == MessageJob && m.JobID != "":
		return s.runJob(ctx, m, why)
	case m.Kind == MessageJob:
		return Outcome{Result: ResultRejected, Cluster: m.Cluster, Detail: "job message names no job"}, nil
	}
	return Outcome{Result: ResultRejected, Cluster: m.Cluster, Detail: "unknown message kind " + strconv.Quote(string(m.Kind))}, nil
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

// saveJob writes j with its effects and carries them out. A conflict is
// returned as is, so the caller re-reads and decides again.
func (s *Service) saveJob(ctx context.Context, j *Job) error {
	if err := s.store.SaveJob(ctx, j); err != nil {
		return err
	}
	return s.drainJob(ctx, j)
}

// runJob wakes a job: it re-evaluates the cluster, then moves the job on.
func (s *Service) runJob(ctx context.Context, m Message, why cause) (Outcome, error) {
	evaluated := false
	for attempt := 0; attempt <= maxConflicts; attempt++ {
		j, err := s.loadJob(ctx, m.Cluster, m.JobID)
		if KindOf(err) == KindNotFound {
			return Outcome{Result: ResultIgnored, Cluster: m.Cluster, JobID: m.JobID, Detail: "job not found"}, nil
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("load job %s: %w", m.JobID, err)
		}
		out := Outcome{Cluster: m.Cluster, JobID: j.ID}
		if j.State.Terminal() {
			out.Result, out.Detail = ResultDuplicate, "job already "+string(j.State)
			return out, nil
		}
		if m.Seq != 0 && m.Seq != j.WakeSeq {
			out.Result, out.Detail = ResultDuplicate, fmt.Sprintf("stale timer %d; the job's timer is %d", m.Seq, j.WakeSeq)
			return out, nil
		}
		if !evaluated {
			if _, err := s.evaluate(ctx, m.Cluster, why, false); err != nil {
				return Outcome{}, err
			}
			evaluated = true
		}
		f, err := s.loadFinding(ctx, m.Cluster)
		if err != nil {
			return Outcome{}, err
		}
		now := s.now()
		if f.State != FindingOpen || f.JobID != j.ID {
			err = s.cancelJob(ctx, &j, f, why, now)
		} else {
			out, err = s.park(ctx, &j, m, now)
		}
		if KindOf(err) == KindConflict {
			continue
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("job %s: %w", j.ID, err)
		}
		if j.State == JobCancelled {
			out.Result, out.Detail = ResultCancelled, j.Outcome
		}
		return out, nil
	}
	return Outcome{}, Errorf(KindTransient, "job %s changed by others %d times in a row", m.JobID, maxConflicts)
}

// park leaves a job waiting for approval and schedules the next check with
// back-off, unless a timer is already pending.
func (s *Service) park(ctx context.Context, j *Job, m Message, now time.Time) (Outcome, error) {
	out := Outcome{Result: ResultParked, Cluster: j.Cluster, JobID: j.ID}
	if m.Seq == 0 && j.NextWake.After(now) {
		out.Detail = "awaiting approval; next check at " + stamp(j.NextWake)
		return out, nil
	}
	j.WakeSeq++
	j.NextWake = now.Add(s.backoff(j.WakeSeq - 1))
	j.UpdatedAt = now
	j.Outcome = awaitingApproval
	j.Outbox = append(j.Outbox, Effect{Message: &Message{
		ID: j.ID + "-wake-" + strconv.Itoa(j.WakeSeq), Kind: MessageJob, Cluster: j.Cluster, JobID: j.ID,
		Seq: j.WakeSeq, Reason: "approval re-check", NotBefore: j.NextWake,
	}})
	if err := s.saveJob(ctx, j); err != nil {
		return Outcome{}, err
	}
	out.Detail = "awaiting approval; next check at " + stamp(j.NextWake)
	return out, nil
}

// backoff is the wait before the n-th approval re-check: ParkBase doubling
// up to ParkMax.
func (s *Service) backoff(n int) time.Duration {
	d := s.parkBase
	for i := 1; i < n && d < s.parkMax; i++ {
		d *= 2
	}
	return min(d, s.parkMax)
}

// cancelJob ends a job whose finding is no longer open.
func (s *Service) cancelJob(ctx context.Context, j *Job, f Finding, why cause, now time.Time) error {
	reason := "finding is " + string(f.State)
	if f.Resolution != "" {
		reason += ": " + f.Resolution
	}
	j.State = JobCancelled
	j.Outcome = "cancelled: " + reason
	j.UpdatedAt = now
	j.Outbox = append(j.Outbox,
		Effect{Audit: &AuditEntry{Cluster: j.Cluster, Key: auditKey(now, "job-cancelled", j.ID), At: now,
			Action: "job-cancelled", Actor: why.actorName(), Cause: why.String(), Detail: reason, JobID: j.ID}},
		Effect{Alert: &Alert{ID: alertID(AlertCancelled, j.Cluster, now), Type: AlertCancelled, Cluster: j.Cluster, Time: now,
			Data: AlertData{ClusterID: j.Cluster.String(), Summary: "remediation of " + j.Cluster.Name + " cancelled: " + reason,
				Finding: string(f.State), JobID: j.ID, JobState: string(JobCancelled), Actor: why.actorName()}}})
	return s.saveJob(ctx, j)
}
