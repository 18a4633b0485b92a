package azurefake

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/aks"
	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

const (
	subA = "7081f3a5-4a28-420f-983d-d492b49d20a2"
	subB = "e8b427c5-2832-403d-beae-d6552b1bcfb5"
)

func clusterID(sub, rg, name string) guard.ClusterID {
	return guard.ClusterID{Subscription: sub, ResourceGroup: rg, Name: name}
}

// spCluster is a minimal cluster that authenticates with a service principal.
func spCluster(id guard.ClusterID, clientID string) armcontainerservice.ManagedCluster {
	return sampletest.SPCluster(id.String(), clientID)
}

func fleetClient(f *Fleet) *aks.Client { return f.Client() }

func TestLoadFleetObject(t *testing.T) {
	const (
		c1 = "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1"
		c2 = "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/c2"
	)
	in := `{
		"servicePrincipals": [{"appId": "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"}],
		"clusters": [{"id": "` + c1 + `", "properties": {}}, {"id": "` + c2 + `", "properties": {}}],
		"maintenanceConfigurations": {
			"` + strings.ToUpper(c1) + `": [
				{"name": "default", "properties": {"timeInWeek": [{"day": "Sunday", "hourSlots": [0]}]}},
				{"id": "` + c1 + `/maintenanceConfigurations/aksManagedNodeOSUpgradeSchedule", "name": "aksManagedNodeOSUpgradeSchedule",
				 "properties": {"maintenanceWindow": {"schedule": {"daily": {"intervalDays": 1}}, "durationHours": 4, "startTime": "00:00"}}}
			]
		}
	}`
	f, err := LoadFleet(strings.NewReader(in))
	if err != nil {
		t.Fatalf("LoadFleet() error %v", err)
	}
	if got := len(f.IDs()); got != 2 {
		t.Errorf("LoadFleet() has %d clusters, want 2", got)
	}
	id1, _ := armid.ParseCluster(c1)
	got, err := fleetClient(f).MaintenanceConfigs(t.Context(), id1)
	want := []guard.MaintenanceConfig{
		{Name: "default", TimeInWeek: []guard.TimeInWeek{{Day: time.Sunday, HourSlots: []int{0}}}},
		{Name: "aksManagedNodeOSUpgradeSchedule", Window: &guard.MaintenanceWindow{Schedule: guard.Schedule{Daily: &guard.DailySchedule{IntervalDays: 1}}, DurationHours: 4, StartTime: "00:00"}},
	}
	if err != nil {
		t.Fatalf("MaintenanceConfigs(c1) error %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MaintenanceConfigs(c1) mismatch (-want +got):\n%s", diff)
	}
	id2, _ := armid.ParseCluster(c2)
	if got, err := fleetClient(f).MaintenanceConfigs(t.Context(), id2); err != nil || got != nil {
		t.Errorf("MaintenanceConfigs(c2) = %v, %v; want none", got, err)
	}

	// The configurations go with their cluster.
	mc, _ := f.Cluster(c1)
	f.Delete(c1)
	f.Put(mc)
	if got, err := fleetClient(f).MaintenanceConfigs(t.Context(), id1); err != nil || got != nil {
		t.Errorf("MaintenanceConfigs(c1) after Delete and Put = %v, %v; want none", got, err)
	}
}

func TestLoadFleetMalformed(t *testing.T) {
	const id = "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1"
	tests := []struct {
		name, in, mention string
	}{
		{"syntax", "[\n  {\"id\": \"x\",\n  }\n]", "line 3, column 3"},
		{"truncated", `[{"id": "` + id + `"`, "unexpected end of JSON input"},
		{"empty", ``, "unexpected end of JSON input"},
		{"list response", `{"value": []}`, `a JSON object without "clusters"`},
		{"number", `42`, `want a JSON array of managed clusters or an object with "clusters", got a JSON number`},
		{"clusters not an array", `{"clusters": {}}`, `"clusters": want a JSON array, got a JSON object`},
		{"not an object", `[42]`, "cluster 0: not a JSON object"},
		{"null element", `[null]`, "cluster 0: not a JSON object"},
		{"no id", `[{"name": "c1", "properties": {}}]`, `cluster 0: no "id" (name "c1")`},
		{"placeholder subscription", `[{"id": "/subscriptions/{subscription-id}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1", "properties": {}}]`, "not a GUID"},
		{"agent pool", `[{"id": "` + id + `/agentPools/np1", "properties": {}}]`, "not the cluster"},
		{"az aks show shape", `[{"id": "` + id + `", "servicePrincipalProfile": {"clientId": "x"}}]`, `no "properties" object`},
		{"null properties", `[{"id": "` + id + `", "properties": null}]`, `no "properties" object`},
		{"wrong field type", `[{"id": "` + id + `", "tags": "prod", "properties": {}}]`, "cluster 0: unmarshalling type"},
		{"duplicate", `[{"id": "` + id + `", "properties": {}}, {"id": "` + strings.ToUpper(id) + `", "properties": {}}]`, "cluster 1: " + strings.ToUpper(id) + " repeats cluster 0"},
		{"object, bad cluster", `{"clusters": [{"id": "` + id + `"}]}`, `cluster 0: ` + id + `: no "properties" object`},
		{"maintenance not an object", `{"clusters": [], "maintenanceConfigurations": []}`, `"maintenanceConfigurations": want a JSON object, got a JSON array`},
		{"maintenance of no cluster ID", `{"clusters": [], "maintenanceConfigurations": {"c1": []}}`, "maintenanceConfigurations: "},
		{"maintenance of another cluster", `{"clusters": [], "maintenanceConfigurations": {"` + id + `": []}}`, "maintenanceConfigurations: " + id + " is not a cluster of the file"},
		{"maintenance twice", `{"clusters": [{"id": "` + id + `", "properties": {}}], "maintenanceConfigurations": {"` + id + `": [], "` + strings.ToUpper(id) + `": []}}`, "repeats a cluster"},
		{"maintenance not objects", `{"clusters": [{"id": "` + id + `", "properties": {}}], "maintenanceConfigurations": {"` + id + `": [1]}}`, "maintenanceConfigurations of " + id + ": configuration 0: not a JSON object"},
		{"maintenance without name", `{"clusters": [{"id": "` + id + `", "properties": {}}], "maintenanceConfigurations": {"` + id + `": [{"properties": {}}]}}`, `configuration 0: no "name"`},
		{"maintenance names repeat", `{"clusters": [{"id": "` + id + `", "properties": {}}], "maintenanceConfigurations": {"` + id + `": [{"name": "default"}, {"name": "Default"}]}}`, `configuration 1: name "Default" repeats configuration 0`},
		{"maintenance wrong field type", `{"clusters": [{"id": "` + id + `", "properties": {}}], "maintenanceConfigurations": {"` + id + `": [{"name": "default", "properties": {"timeInWeek": {}}}]}}`, "configuration 0: unmarshalling type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFleet(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("LoadFleet(%q) error = %v, want one mentioning %q", tt.in, err, tt.mention)
			}
		})
	}
}

func TestLoadFleetETags(t *testing.T) {
	const in = `[
		{"id": "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1", "eTag": "kept", "properties": {}},
		{"id": "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/c2", "properties": {}}
	]`
	f, err := LoadFleet(strings.NewReader(in))
	if err != nil {
		t.Fatalf("LoadFleet() error %v", err)
	}
	ids := f.IDs()
	if len(ids) != 2 {
		t.Fatalf("IDs() = %v, want 2", ids)
	}
	c1, _ := f.Cluster(ids[0])
	c2, _ := f.Cluster(ids[1])
	if got := *c1.ETag; got != "kept" {
		t.Errorf("Cluster(c1).ETag = %q, want the file's %q", got, "kept")
	}
	if c2.ETag == nil || *c2.ETag == "" {
		t.Errorf("Cluster(c2).ETag is empty, want one assigned")
	}
}

func TestFleetPut(t *testing.T) {
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	f := NewFleet()
	mc := spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1")
	mc.ETag = to.Ptr("caller-chosen")
	f.Put(mc)

	// ARM compares IDs case-insensitively and spells resourcegroups both ways.
	lower := strings.ToLower(strings.Replace(id.String(), "resourceGroups", "resourcegroups", 1))
	first, ok := f.Cluster(lower)
	if !ok {
		t.Fatalf("Cluster(%s) not found after Put(%s)", lower, id)
	}
	if *first.ETag == "caller-chosen" || *first.ETag == "" {
		t.Errorf("Put() kept eTag %q, want a fresh one", *first.ETag)
	}

	// The fleet keeps its own copy.
	first.Properties.ServicePrincipalProfile.ClientID = to.Ptr("msi")
	mc.Properties.ServicePrincipalProfile.ClientID = to.Ptr("msi")
	again, _ := f.Cluster(id.String())
	if got := *again.Properties.ServicePrincipalProfile.ClientID; got != "3bf1b8fa-ad21-402f-888a-ec509e7f55f1" {
		t.Errorf("Cluster() after changing copies = client %q, want the stored one", got)
	}

	f.Put(first)
	second, _ := f.Cluster(id.String())
	if *second.ETag == *first.ETag {
		t.Errorf("second Put() kept eTag %q, want a fresh one", *second.ETag)
	}
	if got := *second.Properties.ServicePrincipalProfile.ClientID; got != "msi" {
		t.Errorf("Cluster() after Put = client %q, want msi", got)
	}

	f.Delete(strings.ToUpper(id.String()))
	if _, ok := f.Cluster(id.String()); ok {
		t.Errorf("Cluster(%s) found after Delete", id)
	}
	if _, err := fleetClient(f).GetCluster(t.Context(), id); guard.KindOf(err) != guard.KindNotFound {
		t.Errorf("GetCluster(%s) after Delete: error %v, want %s", id, err, guard.KindNotFound)
	}
	f.Delete("not an ID") // a no-op
	if _, ok := f.Cluster("not an ID"); ok {
		t.Errorf(`Cluster("not an ID") found`)
	}
}

func TestFleetPutPanicsWithoutID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("Put(cluster without ID) did not panic")
		}
	}()
	NewFleet().Put(spCluster(guard.ClusterID{}, "x"))
}

func TestFleetUnimplementedMethod(t *testing.T) {
	// Operations the fleet does not serve fail at once: the fake's error is
	// not retried.
	f := NewFleet()
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	f.Put(spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"))
	mcc := sdkClusters(t, f)
	_, err := mcc.GetUpgradeProfile(t.Context(), id.ResourceGroup, id.Name, nil)
	if err == nil || !strings.Contains(err.Error(), "not implemented") {
		t.Errorf("GetUpgradeProfile() error = %v, want not implemented", err)
	}
	if got := f.Calls("GetUpgradeProfile"); got != 1 {
		t.Errorf("Calls(GetUpgradeProfile) = %d, want 1", got)
	}
}

func TestFleetUpdateRefusals(t *testing.T) {
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	const uami = "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"
	tests := []struct {
		name    string
		stored  func(mc *armcontainerservice.ManagedCluster) // nil: no cluster
		body    func(mc *armcontainerservice.ManagedCluster)
		ifMatch string // "current" for the cluster's eTag
		status  int
		code    string
	}{
		{name: "stale If-Match", stored: func(*armcontainerservice.ManagedCluster) {}, ifMatch: "fleet-stale", status: http.StatusPreconditionFailed, code: "PreconditionFailed"},
		{name: "If-Match without cluster", ifMatch: "fleet-00000001", status: http.StatusPreconditionFailed, code: "PreconditionFailed"},
		{name: "no cluster", status: http.StatusNotFound, code: "ResourceNotFound"},
		{
			name:   "no properties",
			stored: func(*armcontainerservice.ManagedCluster) {},
			body:   func(mc *armcontainerservice.ManagedCluster) { mc.Properties = nil },
			status: http.StatusBadRequest, code: "InvalidRequestContent",
		},
		{
			name:   "two user-assigned identities",
			stored: func(*armcontainerservice.ManagedCluster) {},
			body: func(mc *armcontainerservice.ManagedCluster) {
				mc.Identity = &armcontainerservice.ManagedClusterIdentity{
					Type:                   to.Ptr(armcontainerservice.ResourceIdentityTypeUserAssigned),
					UserAssignedIdentities: map[string]*armcontainerservice.ManagedServiceIdentityUserAssignedIdentitiesValue{uami + "a": {}, uami + "b": {}},
				}
			},
			ifMatch: "current", status: http.StatusBadRequest, code: "InvalidParameter",
		},
		{
			name:   "user-assigned, not an identity",
			stored: func(*armcontainerservice.ManagedCluster) {},
			body: func(mc *armcontainerservice.ManagedCluster) {
				mc.Identity = &armcontainerservice.ManagedClusterIdentity{
					Type:                   to.Ptr(armcontainerservice.ResourceIdentityTypeUserAssigned),
					UserAssignedIdentities: map[string]*armcontainerservice.ManagedServiceIdentityUserAssignedIdentitiesValue{id.String(): {}},
				}
			},
			status: http.StatusBadRequest, code: "InvalidParameter",
		},
		{
			name: "back to a service principal",
			stored: func(mc *armcontainerservice.ManagedCluster) {
				mc.Identity = &armcontainerservice.ManagedClusterIdentity{Type: to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned)}
			},
			body:   func(mc *armcontainerservice.ManagedCluster) { mc.Identity = nil },
			status: http.StatusBadRequest, code: "BadRequest",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFleet()
			body := spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1")
			if tt.stored != nil {
				stored := spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1")
				tt.stored(&stored)
				f.Put(stored)
			}
			if tt.body != nil {
				tt.body(&body)
			}
			var opts armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions
			switch tt.ifMatch {
			case "":
			case "current":
				mc, _ := f.Cluster(id.String())
				opts.IfMatch = mc.ETag
			default:
				opts.IfMatch = to.Ptr(tt.ifMatch)
			}
			before, _ := f.Cluster(id.String())
			_, err := sdkClusters(t, f).BeginCreateOrUpdate(t.Context(), id.ResourceGroup, id.Name, body, &opts)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != tt.status || re.ErrorCode != tt.code {
				t.Fatalf("BeginCreateOrUpdate() error = %v, want HTTP %d %s", err, tt.status, tt.code)
			}
			after, _ := f.Cluster(id.String())
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("refused update changed the cluster (-before +after):\n%s", diff)
			}
		})
	}
}

// sdkClusters returns the SDK's own client of subA over f.
func sdkClusters(t *testing.T, f *Fleet) *armcontainerservice.ManagedClustersClient {
	t.Helper()
	c, err := armcontainerservice.NewManagedClustersClient(subA, &azfake.TokenCredential{}, f.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFleetUpdateWhileRunning(t *testing.T) {
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	f := NewFleet()
	f.Put(spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"))
	f.SetUpdatePolls(2)
	c := sdkClusters(t, f)
	body := spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1")
	body.Identity = &armcontainerservice.ManagedClusterIdentity{Type: to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned)}

	p, err := c.BeginCreateOrUpdate(t.Context(), id.ResourceGroup, id.Name, body, nil)
	if err != nil || p.Done() {
		t.Fatalf("BeginCreateOrUpdate() = done %t, %v; want a running operation", p != nil && p.Done(), err)
	}
	// Another PUT, even with the cluster's current eTag, waits for it.
	updating, _ := f.Cluster(id.String())
	if got := *updating.Properties.ProvisioningState; got != "Updating" {
		t.Errorf("ProvisioningState while updating = %q, want Updating", got)
	}
	_, err = c.BeginCreateOrUpdate(t.Context(), id.ResourceGroup, id.Name, body, &armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions{IfMatch: updating.ETag})
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusConflict || re.ErrorCode != "AnotherOperationInProgress" {
		t.Errorf("second BeginCreateOrUpdate() error = %v, want 409 AnotherOperationInProgress", err)
	}
	res, err := p.PollUntilDone(t.Context(), &runtime.PollUntilDoneOptions{Frequency: time.Millisecond})
	if err != nil {
		t.Fatalf("PollUntilDone() error %v", err)
	}
	stored, _ := f.Cluster(id.String())
	if diff := cmp.Diff(stored, res.ManagedCluster); diff != "" {
		t.Errorf("operation result differs from the stored cluster (-stored +result):\n%s", diff)
	}
	if got, want := *stored.Identity.PrincipalID, nameGUID("principal", id.String()); got != want {
		t.Errorf("identity.principalId = %s, want the name-based %s", got, want)
	}
	if got := *stored.Properties.IdentityProfile["kubeletidentity"].ResourceID; !strings.HasSuffix(got, "/userAssignedIdentities/payments-prod-weu-agentpool") {
		t.Errorf("kubelet identity = %s, want <cluster>-agentpool", got)
	}
	for method, want := range map[string]int{"BeginCreateOrUpdate": 2} {
		if got := f.Calls(method); got != want {
			t.Errorf("Calls(%s) = %d, want %d", method, got, want)
		}
	}
	if got := f.Polls("BeginCreateOrUpdate"); got != 2 {
		t.Errorf("Polls(BeginCreateOrUpdate) = %d, want 2", got)
	}

	// Now it is done, a PUT without If-Match (or with "*") is accepted.
	if _, err := c.BeginCreateOrUpdate(t.Context(), id.ResourceGroup, id.Name, stored, &armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions{IfMatch: to.Ptr("*")}); err != nil {
		t.Errorf("BeginCreateOrUpdate(If-Match *) after the end error %v", err)
	}
}

func TestFleetPollUnknownOperation(t *testing.T) {
	f, id, etag := spSample(t)
	st, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: systemAssigned}, 0)
	if err != nil || st.ResumeToken == "" {
		t.Fatalf("StartIdentityUpdate(wait 0) = %+v, %v; want a resume token", st, err)
	}
	other, _, _ := spSample(t)
	_, err = fleetClient(other).ResumeIdentityUpdate(t.Context(), id, st.ResumeToken, time.Second)
	if guard.KindOf(err) != guard.KindNotFound {
		t.Errorf("ResumeIdentityUpdate(another fleet's token) error = %v, want %s", err, guard.KindNotFound)
	}
}

func TestNameGUID(t *testing.T) {
	a := nameGUID("principal", "/subscriptions/X/c1")
	if a != nameGUID("principal", "/subscriptions/x/C1") {
		t.Errorf("nameGUID() differs by case")
	}
	if a == nameGUID("client", "/subscriptions/x/c1") {
		t.Errorf("nameGUID() is the same for two kinds")
	}
	if !guidPattern.MatchString(a) {
		t.Errorf("nameGUID() = %s, want a version 5 GUID", a)
	}
}

var guidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
