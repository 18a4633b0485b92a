package azclient

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestRetry(t *testing.T) {
	got := Retry(policy.RetryOptions{})
	if got.MaxRetries != 2 || got.MaxRetryDelay != 5*time.Second || got.TryTimeout != 30*time.Second {
		t.Errorf("Retry(zero) = %+v, want the bounded defaults", got)
	}
	set := policy.RetryOptions{MaxRetries: -1, MaxRetryDelay: time.Second, TryTimeout: time.Minute}
	if got := Retry(set); got.MaxRetries != set.MaxRetries || got.MaxRetryDelay != set.MaxRetryDelay || got.TryTimeout != set.TryTimeout {
		t.Errorf("Retry(%+v) = %+v, want what the caller set", set, got)
	}
}

func TestPerSubscription(t *testing.T) {
	built := 0
	p := PerSubscription[string]{New: func(s string) (string, error) {
		built++
		if s == "bad" {
			return "", errors.New("no")
		}
		return "client for " + s, nil
	}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := p.Get("SUB-A"); err != nil || v != "client for SUB-A" {
				t.Errorf("Get(SUB-A) = %q, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if v, err := p.Get("sub-a"); err != nil || v != "client for SUB-A" || built != 1 {
		t.Errorf("Get(sub-a) = %q, %v after %d builds; want the one client, built once", v, err, built)
	}
	if _, err := p.Get("bad"); err == nil {
		t.Errorf("Get(bad) succeeded, want the build error")
	}
	if _, err := p.Get("bad"); err == nil || built != 3 {
		t.Errorf("Get(bad) again: %v after %d builds; a failed build is not kept", err, built)
	}
}
