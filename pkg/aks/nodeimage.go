package aks

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// LatestNodeImage reads the pool's upgrade profile
// (AgentPoolsClient.GetUpgradeProfile) and returns its
// latestNodeImageVersion; "" when AKS names none. Errors are classified
// *guard.Errors.
func (c *Client) LatestNodeImage(ctx context.Context, id guard.ClusterID, pool string) (string, error) {
	op := "read the upgrade profile of pool " + pool + " of cluster " + id.String()
	s, err := c.sdkFor(op, id)
	if err != nil {
		return "", err
	}
	resp, err := s.pools.GetUpgradeProfile(ctx, id.ResourceGroup, id.Name, pool, nil)
	if err != nil {
		return "", azerr.Classify(op, err)
	}
	if p := resp.Properties; p != nil {
		return deref(p.LatestNodeImageVersion), nil
	}
	return "", nil
}

// StartNodeImageUpgrade starts AgentPoolsClient.BeginUpgradeNodeImageVersion
// (a POST, sent once without the SDK's retries, as the identity update is)
// and polls it for at most wait. It returns like StartIdentityUpdate: Sent
// unless ARM refused the request, Done or a resume token, and the
// classified error of a failed operation or poll.
func (c *Client) StartNodeImageUpgrade(ctx context.Context, id guard.ClusterID, pool string, wait time.Duration) (guard.UpdateStatus, error) {
	op := "upgrade the node image of pool " + pool + " of cluster " + id.String()
	s, err := c.sdkFor(op, id)
	if err != nil {
		return guard.UpdateStatus{}, err
	}
	once := policy.WithRetryOptions(ctx, policy.RetryOptions{MaxRetries: -1})
	poller, err := s.pools.BeginUpgradeNodeImageVersion(once, id.ResourceGroup, id.Name, pool, nil)
	if err != nil {
		return guard.UpdateStatus{Sent: !refused(err)}, azerr.Classify(op, err)
	}
	st, err := pollFor(ctx, op, poller, wait, c.pollEvery)
	st.Sent = true
	return st, err
}

// ResumeNodeImageUpgrade polls, for at most wait, the upgrade that
// StartNodeImageUpgrade started and described by token, as
// ResumeIdentityUpdate does.
func (c *Client) ResumeNodeImageUpgrade(ctx context.Context, id guard.ClusterID, pool, token string, wait time.Duration) (guard.UpdateStatus, error) {
	op := "resume the node image upgrade of pool " + pool + " of cluster " + id.String()
	if token == "" {
		return guard.UpdateStatus{}, guard.Errorf(guard.KindInvalid, "%s: empty resume token", op)
	}
	s, err := c.sdkFor(op, id)
	if err != nil {
		return guard.UpdateStatus{}, err
	}
	poller, err := s.pools.BeginUpgradeNodeImageVersion(ctx, id.ResourceGroup, id.Name, pool,
		&armcontainerservice.AgentPoolsClientBeginUpgradeNodeImageVersionOptions{ResumeToken: token})
	if err != nil {
		return guard.UpdateStatus{}, guard.Errorf(guard.KindInvalid, "%s: resume token: %w", op, err)
	}
	return pollFor(ctx, op, poller, wait, c.pollEvery)
}
