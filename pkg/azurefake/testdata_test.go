package azurefake

import (
	"encoding/json"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

// The subscription, principal and role of the azure-rest-api-specs
// Authorization 2022-04-01 examples.
const (
	specSub       = "a925f2f7-5c63-4b7b-8799-25a5f97bc3b2"
	specPrincipal = "ce2ce14e-85d7-4629-bdbc-454d0519d987"
	specRole      = "/providers/Microsoft.Authorization/roleDefinitions/0b5fe924-9a61-425c-96af-cfe6e287ca2d"
)

const (
	spOld = "3bf1b8fa-ad21-402f-888a-ec509e7f55f1" // a cluster's service principal
	spNew = "9d7c0b3e-2f14-4e51-a1c2-5b6f0e8d4a71" // its new control-plane identity
	other = "11111111-1111-4111-8111-111111111111"
)

// contributor is the built-in Contributor role, in the subscription-level
// form callers send.
func contributor(sub string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"
}

// sampleAssignments reads the role assignments of a sample list body.
func sampleAssignments(t *testing.T, file string) []guard.RoleAssignment {
	t.Helper()
	var page armauthorization.RoleAssignmentListResult
	if err := json.Unmarshal(sampletest.Read(t, file), &page); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []guard.RoleAssignment
	for _, ra := range page.Value {
		p := ra.Properties
		out = append(out, guard.RoleAssignment{ID: *ra.ID, Scope: *p.Scope, RoleDefinitionID: *p.RoleDefinitionID,
			PrincipalID: *p.PrincipalID, PrincipalType: string(*p.PrincipalType)})
	}
	return out
}

// spSample returns a fleet holding the service-principal cluster of a real
// recorded GET, its ID and its eTag.
func spSample(t *testing.T) (*Fleet, guard.ClusterID, string) {
	t.Helper()
	f := NewFleet()
	var mc armcontainerservice.ManagedCluster
	if err := json.Unmarshal(sampletest.Read(t, "aks_get_sp_realguid_sdknet_recording.json"), &mc); err != nil {
		t.Fatal(err)
	}
	f.Put(mc)
	id := guard.ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "rg-4149", Name: "manCluster-5614"}
	stored, ok := f.Cluster(id.String())
	if !ok {
		t.Fatalf("Fleet.Cluster(%s) not found after Put", id)
	}
	return f, id, *stored.ETag
}

var systemAssigned = guard.IdentityTarget{Type: "SystemAssigned"}
