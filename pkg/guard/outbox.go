package guard

import (
	"context"
	"fmt"
	"slices"
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

// applyAll carries out effects in order and returns the IDs of those done,
// stopping at the first failure.
func (s *Service) applyAll(ctx context.Context, effects []Effect) ([]string, error) {
	done := make([]string, 0, len(effects))
	for _, e := range effects {
		if err := s.apply(ctx, e); err != nil {
			return done, err
		}
		done = append(done, e.ID())
	}
	return done, nil
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
type outboxRecord interface{ outbox() *[]Effect }

func (f *Finding) outbox() *[]Effect { return &f.Outbox }
func (j *Job) outbox() *[]Effect     { return &j.Outbox }

// drain carries out r's outbox and saves r without the effects done. When
// someone else saved r meanwhile, it reloads r and removes the done effects
// from that version. Effects not done stay for the next caller; the first
// failure is returned after the done ones are cleared.
func (s *Service) drain(ctx context.Context, r outboxRecord, reload, save func(context.Context) error) error {
	pending := slices.Clone(*r.outbox())
	if len(pending) == 0 {
		return nil
	}
	done, applyErr := s.applyAll(ctx, pending)
	for attempt := 0; len(done) > 0; attempt++ {
		*r.outbox() = withoutDone(*r.outbox(), done)
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
	return applyErr
}
