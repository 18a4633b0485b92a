// Package sampletest reads the real payloads in testdata/samples
// (SOURCES.md there says where each came from) for any package's tests.
package sampletest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
)

// Dir is testdata/samples, found from this file so that tests of any
// package, at any depth, reach it.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "samples")
}

// Read returns a sample file's bytes, or with path the value found by
// following those keys into nested objects (a spec example's wrapper, say).
func Read(t testing.TB, name string, path ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ok bool
		if data, ok = m[p]; !ok {
			t.Fatalf("%s: no %q in %v", name, p, path)
		}
	}
	return data
}

// Names returns the base names of the samples matching pattern (a
// filepath.Match pattern such as "aks_*.json"), and fails t when there are
// none: a test that checks every sample must not pass on an empty folder.
func Names(t testing.TB, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(), pattern))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no %s samples in %s (err %v)", pattern, Dir(), err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names
}

// Array returns the named samples as one JSON array, the shape a fleet file
// or a list response takes.
func Array(t testing.TB, names ...string) []byte {
	t.Helper()
	parts := make([][]byte, len(names))
	for i, n := range names {
		parts[i] = Read(t, n)
	}
	return append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
}

// MaintenanceConfigs returns the maintenance configurations in a sample:
// one configuration, or a list response's "value", as the SDK decodes them.
func MaintenanceConfigs(t testing.TB, name string) []armcontainerservice.MaintenanceConfiguration {
	t.Helper()
	data := Read(t, name)
	var list struct {
		Value []armcontainerservice.MaintenanceConfiguration `json:"value"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if list.Value != nil {
		return list.Value
	}
	var one armcontainerservice.MaintenanceConfiguration
	if err := json.Unmarshal(data, &one); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []armcontainerservice.MaintenanceConfiguration{one}
}

// Map returns a sample holding one JSON object as a map, for a test to
// reshape or change.
func Map(t testing.TB, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(Read(t, name), &m); err != nil {
		t.Fatalf("sample %s: %v", name, err)
	}
	return m
}

// AzShow reshapes an ARM cluster body the way `az aks show -o json` prints
// it: the fields of "properties" at the top level, with resourceGroup, and
// identity null when the cluster has none.
func AzShow(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != "properties" {
			out[k] = v
		}
	}
	if p, ok := m["properties"].(map[string]any); ok {
		for k, v := range p {
			out[k] = v
		}
	}
	if id, ok := m["id"].(string); ok {
		if parts := strings.Split(id, "/"); len(parts) > 4 {
			out["resourceGroup"] = parts[4]
		}
	}
	if _, ok := out["identity"]; !ok {
		out["identity"] = nil
	}
	return out
}

// GraphRow reshapes an ARM cluster body into an Azure Resource Graph row:
// the type in lower case, and the columns Resource Graph adds.
func GraphRow(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	out["type"] = strings.ToLower(m["type"].(string))
	parts := strings.Split(m["id"].(string), "/")
	out["subscriptionId"], out["resourceGroup"] = parts[2], parts[4]
	out["tenantId"] = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	out["kind"], out["managedBy"], out["plan"], out["zones"], out["extendedLocation"] = "", "", nil, nil, nil
	if _, ok := out["identity"]; !ok {
		out["identity"] = nil
	}
	return out
}

// SPCluster is a minimal cluster with the ID id that authenticates with the
// service principal clientID, for tests that need one and no more: not a
// sample, a hand-written shape.
func SPCluster(id string, clientID string) armcontainerservice.ManagedCluster {
	name := id[strings.LastIndex(id, "/")+1:]
	return armcontainerservice.ManagedCluster{
		ID:       &id,
		Name:     &name,
		Type:     ptr("Microsoft.ContainerService/ManagedClusters"),
		Location: ptr("westeurope"),
		Properties: &armcontainerservice.ManagedClusterProperties{
			ProvisioningState:       ptr("Succeeded"),
			ServicePrincipalProfile: &armcontainerservice.ManagedClusterServicePrincipalProfile{ClientID: &clientID},
		},
	}
}

func ptr(s string) *string { return &s }
