package azurefake

import (
	"context"
	"fmt"
	"time"

	"github.com/aksguard/aksguard/pkg/guard"
)

// The guard reaches Table Storage, Service Bus and Event Grid through its
// own ports; the simulator runs the real adapters' stand-ins (an in-memory
// or Azurite store, an in-memory queue and alert sink) behind these
// wrappers, which fail calls as Faults says, the way the adapters report
// the services' failures: classified guard.Errors.

// Store returns s with the faults of target tables.
func (fs *Faults) Store(s guard.Store) guard.Store { return faultyStore{s, fs} }

// Queue returns q with the faults of target queue.
func (fs *Faults) Queue(q guard.Queue) guard.Queue { return faultyQueue{q, fs} }

// Alerts returns a with the faults of target alerts.
func (fs *Faults) Alerts(a guard.Alerts) guard.Alerts { return faultyAlerts{a, fs} }

// call runs do under the faults of target: refused, or done and then its
// answer lost, or done.
func (fs *Faults) call(target Target, do func() error) error {
	o := fs.take(targets[target][0])
	if o.refuse != nil {
		return o.refuse.guardError(target)
	}
	if err := do(); err != nil || !o.lose {
		return err
	}
	return guard.Errorf(guard.KindTransient, "simulated network failure: the answer of %s was lost after it acted", target)
}

// guardError is the classified error an adapter reports for f.
func (f *failure) guardError(target Target) error {
	err := fmt.Errorf("simulated %s failure of %s", f.kind, target)
	switch f.kind {
	case Throttled:
		return &guard.Error{Kind: guard.KindTransient, Code: "TooManyRequests", RetryAfter: f.retryAfter, Err: err}
	case Forbidden:
		return &guard.Error{Kind: guard.KindForbidden, Code: "AuthorizationPermissionMismatch", Err: err}
	}
	return &guard.Error{Kind: guard.KindTransient, Code: "ServiceUnavailable", Err: err}
}

type faultyStore struct {
	guard.Store
	fs *Faults
}

func (s faultyStore) Finding(ctx context.Context, id guard.ClusterID) (f guard.Finding, err error) {
	err = s.fs.call(Tables, func() error { f, err = s.Store.Finding(ctx, id); return err })
	return f, err
}

func (s faultyStore) SaveFinding(ctx context.Context, f *guard.Finding) error {
	return s.fs.call(Tables, func() error { return s.Store.SaveFinding(ctx, f) })
}

func (s faultyStore) Findings(ctx context.Context) (fs []guard.Finding, err error) {
	err = s.fs.call(Tables, func() error { fs, err = s.Store.Findings(ctx); return err })
	return fs, err
}

func (s faultyStore) Job(ctx context.Context, id guard.ClusterID, jobID string) (j guard.Job, err error) {
	err = s.fs.call(Tables, func() error { j, err = s.Store.Job(ctx, id, jobID); return err })
	return j, err
}

func (s faultyStore) SaveJob(ctx context.Context, j *guard.Job) error {
	return s.fs.call(Tables, func() error { return s.Store.SaveJob(ctx, j) })
}

func (s faultyStore) Jobs(ctx context.Context) (js []guard.Job, err error) {
	err = s.fs.call(Tables, func() error { js, err = s.Store.Jobs(ctx); return err })
	return js, err
}

func (s faultyStore) JobsIn(ctx context.Context, states ...guard.JobState) (js []guard.Job, err error) {
	err = s.fs.call(Tables, func() error { js, err = s.Store.JobsIn(ctx, states...); return err })
	return js, err
}

func (s faultyStore) DueJobs(ctx context.Context, before time.Time) (js []guard.Job, err error) {
	err = s.fs.call(Tables, func() error { js, err = s.Store.DueJobs(ctx, before); return err })
	return js, err
}

func (s faultyStore) PendingFindings(ctx context.Context) (fs []guard.Finding, err error) {
	err = s.fs.call(Tables, func() error { fs, err = s.Store.PendingFindings(ctx); return err })
	return fs, err
}

func (s faultyStore) FindingsIn(ctx context.Context, subscription string, states ...guard.FindingState) (fs []guard.Finding, err error) {
	err = s.fs.call(Tables, func() error { fs, err = s.Store.FindingsIn(ctx, subscription, states...); return err })
	return fs, err
}

func (s faultyStore) JobCounts(ctx context.Context) (n map[guard.JobState]int, err error) {
	err = s.fs.call(Tables, func() error { n, err = s.Store.JobCounts(ctx); return err })
	return n, err
}

func (s faultyStore) SaveKPIs(ctx context.Context, k guard.KPIs) error {
	return s.fs.call(Tables, func() error { return s.Store.SaveKPIs(ctx, k) })
}

func (s faultyStore) KPIHistory(ctx context.Context, since time.Time) (ks []guard.KPIs, err error) {
	err = s.fs.call(Tables, func() error { ks, err = s.Store.KPIHistory(ctx, since); return err })
	return ks, err
}

func (s faultyStore) AppendAudit(ctx context.Context, e guard.AuditEntry) error {
	return s.fs.call(Tables, func() error { return s.Store.AppendAudit(ctx, e) })
}

func (s faultyStore) Audit(ctx context.Context, id guard.ClusterID) (es []guard.AuditEntry, err error) {
	err = s.fs.call(Tables, func() error { es, err = s.Store.Audit(ctx, id); return err })
	return es, err
}

type faultyQueue struct {
	guard.Queue
	fs *Faults
}

func (q faultyQueue) Send(ctx context.Context, m guard.Message) error {
	return q.fs.call(Queue, func() error { return q.Queue.Send(ctx, m) })
}

type faultyAlerts struct {
	guard.Alerts
	fs *Faults
}

func (a faultyAlerts) Publish(ctx context.Context, al guard.Alert) error {
	return a.fs.call(Alerts, func() error { return a.Alerts.Publish(ctx, al) })
}

var (
	_ guard.Store  = faultyStore{}
	_ guard.Queue  = faultyQueue{}
	_ guard.Alerts = faultyAlerts{}
)
