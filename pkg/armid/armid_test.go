package armid

import (
	"errors"
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/guard"
)

const cluster = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/rg-4149/providers/Microsoft.ContainerService/managedClusters/manCluster-5614"

func TestClusterOf(t *testing.T) {
	want := guard.ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "rg-4149", Name: "manCluster-5614"}
	tests := []struct {
		in, child string
	}{
		{cluster, ""},
		{strings.Replace(cluster, "resourcegroups", "resourceGroups", 1), ""},
		{strings.ToLower(cluster), ""},
		{cluster + "/agentPools/nodepool1", "Microsoft.ContainerService/managedClusters/agentPools"},
		{cluster + "/providers/Microsoft.Resources/tags/default", "Microsoft.Resources/tags"},
		{cluster + "/maintenanceConfigurations/default", "Microsoft.ContainerService/managedClusters/maintenanceConfigurations"},
	}
	for _, tt := range tests {
		id, child, err := ClusterOf(tt.in)
		if err != nil {
			t.Errorf("ClusterOf(%q) error %v", tt.in, err)
			continue
		}
		if !id.Same(want) || child != tt.child {
			t.Errorf("ClusterOf(%q) = %+v, %q, want %+v, %q", tt.in, id, child, want, tt.child)
		}
	}
}

func TestClusterOfRejects(t *testing.T) {
	tests := []struct{ in, mention string }{
		{"", "empty"},
		{"subscriptions/x", "must start with '/'"},
		{"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa", "Microsoft.Storage/storageAccounts): not an AKS managed cluster"},
		{"/subscriptions/{subscription-id}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1", "not a GUID"},
		{"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/c1", "resource group name"},
		{"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/-bad-", "cluster name"},
		{"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/providers/Microsoft.ContainerService/managedClusters/c1", "resource group"},
	}
	for _, tt := range tests {
		_, _, err := ClusterOf(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ClusterOf(%q) error = %v, want one mentioning %q", tt.in, err, tt.mention)
		}
	}
}

func TestClusterOfNotCluster(t *testing.T) {
	_, _, err := ClusterOf("/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa")
	if !errors.Is(err, ErrNotCluster) {
		t.Errorf("ClusterOf(storage account) error = %v, want ErrNotCluster", err)
	}
	_, _, err = ClusterOf("not an id")
	if errors.Is(err, ErrNotCluster) {
		t.Errorf("ClusterOf(malformed) error = %v, want an error other than ErrNotCluster", err)
	}
}

func TestParseClusterRejectsChild(t *testing.T) {
	if _, err := ParseCluster(cluster + "/agentPools/np1"); err == nil {
		t.Errorf("ParseCluster(agent pool) succeeded, want error")
	}
	id, err := ParseCluster(cluster)
	if err != nil || id.Name != "manCluster-5614" {
		t.Errorf("ParseCluster(%q) = %+v, %v", cluster, id, err)
	}
}

func TestIsGUID(t *testing.T) {
	tests := map[string]bool{
		"db1ab6f0-4769-4b27-930e-01e2ef9c123c":   true,
		"DB1AB6F0-4769-4B27-930E-01E2EF9C123C":   true,
		"db1ab6f0-4769-4b27-930e-01e2ef9c123":    false, // one digit short
		"db1ab6f0_4769-4b27-930e-01e2ef9c123c":   false,
		"{db1ab6f0-4769-4b27-930e-01e2ef9c123c}": false,
		"db1ab6f0-4769-4b27-930e-01e2ef9c123g":   false,
		"":                                       false,
	}
	for in, want := range tests {
		if got := IsGUID(in); got != want {
			t.Errorf("IsGUID(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCheckUserAssignedIdentity(t *testing.T) {
	const ok = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-aks-cp"
	if err := CheckUserAssignedIdentity(ok); err != nil {
		t.Errorf("CheckUserAssignedIdentity(%q) = %v, want nil", ok, err)
	}
	tests := []struct{ in, mention string }{
		{"id-aks-cp", "id-aks-cp"},
		{"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks", "not a Microsoft.ManagedIdentity/userAssignedIdentities"},
		{ok + "\n", "control characters"},
	}
	for _, tt := range tests {
		if err := CheckUserAssignedIdentity(tt.in); err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("CheckUserAssignedIdentity(%q) = %v, want an error mentioning %q", tt.in, err, tt.mention)
		}
	}
}
