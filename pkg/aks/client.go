// Package aks reads AKS managed clusters and their planned-maintenance
// configurations from Azure Resource Manager with the armcontainerservice
// SDK, turns them into guard types, and moves a cluster's control plane to
// a managed identity. pkg/azurefake simulates what it talks to.
package aks

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/azclient"
	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// defaultPollEvery is the wait between polls of a long-running operation
// when ARM names none. AKS operations take minutes.
const defaultPollEvery = 10 * time.Second

// managedClustersAPI is the part of armcontainerservice.ManagedClustersClient
// that Client uses; its methods copy the SDK's signatures exactly.
type managedClustersAPI interface {
	Get(ctx context.Context, resourceGroupName string, resourceName string, options *armcontainerservice.ManagedClustersClientGetOptions) (armcontainerservice.ManagedClustersClientGetResponse, error)
	BeginCreateOrUpdate(ctx context.Context, resourceGroupName string, resourceName string, parameters armcontainerservice.ManagedCluster, options *armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions) (*runtime.Poller[armcontainerservice.ManagedClustersClientCreateOrUpdateResponse], error)
}

var _ managedClustersAPI = (*armcontainerservice.ManagedClustersClient)(nil)

// maintenanceConfigurationsAPI is the part of
// armcontainerservice.MaintenanceConfigurationsClient that Client uses; its
// method copies the SDK's signature exactly.
type maintenanceConfigurationsAPI interface {
	NewListByManagedClusterPager(resourceGroupName string, resourceName string, options *armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterOptions) *runtime.Pager[armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterResponse]
}

var _ maintenanceConfigurationsAPI = (*armcontainerservice.MaintenanceConfigurationsClient)(nil)

// agentPoolsAPI is the part of armcontainerservice.AgentPoolsClient that
// Client uses; its methods copy the SDK's signatures exactly.
type agentPoolsAPI interface {
	GetUpgradeProfile(ctx context.Context, resourceGroupName string, resourceName string, agentPoolName string, options *armcontainerservice.AgentPoolsClientGetUpgradeProfileOptions) (armcontainerservice.AgentPoolsClientGetUpgradeProfileResponse, error)
	BeginUpgradeNodeImageVersion(ctx context.Context, resourceGroupName string, resourceName string, agentPoolName string, options *armcontainerservice.AgentPoolsClientBeginUpgradeNodeImageVersionOptions) (*runtime.Poller[armcontainerservice.AgentPoolsClientUpgradeNodeImageVersionResponse], error)
}

var _ agentPoolsAPI = (*armcontainerservice.AgentPoolsClient)(nil)

// sdk holds the SDK clients of one subscription.
type sdk struct {
	clusters    managedClustersAPI
	maintenance maintenanceConfigurationsAPI
	pools       agentPoolsAPI
}

// Client reads managed clusters from ARM, reads their planned-maintenance
// configurations and changes their identity. It keeps one set of SDK
// clients per subscription, created on first use, and is safe for
// concurrent use.
type Client struct {
	sdks azclient.PerSubscription[sdk]
	// pollEvery is the wait between polls of a long-running operation when
	// ARM asks for none (Retry-After).
	pollEvery time.Duration
}

var (
	_ guard.Clusters       = (*Client)(nil)
	_ guard.ClusterUpdater = (*Client)(nil)
)

// New returns a Client that authenticates with cred. opts may be nil; tests
// and the demo pass options whose Transport is an SDK fake (see
// azurefake.Fleet.ClientOptions). Unless opts sets them, retries are limited to
// MaxRetries 2, MaxRetryDelay 5s and TryTimeout 30s; New does not modify
// opts.
func New(cred azcore.TokenCredential, opts *arm.ClientOptions) *Client {
	var o arm.ClientOptions
	if opts != nil {
		o = *opts
	}
	o.Retry = azclient.Retry(o.Retry)
	return &Client{
		sdks: azclient.PerSubscription[sdk]{New: func(subscription string) (sdk, error) {
			mcc, err := armcontainerservice.NewManagedClustersClient(subscription, cred, &o)
			if err != nil {
				return sdk{}, err
			}
			mtc, err := armcontainerservice.NewMaintenanceConfigurationsClient(subscription, cred, &o)
			if err != nil {
				return sdk{}, err
			}
			apc, err := armcontainerservice.NewAgentPoolsClient(subscription, cred, &o)
			if err != nil {
				return sdk{}, err
			}
			return sdk{clusters: mcc, maintenance: mtc, pools: apc}, nil
		}},
		pollEvery: defaultPollEvery,
	}
}

// sdk returns the SDK clients for subscription, creating them on first use.
func (c *Client) sdk(subscription string) (sdk, error) { return c.sdks.Get(subscription) }

// GetCluster reads the cluster with ManagedClustersClient.Get. Every failure
// is a *guard.Error: ARM errors are classified by azerr.Classify (a missing
// cluster is KindNotFound; a throttled call is KindTransient with the
// Retry-After ARM asked for); an incomplete id, a client that cannot be
// built and a body that names another cluster or an invalid ID are
// KindInvalid. A body without an ID is taken to be the cluster asked for.
func (c *Client) GetCluster(ctx context.Context, id guard.ClusterID) (guard.Cluster, error) {
	op := "get cluster " + id.String()
	mc, err := c.get(ctx, op, id)
	if err != nil {
		return guard.Cluster{}, err
	}
	cl, err := toCluster(mc)
	if err != nil {
		return guard.Cluster{}, guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
	}
	if cl.ID.IsZero() {
		cl.ID = id // ARM omitted the ID; the request named the cluster.
	}
	return cl, nil
}

// get reads the cluster as the SDK returns it, with GetCluster's errors,
// each prefixed with op.
func (c *Client) get(ctx context.Context, op string, id guard.ClusterID) (armcontainerservice.ManagedCluster, error) {
	s, err := c.sdkFor(op, id)
	if err != nil {
		return armcontainerservice.ManagedCluster{}, err
	}
	resp, err := s.clusters.Get(ctx, id.ResourceGroup, id.Name, nil)
	if err != nil {
		return armcontainerservice.ManagedCluster{}, azerr.Classify(op, err)
	}
	if body := deref(resp.ID); body != "" {
		got, err := armid.ParseCluster(body)
		switch {
		case err != nil:
			return armcontainerservice.ManagedCluster{}, guard.Errorf(guard.KindInvalid, "%s: cluster body: %w", op, err)
		case !got.Same(id):
			return armcontainerservice.ManagedCluster{}, guard.Errorf(guard.KindInvalid, "%s: ARM returned cluster %s", op, got)
		}
	}
	return resp.ManagedCluster, nil
}

// sdkFor checks that id is complete and returns the SDK clients of its
// subscription; both failures are KindInvalid, prefixed with op.
func (c *Client) sdkFor(op string, id guard.ClusterID) (sdk, error) {
	if id.Subscription == "" || id.ResourceGroup == "" || id.Name == "" {
		return sdk{}, guard.Errorf(guard.KindInvalid, "%s: incomplete cluster ID %+v", op, id)
	}
	s, err := c.sdk(id.Subscription)
	if err != nil {
		return sdk{}, guard.Errorf(guard.KindInvalid, "%s: create client: %w", op, err)
	}
	return s, nil
}
