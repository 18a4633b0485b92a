package memory

import (
	"context"
	"slices"
	"sync"

	"github.com/aksguard/aksguard/pkg/guard"
)

// Alerts is a guard.Alerts that keeps what it is given.
type Alerts struct {
	mu        sync.Mutex
	published []guard.Alert
}

var _ guard.Alerts = (*Alerts)(nil)

func (a *Alerts) Publish(_ context.Context, al guard.Alert) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.published = append(a.published, al)
	return nil
}

// Published returns every alert published, in order.
func (a *Alerts) Published() []guard.Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.published)
}
