package azurefake

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake/server"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

// How the fleet simulates kubelet's move to its identity.
//
// Microsoft's docs and the Azure CLI say the control plane and add-ons move
// with the identity update and kubelet keeps the service principal until
// each node pool gets a node image upgrade; one page of the docs says
// instead that the update reimages every node at once. Whether
// servicePrincipalProfile.clientId reads msi right after the update or only
// once kubelet moved is not documented. The fleet can behave each way
// (SetKubeletAtUpdate, SetClientIDUntilKubelet); by default kubelet moves
// with each pool's node image upgrade and clientId reads msi at once.
//
// AgentPoolsClient.BeginUpgradeNodeImageVersion is served by the fleet
// itself, not the SDK fake, with the fake poller's protocol: it gives the
// pool its latest node image (SetLatestNodeImage; by default one newer than
// the pool runs) once its polls end, or after the update duration.
const (
	beginNodeImage      = "AgentPoolsClient.BeginUpgradeNodeImageVersion"
	getUpgradeProfile   = "AgentPoolsClient.GetUpgradeProfile"
	nodeImageFakePrefix = "fleet-nodeimage-"
)

// kubeletState is what the fleet knows about a migrated cluster's kubelet;
// Fleet.mu guards it.
type kubeletState struct {
	// moved are the pools whose kubelet uses the kubelet identity, by
	// lower-cased name.
	moved map[string]bool
	// pending: the cluster moved from a service principal; until every
	// pool moved, kubelet uses it on some.
	pending bool
}

// SetLatestNodeImage makes version the newest node image AKS offers the
// pool of cluster id; the pool's own version means there is no newer one.
func (f *Fleet) SetLatestNodeImage(id guard.ClusterID, pool, version string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latest[poolKey(id, pool)] = version
}

// SetKubeletAtUpdate makes the identity update reimage every pool at once
// (to its latest image), so kubelet moves with the control plane, as one
// page of Microsoft's docs describes.
func (f *Fleet) SetKubeletAtUpdate(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kubeletAtUpdate = on
}

// SetClientIDUntilKubelet makes servicePrincipalProfile.clientId keep the
// service principal's application id after the identity update, until
// kubelet moved on every pool; by default it reads msi at once.
func (f *Fleet) SetClientIDUntilKubelet(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clientIDUntilKubelet = on
}

// NodeImageUpgrades returns how many node image upgrades the guard ran to
// the end on cluster id (not those run by hand).
func (f *Fleet) NodeImageUpgrades(id guard.ClusterID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodeImageUpgrades[key(id)]
}

// KubeletOnServicePrincipal returns the pools of cluster id whose kubelet
// still uses the service principal, as AKS knows and no API shows, sorted.
func (f *Fleet) KubeletOnServicePrincipal(id guard.ClusterID) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	mc, ok := f.clusters[key(id)]
	ks := f.kubelet[key(id)]
	if !ok || ks == nil || !ks.pending || mc.Properties == nil {
		return nil
	}
	var out []string
	for _, p := range mc.Properties.AgentPoolProfiles {
		if p != nil && !ks.moved[strings.ToLower(deref(p.Name))] {
			out = append(out, deref(p.Name))
		}
	}
	slices.Sort(out)
	return out
}

func poolKey(id guard.ClusterID, pool string) string { return key(id) + "|" + strings.ToLower(pool) }

// latestImage is the newest node image for the pool. f.mu must be held.
func (f *Fleet) latestImage(id guard.ClusterID, pool, current string) string {
	if v, ok := f.latest[poolKey(id, pool)]; ok {
		return v
	}
	return nextVersion(current)
}

var lastNumber = regexp.MustCompile(`(\d+)$`)

// nextVersion is version with its last number one higher, the way AKS
// numbers node images (…-202610.01.0 → …-202610.01.1).
func nextVersion(version string) string {
	m := lastNumber.FindStringSubmatchIndex(version)
	if m == nil {
		return version + ".1"
	}
	n, _ := strconv.Atoi(version[m[2]:m[3]])
	return version[:m[2]] + fmt.Sprintf("%0*d", m[3]-m[2], n+1)
}

// afterMigration applies kubelet's and the add-ons' part of an identity
// update to after, the cluster once the update succeeds. f.mu must be held.
func (f *Fleet) afterMigration(id guard.ClusterID, cur, after *armcontainerservice.ManagedCluster) {
	p := after.Properties
	wasSP := identityType(cur.Identity) == "" || identityType(cur.Identity) == armcontainerservice.ResourceIdentityTypeNone
	if !wasSP {
		return
	}
	ks := &kubeletState{moved: map[string]bool{}, pending: true}
	f.kubelet[key(id)] = ks
	if f.kubeletAtUpdate {
		for _, pool := range p.AgentPoolProfiles {
			if pool != nil {
				pool.NodeImageVersion = to.Ptr(f.latestImage(id, deref(pool.Name), deref(pool.NodeImageVersion)))
				ks.moved[strings.ToLower(deref(pool.Name))] = true
			}
		}
	}
	f.settleClientID(id, cur, after)
	for name, a := range p.AddonProfiles {
		if a != nil && a.Enabled != nil && *a.Enabled && a.Identity == nil && addonHasIdentity(name) {
			a.Identity = addonIdentity(id, *after, name)
		}
	}
}

// settleClientID sets clientId as the fleet's behaviour says: msi, or the
// service principal's until kubelet moved on every pool. f.mu must be held.
func (f *Fleet) settleClientID(id guard.ClusterID, cur, after *armcontainerservice.ManagedCluster) {
	ks := f.kubelet[key(id)]
	p := after.Properties
	if f.clientIDUntilKubelet && ks != nil && ks.pending && !allMoved(ks, p) {
		if cur.Properties != nil && cur.Properties.ServicePrincipalProfile != nil {
			p.ServicePrincipalProfile = &armcontainerservice.ManagedClusterServicePrincipalProfile{ClientID: cur.Properties.ServicePrincipalProfile.ClientID}
		}
		return
	}
	p.ServicePrincipalProfile = &armcontainerservice.ManagedClusterServicePrincipalProfile{ClientID: to.Ptr("msi")}
}

func allMoved(ks *kubeletState, p *armcontainerservice.ManagedClusterProperties) bool {
	for _, pool := range p.AgentPoolProfiles {
		if pool != nil && !ks.moved[strings.ToLower(deref(pool.Name))] {
			return false
		}
	}
	return true
}

// addonsWithIdentity are the add-ons AKS gives an identity of their own
// once the cluster uses a managed identity.
var addonsWithIdentity = []string{"omsagent", "ingressApplicationGateway", "aciConnectorLinux", "azureKeyvaultSecretsProvider", "azurepolicy"}

func addonHasIdentity(name string) bool {
	for _, a := range addonsWithIdentity {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

// addonIdentity is the identity AKS creates for add-on name: a
// user-assigned identity <addon>-<cluster> in the node resource group.
func addonIdentity(id guard.ClusterID, mc armcontainerservice.ManagedCluster, name string) *armcontainerservice.ManagedClusterAddonProfileIdentity {
	nodeRG := deref(mc.Properties.NodeResourceGroup)
	if nodeRG == "" {
		nodeRG = "MC_" + id.ResourceGroup + "_" + id.Name + "_" + deref(mc.Location)
	}
	rid := "/subscriptions/" + id.Subscription + "/resourcegroups/" + nodeRG + "/providers/" + armid.UserAssignedIdentityType + "/" +
		strings.ToLower(name) + "-" + strings.ToLower(id.Name)
	return &armcontainerservice.ManagedClusterAddonProfileIdentity{ResourceID: to.Ptr(rid), ClientID: to.Ptr(nameGUID("client", rid)), ObjectID: to.Ptr(nameGUID("principal", rid))}
}

// AddonPrincipal returns the object id the fleet gives add-on name's
// identity on cluster id, so that tests can name what it was granted.
func AddonPrincipal(id guard.ClusterID, nodeResourceGroup, name string) string {
	rid := "/subscriptions/" + id.Subscription + "/resourcegroups/" + nodeResourceGroup + "/providers/" + armid.UserAssignedIdentityType + "/" +
		strings.ToLower(name) + "-" + strings.ToLower(id.Name)
	return nameGUID("principal", rid)
}

// nodeImageOp is one node image upgrade the fleet accepted.
type nodeImageOp struct {
	id      string
	cluster guard.ClusterID
	pool    string
	due     time.Time
	polls   int
	done    bool
	fail    *failure
	// by is who ran it by hand; the zero Caller for the guard's.
	by *Caller
}

// fakeGetUpgradeProfile serves AgentPoolsClient.GetUpgradeProfile.
func (f *Fleet) fakeGetUpgradeProfile(subscription string) func(context.Context, string, string, string, *armcontainerservice.AgentPoolsClientGetUpgradeProfileOptions) (azfake.Responder[armcontainerservice.AgentPoolsClientGetUpgradeProfileResponse], azfake.ErrorResponder) {
	return func(_ context.Context, rg, name, pool string, _ *armcontainerservice.AgentPoolsClientGetUpgradeProfileOptions) (resp azfake.Responder[armcontainerservice.AgentPoolsClientGetUpgradeProfileResponse], errResp azfake.ErrorResponder) {
		id := guard.ClusterID{Subscription: subscription, ResourceGroup: rg, Name: name}
		f.mu.Lock()
		defer f.mu.Unlock()
		ap, ok := f.pool(id, pool)
		if !ok {
			errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
			return resp, errResp
		}
		resp.SetResponse(http.StatusOK, armcontainerservice.AgentPoolsClientGetUpgradeProfileResponse{AgentPoolUpgradeProfile: armcontainerservice.AgentPoolUpgradeProfile{
			Name: to.Ptr("default"),
			Properties: &armcontainerservice.AgentPoolUpgradeProfileProperties{
				KubernetesVersion:      ap.OrchestratorVersion,
				OSType:                 cmp.Or(ap.OSType, to.Ptr(armcontainerservice.OSTypeLinux)),
				LatestNodeImageVersion: to.Ptr(f.latestImage(id, pool, deref(ap.NodeImageVersion))),
			},
		}}, nil)
		return resp, errResp
	}
}

// pool returns the agent pool of cluster id named name. f.mu must be held.
func (f *Fleet) pool(id guard.ClusterID, name string) (*armcontainerservice.ManagedClusterAgentPoolProfile, bool) {
	mc, ok := f.clusters[key(id)]
	if !ok || mc.Properties == nil {
		return nil, false
	}
	for _, p := range mc.Properties.AgentPoolProfiles {
		if p != nil && strings.EqualFold(deref(p.Name), name) {
			return p, true
		}
	}
	return nil, false
}

// serveNodeImage serves a request of BeginUpgradeNodeImageVersion: the
// POST that starts an upgrade, or a poll of one.
func (f *Fleet) serveNodeImage(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, fakeStatusSuffix) {
		f.mu.Lock()
		f.settle()
		f.polls[beginNodeImage]++
		op := f.nodeImageOps[req.URL.Query().Get(operationParam)]
		if op != nil && !op.done {
			op.polls++
			if op.polls >= f.updates.polls {
				f.finishNodeImage(op)
			}
		}
		f.mu.Unlock()
		if op == nil {
			return nil, injected(req, &failure{status: http.StatusNotFound, code: "ResourceNotFound"})
		}
		return f.nodeImageAnswer(op, req)
	}
	id, pool, err := poolOf(req.URL.Path)
	if err != nil {
		return nil, fleetError{fmt.Errorf("fleet: %s %s: %w", req.Method, req.URL.Path, err)}
	}
	o := f.faults.take(beginNodeImage)
	if o.refuse != nil {
		return nil, injected(req, o.refuse)
	}
	f.mu.Lock()
	_, ok := f.pool(id, pool)
	busy := f.updates.running[key(id)] != nil
	for _, op := range f.nodeImageOps {
		busy = busy || (!op.done && key(op.cluster) == key(id))
	}
	if !ok || busy {
		f.mu.Unlock()
		if !ok {
			return nil, injected(req, &failure{status: http.StatusNotFound, code: "ResourceNotFound"})
		}
		return nil, injected(req, &failure{status: http.StatusConflict, code: "AnotherOperationInProgress"})
	}
	f.updates.next++
	op := &nodeImageOp{id: nodeImageFakePrefix + strconv.FormatUint(f.updates.next, 10), cluster: id, pool: pool, due: f.now().Add(f.updates.duration)}
	if o.failOp != nil {
		op.fail = &failure{status: cmp.Or(o.failOp.status, http.StatusInternalServerError), code: cmp.Or(o.failOp.code, "InternalOperationError")}
	}
	f.nodeImageOps[op.id] = op
	if f.updates.polls == 0 {
		f.finishNodeImage(op)
	}
	f.mu.Unlock()
	r := withOperation(req, startingOperation{id: op.id})
	resp, err := f.nodeImageAnswer(op, r)
	if err == nil && o.lose {
		resp.Body.Close()
		return nil, lostAnswer{beginNodeImage}
	}
	return resp, err
}

// nodeImageAnswer is the fake poller's answer for op.
func (f *Fleet) nodeImageAnswer(op *nodeImageOp, req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	done, fail := op.done, op.fail
	ap, _ := f.pool(op.cluster, op.pool)
	var body armcontainerservice.AgentPool
	if ap != nil {
		body = armcontainerservice.AgentPool{Name: ap.Name, Properties: &armcontainerservice.ManagedClusterAgentPoolProfileProperties{NodeImageVersion: ap.NodeImageVersion}}
	}
	f.mu.Unlock()
	switch {
	case !done:
		return server.MarshalResponseAsJSON(server.ResponseContent{HTTPStatus: http.StatusAccepted,
			Header: http.Header{fakePollerStatus: {"InProgress"}, "Retry-After-Ms": {strconv.FormatInt(updatePollInterval.Milliseconds(), 10)}}}, body, req)
	case fail != nil:
		return (&operation{fail: fail}).outcome(req)
	}
	return server.MarshalResponseAsJSON(server.ResponseContent{HTTPStatus: http.StatusOK, Header: http.Header{fakePollerStatus: {"Succeeded"}}}, body, req)
}

// finishNodeImage ends op: the pool runs its latest image and its kubelet
// the kubelet identity; once every pool moved, clientId may read msi.
// f.mu must be held.
func (f *Fleet) finishNodeImage(op *nodeImageOp) {
	if op.done {
		return
	}
	op.done = true
	cur, ok := f.clusters[key(op.cluster)]
	if !ok || op.fail != nil {
		return
	}
	next := cloneJSON(cur)
	for _, p := range next.Properties.AgentPoolProfiles {
		if p != nil && strings.EqualFold(deref(p.Name), op.pool) {
			p.NodeImageVersion = to.Ptr(f.latestImage(op.cluster, op.pool, deref(p.NodeImageVersion)))
		}
	}
	if ks := f.kubelet[key(op.cluster)]; ks != nil {
		ks.moved[strings.ToLower(op.pool)] = true
	}
	f.settleClientID(op.cluster, &cur, &next)
	next.ETag = f.nextETag(deref(cur.ETag))
	f.clusters[key(op.cluster)] = next
	by := f.self
	if op.by != nil {
		by = *op.by
	} else {
		f.nodeImageUpgrades[key(op.cluster)]++
	}
	f.history.add(f.now(), op.cluster, ChangeUpdate, by, Write{Operation: "Microsoft.ContainerService/managedClusters/agentPools/upgradeNodeImageVersion/action"}, diff(cur, next))
}

// poolOf parses …/managedClusters/<name>/agentPools/<pool>/upgradeNodeImageVersion.
func poolOf(path string) (guard.ClusterID, string, error) {
	lower := strings.ToLower(path)
	i := strings.Index(lower, "/agentpools/")
	if i < 0 {
		return guard.ClusterID{}, "", fmt.Errorf("no agent pool in the path")
	}
	id, err := armid.ParseCluster(path[:i])
	if err != nil {
		return guard.ClusterID{}, "", err
	}
	rest := strings.Split(path[i+len("/agentpools/"):], "/")
	return id, rest[0], nil
}

// MigrateAs moves cluster id to a system-assigned identity as a person
// running az aks update --enable-managed-identity does: the same update
// the fleet applies to the guard's PUT, done at once, recorded in the
// change history as by. It returns the change's correlation id, or "" when
// there is no such cluster or AKS would refuse the update.
func (f *Fleet) MigrateAs(id guard.ClusterID, by Caller) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.clusters[key(id)]
	if !ok {
		return ""
	}
	body := cloneJSON(cur)
	body.Identity = &armcontainerservice.ManagedClusterIdentity{Type: to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned)}
	after, code := f.migrate(id, cur, body)
	if code != "" {
		return ""
	}
	f.clusters[key(id)] = after
	return f.history.add(f.now(), id, ChangeUpdate, by, Write{}, diff(cur, after))
}

// UpgradeNodeImageAs upgrades the node image of pool of cluster id at
// once, as a person running az aks nodepool upgrade --node-image-only
// does, and records it as by. It returns false when there is no such pool.
func (f *Fleet) UpgradeNodeImageAs(id guard.ClusterID, pool string, by Caller) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pool(id, pool); !ok {
		return false
	}
	f.updates.next++
	op := &nodeImageOp{id: nodeImageFakePrefix + strconv.FormatUint(f.updates.next, 10), cluster: id, pool: pool, by: &by}
	f.nodeImageOps[op.id] = op
	f.finishNodeImage(op)
	return true
}
