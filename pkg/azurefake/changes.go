package azurefake

import (
	"context"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph/fake"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/resourcegraph"
)

// Caller is who sent a write, as Azure's change history records it.
type Caller struct {
	// ChangedBy is a person's e-mail address, or the application (client)
	// id of a service principal or managed identity; empty when the history
	// cannot name the caller.
	ChangedBy string
	// Type is CallerUser, CallerApplication or CallerManagedIdentity; empty
	// means Unknown.
	Type string
	// ClientType is the client the caller used, such as "Azure CLI".
	ClientType string
}

// The changedByType values of a change record.
const (
	CallerUser            = "User"
	CallerApplication     = "Application"
	CallerManagedIdentity = "ManagedIdentity"
	callerUnknown         = "Unknown"
)

// ChangeType is a change record's changeType.
type ChangeType string

const (
	ChangeCreate ChangeType = "Create"
	ChangeUpdate ChangeType = "Update"
	ChangeDelete ChangeType = "Delete"
)

// ChangeRecord is one record of a cluster's change history
// (Microsoft.Resources/changes), as Azure Resource Graph's resourcechanges
// table shows it.
type ChangeRecord struct {
	// ID is the change resource's name, a GUID.
	ID string
	// Target is the cluster's resource ID.
	Target        guard.ClusterID
	Type          ChangeType
	At            time.Time
	By            Caller
	CorrelationID string
	Operation     string
	// Changes lists the changed properties by path, such as
	// "tags.aksguard-remediation"; none for Create and Delete, as Azure
	// records them.
	Changes map[string]PropertyChange
}

// PropertyChange is one property's values before and after a change; nil
// where the property was absent.
type PropertyChange struct {
	Previous, New *string
}

// history is a fleet's change records, oldest first; Fleet.mu guards it.
type history struct {
	records []ChangeRecord
	// delay is how long after its change a record becomes visible.
	delay time.Duration
}

// add records a change and returns its correlation ID.
func (h *history) add(at time.Time, id guard.ClusterID, kind ChangeType, by Caller, w Write, changes map[string]PropertyChange) string {
	n := strconv.Itoa(len(h.records) + 1)
	corr := w.CorrelationID
	if corr == "" {
		corr = nameGUID("correlation", id.String()+"#"+n)
	}
	op := w.Operation
	if op == "" {
		op = "Microsoft.ContainerService/managedClusters/write"
	}
	h.records = append(h.records, ChangeRecord{
		ID: nameGUID("change", id.String()+"#"+n), Target: id, Type: kind, At: at, By: by,
		CorrelationID: corr, Operation: op, Changes: changes,
	})
	return corr
}

// SetChangeDelay makes change records visible in Resource Graph d after the
// change they record (Microsoft says within five minutes); 0, the default,
// makes them visible at once.
func (f *Fleet) SetChangeDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.history.delay = max(d, 0)
}

// Changes returns the change records of the cluster with resource ID id,
// oldest first, visible or not.
func (f *Fleet) Changes(id string) []ChangeRecord {
	cid, err := armid.ParseCluster(id)
	if err != nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ChangeRecord
	for _, r := range f.history.records {
		if r.Target.Same(cid) {
			out = append(out, r)
		}
	}
	return out
}

// diff lists the properties of a cluster the change history shows that
// differ between before and after: every tag, identity.type,
// servicePrincipalProfile.clientId and provisioningState.
func diff(before, after armcontainerservice.ManagedCluster) map[string]PropertyChange {
	out := map[string]PropertyChange{}
	note := func(path string, prev, next *string) {
		if deref(prev) != deref(next) || (prev == nil) != (next == nil) {
			out[path] = PropertyChange{Previous: prev, New: next}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(tagSet(before.Tags, after.Tags))) {
		note("tags."+k, before.Tags[k], after.Tags[k])
	}
	note("identity.type", identityTypeOf(before), identityTypeOf(after))
	note("properties.servicePrincipalProfile.clientId", clientIDOf(before), clientIDOf(after))
	note("properties.provisioningState", stateOf(before), stateOf(after))
	return out
}

func tagSet(a, b map[string]*string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func identityTypeOf(mc armcontainerservice.ManagedCluster) *string {
	if mc.Identity == nil || mc.Identity.Type == nil {
		return nil
	}
	return to.Ptr(string(*mc.Identity.Type))
}

func clientIDOf(mc armcontainerservice.ManagedCluster) *string {
	if mc.Properties == nil || mc.Properties.ServicePrincipalProfile == nil {
		return nil
	}
	return mc.Properties.ServicePrincipalProfile.ClientID
}

func stateOf(mc armcontainerservice.ManagedCluster) *string {
	if mc.Properties == nil {
		return nil
	}
	return mc.Properties.ProvisioningState
}

// onlyTags reports whether changes change tags and nothing else.
func onlyTags(changes map[string]PropertyChange) bool {
	for k := range changes {
		if !strings.HasPrefix(k, "tags.") {
			return false
		}
	}
	return len(changes) > 0
}

const resourcesMethod = "Client.Resources"

// ResourceGraphOptions returns options for armresourcegraph clients that
// route every request to the fleet's change history, served through the
// armresourcegraph fake server. It answers Client.Resources for a query of
// the resourcechanges table that names one resource with
// "properties.targetResourceId =~ '<id>'": every change record of that
// resource visible now (see SetChangeDelay), newest first, as objectArray
// rows whose properties are the change resource's, if the request's
// subscriptions include the resource's. It does not evaluate the rest of
// the query: the client filters the rows again. Any other query is 400
// BadRequest.
func (f *Fleet) ResourceGraphOptions() *arm.ClientOptions {
	srv := fake.NewServerTransport(&fake.Server{Resources: f.fakeResources})
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: graphRouter{f: f, srv: srv}}}
}

// ResourceGraph returns a resourcegraph.Client that reads this fleet's
// change history, authenticated with the SDK's fake credential.
func (f *Fleet) ResourceGraph() *resourcegraph.Client {
	c, err := resourcegraph.New(&azfake.TokenCredential{}, f.ResourceGraphOptions())
	if err != nil {
		panic("azurefake: Fleet.ResourceGraph: " + err.Error()) // only a bad option fails
	}
	return c
}

// graphRouter counts Resource Graph requests and applies the faults of
// ChangeHistory before the fake server sees them.
type graphRouter struct {
	f   *Fleet
	srv *fake.ServerTransport
}

func (r graphRouter) Do(req *http.Request) (*http.Response, error) {
	method, _ := req.Context().Value(runtime.CtxAPINameKey{}).(string)
	o := r.f.faults.take(method)
	if o.refuse != nil {
		return nil, injected(req, o.refuse)
	}
	r.f.mu.Lock()
	over, quota := r.f.quota.take(r.f.now())
	r.f.mu.Unlock()
	if over {
		return throttled(req, quota), nil
	}
	resp, err := r.srv.Do(req)
	if err == nil {
		for k, v := range quota {
			resp.Header[k] = v
		}
	}
	if err == nil && o.lose {
		resp.Body.Close()
		return nil, lostAnswer{method}
	}
	return resp, err
}

// clientIDRE finds the application id of a query for the clusters that use
// a service principal (resourcegraph.Client.ClustersUsing).
var clientIDRE = regexp.MustCompile(`(?i)servicePrincipalProfile\.clientId\)\s*=~\s*'([0-9a-f-]{36})'`)

var targetRE = regexp.MustCompile(`(?i)properties\.targetResourceId\s*=~\s*'((?:[^'\\]|\\.)*)'`)

func (f *Fleet) fakeResources(_ context.Context, q armresourcegraph.QueryRequest, _ *armresourcegraph.ClientResourcesOptions) (resp azfake.Responder[armresourcegraph.ClientResourcesResponse], errResp azfake.ErrorResponder) {
	text := deref(q.Query)
	if kind := listingQuery(text); kind != "" {
		return f.fakeListing(kind, q)
	}
	if m := clientIDRE.FindStringSubmatch(text); m != nil && strings.HasPrefix(strings.TrimSpace(strings.ToLower(text)), "resources") {
		rows := []any{}
		f.mu.Lock()
		for _, k := range slices.Sorted(maps.Keys(f.clusters)) {
			mc := f.clusters[k]
			if mc.Properties != nil && mc.Properties.ServicePrincipalProfile != nil && strings.EqualFold(deref(mc.Properties.ServicePrincipalProfile.ClientID), m[1]) {
				rows = append(rows, map[string]any{"id": deref(mc.ID)})
			}
		}
		f.mu.Unlock()
		n := int64(len(rows))
		resp.SetResponse(http.StatusOK, armresourcegraph.ClientResourcesResponse{QueryResponse: armresourcegraph.QueryResponse{
			Count: &n, TotalRecords: &n, Data: rows, ResultTruncated: to.Ptr(armresourcegraph.ResultTruncatedFalse)}}, nil)
		return resp, errResp
	}
	m := targetRE.FindStringSubmatch(text)
	if !strings.HasPrefix(strings.TrimSpace(strings.ToLower(text)), "resourcechanges") || m == nil {
		errResp.SetResponseError(http.StatusBadRequest, "BadRequest")
		return resp, errResp
	}
	id, err := armid.ParseCluster(strings.ReplaceAll(m[1], `\'`, `'`))
	if err != nil {
		errResp.SetResponseError(http.StatusBadRequest, "BadRequest")
		return resp, errResp
	}
	inScope := false
	for _, s := range q.Subscriptions {
		inScope = inScope || strings.EqualFold(deref(s), id.Subscription)
	}
	rows := []any{}
	if inScope {
		f.mu.Lock()
		now := f.now()
		for i := len(f.history.records) - 1; i >= 0; i-- {
			r := f.history.records[i]
			if r.Target.Same(id) && !now.Before(r.At.Add(f.history.delay)) {
				rows = append(rows, r.row())
			}
		}
		f.mu.Unlock()
	}
	n := int64(len(rows))
	resp.SetResponse(http.StatusOK, armresourcegraph.ClientResourcesResponse{QueryResponse: armresourcegraph.QueryResponse{
		Count: &n, TotalRecords: &n, Data: rows, ResultTruncated: to.Ptr(armresourcegraph.ResultTruncatedFalse),
	}}, nil)
	return resp, errResp
}

// row is r as a row of the resourcechanges table.
func (r ChangeRecord) row() map[string]any {
	changes := map[string]any{}
	for path, c := range r.Changes {
		changes[path] = map[string]any{"previousValue": c.Previous, "newValue": c.New}
	}
	by, typ := r.By.ChangedBy, r.By.Type
	if typ == "" {
		by, typ = callerUnknown, callerUnknown
	}
	attrs := map[string]any{
		"correlationId": r.CorrelationID,
		"timestamp":     r.At.UTC().Format(time.RFC3339Nano),
		"changesCount":  len(r.Changes),
		"changedBy":     by,
		"changedByType": typ,
		"clientType":    r.By.ClientType,
		"operation":     r.Operation,
	}
	target := r.Target.String()
	return map[string]any{
		"id":             target + "/providers/Microsoft.Resources/changes/" + r.ID,
		"name":           r.ID,
		"type":           "microsoft.resources/changes",
		"subscriptionId": r.Target.Subscription,
		"resourceGroup":  strings.ToLower(r.Target.ResourceGroup),
		"properties": map[string]any{
			"targetResourceId":   target,
			"targetResourceType": "microsoft.containerservice/managedclusters",
			"changeType":         string(r.Type),
			"changeAttributes":   attrs,
			"changes":            changes,
		},
	}
}
