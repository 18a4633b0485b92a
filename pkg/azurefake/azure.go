package azurefake

import (
	"sync"
	"time"
)

// Clock is simulated time: it stands still until set, so that a scenario's
// hours pass at once and every run is the same. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t; it never goes back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// Azure is one simulated Azure: a fleet of clusters with their change
// history, RBAC and Microsoft Graph, on one clock, with one Faults. Close
// it when done.
type Azure struct {
	Clock  *Clock
	Faults *Faults
	Fleet  *Fleet
	RBAC   *RBAC
	Graph  *Graph
}

// New returns an empty simulated Azure on clock.
func New(clock *Clock) *Azure {
	faults := NewFaults(clock.Now)
	a := &Azure{
		Clock:  clock,
		Faults: faults,
		Fleet:  newFleet(clock.Now, faults),
		RBAC:   newRBAC(faults),
		Graph:  newGraph(faults),
	}
	a.Fleet.linked = a.RBAC.GuardAllows
	return a
}

// Close stops the simulated Graph's server.
func (a *Azure) Close() { a.Graph.Close() }
