package aks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// StartIdentityUpdate moves the cluster's control plane to the managed
// identity u.Target. It reads the cluster (ManagedClustersClient.Get),
// checks that its eTag is still u.ETag and that it carries u.Tags, sets
// identity (SystemAssigned, or UserAssigned with u.Target.UserAssigned as
// the only identity), leaves every other field as read, and PUTs it back
// with BeginCreateOrUpdate and If-Match: u.ETag. The PUT is sent once: the
// SDK's retries are off for it, since a retry of a PUT whose answer was
// lost would be refused for the eTag the first one changed, and the guard
// could not tell the two apart. It then polls the operation for at most
// wait: it blocks for the GET, the PUT, at most wait of polling and, once
// the operation is done, the request for its result.
//
// The status is Done when the operation succeeded within wait; else it
// carries the poller's resume token for ResumeIdentityUpdate. Sent is set
// once the PUT went out, unless ARM refused it with a 4xx. Errors, all
// *guard.Error:
//   - KindConflict when the cluster's eTag is not u.ETag or it lacks one
//     of u.Tags (nothing is sent), or ARM answers the PUT with 412
//     PreconditionFailed: the cluster changed since it was read;
//   - KindInvalid for an incomplete id, an empty eTag, a target that is not
//     SystemAssigned or UserAssigned with a user-assigned identity's
//     resource ID, and ARM's 400s (PropertyChangeNotAllowed, BadRequest);
//   - KindTransient for 409 AnotherOperationInProgress, 429 (with
//     RetryAfter), 5xx and a lost answer (Sent);
//   - the classified ARM error of an operation that failed within wait,
//     with status Done;
//   - a classified polling failure after ARM accepted the PUT, with the
//     resume token in status: the operation may still run.
func (c *Client) StartIdentityUpdate(ctx context.Context, id guard.ClusterID, u guard.IdentityUpdate, wait time.Duration) (guard.UpdateStatus, error) {
	op := "update identity of cluster " + id.String()
	identity, err := managedIdentity(u.Target)
	if err != nil {
		return guard.UpdateStatus{}, guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
	}
	if u.ETag == "" {
		return guard.UpdateStatus{}, guard.Errorf(guard.KindInvalid, "%s: no eTag to update against", op)
	}
	mc, err := c.get(ctx, op, id)
	if err != nil {
		return guard.UpdateStatus{}, err
	}
	if got := deref(mc.ETag); got != u.ETag {
		return guard.UpdateStatus{}, guard.Errorf(guard.KindConflict, "%s: cluster changed since it was read: eTag %q, read with %q", op, got, u.ETag)
	}
	read := guard.Cluster{Tags: tags(mc.Tags)}
	for name, want := range u.Tags {
		if got, ok := read.Tag(name); !ok || strings.TrimSpace(got) != want {
			return guard.UpdateStatus{}, guard.Errorf(guard.KindConflict, "%s: cluster's tag %s is %q now, not %q", op, name, got, want)
		}
	}
	// ARM ignores the read-only fields of a PUT body and AKS keeps the
	// service principal's secret, which GET never returns: the body is the
	// cluster as read with only its identity changed, as az aks update
	// --enable-managed-identity sends it.
	mc.Identity = identity
	s, err := c.sdkFor(op, id)
	if err != nil {
		return guard.UpdateStatus{}, err
	}
	once := policy.WithRetryOptions(ctx, policy.RetryOptions{MaxRetries: -1})
	poller, err := s.clusters.BeginCreateOrUpdate(once, id.ResourceGroup, id.Name, mc,
		&armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions{IfMatch: to.Ptr(u.ETag)})
	if err != nil {
		return guard.UpdateStatus{Sent: !refused(err)}, azerr.Classify(op, err)
	}
	st, err := pollFor(ctx, op, poller, wait, c.pollEvery)
	st.Sent = true
	return st, err
}

// refused reports whether ARM answered a request with a refusal (4xx),
// which changed nothing; no answer at all, or a 5xx, may hide a change.
func refused(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500
}

// ResumeIdentityUpdate polls, for at most wait, the update that
// StartIdentityUpdate started and described by token; no PUT is sent. It
// returns like StartIdentityUpdate: Done, or a token to resume again (the
// same or a newer one), or the classified error of a failed operation
// (with status Done: the ARM code, such as PropertyChangeNotAllowed, is
// kept) or of a failed poll (with a token). An incomplete id, an empty
// token and one the SDK cannot read are KindInvalid.
func (c *Client) ResumeIdentityUpdate(ctx context.Context, id guard.ClusterID, token string, wait time.Duration) (guard.UpdateStatus, error) {
	op := "resume identity update of cluster " + id.String()
	if token == "" {
		return guard.UpdateStatus{}, guard.Errorf(guard.KindInvalid, "%s: empty resume token", op)
	}
	s, err := c.sdkFor(op, id)
	if err != nil {
		return guard.UpdateStatus{}, err
	}
	// With a resume token the SDK sends nothing and ignores the parameters.
	poller, err := s.clusters.BeginCreateOrUpdate(ctx, id.ResourceGroup, id.Name, armcontainerservice.ManagedCluster{},
		&armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions{ResumeToken: token})
	if err != nil {
		return guard.UpdateStatus{}, guard.Errorf(guard.KindInvalid, "%s: resume token: %w", op, err)
	}
	return pollFor(ctx, op, poller, wait, c.pollEvery)
}

// managedIdentity returns the identity block that moves a cluster to
// target.
func managedIdentity(target guard.IdentityTarget) (*armcontainerservice.ManagedClusterIdentity, error) {
	switch target.Type {
	case string(armcontainerservice.ResourceIdentityTypeSystemAssigned):
		if target.UserAssigned != "" {
			return nil, errors.New("target SystemAssigned names a user-assigned identity")
		}
		return &armcontainerservice.ManagedClusterIdentity{Type: to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned)}, nil
	case string(armcontainerservice.ResourceIdentityTypeUserAssigned):
		if err := armid.CheckUserAssignedIdentity(target.UserAssigned); err != nil {
			return nil, err
		}
		return &armcontainerservice.ManagedClusterIdentity{
			Type: to.Ptr(armcontainerservice.ResourceIdentityTypeUserAssigned),
			UserAssignedIdentities: map[string]*armcontainerservice.ManagedServiceIdentityUserAssignedIdentitiesValue{
				target.UserAssigned: {},
			},
		}, nil
	}
	return nil, fmt.Errorf("target identity type %q: want SystemAssigned or UserAssigned", target.Type)
}

// pollFor polls p until the operation is done or wait has passed, waiting
// between polls as long as ARM asks (Retry-After) or every otherwise, and
// never starting a wait that would end after wait. Only the polls and the
// waits are bounded by wait; the request for the result of a done
// operation uses ctx. It returns as StartIdentityUpdate documents.
func pollFor[T any](ctx context.Context, op string, p *runtime.Poller[T], wait, every time.Duration) (guard.UpdateStatus, error) {
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for polls := 0; !p.Done(); polls++ {
		if polls > 0 && pctx.Err() != nil {
			break
		}
		// The first poll runs whatever the bound, so every call makes
		// progress even when wait is shorter than one request.
		c := pctx
		if polls == 0 {
			c = ctx
		}
		resp, err := p.Poll(c)
		if err != nil {
			if ctx.Err() == nil && pctx.Err() != nil {
				break // the bound, not a failure
			}
			return pending(op, p, azerr.Classify(op+": poll", err))
		}
		if p.Done() {
			break
		}
		d := azerr.RetryAfter(resp)
		if d <= 0 {
			d = every
		}
		if deadline, _ := pctx.Deadline(); time.Until(deadline) <= d {
			break
		}
		if err := sleep(pctx, d); err != nil {
			if ctx.Err() != nil {
				return pending(op, p, azerr.Classify(op+": poll", ctx.Err()))
			}
			break
		}
	}
	if !p.Done() {
		return pending(op, p, nil)
	}
	if _, err := p.Result(ctx); err != nil {
		return guard.UpdateStatus{Done: true}, azerr.Classify(op, err)
	}
	return guard.UpdateStatus{Done: true}, nil
}

// pending returns the status of an operation that is not done, with err.
// A poller that cannot give its resume token is a bug in the SDK; the
// status then has none and the error says so.
func pending[T any](op string, p *runtime.Poller[T], err error) (guard.UpdateStatus, error) {
	tok, terr := p.ResumeToken()
	if terr != nil {
		return guard.UpdateStatus{}, guard.Errorf(guard.KindInvalid, "%s: resume token: %w", op, errors.Join(terr, err))
	}
	return guard.UpdateStatus{ResumeToken: tok}, err
}

// sleep waits d or until ctx is done, and then returns ctx.Err().
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
