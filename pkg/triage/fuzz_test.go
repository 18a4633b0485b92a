package triage

import (
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

// FuzzDecode feeds Decode the event samples and their mutations. CI runs the
// seeds; `go test -fuzz FuzzDecode ./pkg/triage` explores further.
func FuzzDecode(f *testing.F) {
	for _, n := range sampletest.Names(f, "eventgrid_*.json") {
		f.Add(sampletest.Read(f, n))
	}
	f.Add([]byte(`[{"eventType":"Microsoft.Resources.ResourceWriteSuccess","id":"1","subject":"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1/agentPools/p1","data":{"operationName":"Microsoft.ContainerService/managedClusters/agentPools/write"}}]`))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"Microsoft.Resources.ResourceDeleteSuccess","data":"{\"operationName\":\"Microsoft.ContainerService/managedClusters/delete\",\"resourceUri\":\"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1\"}"}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := Decode(data)
		if err != nil {
			return
		}
		if len(evs) == 0 {
			t.Fatalf("Decode(%q) = no events and no error", data)
		}
		for _, e := range evs {
			switch {
			case e.Action == "":
				t.Errorf("Decode(%q): event %q has no action", data, e.ID)
			case e.Invalid && (e.Action != guard.ActionIgnore || !strings.HasPrefix(e.Reason, "invalid event: ")):
				t.Errorf("Decode(%q): invalid event %q has action %s, reason %q", data, e.ID, e.Action, e.Reason)
			case e.Action != guard.ActionIgnore && e.Cluster.IsZero():
				t.Errorf("Decode(%q): event %q with action %s names no cluster", data, e.ID, e.Action)
			case e.Reason == "":
				t.Errorf("Decode(%q): event %q has no reason", data, e.ID)
			}
		}
	})
}
