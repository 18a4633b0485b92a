package azurefake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake/server"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8/fake"

	"github.com/aksguard/aksguard/pkg/aks"
	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

// Fleet is a simulated set of AKS managed clusters in any number of
// subscriptions, served to SDK clients through the armcontainerservice fake
// servers: clients built with ClientOptions talk to it as they would to ARM.
// Clusters are keyed by resource ID, compared case-insensitively as ARM
// does. Fleet counts the calls it serves and can fail the next calls of a
// method on request. It is safe for concurrent use.
//
// Methods are named as the SDK names its operations, such as
// "ManagedClustersClient.Get"; a name without a client, such as "Get", means
// a ManagedClustersClient method.
//
// It serves ManagedClustersClient.Get and BeginCreateOrUpdate (the update
// is simulated as AKS moves a cluster to a managed identity, see
// SetUpdatePolls) and MaintenanceConfigurationsClient.NewListByManagedClusterPager
// (see SetMaintenanceConfigs). Every other operation fails with a "not
// implemented" error from the fake.
type Fleet struct {
	// lro serializes the requests of BeginCreateOrUpdate operations, which
	// the fake serves from state it does not lock. Taken before mu.
	lro sync.Mutex
	// lists serializes maintenance-configuration lists, for the same reason.
	lists sync.Mutex

	faults *Faults
	now    func() time.Time

	mu          sync.Mutex
	clusters    map[string]armcontainerservice.ManagedCluster             // by key(id); never modified in place
	maintenance map[string][]armcontainerservice.MaintenanceConfiguration // by key(cluster id); never modified in place
	writes      uint64                                                    // numbers the eTags Put assigns
	polls       map[string]int                                            // by method
	accepted    map[string]int                                            // identity updates accepted, by key(cluster id)
	servers     map[string]policy.Transporter                             // by lower-cased subscription
	updates     updates
	history     history
	// self is who the SDK clients act as, in the change records of their
	// writes: the guard's identity.
	self Caller
	// tagsKeepETag: a write that changes nothing but tags keeps the eTag.
	tagsKeepETag bool
	// beforePut runs when a PUT reaches the fleet, before anything else.
	beforePut func(guard.ClusterID)
	// Kubelet's move, node images and their upgrades (nodeimage.go).
	kubelet              map[string]*kubeletState // by key(cluster id)
	latest               map[string]string        // by poolKey
	nodeImageOps         map[string]*nodeImageOp  // by operation id
	nodeImageUpgrades    map[string]int           // finished, by key(cluster id)
	kubeletAtUpdate      bool
	clientIDUntilKubelet bool
	// linked says whether the guard may take an action on a resource, for
	// the linked authorization of its PUTs (linked.go); nil checks none.
	linked func(scope, action string) bool
	// Resource Graph listings (listing.go).
	policy        map[string]PolicyState // by key(cluster id)
	subscriptions []string               // lower case, besides those with clusters
	quota         graphQuota
}

// NewFleet returns a Fleet with no clusters, on the real clock, with Faults
// of its own.
func NewFleet() *Fleet { return newFleet(time.Now, NewFaults(time.Now)) }

func newFleet(now func() time.Time, faults *Faults) *Fleet {
	return &Fleet{
		faults:            faults,
		now:               now,
		clusters:          map[string]armcontainerservice.ManagedCluster{},
		maintenance:       map[string][]armcontainerservice.MaintenanceConfiguration{},
		polls:             map[string]int{},
		accepted:          map[string]int{},
		servers:           map[string]policy.Transporter{},
		updates:           newUpdates(),
		kubelet:           map[string]*kubeletState{},
		latest:            map[string]string{},
		nodeImageOps:      map[string]*nodeImageOp{},
		nodeImageUpgrades: map[string]int{},
		self:              Caller{ChangedBy: "aksguard", Type: CallerApplication},
	}
}

// key is the map key of a cluster: its lower-cased canonical resource ID.
func key(id guard.ClusterID) string { return strings.ToLower(id.String()) }

// Put adds c, or replaces the cluster with the same ID, as a caller the
// change history cannot name (changedBy Unknown). See PutAs.
func (f *Fleet) Put(c armcontainerservice.ManagedCluster) {
	f.PutAs(c, Caller{}, Write{})
}

// Write describes a write to a cluster for its change record.
type Write struct {
	// Operation is the permission the write used, as change history names
	// it; default Microsoft.ContainerService/managedClusters/write.
	Operation string
	// CorrelationID ties the record to the write's events; a fresh one
	// when empty.
	CorrelationID string
}

// PutAs adds c, or replaces the cluster with the same ID, and gives it a
// fresh eTag as ARM does on every write (unless SetTagsKeepETag says a write
// of tags alone keeps it). The write is recorded in the change history as
// by, with Create for a new cluster and Update listing the changed
// properties otherwise. It returns the record's correlation ID, which the
// events of the write carry. The fleet keeps a copy: changing c afterwards
// changes nothing. PutAs panics if c has no valid managed cluster ID; that
// is a bug in the caller.
func (f *Fleet) PutAs(c armcontainerservice.ManagedCluster, by Caller, w Write) string {
	id, err := armid.ParseCluster(deref(c.ID))
	if err != nil {
		panic("azurefake: Fleet.Put: " + err.Error())
	}
	c = cloneJSON(c)
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(id)
	old, existed := f.clusters[k]
	changes := diff(old, c)
	c.ETag = f.nextETag(deref(old.ETag))
	if existed && f.tagsKeepETag && onlyTags(changes) && old.ETag != nil {
		c.ETag = old.ETag
	}
	f.clusters[k] = c
	kind := ChangeUpdate
	if !existed {
		kind, changes = ChangeCreate, nil
	}
	return f.history.add(f.now(), id, kind, by, w, changes)
}

// Delete removes the cluster with resource ID id and its maintenance
// configurations, as a caller the change history cannot name; it does
// nothing when there is none or id is not a cluster's. See DeleteAs.
func (f *Fleet) Delete(id string) { f.DeleteAs(id, Caller{}, Write{}) }

// DeleteAs removes the cluster with resource ID id and its maintenance
// configurations, recorded in the change history as by, and returns the
// record's correlation ID; it does nothing (and returns "") when there is
// no such cluster or id is not a cluster's.
func (f *Fleet) DeleteAs(id string, by Caller, w Write) string {
	cid, err := armid.ParseCluster(id)
	if err != nil {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.clusters[key(cid)]; !ok {
		return ""
	}
	delete(f.clusters, key(cid))
	delete(f.maintenance, key(cid))
	if w.Operation == "" {
		w.Operation = "Microsoft.ContainerService/managedClusters/delete"
	}
	return f.history.add(f.now(), cid, ChangeDelete, by, w, nil)
}

// SetTagsKeepETag makes a write that changes nothing but tags keep the
// cluster's eTag (keep true) or give it a fresh one like every other write
// (false, the default). Microsoft's docs do not say which ARM does for a
// tags write to a managed cluster; the simulator does either.
func (f *Fleet) SetTagsKeepETag(keep bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tagsKeepETag = keep
}

// SetSelf names who the SDK clients built with ClientOptions act as, in the
// change records of their writes.
func (f *Fleet) SetSelf(by Caller) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.self = by
}

// BeforePut makes the fleet call fn with the cluster's ID whenever a PUT of
// BeginCreateOrUpdate reaches it, before the fleet looks at the PUT: fn
// may change the cluster, as a person might just then.
func (f *Fleet) BeforePut(fn func(guard.ClusterID)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beforePut = fn
}

// Accepted returns how many identity updates (PUTs of BeginCreateOrUpdate)
// the fleet has accepted for the cluster with resource ID id; a PUT refused
// (412, 409, 400 or an injected fault) is not one.
func (f *Fleet) Accepted(id string) int {
	cid, err := armid.ParseCluster(id)
	if err != nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted[key(cid)]
}

// SetMaintenanceConfigs replaces the planned-maintenance configurations of
// the cluster with resource ID clusterID (none when cfgs is empty), which
// MaintenanceConfigurationsClient.NewListByManagedClusterPager then lists in
// this order. The cluster need not exist yet; listing a missing cluster's
// configurations is 404 ResourceNotFound. The fleet keeps copies, with
// their IDs filled in. SetMaintenanceConfigs panics if clusterID is not a
// cluster's resource ID or a configuration has no name, a name another has
// or an ID that is not its own; that is a bug in the caller.
func (f *Fleet) SetMaintenanceConfigs(clusterID string, cfgs []armcontainerservice.MaintenanceConfiguration) {
	id, err := armid.ParseCluster(clusterID)
	if err != nil {
		panic("azurefake: Fleet.SetMaintenanceConfigs: " + err.Error())
	}
	cfgs, err = maintenanceConfigsOf(id, cfgs)
	if err != nil {
		panic("azurefake: Fleet.SetMaintenanceConfigs: " + err.Error())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(cfgs) == 0 {
		delete(f.maintenance, key(id))
		return
	}
	f.maintenance[key(id)] = cfgs
}

// Cluster returns a copy of the cluster with resource ID id, and false when
// there is none or id is not a cluster's.
func (f *Fleet) Cluster(id string) (armcontainerservice.ManagedCluster, bool) {
	cid, err := armid.ParseCluster(id)
	if err != nil {
		return armcontainerservice.ManagedCluster{}, false
	}
	mc, ok := f.lookup(cid)
	if !ok {
		return armcontainerservice.ManagedCluster{}, false
	}
	return cloneJSON(mc), true
}

// IDs returns the resource IDs of every cluster, as stored, sorted
// case-insensitively.
func (f *Fleet) IDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, 0, len(f.clusters))
	for k := range f.clusters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = *f.clusters[k].ID
	}
	return ids
}

// lookup returns the stored cluster itself, after finishing the updates
// whose time has come; callers must not modify it.
func (f *Fleet) lookup(id guard.ClusterID) (armcontainerservice.ManagedCluster, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle()
	mc, ok := f.clusters[key(id)]
	return mc, ok
}

// nextETag returns a new eTag, different from old. f.mu must be held, or f
// not yet shared.
func (f *Fleet) nextETag(old string) *string {
	for {
		f.writes++
		e := fmt.Sprintf("fleet-%08d", f.writes)
		if e != old {
			return &e
		}
	}
}

// cloneJSON deep-copies an SDK model through its JSON form, which carries
// every field.
func cloneJSON[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("azurefake: copy %T: %v", v, err))
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("azurefake: copy %T: %v", v, err))
	}
	return out
}

// Calls returns how many requests for method the fleet has served, failed
// ones included. The SDK does not retry the fleet's failures, so that is one
// request per call. For a long-running operation such as
// BeginCreateOrUpdate it counts the requests that start one, not the polls
// (see Polls): one per Begin call without a resume token.
func (f *Fleet) Calls(method string) int {
	return f.faults.Calls(qualify("ManagedClustersClient", method))
}

// Polls returns how many polls of the long-running operations of method,
// such as "BeginCreateOrUpdate", the fleet has answered.
func (f *Fleet) Polls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.polls[qualify("ManagedClustersClient", method)]
}

// FailNext makes the next n calls of method, in any subscription, fail with
// an *azcore.ResponseError of the given HTTP status and ARM error code,
// after the failures already asked for. When retryAfter > 0 the error's
// response carries it: a Retry-After header in whole seconds, or a
// retry-after-ms header when retryAfter is not a whole number of seconds.
// For BeginCreateOrUpdate it fails the PUT that starts the operation, not
// its polls; FailUpdate makes an accepted operation fail.
func (f *Fleet) FailNext(method string, n int, status int, code string, retryAfter time.Duration) {
	f.faults.failNext(qualify("ManagedClustersClient", method), n, status, code, retryAfter)
}

// qualify names method with its client: a bare method is client's.
func qualify(client, method string) string {
	if strings.Contains(method, ".") {
		return method
	}
	return client + "." + method
}

// ClientOptions returns options for SDK clients of any subscription that
// route every request to the fleet. Use them with any credential, such as
// azcore/fake.TokenCredential.
func (f *Fleet) ClientOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: router{f}}}
}

// router is the fleet's policy.Transporter. It counts each request, fails
// it when FailNext asked for that, and otherwise hands it to the fake
// servers of the subscription in the request path. The requests of
// BeginCreateOrUpdate go through serveUpdate.
type router struct{ f *Fleet }

func (r router) Do(req *http.Request) (*http.Response, error) {
	method, ok := req.Context().Value(runtime.CtxAPINameKey{}).(string)
	if !ok {
		return nil, fleetError{fmt.Errorf("fleet: %s %s names no SDK operation", req.Method, req.URL.Path)}
	}
	sub := subscriptionOf(req.URL.Path)
	if sub == "" {
		return nil, fleetError{fmt.Errorf("fleet: %s %s names no subscription", req.Method, req.URL.Path)}
	}
	switch method {
	case beginCreateOrUpdate:
		return r.f.serveUpdate(sub, req)
	case beginNodeImage:
		return r.f.serveNodeImage(req)
	}
	o := r.f.faults.take(method)
	if o.refuse != nil {
		return nil, injected(req, o.refuse)
	}
	if method == listMaintenanceConfigs && !r.f.hasClusterOf(req.URL.Path) {
		// Here, not in the fake: the fake keeps a pager that ended in an
		// error and answers every later list of the same cluster with
		// "fake paged response is empty".
		return nil, injected(req, &failure{status: http.StatusNotFound, code: "ResourceNotFound"})
	}
	if method == listMaintenanceConfigs {
		// The SDK fake keeps a pager's state per request path, shared by
		// concurrent requests for the same cluster: serve lists one at a
		// time.
		r.f.lists.Lock()
		defer r.f.lists.Unlock()
	}
	resp, err := r.f.server(sub).Do(req)
	if err == nil && o.lose {
		resp.Body.Close()
		return nil, lostAnswer{method}
	}
	return resp, err
}

const (
	getCluster             = "ManagedClustersClient.Get"
	listMaintenanceConfigs = "MaintenanceConfigurationsClient.NewListByManagedClusterPager"
)

// hasClusterOf reports whether the cluster whose maintenance
// configurations path lists exists.
func (f *Fleet) hasClusterOf(path string) bool {
	if i := strings.Index(strings.ToLower(path), "/maintenanceconfigurations"); i >= 0 {
		path = path[:i]
	}
	id, err := armid.ParseCluster(path)
	if err != nil {
		return false
	}
	_, ok := f.lookup(id)
	return ok
}

// injected returns the error the fake servers return for fl, built with the
// fake's own ErrorResponder. The ErrorResponder cannot set response headers,
// so the Retry-After header is added here, on the error's RawResponse.
func injected(req *http.Request, fl *failure) error {
	status, code := fl.statusOf("AuthorizationFailed")
	var er azfake.ErrorResponder
	er.SetResponseError(status, code)
	err := server.GetError(er, req)
	var re *azcore.ResponseError
	if fl.retryAfter > 0 && errors.As(err, &re) && re.RawResponse != nil {
		if fl.retryAfter%time.Second == 0 {
			re.RawResponse.Header.Set("Retry-After", strconv.FormatInt(int64(fl.retryAfter/time.Second), 10))
		} else {
			re.RawResponse.Header.Set("retry-after-ms", strconv.FormatInt(fl.retryAfter.Milliseconds(), 10))
		}
	}
	return err
}

// server returns the fake servers of subscription, creating them on first
// use. This is the one place that wires the fleet to fake servers. The
// servers live as long
// as the fleet: the fake keeps the state of running operations in them, so
// a client created later can resume polling one.
func (f *Fleet) server(subscription string) policy.Transporter {
	k := strings.ToLower(subscription)
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.servers[k]; ok {
		return s
	}
	s := fake.NewServerFactoryTransport(&fake.ServerFactory{
		ManagedClustersServer: fake.ManagedClustersServer{
			Get:                 f.fakeGet(subscription),
			BeginCreateOrUpdate: f.fakeBeginCreateOrUpdate(subscription),
		},
		MaintenanceConfigurationsServer: fake.MaintenanceConfigurationsServer{
			NewListByManagedClusterPager: f.fakeListMaintenanceConfigs(subscription),
		},
		AgentPoolsServer: fake.AgentPoolsServer{
			GetUpgradeProfile: f.fakeGetUpgradeProfile(subscription),
		},
	})
	f.servers[k] = s
	return s
}

// fakeGet serves ManagedClustersClient.Get for subscription: the stored
// cluster with 200, or 404 ResourceNotFound as ARM answers.
func (f *Fleet) fakeGet(subscription string) func(context.Context, string, string, *armcontainerservice.ManagedClustersClientGetOptions) (azfake.Responder[armcontainerservice.ManagedClustersClientGetResponse], azfake.ErrorResponder) {
	return func(_ context.Context, rg, name string, _ *armcontainerservice.ManagedClustersClientGetOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientGetResponse], errResp azfake.ErrorResponder) {
		mc, ok := f.lookup(guard.ClusterID{Subscription: subscription, ResourceGroup: rg, Name: name})
		if !ok {
			errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
			return resp, errResp
		}
		resp.SetResponse(http.StatusOK, armcontainerservice.ManagedClustersClientGetResponse{ManagedCluster: mc}, nil)
		return resp, errResp
	}
}

// fakeListMaintenanceConfigs serves
// MaintenanceConfigurationsClient.NewListByManagedClusterPager for
// subscription: one page with the cluster's configurations, maybe none.
// (The router answers for a missing cluster.)
func (f *Fleet) fakeListMaintenanceConfigs(subscription string) func(string, string, *armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterOptions) azfake.PagerResponder[armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterResponse] {
	return func(rg, name string, _ *armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterOptions) (resp azfake.PagerResponder[armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterResponse]) {
		f.mu.Lock()
		cfgs := f.maintenance[key(guard.ClusterID{Subscription: subscription, ResourceGroup: rg, Name: name})]
		f.mu.Unlock()
		page := armcontainerservice.MaintenanceConfigurationListResult{Value: []*armcontainerservice.MaintenanceConfiguration{}}
		for i := range cfgs {
			page.Value = append(page.Value, &cfgs[i]) // the fake only marshals them
		}
		resp.AddPage(http.StatusOK, armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterResponse{MaintenanceConfigurationListResult: page}, nil)
		return resp
	}
}

// subscriptionOf returns the subscription ID in an ARM request path, or "".
func subscriptionOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		return parts[1]
	}
	return ""
}

// fleetError is a failure of the fleet itself. It is non-retriable, so the
// SDK's retry policy gives it back at once rather than treating it as a
// network error.
type fleetError struct{ error }

func (fleetError) NonRetriable() {}

func (e fleetError) Unwrap() error { return e.error }

// Client returns an aks.Client that reads this fleet, authenticated with
// the SDK's fake credential.
func (f *Fleet) Client() *aks.Client { return aks.New(&azfake.TokenCredential{}, f.ClientOptions()) }

// deref returns what p points to, or "" for nil.
func deref[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}
