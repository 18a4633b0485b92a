package guard_test

import (
	"context"
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/guard"
)

// lostWake flags the SP cluster and loses the job's wake-up, as a
// dead-lettered message does; it returns the job and the lost message.
func lostWake(t *testing.T, w *world) (guard.Job, guard.Message) {
	t.Helper()
	if _, err := w.svc.HandleEvent(t.Context(), write(t, spID, "e1", t0)); err != nil {
		t.Fatal(err)
	}
	lost := w.queue.Due(t0.Add(24 * time.Hour))
	if len(lost) != 1 || lost[0].Kind != guard.MessageJob {
		t.Fatalf("queued %+v, want the job's wake-up", lost)
	}
	j := w.job()
	if j.NextWake.IsZero() || j.State.Terminal() {
		t.Fatalf("job %s wakes at %v, want a pending wake-up", j.State, j.NextWake)
	}
	return j, lost[0]
}

func reconcile(t *testing.T, w *world, at time.Time) guard.ReconcileOutcome {
	t.Helper()
	w.set(at)
	out, err := w.svc.Reconcile(t.Context())
	if err != nil {
		t.Fatalf("Reconcile() error = %v", err)
	}
	return out
}

// TestReconcileWakesOverdueJobs holds issue 7's first rule: a job whose
// wake-up was lost is woken again once it is more than two minutes late,
// with its own timer under a new id, once per five minutes however often
// Reconcile runs; a wake-up Service Bus refuses stays for the next run.
func TestReconcileWakesOverdueJobs(t *testing.T) {
	w := newWorld(t)
	j, lost := lostWake(t, w)
	if out := reconcile(t, w, j.NextWake.Add(90*time.Second)); out.Woken != 0 {
		t.Errorf("Reconcile 90 s after the wake-up was due = %+v, want nothing sent: Service Bus may be late", out)
	}
	w.queue.fails = 1
	if out := reconcile(t, w, j.NextWake.Add(3*time.Minute)); out.Woken != 0 || out.Waiting != 1 {
		t.Errorf("Reconcile with Service Bus refusing = %+v, want the wake-up waiting", out)
	}
	if out := reconcile(t, w, j.NextWake.Add(5*time.Minute)); out.Woken != 1 {
		t.Errorf("Reconcile once Service Bus is back = %+v, want one wake-up sent", out)
	}
	reconcile(t, w, j.NextWake.Add(5*time.Minute+30*time.Second)) // a second instance, same bucket
	sent := w.queue.Due(j.NextWake.Add(time.Hour))
	if len(sent) != 1 || sent[0].JobID != j.ID || sent[0].Seq != lost.Seq || sent[0].ID == lost.ID {
		t.Fatalf("sent %+v; want one wake-up carrying timer %d under a new id", sent, lost.Seq)
	}
	out, err := w.svc.HandleMessage(t.Context(), sent[0])
	if err != nil || out.Result == guard.ResultDuplicate {
		t.Errorf("HandleMessage(the wake-up sent again) = %+v, %v; want the job to take it as its own", out, err)
	}
}

// TestReconcileLeavesFinishedJobs: a finished job's old wake-up time is not
// a reason to wake it.
func TestReconcileLeavesFinishedJobs(t *testing.T) {
	w := newWorld(t)
	j, _ := lostWake(t, w)
	j.State = guard.JobCancelled
	if err := w.store.SaveJob(t.Context(), &j); err != nil {
		t.Fatal(err)
	}
	if out := reconcile(t, w, j.NextWake.Add(time.Hour)); out.Woken != 0 || len(w.queue.Pending()) != 0 {
		t.Errorf("Reconcile = %+v, queued %+v; want a finished job left alone", out, w.queue.Pending())
	}
}

// TestReconcileCarriesOutPendingEffects: effects a record still holds
// (Service Bus was down when it was saved) go out at the next run, once.
func TestReconcileCarriesOutPendingEffects(t *testing.T) {
	w := newWorld(t)
	w.queue.fails = 1
	if _, err := w.svc.HandleEvent(t.Context(), write(t, spID, "e1", t0)); guard.KindOf(err) != guard.KindTransient {
		t.Fatalf("HandleEvent() error = %v, want the queue's failure", err)
	}
	if f := w.finding(); len(f.Outbox) == 0 {
		t.Fatal("the finding holds no pending effect")
	}
	out := reconcile(t, w, t0.Add(time.Minute))
	if out.Drained != 1 || len(w.finding().Outbox) != 0 || len(w.queue.Pending()) != 1 {
		t.Errorf("Reconcile = %+v, finding outbox %d, queued %d; want the wake-up sent and the outbox empty",
			out, len(w.finding().Outbox), len(w.queue.Pending()))
	}
	if out := reconcile(t, w, t0.Add(2*time.Minute)); out.Drained != 0 || out.Woken != 0 {
		t.Errorf("second Reconcile = %+v, want nothing left to do", out)
	}
}

// skippingStore leaves one undecodable row out of every filtered query.
type skippingStore struct{ guard.Store }

func (s skippingStore) DueJobs(ctx context.Context, before time.Time) ([]guard.Job, error) {
	js, err := s.Store.DueJobs(ctx, before)
	if err != nil {
		return js, err
	}
	return js, &guard.PartialError{Bad: []string{"job x: column ApprovedAt: not a time"}}
}

// TestReconcileSkipsUndecodableRows: one bad row is counted and named in
// the log; it does not stop the others.
func TestReconcileSkipsUndecodableRows(t *testing.T) {
	w := newWorld(t, func(c *guard.Config) { c.Store = skippingStore{c.Store} })
	j, _ := lostWake(t, w)
	if out := reconcile(t, w, j.NextWake.Add(5*time.Minute)); out.Skipped != 1 || out.Woken != 1 {
		t.Errorf("Reconcile = %+v, want the bad row skipped and the job woken", out)
	}
}
