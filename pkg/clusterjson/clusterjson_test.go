package clusterjson_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/clusterjson"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

// verdicts parses data and returns name → verdict for every cluster in it.
func verdicts(t *testing.T, data []byte) map[string]guard.Verdict {
	t.Helper()
	recs, err := clusterjson.Parse(data)
	if err != nil {
		t.Fatalf("clusterjson.Parse() error %v", err)
	}
	out := map[string]guard.Verdict{}
	for _, r := range recs {
		out[r.Name] = guard.Evaluate(r.Cluster).Verdict
	}
	return out
}

// TestVerdictOverSamples runs every aks_*.json sample through Parse
// (testdata/samples/SOURCES.md says where each came from). A sample added
// without an expectation here fails the test, so none is silently skipped.
func TestVerdictOverSamples(t *testing.T) {
	const notCluster = "maintenanceConfigurations under a managed cluster, not the cluster"
	tests := map[string]struct {
		want    map[string]guard.Verdict
		mention string // set when Parse must refuse the sample
	}{
		"aks_get_sp_realguid_sdknet_recording.json":                               {want: map[string]guard.Verdict{"manCluster-5614": guard.VerdictServicePrincipal}},
		"aks_get_spec_2025-01-01_ManagedClustersGet_sp.json":                      {want: map[string]guard.Verdict{"clustername1": guard.VerdictServicePrincipal}},
		"aks_get_spec_2025-01-01_PrivateClusterFQDNSubdomain_privatednszone.json": {want: map[string]guard.Verdict{"clustername1": guard.VerdictServicePrincipal}},
		"aks_get_systemassigned_msi_kubeletidentity_sdknet_recording.json":        {want: map[string]guard.Verdict{"akscluster4379": guard.VerdictManagedIdentity}},
		"aks_list_spec_2025-01-01_ManagedClustersList.json":                       {want: map[string]guard.Verdict{"clustername1": guard.VerdictServicePrincipal}},
		"aks_put_request_sp_realguid_sdknet_recording.json":                       {want: map[string]guard.Verdict{"": guard.VerdictServicePrincipal}},
		"aks_put_request_systemassigned_sdknet_recording.json":                    {want: map[string]guard.Verdict{"": guard.VerdictManagedIdentity}},
		"aks_maintenanceconfig_spec_2025-01-01_Get_MaintenanceWindow.json":        {mention: notCluster},
		"aks_maintenanceconfig_spec_2025-01-01_Get_default.json":                  {mention: notCluster},
		"aks_maintenanceconfig_spec_2025-01-01_List_MaintenanceWindow.json":       {mention: notCluster},
	}
	files := sampletest.Names(t, "aks_*.json")
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			tt, ok := tests[file]
			if !ok {
				t.Fatalf("sample %s has no expectation in this table", file)
			}
			if tt.mention != "" {
				if _, err := clusterjson.Parse(sampletest.Read(t, file)); err == nil || !strings.Contains(err.Error(), tt.mention) {
					t.Errorf("Parse error = %v, want one mentioning %q", err, tt.mention)
				}
				return
			}
			if diff := cmp.Diff(tt.want, verdicts(t, sampletest.Read(t, file))); diff != "" {
				t.Errorf("verdicts mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if len(files) != len(tests) {
		t.Errorf("%d aks_*.json samples but %d expectations: a sample was removed or renamed", len(files), len(tests))
	}
}

// TestSpecWrapperResponse: the create/update spec example answers with a
// user-assigned identity while still naming a service principal: mixed.
func TestSpecWrapperResponse(t *testing.T) {
	got := verdicts(t, sampletest.Read(t, "wrapper_spec_2025-01-01_ManagedClustersCreate_Update.json", "responses", "200", "body"))
	if got["clustername1"] != guard.VerdictMixed {
		t.Errorf("verdict of the spec's 200 body = %v, want mixed", got)
	}
	if _, err := clusterjson.Parse(sampletest.Read(t, "wrapper_spec_2025-01-01_ManagedClustersCreate_Update.json")); err == nil ||
		!strings.Contains(err.Error(), "none of the fields of a cluster") {
		t.Errorf("clusterjson.Parse(spec wrapper) error = %v, want one saying it is not a cluster", err)
	}
}

// TestClusterFields: every field of a recorded cluster is pinned by the ARM
// adapter's test (pkg/aks TestToClusterSamples) and TestAgreesWithTheARMAdapter
// holds this parser to the same; here, what only a private cluster has.
func TestClusterFields(t *testing.T) {
	recs, err := clusterjson.Parse(sampletest.Read(t, "aks_get_spec_2025-01-01_PrivateClusterFQDNSubdomain_privatednszone.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c := recs[0].Cluster; !c.HasCustomPrivateDNSZone() || c.Tags["tier"] != "production" {
		t.Errorf("clusterjson.Parse(private cluster) = zone %q, tags %v; want the custom zone and the tier tag", c.PrivateDNSZone, c.Tags)
	}
}

func TestShapes(t *testing.T) {
	sp := sampletest.Read(t, "aks_get_sp_realguid_sdknet_recording.json")
	msi := sampletest.Read(t, "aks_get_systemassigned_msi_kubeletidentity_sdknet_recording.json")
	both := map[string]guard.Verdict{"manCluster-5614": guard.VerdictServicePrincipal, "akscluster4379": guard.VerdictManagedIdentity}
	reshape := func(shape func(map[string]any) map[string]any, name string) string {
		b, err := json.Marshal(shape(sampletest.Map(t, name)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const spFile, msiFile = "aks_get_sp_realguid_sdknet_recording.json", "aks_get_systemassigned_msi_kubeletidentity_sdknet_recording.json"
	azShow := func(name string) string { return reshape(sampletest.AzShow, name) }
	argRow := func(name string) string { return reshape(sampletest.GraphRow, name) }
	tests := []struct {
		name string
		in   string
	}{
		{"az aks show", azShow(spFile) + "\n" + azShow(msiFile)},
		{"az aks list (array)", "[" + azShow(spFile) + "," + azShow(msiFile) + "]"},
		{"ARM list", `{"value":[` + string(sp) + "," + string(msi) + `],"nextLink":null}`},
		{"ARM bodies as JSON lines", string(sp) + "\n" + string(msi)},
		{"az graph query", `{"count":2,"data":[` + argRow(spFile) + "," + argRow(msiFile) + `],"skip_token":null,"total_records":2}`},
		{"Resource Graph REST", `{"totalRecords":2,"count":2,"resultTruncated":"false","facets":[],"data":[` + argRow(spFile) + "," + argRow(msiFile) + `]}`},
		{"Resource Graph rows", "[" + argRow(spFile) + "," + argRow(msiFile) + "]"},
		{"Resource Graph table", `{"data":{"columns":[{"name":"name","type":"string"},{"name":"identity","type":"object"},{"name":"properties","type":"object"}],"rows":[` +
			`["manCluster-5614",null,{"servicePrincipalProfile":{"clientId":"63113597-dbba-427d-82d3-94e4060d0e8b"}}],` +
			`["akscluster4379",{"type":"SystemAssigned"},{"servicePrincipalProfile":{"clientId":"msi"}}]]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(both, verdicts(t, []byte(tt.in))); diff != "" {
				t.Errorf("verdicts mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNullFields(t *testing.T) {
	in := `{"id":null,"name":"c1","identity":null,"tags":{"a":null,"b":"x"},"servicePrincipalProfile":{"clientId":"app-1"},"identityProfile":null}`
	recs, err := clusterjson.Parse([]byte(in))
	if err != nil {
		t.Fatalf("clusterjson.Parse(%s) error %v", in, err)
	}
	if v := guard.Evaluate(recs[0].Cluster).Verdict; v != guard.VerdictServicePrincipal {
		t.Errorf("verdict = %s, want service-principal", v)
	}
	if diff := cmp.Diff(map[string]string{"b": "x"}, recs[0].Cluster.Tags); diff != "" {
		t.Errorf("tags mismatch (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, mention string
	}{
		{"empty", "  \n", "no JSON input"},
		{"truncated", "{\n  \"id\": \"x\",\n  \"name\": ", "line 3"},
		{"garbage", "{\"id\": 1,, }", "line 1, column 10"},
		{"scalar", `"cluster"`, "want a JSON object or array; the input starts with '\"' at line 1, column 1"},
		{"array of numbers", `[1, 2]`, "[0]: want a cluster object, got a number"},
		{"unrelated object", `{"foo": 1}`, "none of the fields of a cluster"},
		{"wrong field type", `{"id": "x", "identity": "SystemAssigned"}`, "identity"},
		{"ragged table", `{"data":{"columns":[{"name":"name"}],"rows":[["a","b"]]}}`, "2 values for 1 columns"},
		{"second value bad", `{"name":"a","identity":{"type":"SystemAssigned"}} {"x":1}`, "value 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := clusterjson.Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("clusterjson.Parse(%q) error = %v, want one mentioning %q", tt.in, err, tt.mention)
			}
		})
	}
}

// TestOtherResourcesAreNotClusters: another ARM resource is bad input, not
// a cluster of unknown verdict.
func TestOtherResourcesAreNotClusters(t *testing.T) {
	tests := []struct{ file, mention string }{
		{"roleassignments_list_spec_2022-04-01_ListForScope.json", "Microsoft.Authorization/roleAssignments"},
	}
	for _, tt := range tests {
		_, err := clusterjson.Parse(sampletest.Read(t, tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("clusterjson.Parse(%s) error = %v, want one mentioning %q", tt.file, err, tt.mention)
		}
	}
}

// TestAgreesWithTheARMAdapter: check reads cluster JSON itself (it takes
// shapes the SDK does not, such as az's flattened output), and serve reads
// clusters through armcontainerservice. Both must make the same
// guard.Cluster of the same body.
// richCluster is the recorded SP cluster with what the plan reads added:
// add-ons with identities and config, pools on a subnet of their own
// network, outbound IPs and prefixes, a disk encryption set.
func richCluster(t *testing.T) []byte {
	t.Helper()
	var mc map[string]any
	if err := json.Unmarshal(sampletest.Read(t, "aks_get_sp_realguid_sdknet_recording.json"), &mc); err != nil {
		t.Fatal(err)
	}
	const sub = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg-net/providers/Microsoft.Network"
	p := mc["properties"].(map[string]any)
	p["agentPoolProfiles"] = []any{
		map[string]any{"name": "system", "mode": "System", "count": 3, "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202610.01.0", "vnetSubnetID": sub + "/virtualNetworks/vnet-a/subnets/nodes"},
		map[string]any{"name": "user", "mode": "User", "count": 2, "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202609.15.0", "vnetSubnetID": sub + "/virtualNetworks/vnet-a/subnets/nodes", "podSubnetID": sub + "/virtualNetworks/vnet-a/subnets/pods"},
	}
	p["addonProfiles"] = map[string]any{
		"omsagent": map[string]any{"enabled": true, "config": map[string]any{"logAnalyticsWorkspaceResourceID": "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/logs"},
			"identity": map[string]any{"resourceId": "/subscriptions/x/resourcegroups/MC_rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/omsagent-c", "clientId": "c1", "objectId": "o1"}},
		"azurepolicy": map[string]any{"enabled": false},
	}
	p["networkProfile"] = map[string]any{"networkPlugin": "azure", "loadBalancerProfile": map[string]any{
		"outboundIPs":        map[string]any{"publicIPs": []any{map[string]any{"id": sub + "/publicIPAddresses/egress"}}},
		"outboundIPPrefixes": map[string]any{"publicIPPrefixes": []any{map[string]any{"id": sub + "/publicIPPrefixes/egress"}}},
	}}
	p["diskEncryptionSetID"] = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg-keys/providers/Microsoft.Compute/diskEncryptionSets/des"
	b, err := json.Marshal(mc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAgreesWithTheARMAdapter(t *testing.T) {
	t.Run("add-ons and network", func(t *testing.T) {
		body := richCluster(t)
		recs, err := clusterjson.Parse(body)
		if err != nil || len(recs) != 1 {
			t.Fatalf("clusterjson.Parse() = %d records, %v; want one", len(recs), err)
		}
		c := recs[0].Cluster
		if len(c.Pools) != 2 || c.Pools[1].PodSubnetID == "" || !c.Addons["omsagent"].Enabled || c.Addons["omsagent"].Identity == nil ||
			len(c.OutboundIPs) != 1 || len(c.OutboundIPPrefixes) != 1 || c.NetworkPlugin != "azure" || c.DiskEncryptionSetID == "" {
			t.Errorf("clusterjson.Parse() = %+v, want the pools, add-ons, network and disk encryption set read", c)
		}
		fleet, err := azurefake.LoadFleet(bytes.NewReader(append(append([]byte("["), body...), ']')))
		if err != nil {
			t.Fatal(err)
		}
		got, err := fleet.Client().GetCluster(t.Context(), c.ID)
		if err != nil {
			t.Fatalf("GetCluster() error = %v", err)
		}
		got.ETag = c.ETag
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("clusterjson vs the ARM adapter (-clusterjson +aks):\n%s", diff)
		}
	})
	for _, file := range []string{
		"aks_get_sp_realguid_sdknet_recording.json",
		"aks_get_spec_2025-01-01_ManagedClustersGet_sp.json",
		"aks_get_spec_2025-01-01_PrivateClusterFQDNSubdomain_privatednszone.json",
		"aks_get_systemassigned_msi_kubeletidentity_sdknet_recording.json",
	} {
		t.Run(file, func(t *testing.T) {
			body := sampletest.Read(t, file)
			recs, err := clusterjson.Parse(body)
			if err != nil || len(recs) != 1 {
				t.Fatalf("clusterjson.Parse() = %d records, %v; want one", len(recs), err)
			}
			fleet, err := azurefake.LoadFleet(bytes.NewReader(sampletest.Array(t, file)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := fleet.Client().GetCluster(t.Context(), recs[0].Cluster.ID)
			if err != nil {
				t.Fatalf("GetCluster() error = %v", err)
			}
			// The ETag is ARM's, which the fleet sets on each write.
			got.ETag = recs[0].Cluster.ETag
			if diff := cmp.Diff(recs[0].Cluster, got); diff != "" {
				t.Errorf("clusterjson vs the ARM adapter (-clusterjson +aks):\n%s", diff)
			}
		})
	}
}
