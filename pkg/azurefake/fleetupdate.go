package azurefake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake/server"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/google/uuid"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

// How the fleet simulates ManagedClustersClient.BeginCreateOrUpdate.
//
// The fake serves the operation from an azfake.PollerResponder that always
// ends in success: the fake keeps a responder that ended in an error
// (SetTerminalError) and answers every later PUT on the same cluster with
// it ("fake poller response is emtpy"), so a cluster could never be updated
// again. An update the fleet fails (FailUpdate) ends the way ARM reports a
// failed operation instead: the status monitor answers 200 with status
// "Failed" and the error code in its body, so the SDK's poller is done and
// its Result returns the *azcore.ResponseError.
//
// Every operation gets an ID, carried in the URL the SDK's fake poller
// polls (and so in its resume token): polls of an operation that ended are
// answered with its outcome, as ARM's operation status stays readable, and
// never reach the fake, which would take them for a new PUT.
const (
	beginCreateOrUpdate = "ManagedClustersClient.BeginCreateOrUpdate"
	// fakePollerStatus is the header the SDK's fake poller reads the state
	// of an operation from (azcore's internal shared.HeaderFakePollerStatus).
	fakePollerStatus = "Fake-Poller-Status"
	// fakeStatusSuffix ends the path the SDK's fake poller polls.
	fakeStatusSuffix = "/get/fake/status"
	// operationParam is the query parameter naming the fleet's operation.
	operationParam = "fleetOperation"
	// updatePollInterval is the Retry-After of an in-progress answer.
	updatePollInterval = 10 * time.Millisecond
	// defaultUpdatePolls is SetUpdatePolls' default.
	defaultUpdatePolls = 2
	// defaultUpdateTime is how long AKS takes to finish an update that
	// nobody polls: the operation runs on ARM's side whether or not the
	// caller hears of it.
	defaultUpdateTime = 3 * time.Minute
)

// updates is the state of the fleet's update operations; Fleet.mu guards it.
type updates struct {
	polls    int           // in-progress answers before the result
	duration time.Duration // how long an operation runs, polled or not
	next     uint64        // numbers operations
	byID     map[string]*operation
	running  map[string]*operation // by key(cluster ID)
}

func newUpdates() updates {
	return updates{polls: defaultUpdatePolls, duration: defaultUpdateTime, byID: map[string]*operation{}, running: map[string]*operation{}}
}

// operation is one update the fleet accepted.
type operation struct {
	id      string
	cluster string                             // key(cluster ID)
	after   armcontainerservice.ManagedCluster // the cluster once the update succeeds
	fail    *failure                           // nil: the update succeeds
	done    bool
	// correlation ties the operation's change records together.
	correlation string
	// due is when AKS finishes the operation, polled or not.
	due time.Time
}

// operationKey is the request context key of the operation a PUT starts:
// its ID, and the failure it ends in, if any.
type operationKey struct{}

type startingOperation struct {
	id   string
	fail *failure
}

// SetUpdatePolls makes the updates started from now on report "InProgress"
// n times (the PUT's answer and n-1 polls) before their result; with 0 the
// PUT answers with the result. The default is 2. While an update runs the
// cluster reads as before it, with provisioningState "Updating" and a fresh
// eTag, and another PUT on it is refused with 409 AnotherOperationInProgress;
// the result replaces what Put stored meanwhile. In-progress answers ask for
// the next poll after 10ms (retry-after-ms). Polled or not, an update ends
// three minutes (see SetUpdateDuration) after it started on the fleet's
// clock, as AKS finishes an operation whose caller lost its answer.
func (f *Fleet) SetUpdatePolls(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates.polls = max(n, 0)
}

// SetUpdateDuration makes the updates started from now on end d after they
// started, on the fleet's clock, unless their polls end them first.
func (f *Fleet) SetUpdateDuration(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates.duration = d
}

// FailUpdate makes the next n PUTs of updates, after those already asked
// for, start operations that fail with the ARM error code (such as
// "PropertyChangeNotAllowed" or "InternalServerError") when their result
// comes. ARM reports a failed operation through its status monitor, with
// HTTP 200, so the SDK's *azcore.ResponseError has StatusCode 200 and
// ErrorCode code; status only appears in the error's message. The cluster
// is then left as it was before the update, with provisioningState
// "Failed" and a fresh eTag. FailNext("BeginCreateOrUpdate", …) fails the
// PUT itself instead.
func (f *Fleet) FailUpdate(n int, status int, code string) {
	if n <= 0 {
		return
	}
	f.faults.queue(&failure{kind: OperationFailed, status: status, code: code, left: n}, beginCreateOrUpdate)
}

// serveUpdate serves a request of BeginCreateOrUpdate: the PUT that starts
// an update, or a poll of one.
func (f *Fleet) serveUpdate(sub string, req *http.Request) (*http.Response, error) {
	f.lro.Lock()
	defer f.lro.Unlock()
	if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, fakeStatusSuffix) {
		return f.pollUpdate(sub, req)
	}
	id, err := armid.ParseCluster(req.URL.Path)
	if err != nil {
		return nil, fleetError{fmt.Errorf("fleet: %s %s: %w", req.Method, req.URL.Path, err)}
	}
	f.mu.Lock()
	hook := f.beforePut
	f.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	o := f.faults.take(beginCreateOrUpdate)
	if o.refuse != nil {
		return nil, injected(req, o.refuse)
	}
	if resp, err := f.linkedRefusal(req); resp != nil || err != nil {
		return resp, err
	}
	var fail *failure
	if o.failOp != nil {
		// The operation's own result: ARM's status monitor keeps the code.
		fail = &failure{status: cmp.Or(o.failOp.status, http.StatusInternalServerError), code: cmp.Or(o.failOp.code, "InternalOperationError")}
	}
	f.mu.Lock()
	busy := f.updates.running[key(id)] != nil
	f.updates.next++
	opID := strconv.FormatUint(f.updates.next, 10)
	f.mu.Unlock()
	if busy {
		// As AKS does. The fake would take the PUT for a poll of the
		// running operation.
		return nil, injected(req, &failure{status: http.StatusConflict, code: "AnotherOperationInProgress"})
	}
	req = withOperation(req, startingOperation{id: opID, fail: fail})
	resp, err := f.server(sub).Do(req)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	op := f.updates.byID[opID]
	f.mu.Unlock()
	if op == nil {
		resp.Body.Close()
		return nil, fleetError{fmt.Errorf("fleet: %s %s: the fake accepted an update the fleet did not start", req.Method, req.URL.Path)}
	}
	resp, err = f.answer(op, req, resp)
	if err == nil && o.lose {
		resp.Body.Close()
		return nil, lostAnswer{beginCreateOrUpdate}
	}
	return resp, err
}

// withOperation returns a copy of req that names operation id in its
// context, for the fake, and in its URL, which the SDK's fake poller polls.
func withOperation(req *http.Request, op startingOperation) *http.Request {
	r := req.Clone(context.WithValue(req.Context(), operationKey{}, op))
	q := r.URL.Query()
	q.Set(operationParam, op.id)
	r.URL.RawQuery = q.Encode()
	return r
}

// pollUpdate answers a poll of the operation the URL names.
func (f *Fleet) pollUpdate(sub string, req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.settle()
	f.polls[beginCreateOrUpdate]++
	op := f.updates.byID[req.URL.Query().Get(operationParam)]
	done := op != nil && op.done
	f.mu.Unlock()
	switch {
	case op == nil:
		return nil, injected(req, &failure{status: http.StatusNotFound, code: "ResourceNotFound"})
	case done:
		return op.outcome(req)
	}
	resp, err := f.server(sub).Do(req)
	if err != nil {
		return nil, err
	}
	return f.answer(op, req, resp)
}

// answer passes on the fake's answer for op: an in-progress one with the
// poll interval, the last one after finishing op.
func (f *Fleet) answer(op *operation, req *http.Request, resp *http.Response) (*http.Response, error) {
	if resp.Header.Get(fakePollerStatus) == "InProgress" {
		resp.Header.Set("retry-after-ms", strconv.FormatInt(updatePollInterval.Milliseconds(), 10))
		return resp, nil
	}
	f.finish(op)
	if op.fail == nil {
		return resp, nil
	}
	resp.Body.Close()
	return op.outcome(req)
}

// finish ends op: the cluster becomes op.after, or, for a failure, what it
// was with provisioningState "Failed". A cluster deleted meanwhile stays
// deleted.
func (f *Fleet) finish(op *operation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finishLocked(op)
}

// settle finishes the operations whose time has come, as AKS does whether
// or not anyone polls them. f.mu must be held.
func (f *Fleet) settle() {
	now := f.now()
	for _, k := range slices.Sorted(maps.Keys(f.updates.running)) {
		if op := f.updates.running[k]; !now.Before(op.due) {
			f.finishLocked(op)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(f.nodeImageOps)) {
		if op := f.nodeImageOps[k]; !op.done && !now.Before(op.due) {
			f.finishNodeImage(op)
		}
	}
}

// finishLocked is finish with f.mu held.
func (f *Fleet) finishLocked(op *operation) {
	if op.done {
		return
	}
	op.done = true
	delete(f.updates.running, op.cluster)
	cur, ok := f.clusters[op.cluster]
	if !ok {
		return
	}
	next := op.after
	if op.fail != nil {
		next = withState(cur, "Failed", f.nextETag(deref(cur.ETag)))
	}
	f.clusters[op.cluster] = next
	id, _ := armid.ParseCluster(deref(next.ID))
	f.history.add(f.now(), id, ChangeUpdate, f.self, Write{CorrelationID: op.correlation}, diff(cur, next))
}

// outcome is the status monitor's answer for op once it is done.
func (op *operation) outcome(req *http.Request) (*http.Response, error) {
	if op.fail == nil {
		return server.MarshalResponseAsJSON(server.ResponseContent{HTTPStatus: http.StatusOK, Header: http.Header{fakePollerStatus: {"Succeeded"}}}, op.after, req)
	}
	type armError struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	body := struct {
		Status string   `json:"status"`
		Error  armError `json:"error"`
	}{
		Status: "Failed",
		Error:  armError{Code: op.fail.code, Message: fmt.Sprintf("simulated failure of the update (as HTTP %d)", op.fail.status)},
	}
	return server.MarshalResponseAsJSON(server.ResponseContent{HTTPStatus: http.StatusOK, Header: http.Header{fakePollerStatus: {"Failed"}}}, body, req)
}

// fakeBeginCreateOrUpdate serves the PUT of
// ManagedClustersClient.BeginCreateOrUpdate for subscription: 412
// PreconditionFailed when If-Match is not the cluster's eTag (or there is
// no cluster), 404 ResourceNotFound without If-Match and cluster (the fleet
// does not create clusters), 400 for a body AKS would refuse (see
// migrate); else it starts the operation the request's context names.
func (f *Fleet) fakeBeginCreateOrUpdate(subscription string) func(context.Context, string, string, armcontainerservice.ManagedCluster, *armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[armcontainerservice.ManagedClustersClientCreateOrUpdateResponse], azfake.ErrorResponder) {
	return func(ctx context.Context, rg, name string, body armcontainerservice.ManagedCluster, opts *armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armcontainerservice.ManagedClustersClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		start, _ := ctx.Value(operationKey{}).(startingOperation)
		opID := start.id
		if opID == "" {
			errResp.SetError(errors.New("fleet: BeginCreateOrUpdate reached the fake without the fleet's router"))
			return resp, errResp
		}
		var ifMatch string
		if opts != nil {
			ifMatch = deref(opts.IfMatch)
		}
		id := guard.ClusterID{Subscription: subscription, ResourceGroup: rg, Name: name}
		k := key(id)
		f.mu.Lock()
		defer f.mu.Unlock()
		cur, ok := f.clusters[k]
		switch {
		case !ok && ifMatch != "":
			errResp.SetResponseError(http.StatusPreconditionFailed, "PreconditionFailed")
			return resp, errResp
		case !ok:
			errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
			return resp, errResp
		case ifMatch != "" && ifMatch != "*" && ifMatch != deref(cur.ETag):
			errResp.SetResponseError(http.StatusPreconditionFailed, "PreconditionFailed")
			return resp, errResp
		}
		after, code := f.migrate(id, cur, body)
		if code != "" {
			errResp.SetResponseError(http.StatusBadRequest, code)
			return resp, errResp
		}
		op := &operation{id: opID, cluster: k, after: after, fail: start.fail, due: f.now().Add(f.updates.duration)}
		f.updates.byID[opID] = op
		f.updates.running[k] = op
		f.accepted[k]++
		updating := withState(cur, "Updating", f.nextETag(deref(cur.ETag)))
		op.correlation = f.history.add(f.now(), id, ChangeUpdate, f.self, Write{}, diff(cur, updating))
		f.clusters[k] = updating
		for range f.updates.polls {
			resp.AddNonTerminalResponse(http.StatusOK, nil)
		}
		resp.SetTerminalResponse(http.StatusOK, armcontainerservice.ManagedClustersClientCreateOrUpdateResponse{ManagedCluster: after}, nil)
		return resp, errResp
	}
}

// migrate returns the cluster cur becomes when the PUT body succeeds, the
// way AKS moves a service-principal cluster to a managed identity, or the
// ARM error code of a 400 for a body AKS would refuse. The body replaces
// the cluster, except for the fields ARM owns (id, name, type, systemData).
// With a managed identity:
//   - SystemAssigned gets a principalId (and tenantId);
//   - UserAssigned must name exactly one user-assigned identity, which gets
//     a principalId and clientId when the body has none;
//   - servicePrincipalProfile.clientId becomes "msi", with no secret;
//   - identityProfile.kubeletidentity is created when missing, as
//     <name>-agentpool in the node resource group.
//
// The generated IDs are name-based GUIDs, the same for the same cluster or
// identity. A cluster with a managed identity cannot go back to a service
// principal (BadRequest). f.mu must be held.
func (f *Fleet) migrate(id guard.ClusterID, cur, body armcontainerservice.ManagedCluster) (armcontainerservice.ManagedCluster, string) {
	after := cloneJSON(body)
	after.ID, after.Name, after.Type, after.SystemData = cur.ID, cur.Name, cur.Type, cur.SystemData
	if after.Properties == nil {
		return armcontainerservice.ManagedCluster{}, "InvalidRequestContent"
	}
	if after.Location == nil {
		after.Location = cur.Location
	}
	now, was := identityType(after.Identity), identityType(cur.Identity)
	switch now {
	case "", armcontainerservice.ResourceIdentityTypeNone:
		if was == armcontainerservice.ResourceIdentityTypeSystemAssigned || was == armcontainerservice.ResourceIdentityTypeUserAssigned {
			return armcontainerservice.ManagedCluster{}, "BadRequest"
		}
	case armcontainerservice.ResourceIdentityTypeSystemAssigned:
		mi := after.Identity
		mi.UserAssignedIdentities = nil
		if deref(mi.PrincipalID) == "" {
			mi.PrincipalID = to.Ptr(nameGUID("principal", id.String()))
		}
		if deref(mi.TenantID) == "" {
			mi.TenantID = to.Ptr(f.tenantOf(id.Subscription))
		}
	case armcontainerservice.ResourceIdentityTypeUserAssigned:
		mi := after.Identity
		if len(mi.UserAssignedIdentities) != 1 {
			return armcontainerservice.ManagedCluster{}, "InvalidParameter"
		}
		mi.PrincipalID, mi.TenantID = nil, nil
		for uami, v := range mi.UserAssignedIdentities {
			if armid.CheckUserAssignedIdentity(uami) != nil {
				return armcontainerservice.ManagedCluster{}, "InvalidParameter"
			}
			if v == nil {
				v = &armcontainerservice.ManagedServiceIdentityUserAssignedIdentitiesValue{}
				mi.UserAssignedIdentities[uami] = v
			}
			if deref(v.PrincipalID) == "" {
				v.PrincipalID = to.Ptr(nameGUID("principal", uami))
			}
			if deref(v.ClientID) == "" {
				v.ClientID = to.Ptr(nameGUID("client", uami))
			}
		}
	default:
		return armcontainerservice.ManagedCluster{}, "InvalidParameter"
	}
	p := after.Properties
	if now == armcontainerservice.ResourceIdentityTypeSystemAssigned || now == armcontainerservice.ResourceIdentityTypeUserAssigned {
		f.afterMigration(id, &cur, &after)
		if kubelet(p.IdentityProfile) == nil {
			if p.IdentityProfile == nil {
				p.IdentityProfile = map[string]*armcontainerservice.UserAssignedIdentity{}
			}
			p.IdentityProfile[kubeletIdentityKey] = kubeletIdentity(id, after)
		}
	}
	p.ProvisioningState = to.Ptr("Succeeded")
	after.ETag = f.nextETag(deref(cur.ETag))
	return after, ""
}

func identityType(mi *armcontainerservice.ManagedClusterIdentity) armcontainerservice.ResourceIdentityType {
	if mi == nil || mi.Type == nil {
		return ""
	}
	return *mi.Type
}

// kubeletIdentity is the kubelet identity AKS creates for cluster id: a
// user-assigned identity named <cluster>-agentpool in the node resource
// group.
func kubeletIdentity(id guard.ClusterID, mc armcontainerservice.ManagedCluster) *armcontainerservice.UserAssignedIdentity {
	nodeRG := deref(mc.Properties.NodeResourceGroup)
	if nodeRG == "" {
		nodeRG = "MC_" + id.ResourceGroup + "_" + id.Name + "_" + deref(mc.Location)
	}
	rid := "/subscriptions/" + id.Subscription + "/resourcegroups/" + nodeRG + "/providers/" + armid.UserAssignedIdentityType + "/" + id.Name + "-agentpool"
	return &armcontainerservice.UserAssignedIdentity{
		ResourceID: to.Ptr(rid),
		ClientID:   to.Ptr(nameGUID("client", rid)),
		ObjectID:   to.Ptr(nameGUID("principal", rid)),
	}
}

// tenantOf returns the tenant of subscription: the one a managed identity
// in it names, else a name-based GUID. f.mu must be held.
func (f *Fleet) tenantOf(subscription string) string {
	keys := make([]string, 0, len(f.clusters))
	for k := range f.clusters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		mc := f.clusters[k]
		if mc.Identity == nil || deref(mc.Identity.TenantID) == "" {
			continue
		}
		if r, err := arm.ParseResourceID(deref(mc.ID)); err == nil && strings.EqualFold(r.SubscriptionID, subscription) {
			return *mc.Identity.TenantID
		}
	}
	return nameGUID("tenant", strings.ToLower(subscription))
}

// withState returns a copy of mc with the provisioning state and eTag.
func withState(mc armcontainerservice.ManagedCluster, state string, etag *string) armcontainerservice.ManagedCluster {
	mc = cloneJSON(mc)
	if mc.Properties == nil {
		mc.Properties = &armcontainerservice.ManagedClusterProperties{}
	}
	mc.Properties.ProvisioningState = to.Ptr(state)
	mc.ETag = etag
	return mc
}

// SystemAssignedPrincipal returns the principal ID the fleet gives the
// system-assigned identity of the cluster id when an update moves it to
// one, so that a test can set up what that identity holds beforehand.
func SystemAssignedPrincipal(id guard.ClusterID) string { return nameGUID("principal", id.String()) }

// nameGUID returns the RFC 4122 name-based (SHA-1, version 5) GUID of kind
// and the lower-cased name, in the URL namespace.
func nameGUID(kind, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("aksguard-fleet:"+kind+":"+strings.ToLower(name))).String()
}

// kubeletIdentityKey is the identityProfile key of the kubelet identity.
const kubeletIdentityKey = "kubeletidentity"

// kubelet returns the kubelet identity of an identityProfile, or nil.
func kubelet(profile map[string]*armcontainerservice.UserAssignedIdentity) *armcontainerservice.UserAssignedIdentity {
	return profile[kubeletIdentityKey]
}
