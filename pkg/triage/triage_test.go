package triage

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

const (
	clusterID = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/rg-4149/providers/Microsoft.ContainerService/managedClusters/manCluster-5614"
)

var cluster = guard.ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "rg-4149", Name: "manCluster-5614"}

// derive loads a sample event (the first of a batch), lets edit change it,
// and returns it as JSON: real payloads, pointed at an AKS cluster.
func derive(t *testing.T, name string, edit func(ev, data map[string]any)) string {
	t.Helper()
	raw := sampletest.Read(t, name)
	var batch []map[string]any
	if err := json.Unmarshal(raw, &batch); err != nil {
		var one map[string]any
		if err := json.Unmarshal(raw, &one); err != nil {
			t.Fatal(err)
		}
		batch = []map[string]any{one}
	}
	ev := batch[0]
	data, _ := ev["data"].(map[string]any)
	edit(ev, data)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// aks points an Event Grid schema sample at the cluster.
func aks(op, resource string) func(ev, data map[string]any) {
	return func(ev, data map[string]any) {
		ev["subject"] = resource
		data["operationName"] = op
		data["resourceUri"] = resource
		data["resourceProvider"] = "Microsoft.ContainerService"
	}
}

const (
	egSample = "eventgrid_egschema_ResourceWriteSuccess_docs_rg.json"
	ceSample = "eventgrid_cloudevent_ResourceWriteSuccess_sdkgo_test.json"
)

// summary is the part of an Event a test checks.
type summary struct {
	Schema  string
	Action  guard.Action
	Cluster guard.ClusterID
	Invalid bool
	Reason  string
}

func summarize(evs []guard.Event) []summary {
	var out []summary
	for _, e := range evs {
		out = append(out, summary{e.Schema, e.Action, e.Cluster, e.Invalid, e.Reason})
	}
	return out
}

func TestDecodeSamples(t *testing.T) {
	tests := []struct {
		file string
		want summary
	}{
		{egSample, summary{SchemaEventGrid, guard.ActionIgnore, guard.ClusterID{}, false, "operation Microsoft.Storage/storageAccounts/write is not watched"}},
		{ceSample, summary{SchemaCloudEvent, guard.ActionIgnore, guard.ClusterID{}, false, "operation Microsoft.EventGrid/eventSubscriptions/write is not watched"}},
		{"eventgrid_SubscriptionValidationEvent_docs.json", summary{SchemaEventGrid, guard.ActionIgnore, guard.ClusterID{}, false, "subscription validation is answered by the Functions host's Event Grid extension"}},
		{"eventgrid_cloudevent_tags_write_thirdparty_test.json", summary{SchemaCloudEvent, guard.ActionIgnore, guard.ClusterID{}, false, "resource is not an AKS managed cluster"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs, err := Decode(sampletest.Read(t, tt.file))
			if err != nil {
				t.Fatalf("Decode() error %v", err)
			}
			if diff := cmp.Diff([]summary{tt.want}, summarize(evs)); diff != "" {
				t.Errorf("Decode() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRouting(t *testing.T) {
	pool := clusterID + "/agentPools/nodepool1"
	tags := clusterID + "/providers/Microsoft.Resources/tags/default"
	tests := []struct {
		name string
		in   string
		want summary
	}{
		{"cluster write", derive(t, egSample, aks("Microsoft.ContainerService/managedClusters/write", clusterID)),
			summary{SchemaEventGrid, guard.ActionEvaluate, cluster, false, "cluster written"}},
		{"operation in other case", derive(t, egSample, aks("microsoft.containerservice/MANAGEDCLUSTERS/write", strings.ToLower(clusterID))),
			summary{SchemaEventGrid, guard.ActionEvaluate, guard.ClusterID{Subscription: cluster.Subscription, ResourceGroup: "rg-4149", Name: "mancluster-5614"}, false, "cluster written"}},
		{"agent pool write maps to cluster", derive(t, egSample, aks("Microsoft.ContainerService/managedClusters/agentPools/write", pool)),
			summary{SchemaEventGrid, guard.ActionEvaluate, cluster, false, "agent pool written; evaluating its cluster"}},
		{"tags write with suffix", derive(t, egSample, aks("Microsoft.Resources/tags/write", tags)),
			summary{SchemaEventGrid, guard.ActionApprovalCheck, cluster, false, "tags written; the approval may have changed"}},
		{"tags write on the plain id", derive(t, "eventgrid_cloudevent_tags_write_thirdparty_test.json", func(ev, data map[string]any) {
			ev["subject"], data["resourceUri"] = clusterID, clusterID
		}), summary{SchemaCloudEvent, guard.ActionApprovalCheck, cluster, false, "tags written; the approval may have changed"}},
		{"tags write on an agent pool", derive(t, egSample, aks("Microsoft.Resources/tags/write", pool+"/providers/Microsoft.Resources/tags/default")),
			summary{SchemaEventGrid, guard.ActionIgnore, cluster, false, "tags written on Microsoft.ContainerService/managedClusters/agentPools, not on the cluster"}},
		{"cluster delete", derive(t, egSample, func(ev, data map[string]any) {
			aks("Microsoft.ContainerService/managedClusters/delete", clusterID)(ev, data)
			ev["eventType"] = "Microsoft.Resources.ResourceDeleteSuccess"
		}), summary{SchemaEventGrid, guard.ActionClose, cluster, false, "cluster deleted"}},
		{"agent pool delete", derive(t, egSample, func(ev, data map[string]any) {
			aks("Microsoft.ContainerService/managedClusters/agentPools/delete", pool)(ev, data)
			ev["eventType"] = "Microsoft.Resources.ResourceDeleteSuccess"
		}), summary{SchemaEventGrid, guard.ActionIgnore, cluster, false, "operation Microsoft.ContainerService/managedClusters/agentPools/delete is not watched"}},
		{"all tags deleted", derive(t, egSample, func(ev, data map[string]any) {
			aks("Microsoft.Resources/tags/delete", tags)(ev, data)
			ev["eventType"] = "Microsoft.Resources.ResourceDeleteSuccess"
		}), summary{SchemaEventGrid, guard.ActionApprovalCheck, cluster, false, "tags deleted; the approval may be gone"}},
		{"CloudEvent cluster write", derive(t, ceSample, func(ev, data map[string]any) {
			ev["subject"], data["resourceUri"], data["operationName"] = clusterID, clusterID, "Microsoft.ContainerService/managedClusters/write"
		}), summary{SchemaCloudEvent, guard.ActionEvaluate, cluster, false, "cluster written"}},
		{"resource from subject when resourceUri is missing", derive(t, egSample, func(ev, data map[string]any) {
			aks("Microsoft.ContainerService/managedClusters/write", clusterID)(ev, data)
			delete(data, "resourceUri")
		}), summary{SchemaEventGrid, guard.ActionEvaluate, cluster, false, "cluster written"}},
		{"data as a JSON string", derive(t, egSample, func(ev, data map[string]any) {
			aks("Microsoft.ContainerService/managedClusters/write", clusterID)(ev, data)
			b, _ := json.Marshal(data)
			ev["data"] = string(b)
		}), summary{SchemaEventGrid, guard.ActionEvaluate, cluster, false, "cluster written"}},
		{"other event type", derive(t, egSample, func(ev, data map[string]any) { ev["eventType"] = "Microsoft.Resources.ResourceActionSuccess" }),
			summary{SchemaEventGrid, guard.ActionIgnore, guard.ClusterID{}, false, "event type Microsoft.Resources.ResourceActionSuccess is not watched"}},
		{"failed status", derive(t, egSample, func(ev, data map[string]any) {
			aks("Microsoft.ContainerService/managedClusters/write", clusterID)(ev, data)
			data["status"] = "Failed"
		}), summary{SchemaEventGrid, guard.ActionIgnore, cluster, false, "operation status is Failed"}},
		{"placeholder subscription", derive(t, egSample, aks("Microsoft.ContainerService/managedClusters/write", "/subscriptions/{subscription-id}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1")),
			summary{SchemaEventGrid, guard.ActionIgnore, guard.ClusterID{}, true, `invalid event: resource ID "/subscriptions/{subscription-id}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1": subscription "{subscription-id}" is not a GUID`}},
		{"no operation name", derive(t, egSample, func(ev, data map[string]any) { delete(data, "operationName") }),
			summary{SchemaEventGrid, guard.ActionIgnore, guard.ClusterID{}, true, "invalid event: Microsoft.Resources.ResourceWriteSuccess event has no data.operationName"}},
		{"no data", derive(t, egSample, func(ev, data map[string]any) { delete(ev, "data") }),
			summary{SchemaEventGrid, guard.ActionIgnore, guard.ClusterID{}, true, "invalid event: ResourceWriteSuccess data: missing"}},
		{"claims of the wrong type", derive(t, egSample, func(ev, data map[string]any) { data["claims"] = []int{1} }),
			summary{SchemaEventGrid, guard.ActionIgnore, guard.ClusterID{}, true, ""}},
		{"CloudEvent 0.3", derive(t, ceSample, func(ev, data map[string]any) { ev["specversion"] = "0.3" }),
			summary{SchemaCloudEvent, guard.ActionIgnore, guard.ClusterID{}, true, "invalid event: CloudEvent specversion 0.3 is not 1.0"}},
		{"CloudEvent without source", derive(t, ceSample, func(ev, data map[string]any) { delete(ev, "source") }),
			summary{SchemaCloudEvent, guard.ActionIgnore, guard.ClusterID{}, true, "invalid event: CloudEvent lacks id, source or type"}},
		{"neither schema", `{"id":"x","type":"y"}`,
			summary{"", guard.ActionIgnore, guard.ClusterID{}, true, "invalid event: event is neither CloudEvents 1.0 (no specversion) nor Event Grid schema (no eventType)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode() error %v", err)
			}
			got := summarize(evs)
			if tt.want.Reason == "" && len(got) == 1 && got[0].Invalid {
				got[0].Reason = "" // the SDK's wording, not ours
			}
			if diff := cmp.Diff([]summary{tt.want}, got); diff != "" {
				t.Errorf("Decode() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeEventFields(t *testing.T) {
	in := derive(t, egSample, aks("Microsoft.ContainerService/managedClusters/write", clusterID))
	evs, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got := evs[0]
	if got.ID != "4db48cba-50a2-455a-93b4-de41a3b5b7f6" || got.Type != "Microsoft.Resources.ResourceWriteSuccess" ||
		!got.Time.Equal(time.Date(2018, 7, 19, 18, 38, 4, 611735700, time.UTC)) || got.Resource != clusterID {
		t.Errorf("Decode() = %+v, want the sample's id, type, time and resource", got)
	}
	want := guard.Actor{ObjectID: "{ID}", AppID: "{ID}", UPN: "{user-name}", Name: "{full-name}", User: true}
	if got.Actor != want {
		t.Errorf("Decode() actor = %+v, want %+v", got.Actor, want)
	}
}

func TestDecodeActorFallbacks(t *testing.T) {
	in := derive(t, egSample, func(ev, data map[string]any) {
		aks("Microsoft.ContainerService/managedClusters/write", clusterID)(ev, data)
		data["claims"] = map[string]any{"appid": "11111111-2222-3333-4444-555555555555"}
		data["authorization"] = map[string]any{"evidence": map[string]any{"principalId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}}
	})
	evs, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := guard.Actor{ObjectID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", AppID: "11111111-2222-3333-4444-555555555555"}
	if evs[0].Actor != want {
		t.Errorf("Decode() actor = %+v, want %+v", evs[0].Actor, want)
	}
}

func TestDecodeBatchKeepsGoing(t *testing.T) {
	good := derive(t, egSample, aks("Microsoft.ContainerService/managedClusters/write", clusterID))
	in := "[" + good + `, {"nope": true}, 42, ` + good + "]"
	evs, err := Decode([]byte(in))
	if err != nil {
		t.Fatalf("Decode() error %v", err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, string(e.Action)+map[bool]string{true: "!"}[e.Invalid])
	}
	if diff := cmp.Diff([]string{"evaluate", "ignore!", "ignore!", "evaluate"}, actions); diff != "" {
		t.Errorf("Decode(batch) actions mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{"", "   ", "not json", `"a string"`, "[]", "{"} {
		if evs, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) = %v, want an error", in, evs)
		}
	}
}
