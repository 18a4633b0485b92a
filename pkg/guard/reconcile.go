package guard

import (
	"context"
	"fmt"
	"time"
)

// reconcileGrace is how late a job's wake-up may be before Reconcile sends
// it again: Service Bus delivers a scheduled message on time, give or take.
const reconcileGrace = 2 * time.Minute

// ReconcileOutcome counts what one reconciliation did.
type ReconcileOutcome struct {
	// Woken counts jobs whose overdue wake-up was sent again.
	Woken int `json:"woken"`
	// Drained counts records whose pending effects were carried out.
	Drained int `json:"drained"`
	// Waiting counts records whose wake-up or effects must wait: the
	// service is still down; the next reconciliation tries again.
	Waiting int `json:"waiting"`
	// Skipped counts records the store could not decode.
	Skipped int `json:"skipped"`
	// Enforced counts jobs that ran dry and were replaced by one that runs
	// for real, since enforce now applies to their cluster.
	Enforced int `json:"enforced"`
}

// Reconcile re-drives what a lost, refused or dead-lettered message left
// behind, so that no job is ever stranded: it carries out the effects
// still pending in jobs and findings, and sends again the wake-up of every
// job not finished whose wake-up is overdue. A wake-up it sends carries the
// job's timer, so the job takes it as its own, and an id of its own, so
// that Service Bus's duplicate detection does not drop it for the lost
// original. What it costs depends on the work overdue or pending, not on
// the records kept: the store answers filtered queries. It fails only when
// the store cannot be read.
func (s *Service) Reconcile(ctx context.Context) (ReconcileOutcome, error) {
	var out ReconcileOutcome
	now := s.now()
	jobs, err := s.store.DueJobs(ctx, now.Add(-reconcileGrace))
	if err = s.partial(err, &out); err != nil {
		return out, fmt.Errorf("list jobs due: %w", err)
	}
	for _, j := range jobs {
		if len(j.Outbox) > 0 {
			hadWake := waking(j)
			if err := s.drainJob(ctx, &j); err != nil {
				out.Waiting++
				s.log.Warn("reconcile: job effects still wait", "job_id", j.ID, "cluster_id", j.Cluster.String(), "error", err)
				continue
			}
			out.Drained++
			if hadWake {
				continue // its wake-up just went out
			}
		}
		if j.State.Terminal() || !j.NextWake.Before(now.Add(-reconcileGrace)) {
			continue
		}
		m := Message{ID: fmt.Sprintf("%s-wake-%d-reconcile-%d", j.ID, j.WakeSeq, now.Unix()/int64(reconcileBucket/time.Second)),
			Kind: MessageJob, Cluster: j.Cluster, JobID: j.ID, Seq: j.WakeSeq,
			Reason: "reconcile: wake-up overdue since " + stamp(j.NextWake)}
		if err := s.queue.Send(ctx, m); err != nil {
			out.Waiting++
			s.log.Warn("reconcile: wake-up not sent", "job_id", j.ID, "cluster_id", j.Cluster.String(), "error", err)
			continue
		}
		out.Woken++
	}
	findings, err := s.store.PendingFindings(ctx)
	if err = s.partial(err, &out); err != nil {
		return out, fmt.Errorf("list findings with effects pending: %w", err)
	}
	for _, f := range findings {
		if err := s.drainFinding(ctx, &f); err != nil {
			out.Waiting++
			s.log.Warn("reconcile: finding effects still wait", "cluster_id", f.Cluster.String(), "error", err)
			continue
		}
		out.Drained++
	}
	if err := s.enforceDryRuns(ctx, &out); err != nil {
		return out, err
	}
	return out, nil
}

// reconcileBucket is how long Reconcile's wake-ups keep one id: runs of
// Reconcile within it (two instances, or a retried invocation) send one.
const reconcileBucket = 5 * time.Minute

// partial counts and logs the records a query left out; any other error is
// returned.
func (s *Service) partial(err error, out *ReconcileOutcome) error {
	n, err := leftOut(s.log, "reconcile", err)
	out.Skipped += n
	return err
}

// waking reports whether j's outbox held its timer's wake-up.
func waking(j Job) bool {
	for _, e := range j.Outbox {
		if e.Message != nil && e.Message.Seq == j.WakeSeq {
			return true
		}
	}
	return false
}
