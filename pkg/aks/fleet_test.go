package aks

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

const demoFleet = "../demo/fleet.json"

func TestDemoFleet(t *testing.T) {
	file, err := os.Open(demoFleet)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	f, err := LoadFleet(file)
	if err != nil {
		t.Fatalf("LoadFleet(%s) error %v", demoFleet, err)
	}

	want := map[string]guard.Verdict{
		"payments-prod-weu":   guard.VerdictServicePrincipal,
		"checkout-prod-neu":   guard.VerdictServicePrincipal,
		"search-prod-weu":     guard.VerdictManagedIdentity,
		"analytics-prod-eus2": guard.VerdictMixed,
		"ingest-staging-weu":  guard.VerdictManagedIdentity,
		"reporting-dev-weu":   guard.VerdictServicePrincipal,
		"batch-legacy-eus":    guard.VerdictServicePrincipal,
		"billing-prod-weu":    guard.VerdictServicePrincipal,
		"legacy-api-dev-weu":  guard.VerdictServicePrincipal,
		"sandbox-dev-eus":     guard.VerdictServicePrincipal,
	}
	c := fleetClient(f)
	got := map[string]guard.Verdict{}
	subscriptions := map[string]bool{}
	identityTypes := map[string]bool{}
	for _, s := range f.IDs() {
		id, err := armid.ParseCluster(s)
		if err != nil {
			t.Errorf("armid.ParseCluster(%s) error %v", s, err)
			continue
		}
		subscriptions[strings.ToLower(id.Subscription)] = true
		cl, err := c.GetCluster(t.Context(), id)
		if err != nil {
			t.Errorf("GetCluster(%s) error %v", id, err)
			continue
		}
		got[id.Name] = guard.Evaluate(cl).Verdict
		identityTypes[cl.IdentityType] = true
		if cl.ProvisioningState != "Succeeded" || cl.ETag == "" || cl.Location == "" {
			t.Errorf("GetCluster(%s) = state %q, eTag %q, location %q; want all set", id, cl.ProvisioningState, cl.ETag, cl.Location)
		}
		if cl.IdentityType != "" && cl.ServicePrincipalClientID == "msi" && cl.Kubelet == nil {
			t.Errorf("GetCluster(%s): managed-identity cluster without a kubelet identity", id)
		}
		if got, want := cl.HasCustomPrivateDNSZone(), id.Name == "checkout-prod-neu"; got != want {
			t.Errorf("GetCluster(%s).HasCustomPrivateDNSZone() = %t, want %t", id, got, want)
		}
		if id.Name == "ingest-staging-weu" && len(cl.UserAssignedIdentities) != 1 {
			t.Errorf("GetCluster(%s).UserAssignedIdentities = %v, want one", id, cl.UserAssignedIdentities)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("demo fleet verdicts mismatch (-want +got):\n%s", diff)
	}
	if len(subscriptions) != 2 {
		t.Errorf("demo fleet spans subscriptions %v, want 2", subscriptions)
	}
	for _, it := range []string{"", "SystemAssigned", "UserAssigned"} {
		if !identityTypes[it] {
			t.Errorf("demo fleet has no cluster with identity type %q", it)
		}
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
		{"object", `{"value": []}`, "want a JSON array of managed clusters, got a JSON object"},
		{"not an object", `[42]`, "cluster 0: not a JSON object"},
		{"null element", `[null]`, "cluster 0: not a JSON object"},
		{"no id", `[{"name": "c1", "properties": {}}]`, `cluster 0: no "id" (name "c1")`},
		{"placeholder subscription", `[{"id": "/subscriptions/{subscription-id}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1", "properties": {}}]`, "not a GUID"},
		{"agent pool", `[{"id": "` + id + `/agentPools/np1", "properties": {}}]`, "not the cluster"},
		{"az aks show shape", `[{"id": "` + id + `", "servicePrincipalProfile": {"clientId": "x"}}]`, `no "properties" object`},
		{"null properties", `[{"id": "` + id + `", "properties": null}]`, `no "properties" object`},
		{"wrong field type", `[{"id": "` + id + `", "tags": "prod", "properties": {}}]`, "cluster 0: unmarshalling type"},
		{"duplicate", `[{"id": "` + id + `", "properties": {}}, {"id": "` + strings.ToUpper(id) + `", "properties": {}}]`, "cluster 1: " + strings.ToUpper(id) + " repeats cluster 0"},
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
	api, err := fleetClient(f).api(subA)
	if err != nil {
		t.Fatal(err)
	}
	mcc, ok := api.(interface {
		GetUpgradeProfile(ctx context.Context, resourceGroupName string, resourceName string, options *armcontainerservice.ManagedClustersClientGetUpgradeProfileOptions) (armcontainerservice.ManagedClustersClientGetUpgradeProfileResponse, error)
	})
	if !ok {
		t.Fatalf("api(%s) = %T, want the SDK client", subA, api)
	}
	_, err = mcc.GetUpgradeProfile(t.Context(), id.ResourceGroup, id.Name, nil)
	if err == nil || !strings.Contains(err.Error(), "not implemented") {
		t.Errorf("GetUpgradeProfile() error = %v, want not implemented", err)
	}
	if got := f.Calls("GetUpgradeProfile"); got != 1 {
		t.Errorf("Calls(GetUpgradeProfile) = %d, want 1", got)
	}
}
