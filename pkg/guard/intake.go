package guard

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// source is what kind of thing caused the guard to look at a cluster; it
// decides whether a changed approval tag can be credited to someone.
type source int

const (
	// fromMessage: a queue message or timer; nobody to credit.
	fromMessage source = iota
	// fromTagsWrite: a Microsoft.Resources/tags/write on the cluster: its
	// caller set the tags.
	fromTagsWrite
	// fromClusterWrite: a managedClusters/write: its caller may have set the
	// tags (az aks update --tags), or someone else may have meanwhile.
	fromClusterWrite
	// fromOtherEvent: an agent-pool write or a deletion.
	fromOtherEvent
)

// cause is why the guard looked at a cluster: an event or a queue message.
type cause struct {
	id     string
	what   string
	at     time.Time // when the change happened; zero when unknown
	actor  Actor
	source source
	// correlation is the ARM request's correlation id, which its change
	// record carries too; empty for a message.
	correlation string
	// batch is the delivery the event came in; nil for a message.
	batch *Batch
}

func (c cause) String() string { return c.what + " " + c.id }

func (c cause) actorName() string {
	if c.actor.IsZero() {
		return "aksguard"
	}
	return c.actor.String()
}

func (c cause) event() bool { return c.source != fromMessage }

func eventCause(ev Event) cause {
	what := "event " + ev.Type
	if ev.Operation != "" {
		what = "event " + ev.Operation
	}
	src := fromOtherEvent
	switch {
	case ev.Action == ActionApprovalCheck:
		src = fromTagsWrite
	case ev.Action == ActionEvaluate && !ev.agentPool():
		src = fromClusterWrite
	}
	return cause{id: ev.ID, what: what, at: ev.Time, actor: ev.Actor, source: src, correlation: ev.CorrelationID}
}

// IgnoreSelf marks an event the guard's own identity caused (self lists
// its object and client ids) as one to ignore: the guard's own writes never
// cause new work.
func IgnoreSelf(ev Event, self []string) Event {
	if !ev.Invalid && ev.Action != ActionIgnore && ev.Actor.Is(self) {
		ev.Action, ev.Reason = ActionIgnore, "caused by the guard's own identity"
	}
	return ev
}

// HandleEvent applies one triaged event, delivered on its own. See
// Batch.HandleEvent.
func (s *Service) HandleEvent(ctx context.Context, ev Event) (Outcome, error) {
	return s.NewBatch().HandleEvent(ctx, ev)
}

// Batch is one delivery of events. Event Grid delivers up to 5,000 events
// at once, and all of them again after a failed answer; every event of a
// delivery was published before it arrived, so one read of a cluster made
// while handling it shows every change its events report. A Batch reads
// each cluster at most once.
type Batch struct {
	s     *Service
	mu    sync.Mutex
	reads map[string]batchRead
}

// batchRead is a read made for an earlier event of the batch.
type batchRead struct {
	cluster Cluster
	err     error
}

// NewBatch returns a Batch for one delivery.
func (s *Service) NewBatch() *Batch { return &Batch{s: s, reads: map[string]batchRead{}} }

// batchWorkers bounds how many clusters of a batch are handled at once.
const batchWorkers = 8

// Handled is what became of one event of a batch.
type Handled struct {
	Event   Event
	Outcome Outcome
	// Err is set when the event should be delivered again.
	Err error
}

// HandleEvents applies the events of a delivery and returns what became
// of each, in order. The events of one cluster are applied in order; those
// of different clusters at once, up to batchWorkers, so a large batch
// fits in the time Event Grid waits for an answer.
func (b *Batch) HandleEvents(ctx context.Context, events []Event) []Handled {
	out := make([]Handled, len(events))
	var order []string
	groups := map[string][]int{}
	for i, ev := range events {
		k := ev.Cluster.Key()
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	parallel(order, batchWorkers, func(k string) {
		for _, i := range groups[k] {
			o, err := b.HandleEvent(ctx, events[i])
			out[i] = Handled{Event: events[i], Outcome: o, Err: err}
		}
	})
	return out
}

// getCluster reads the cluster, or returns what an earlier event of the
// batch read, failures included: an outage or a refusal is not asked again
// for every event.
func (s *Service) getCluster(ctx context.Context, id ClusterID, why cause) (Cluster, error) {
	b := why.batch
	if b == nil {
		return s.clusters.GetCluster(ctx, id)
	}
	b.mu.Lock()
	r, ok := b.reads[id.Key()]
	b.mu.Unlock()
	if ok {
		return r.cluster, r.err
	}
	c, err := s.clusters.GetCluster(ctx, id)
	b.mu.Lock()
	b.reads[id.Key()] = batchRead{c, err}
	b.mu.Unlock()
	return c, err
}

// HandleEvent applies one triaged event of the batch. It returns an error
// only when the event should be delivered again (a transient failure);
// everything else, including bad input, is an Outcome.
func (b *Batch) HandleEvent(ctx context.Context, ev Event) (Outcome, error) {
	s := b.s
	ev = IgnoreSelf(ev, s.self)
	switch {
	case ev.Invalid:
		return Outcome{Result: ResultRejected, Detail: ev.Reason}, nil
	case ev.Action == ActionIgnore:
		return Outcome{Result: ResultIgnored, Cluster: ev.Cluster, Detail: ev.Reason}, nil
	}
	switch ev.Action {
	case ActionEvaluate, ActionApprovalCheck:
		// Only agent-pool writes are folded into a later read: a cluster or
		// tags write may change the approval, which is read at once.
		out, _, err := s.evaluate(ctx, ev.Cluster, b.cause(ev), ev.agentPool())
		return out, err
	case ActionClose:
		out, c, err := s.evaluate(ctx, ev.Cluster, b.cause(ev), false)
		if err == nil && c != nil {
			// ARM still serves a cluster it reported deleted: read it again
			// shortly rather than trust either answer.
			err = s.queue.Send(ctx, Message{ID: "evaluate-" + shortHash(ev.Cluster.Key(), ev.ID), Kind: MessageEvaluate,
				Cluster: ev.Cluster, Reason: "deletion reported while ARM still has the cluster", NotBefore: s.now().Add(s.debounce)})
		}
		return out, err
	}
	return Outcome{Result: ResultRejected, Cluster: ev.Cluster, Detail: "unknown action " + string(ev.Action)}, nil
}

func (b *Batch) cause(ev Event) cause {
	why := eventCause(ev)
	why.batch = b
	return why
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
// re-evaluation, so a burst costs at most two ARM reads. It returns the
// cluster it read, nil when it read none or the cluster is gone.
func (s *Service) evaluate(ctx context.Context, id ClusterID, why cause, coalesce bool) (Outcome, *Cluster, error) {
	out, c, _, err := s.record(ctx, id, why, coalesce, nil)
	return out, c, err
}

// readResult is a cluster read already made: the cluster (nil when ARM
// says it is gone), and the finding's ETag when the read began, so a read
// that a newer evaluation may have overtaken is not recorded.
type readResult struct {
	cluster *Cluster
	basis   string
}

// readError is a failed read of the cluster, told apart from a failed
// read or write of the store.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// record is evaluate with an optional read made by the caller. It also
// returns the finding as it stands afterwards, so a job need not load it
// again.
func (s *Service) record(ctx context.Context, id ClusterID, why cause, coalesce bool, pre *readResult) (Outcome, *Cluster, Finding, error) {
	var cluster *Cluster // nil after a read: the cluster is gone
	read, basis := false, ""
	if pre != nil {
		cluster, read, basis = pre.cluster, true, pre.basis
	}
	for attempt := 0; attempt <= maxConflicts; attempt++ {
		f, err := s.loadFinding(ctx, id)
		if err != nil {
			return Outcome{}, nil, Finding{}, err
		}
		if read && f.ETag != basis {
			// The finding changed after the read began: another worker may
			// have recorded a newer read. Read again rather than record an
			// older view over it.
			cluster, read = nil, false
		}
		if err := s.drainFinding(ctx, &f); err != nil {
			return Outcome{}, nil, Finding{}, err
		}
		now := s.now()
		if why.event() && slices.Contains(f.RecentEvents, why.id) {
			return Outcome{Result: ResultDuplicate, Cluster: id, JobID: f.JobID, Detail: "event already handled"}, nil, f, nil
		}
		if coalesce && !read {
			out, done, err := s.coalesce(ctx, &f, why, now)
			if KindOf(err) == KindConflict {
				continue
			}
			if err != nil || done {
				return out, nil, f, err
			}
		}
		if !read {
			basis, read = f.ETag, true
			c, err := s.getCluster(ctx, id, why)
			switch kind := KindOf(err); {
			case err == nil:
				cluster = &c
			case kind == KindNotFound:
			case kind == KindTransient || pre != nil:
				// A caller that read first is a job or a re-evaluation: it
				// decides what a refused read means, and never takes it for
				// a deletion.
				return Outcome{}, nil, Finding{}, readError{fmt.Errorf("read cluster %s: %w", id, err)}
			default:
				out, err := s.unreadable(ctx, id, why, err)
				return out, nil, f, err
			}
		}
		var look approvalLook
		if cluster != nil {
			look = s.lookApproval(ctx, f.Approval, *cluster, why, now)
		}
		next, out, changed := decide(f, cluster, now, why, rules{debounce: s.debounce}, look)
		if !changed {
			return out, cluster, f, nil
		}
		if err := s.store.SaveFinding(ctx, &next); err != nil {
			if KindOf(err) == KindConflict {
				continue
			}
			return Outcome{}, nil, Finding{}, fmt.Errorf("save finding %s: %w", id, err)
		}
		if err := s.drainFinding(ctx, &next); err != nil {
			return Outcome{}, nil, Finding{}, err
		}
		return out, cluster, next, nil
	}
	return Outcome{}, nil, Finding{}, Errorf(KindTransient, "finding %s changed by others %d times in a row", id, maxConflicts)
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

const resolutionDeleted = "cluster deleted"

const awaitingApproval = "awaiting approval: tag the cluster " + ApprovalTag + "=approved"

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
