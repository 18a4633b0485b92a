package guard

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Effect is one side effect decided together with a state change and
// written in the same record (an outbox), so that a crash between the state
// write and the effect never loses the effect: whoever next touches the
// record carries it out. Every effect is idempotent by its ID. Exactly one
// field is set.
type Effect struct {
	Audit   *AuditEntry `json:",omitempty"`
	Job     *Job        `json:",omitempty"`
	Message *Message    `json:",omitempty"`
	Alert   *Alert      `json:",omitempty"`
}

// ID identifies the effect within an outbox.
func (e Effect) ID() string {
	switch {
	case e.Audit != nil:
		return "audit/" + e.Audit.Key
	case e.Job != nil:
		return "job/" + e.Job.ID
	case e.Message != nil:
		return "message/" + e.Message.ID
	case e.Alert != nil:
		return "alert/" + e.Alert.ID
	}
	return ""
}

// apply carries out one effect.
func (s *Service) apply(ctx context.Context, e Effect) error {
	switch {
	case e.Audit != nil:
		if err := s.store.AppendAudit(ctx, *e.Audit); err != nil {
			return fmt.Errorf("append audit entry %s: %w", e.Audit.Key, err)
		}
	case e.Job != nil:
		j := *e.Job
		j.ETag = ""
		if err := s.store.SaveJob(ctx, &j); err != nil && KindOf(err) != KindConflict {
			return fmt.Errorf("create job %s: %w", j.ID, err)
		}
	case e.Message != nil:
		if err := s.queue.Send(ctx, *e.Message); err != nil {
			return fmt.Errorf("send message %s: %w", e.Message.ID, err)
		}
	case e.Alert != nil:
		if err := s.alerts.Publish(ctx, *e.Alert); err != nil {
			return fmt.Errorf("publish alert %s: %w", e.Alert.ID, err)
		}
	}
	return nil
}

// applyAll carries out every effect it can and returns the IDs of those it
// is done with, and the first failure of an effect that must happen before
// the record may move on (a job's creation or a wake-up message), if any.
//
// An alert or audit entry that fails for good (a missing permission, a
// refused request) counts as done: it is logged and put on the audit
// trail, since retrying cannot help and would hold the record up for ever.
// A wake-up or job creation never does: it stays, like any effect that
// fails for now; waiting is true when any does.
func (s *Service) applyAll(ctx context.Context, effects []Effect) (done []string, waiting bool, critical error) {
	done = make([]string, 0, len(effects))
	for _, e := range effects {
		err := s.apply(ctx, e)
		// A wake-up or a job is never given up: it may be a job's only
		// pending step. Refused for good or not, it waits in the outbox,
		// and Reconcile sends it again.
		vital := e.Message != nil || e.Job != nil
		switch kind := KindOf(err); {
		case err == nil:
			done = append(done, e.ID())
		case !vital && (kind == KindForbidden || kind == KindInvalid || kind == KindNotFound):
			s.giveUp(ctx, e, err)
			done = append(done, e.ID())
		default:
			waiting = true
			if critical == nil && vital {
				critical = err
			}
		}
	}
	return done, waiting, critical
}

// giveUp records an effect that can never be carried out.
func (s *Service) giveUp(ctx context.Context, e Effect, cause error) {
	s.log.Error("effect dropped: it failed for good", "effect", e.ID(), "cluster_id", e.cluster().String(), "error", cause)
	if e.Audit != nil {
		return
	}
	now := s.now()
	entry := AuditEntry{Cluster: e.cluster(), Key: auditKey(now, "effect-failed", e.ID()), At: now, Action: "effect-failed",
		Actor: "aksguard", Cause: e.ID(), Detail: cause.Error()}
	if err := s.store.AppendAudit(ctx, entry); err != nil {
		s.log.Error("audit entry for a dropped effect not written", "effect", e.ID(), "error", err)
	}
}

// cluster is the cluster the effect concerns.
func (e Effect) cluster() ClusterID {
	switch {
	case e.Audit != nil:
		return e.Audit.Cluster
	case e.Job != nil:
		return e.Job.Cluster
	case e.Message != nil:
		return e.Message.Cluster
	case e.Alert != nil:
		return e.Alert.Cluster
	}
	return ClusterID{}
}

// withoutDone returns outbox minus the effects whose IDs are in done.
func withoutDone(outbox []Effect, done []string) []Effect {
	if len(done) == 0 {
		return outbox
	}
	var rest []Effect
	for _, e := range outbox {
		if !slices.Contains(done, e.ID()) {
			rest = append(rest, e)
		}
	}
	return rest
}

// outboxRecord is a stored record that carries an outbox.
type outboxRecord interface {
	outbox() *[]Effect
	// retry is the message that wakes the record again, at, to retry the
	// effects still waiting.
	retry(at time.Time) Message
}

func (f *Finding) outbox() *[]Effect { return &f.Outbox }
func (j *Job) outbox() *[]Effect     { return &j.Outbox }

func (f *Finding) retry(at time.Time) Message {
	return Message{ID: "retry-" + shortHash(f.Cluster.Key(), strconv.FormatInt(at.Unix()/300, 10)), Kind: MessageEvaluate,
		Cluster: f.Cluster, Reason: "retry effects still waiting", NotBefore: at}
}

func (j *Job) retry(at time.Time) Message {
	return Message{ID: "retry-" + shortHash(j.ID, strconv.FormatInt(at.Unix()/300, 10)), Kind: MessageJob,
		Cluster: j.Cluster, JobID: j.ID, Reason: "retry effects still waiting", NotBefore: at}
}

// effectRetry is how soon effects that failed for now are tried again.
const effectRetry = 5 * time.Minute

// drain carries out r's outbox and saves r without the effects done. When
// someone else saved r meanwhile, it reloads r and removes the done effects
// from that version. It fails when a job's creation or a wake-up message
// could not be sent, or when r cannot be saved, reloaded or its retry
// message sent, so the caller is delivered again; alerts and audit entries
// that must wait stay in the outbox, and a message scheduled for a few
// minutes later tries them again.
func (s *Service) drain(ctx context.Context, r outboxRecord, reload, save func(context.Context) error) error {
	pending := slices.Clone(*r.outbox())
	if len(pending) == 0 {
		return nil
	}
	done, waiting, critical := s.applyAll(ctx, pending)
	for attempt := 0; len(done) > 0; attempt++ {
		rest := withoutDone(*r.outbox(), done)
		if attempt > 0 && len(rest) == len(*r.outbox()) {
			// Whoever saved meanwhile cleared them already.
			break
		}
		*r.outbox() = rest
		err := save(ctx)
		if err == nil {
			break
		}
		if KindOf(err) != KindConflict || attempt == maxConflicts {
			return fmt.Errorf("clear outbox: %w", err)
		}
		if err := reload(ctx); err != nil {
			return fmt.Errorf("clear outbox: %w", err)
		}
	}
	if critical != nil {
		return critical
	}
	if waiting {
		if err := s.queue.Send(ctx, r.retry(s.now().Add(effectRetry))); err != nil {
			return fmt.Errorf("schedule a retry of waiting effects: %w", err)
		}
	}
	return nil
}
