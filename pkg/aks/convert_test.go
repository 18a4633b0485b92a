package aks_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/aks"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

// specCluster is the cluster of the azure-rest-api-specs examples.
var specCluster = guard.ClusterID{Subscription: "00000000-0000-0000-0000-000000000000", ResourceGroup: "rg1", Name: "clustername1"}

var specTags = map[string]string{"archv2": "", "tier": "production"}

// sampleClusters are the sample GET bodies and what toCluster makes of them.
var sampleClusters = []struct {
	file string
	// path leads to the body inside a wrapper file; empty for a bare body.
	path []string
	want guard.Cluster
}{
	{
		file: "aks_get_sp_realguid_sdknet_recording.json",
		want: guard.Cluster{
			ID:                         guard.ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "rg-4149", Name: "manCluster-5614"},
			Type:                       "Microsoft.ContainerService/ManagedClusters",
			Location:                   "westus",
			HasServicePrincipalProfile: true,
			ServicePrincipalClientID:   "63113597-dbba-427d-82d3-94e4060d0e8b",
			ProvisioningState:          "Succeeded",
			NodeResourceGroup:          "MC_rg-4149_manCluster-5614_westus",
			NetworkPlugin:              "kubenet",
			Pools:                      []guard.Pool{{Name: "mypool", NodeImageVersion: "AKSUbuntu-1804containerd-2022.08.29", ProvisioningState: "Succeeded"}},
		},
	},
	{
		file: "aks_get_systemassigned_msi_kubeletidentity_sdknet_recording.json",
		want: guard.Cluster{
			ID:                         guard.ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "testaksrg2107", Name: "akscluster4379"},
			Type:                       "Microsoft.ContainerService/ManagedClusters",
			Location:                   "eastus",
			IdentityType:               "SystemAssigned",
			PrincipalID:                "070682b2-cb43-42a4-a537-b0984a8c6325",
			HasServicePrincipalProfile: true,
			ServicePrincipalClientID:   "msi",
			Kubelet: &guard.Identity{
				ResourceID: "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/MC_testaksrg2107_akscluster4379_eastus/providers/Microsoft.ManagedIdentity/userAssignedIdentities/akscluster4379-agentpool",
				ClientID:   "8c92cbee-a9b7-433b-b8b6-c4fa010ca321",
				ObjectID:   "2fb36a88-caa9-4238-a836-15ffdc2fa879",
			},
			ProvisioningState: "Succeeded",
			NodeResourceGroup: "MC_testaksrg2107_akscluster4379_eastus",
			NetworkPlugin:     "kubenet",
			Pools:             []guard.Pool{{Name: "aksagent", NodeImageVersion: "AKSUbuntu-1804gen2containerd-2022.10.24", ProvisioningState: "Succeeded"}},
		},
	},
	{
		file: "aks_get_spec_2025-01-01_PrivateClusterFQDNSubdomain_privatednszone.json",
		want: guard.Cluster{
			ID:                         specCluster,
			Type:                       "Microsoft.ContainerService/ManagedClusters",
			Location:                   "location1",
			HasServicePrincipalProfile: true,
			ServicePrincipalClientID:   "clientid",
			PrivateDNSZone:             "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.Network/privateDnsZones/privatelink.location1.azmk8s.io",
			Tags:                       specTags,
			ProvisioningState:          "Succeeded",
			NodeResourceGroup:          "MC_rg1_clustername1_location1",
			NetworkPlugin:              "kubenet",
			Pools:                      []guard.Pool{{Name: "nodepool1", NodeImageVersion: "AKSUbuntu:1604:2020.03.11", ProvisioningState: "Succeeded"}},
		},
	},
	{
		file: "aks_get_spec_2025-01-01_ManagedClustersGet_sp.json",
		want: guard.Cluster{
			ID:                         specCluster,
			Type:                       "Microsoft.ContainerService/ManagedClusters",
			Location:                   "location1",
			HasServicePrincipalProfile: true,
			ServicePrincipalClientID:   "clientid",
			Tags:                       specTags,
			ETag:                       "beywbwei",
			ProvisioningState:          "Succeeded",
			NodeResourceGroup:          "MC_rg1_clustername1_location1",
			NetworkPlugin:              "kubenet",
			Pools:                      []guard.Pool{{Name: "nodepool1", NodeImageVersion: "AKSUbuntu:1604:2020.03.11", ProvisioningState: "Succeeded"}},
			OutboundIPs: []string{
				"/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.Network/publicIPAddresses/customeroutboundip1",
				"/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.Network/publicIPAddresses/customeroutboundip2",
			},
			DiskEncryptionSetID: "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.Compute/diskEncryptionSets/des",
		},
	},
	{
		file: "wrapper_spec_2025-01-01_ManagedClustersCreate_Update.json",
		path: []string{"responses", "200", "body"},
		want: guard.Cluster{
			ID:                         specCluster,
			Type:                       "Microsoft.ContainerService/ManagedClusters",
			Location:                   "location1",
			IdentityType:               "UserAssigned",
			UserAssignedIdentities:     []string{"/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rgName1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/identity1"},
			HasServicePrincipalProfile: true,
			ServicePrincipalClientID:   "clientid",
			Tags:                       specTags,
			ProvisioningState:          "Succeeded",
			NodeResourceGroup:          "MC_rg1_clustername1_location1",
			NetworkPlugin:              "kubenet",
			Pools:                      []guard.Pool{{Name: "nodepool1", NodeImageVersion: "AKSUbuntu:1604:2020.03.11", ProvisioningState: "Succeeded"}},
			DiskEncryptionSetID:        "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.Compute/diskEncryptionSets/des",
		},
	},
}

func sampleCluster(t *testing.T, file string, path ...string) armcontainerservice.ManagedCluster {
	t.Helper()
	var mc armcontainerservice.ManagedCluster
	if err := json.Unmarshal(sampletest.Read(t, file, path...), &mc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return mc
}

func TestToClusterSamples(t *testing.T) {
	for _, tt := range sampleClusters {
		t.Run(tt.file, func(t *testing.T) {
			got, err := aks.ToCluster(sampleCluster(t, tt.file, tt.path...))
			if err != nil {
				t.Fatalf("aks.ToCluster(%s) error %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("aks.ToCluster(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestToClusterNilSafe(t *testing.T) {
	const id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1"
	c1 := guard.ClusterID{Subscription: "00000000-0000-0000-0000-000000000000", ResourceGroup: "rg1", Name: "c1"}
	tests := []struct {
		name string
		in   armcontainerservice.ManagedCluster
		want guard.Cluster
	}{
		{"empty", armcontainerservice.ManagedCluster{}, guard.Cluster{}},
		{"empty ID", armcontainerservice.ManagedCluster{ID: to.Ptr("")}, guard.Cluster{}},
		{"empty identity and properties", armcontainerservice.ManagedCluster{
			ID:         to.Ptr(id),
			Identity:   &armcontainerservice.ManagedClusterIdentity{},
			Properties: &armcontainerservice.ManagedClusterProperties{},
		}, guard.Cluster{ID: c1}},
		{"empty profiles", armcontainerservice.ManagedCluster{
			Properties: &armcontainerservice.ManagedClusterProperties{
				ServicePrincipalProfile: &armcontainerservice.ManagedClusterServicePrincipalProfile{},
				APIServerAccessProfile:  &armcontainerservice.ManagedClusterAPIServerAccessProfile{},
				IdentityProfile:         map[string]*armcontainerservice.UserAssignedIdentity{"kubeletidentity": nil},
			},
		}, guard.Cluster{HasServicePrincipalProfile: true}},
		{"kubelet key in other case, empty identity", armcontainerservice.ManagedCluster{
			Properties: &armcontainerservice.ManagedClusterProperties{
				IdentityProfile: map[string]*armcontainerservice.UserAssignedIdentity{"KubeletIdentity": {}},
			},
		}, guard.Cluster{Kubelet: &guard.Identity{}}},
		{"null tag value, nil user-assigned identity", armcontainerservice.ManagedCluster{
			Tags: map[string]*string{"owner": nil, "env": to.Ptr("dev")},
			Identity: &armcontainerservice.ManagedClusterIdentity{
				Type:                   to.Ptr(armcontainerservice.ResourceIdentityTypeUserAssigned),
				UserAssignedIdentities: map[string]*armcontainerservice.ManagedServiceIdentityUserAssignedIdentitiesValue{"/b": nil, "/a": {}},
			},
		}, guard.Cluster{
			IdentityType:           "UserAssigned",
			UserAssignedIdentities: []string{"/a", "/b"},
			Tags:                   map[string]string{"owner": "", "env": "dev"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := aks.ToCluster(tt.in)
			if err != nil {
				t.Fatalf("aks.ToCluster() error %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("aks.ToCluster() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToClusterBadID(t *testing.T) {
	tests := []struct{ id, mention string }{
		{"/subscriptions/{subscription-id}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1", "not a GUID"},
		{"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1/agentPools/np1", "not the cluster"},
		{"clustername1", "resource ID"},
	}
	for _, tt := range tests {
		_, err := aks.ToCluster(armcontainerservice.ManagedCluster{ID: to.Ptr(tt.id)})
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("aks.ToCluster(ID %q) error = %v, want one mentioning %q", tt.id, err, tt.mention)
		}
	}
}
