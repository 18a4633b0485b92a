// Package aks reads AKS managed clusters from Azure Resource Manager with the
// armcontainerservice SDK and turns them into guard.Clusters. It also holds
// Fleet, a simulated set of clusters served through the SDK's own fake
// servers, for the demo and for tests.
package aks

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// Retry options applied unless the caller set them. The guard runs inside a
// Functions invocation with a bounded time budget: a few quick retries are
// fine, but a 429 whose Retry-After exceeds MaxRetryDelay must come back to
// the caller (azcore does not retry it then), so that the domain schedules a
// delayed retry instead of blocking the invocation.
const (
	defaultMaxRetries    = 2
	defaultMaxRetryDelay = 5 * time.Second
	defaultTryTimeout    = 30 * time.Second
)

// managedClustersAPI is the part of armcontainerservice.ManagedClustersClient
// that Client uses; its method copies the SDK's signature exactly.
type managedClustersAPI interface {
	Get(ctx context.Context, resourceGroupName string, resourceName string, options *armcontainerservice.ManagedClustersClientGetOptions) (armcontainerservice.ManagedClustersClientGetResponse, error)
}

var _ managedClustersAPI = (*armcontainerservice.ManagedClustersClient)(nil)

// Client reads managed clusters from ARM. It keeps one SDK client per
// subscription, created on first use, and is safe for concurrent use.
type Client struct {
	newAPI func(subscription string) (managedClustersAPI, error)

	mu   sync.Mutex
	apis map[string]managedClustersAPI // by lower-cased subscription ID
}

var _ guard.Clusters = (*Client)(nil)

// New returns a Client that authenticates with cred. opts may be nil; tests
// and the demo pass options whose Transport is an SDK fake (see
// Fleet.ClientOptions). Unless opts sets them, retries are limited to
// MaxRetries 2, MaxRetryDelay 5s and TryTimeout 30s; New does not modify
// opts.
func New(cred azcore.TokenCredential, opts *arm.ClientOptions) *Client {
	o := withRetryDefaults(opts)
	return &Client{
		newAPI: func(subscription string) (managedClustersAPI, error) {
			return armcontainerservice.NewManagedClustersClient(subscription, cred, o)
		},
		apis: map[string]managedClustersAPI{},
	}
}

// withRetryDefaults returns a copy of opts with the invocation-bounded retry
// defaults filled in where opts left them zero.
func withRetryDefaults(opts *arm.ClientOptions) *arm.ClientOptions {
	var o arm.ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.Retry.MaxRetries == 0 {
		o.Retry.MaxRetries = defaultMaxRetries
	}
	if o.Retry.MaxRetryDelay == 0 {
		o.Retry.MaxRetryDelay = defaultMaxRetryDelay
	}
	if o.Retry.TryTimeout == 0 {
		o.Retry.TryTimeout = defaultTryTimeout
	}
	return &o
}

// api returns the SDK client for subscription, creating it on first use.
func (c *Client) api(subscription string) (managedClustersAPI, error) {
	key := strings.ToLower(subscription)
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.apis[key]; ok {
		return a, nil
	}
	a, err := c.newAPI(subscription)
	if err != nil {
		return nil, err
	}
	c.apis[key] = a
	return a, nil
}

// GetCluster reads the cluster with ManagedClustersClient.Get. Every failure
// is a *guard.Error: ARM errors are classified by azerr.Classify (a missing
// cluster is KindNotFound; a throttled call is KindTransient with the
// Retry-After ARM asked for); an incomplete id, a client that cannot be
// built and a body that names another cluster or an invalid ID are
// KindInvalid. A body without an ID is taken to be the cluster asked for.
func (c *Client) GetCluster(ctx context.Context, id guard.ClusterID) (guard.Cluster, error) {
	op := "get cluster " + id.String()
	if id.Subscription == "" || id.ResourceGroup == "" || id.Name == "" {
		return guard.Cluster{}, guard.Errorf(guard.KindInvalid, "get cluster %+v: incomplete cluster ID", id)
	}
	api, err := c.api(id.Subscription)
	if err != nil {
		return guard.Cluster{}, guard.Errorf(guard.KindInvalid, "%s: create client: %w", op, err)
	}
	resp, err := api.Get(ctx, id.ResourceGroup, id.Name, nil)
	if err != nil {
		return guard.Cluster{}, azerr.Classify(op, err)
	}
	cl, err := toCluster(resp.ManagedCluster)
	if err != nil {
		return guard.Cluster{}, guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
	}
	switch {
	case cl.ID.IsZero():
		cl.ID = id // ARM omitted the ID; the request named the cluster.
	case !cl.ID.Same(id):
		return guard.Cluster{}, guard.Errorf(guard.KindInvalid, "%s: ARM returned cluster %s", op, cl.ID)
	}
	return cl, nil
}
