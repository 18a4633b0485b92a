// Package azclient holds what every Azure SDK client of the guard shares:
// retry settings bounded for a Functions invocation, and one client per
// subscription built on first use.
package azclient

import (
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Invocation-bounded retries: an invocation must answer within minutes, so
// the SDK retries little and briefly; azcore skips a retry whose
// Retry-After exceeds MaxRetryDelay, and the classified error then carries
// the wait for the domain to schedule.
const (
	MaxRetries    = 2
	MaxRetryDelay = 5 * time.Second
	TryTimeout    = 30 * time.Second
)

// Retry returns r with the bounded defaults where r left them zero.
func Retry(r policy.RetryOptions) policy.RetryOptions {
	if r.MaxRetries == 0 {
		r.MaxRetries = MaxRetries
	}
	if r.MaxRetryDelay == 0 {
		r.MaxRetryDelay = MaxRetryDelay
	}
	if r.TryTimeout == 0 {
		r.TryTimeout = TryTimeout
	}
	return r
}

// PerSubscription builds one T per subscription on first use, with New,
// and keeps it; subscriptions compare case-insensitively. It is safe for
// concurrent use.
type PerSubscription[T any] struct {
	New func(subscription string) (T, error)

	mu sync.Mutex
	m  map[string]T
}

// Get returns the subscription's T, building it when there is none yet.
func (p *PerSubscription[T]) Get(subscription string) (T, error) {
	key := strings.ToLower(subscription)
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.m[key]; ok {
		return v, nil
	}
	v, err := p.New(subscription)
	if err != nil {
		return v, err
	}
	if p.m == nil {
		p.m = map[string]T{}
	}
	p.m[key] = v
	return v, nil
}

// Len returns how many subscriptions have a T.
func (p *PerSubscription[T]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}
