package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/aksguard/aksguard/pkg/guard"
)

// Queue is a guard.Queue in memory. Like a Service Bus queue with duplicate
// detection it drops a message whose ID it accepted within its window,
// counted from when that one was sent; NewQueue's remembers IDs for its
// whole life.
type Queue struct {
	now    func() time.Time
	window time.Duration // 0: for ever

	mu      sync.Mutex
	seen    map[string]time.Time // when each ID was last accepted
	pending []guard.Message
	sent    []guard.Message
}

var _ guard.Queue = (*Queue)(nil)

// NewQueue returns an empty Queue that never forgets an ID.
func NewQueue() *Queue { return &Queue{seen: map[string]time.Time{}} }

// NewQueueWindow returns an empty Queue that forgets an ID window after it
// accepted it, on the clock now, as Service Bus's duplicate detection does
// (its default window is 10 minutes).
func NewQueueWindow(now func() time.Time, window time.Duration) *Queue {
	return &Queue{now: now, window: window, seen: map[string]time.Time{}}
}

func (q *Queue) Send(_ context.Context, m guard.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	at, seen := q.seen[m.ID]
	var now time.Time
	if q.now != nil {
		now = q.now()
	}
	if seen && (q.window == 0 || now.Before(at.Add(q.window))) {
		return nil
	}
	q.seen[m.ID] = now
	q.pending = append(q.pending, m)
	q.sent = append(q.sent, m)
	return nil
}

// Sent returns every message accepted, duplicates dropped, in send order.
func (q *Queue) Sent() []guard.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.sent)
}

// Pending returns the messages accepted and not yet delivered, in no
// particular order.
func (q *Queue) Pending() []guard.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.pending)
}

// Due removes and returns the messages visible at now, earliest first.
func (q *Queue) Due(now time.Time) []guard.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	var due, rest []guard.Message
	for _, m := range q.pending {
		if m.NotBefore.After(now) {
			rest = append(rest, m)
		} else {
			due = append(due, m)
		}
	}
	q.pending = rest
	slices.SortStableFunc(due, func(a, b guard.Message) int { return a.NotBefore.Compare(b.NotBefore) })
	return due
}

// Next returns when the earliest pending message becomes visible, and false
// when nothing is pending.
func (q *Queue) Next() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return time.Time{}, false
	}
	next := q.pending[0].NotBefore
	for _, m := range q.pending[1:] {
		if m.NotBefore.Before(next) {
			next = m.NotBefore
		}
	}
	return next, true
}

// Requeue puts a message back, visible at once, the way Service Bus
// redelivers a message whose processing failed.
func (q *Queue) Requeue(m guard.Message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(q.pending, m)
}
