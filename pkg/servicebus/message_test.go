package servicebus

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

// testCluster is the cluster of the AKS REST spec's ManagedClustersGet
// example (testdata/samples/aks_get_spec_2025-01-01_ManagedClustersGet_sp.json).
var testCluster = guard.ClusterID{
	Subscription:  "00000000-0000-0000-0000-000000000000",
	ResourceGroup: "rg1",
	Name:          "clustername1",
}

const testClusterID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1"

func TestToMessage(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		in   guard.Message
		want *azservicebus.Message
	}{
		{
			name: "timer wake of a job, scheduled",
			in: guard.Message{ID: "job-1-wake-2", Kind: guard.MessageJob, Cluster: testCluster, JobID: "job-1", Seq: 2,
				Reason: "approval re-check", NotBefore: now.Add(90 * time.Minute)},
			want: &azservicebus.Message{
				MessageID:   to.Ptr("job-1-wake-2"),
				Subject:     to.Ptr("job"),
				ContentType: to.Ptr("application/json"),
				Body: []byte(`{"kind":"job","clusterId":"` + testClusterID +
					`","jobId":"job-1","seq":2,"reason":"approval re-check"}`),
				ApplicationProperties: map[string]any{"kind": "job", "clusterId": testClusterID,
					"jobId": "job-1", "seq": int64(2), "reason": "approval re-check"},
				CorrelationID:        to.Ptr("job-1"),
				ScheduledEnqueueTime: to.Ptr(now.Add(90 * time.Minute)),
			},
		},
		{
			name: "event wake of a job, at once",
			in:   guard.Message{ID: "job-1-abc", Kind: guard.MessageJob, Cluster: testCluster, JobID: "job-1", Reason: "approved"},
			want: &azservicebus.Message{
				MessageID:   to.Ptr("job-1-abc"),
				Subject:     to.Ptr("job"),
				ContentType: to.Ptr("application/json"),
				Body:        []byte(`{"kind":"job","clusterId":"` + testClusterID + `","jobId":"job-1","reason":"approved"}`),
				ApplicationProperties: map[string]any{"kind": "job", "clusterId": testClusterID,
					"jobId": "job-1", "reason": "approved"},
				CorrelationID: to.Ptr("job-1"),
			},
		},
		{
			name: "evaluate, no job, scheduled time in another zone",
			in:   guard.Message{ID: "evaluate-1", Kind: guard.MessageEvaluate, Cluster: testCluster, NotBefore: now.Add(time.Minute).In(cet)},
			want: &azservicebus.Message{
				MessageID:             to.Ptr("evaluate-1"),
				Subject:               to.Ptr("evaluate"),
				ContentType:           to.Ptr("application/json"),
				Body:                  []byte(`{"kind":"evaluate","clusterId":"` + testClusterID + `"}`),
				ApplicationProperties: map[string]any{"kind": "evaluate", "clusterId": testClusterID},
				ScheduledEnqueueTime:  to.Ptr(now.Add(time.Minute)),
			},
		},
		{
			name: "not before now",
			in:   guard.Message{ID: "evaluate-2", Kind: guard.MessageEvaluate, Cluster: testCluster, NotBefore: now},
			want: &azservicebus.Message{
				MessageID:             to.Ptr("evaluate-2"),
				Subject:               to.Ptr("evaluate"),
				ContentType:           to.Ptr("application/json"),
				Body:                  []byte(`{"kind":"evaluate","clusterId":"` + testClusterID + `"}`),
				ApplicationProperties: map[string]any{"kind": "evaluate", "clusterId": testClusterID},
			},
		},
		{
			name: "not before in the past",
			in:   guard.Message{ID: "evaluate-3", Kind: guard.MessageEvaluate, Cluster: testCluster, NotBefore: now.Add(-time.Second)},
			want: &azservicebus.Message{
				MessageID:             to.Ptr("evaluate-3"),
				Subject:               to.Ptr("evaluate"),
				ContentType:           to.Ptr("application/json"),
				Body:                  []byte(`{"kind":"evaluate","clusterId":"` + testClusterID + `"}`),
				ApplicationProperties: map[string]any{"kind": "evaluate", "clusterId": testClusterID},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toMessage(tt.in, now)
			if err != nil {
				t.Fatalf("toMessage() = %v, want nil error", err)
			}
			// Bodies compare as text so a failure shows the JSON.
			if diff := cmp.Diff(tt.want, got, cmp.Transformer("text", func(b []byte) string { return string(b) })); diff != "" {
				t.Errorf("toMessage() mismatch (-want +got):\n%s", diff)
			}
			if got.ScheduledEnqueueTime != nil && got.ScheduledEnqueueTime.Location() != time.UTC {
				t.Errorf("toMessage().ScheduledEnqueueTime = %s, want UTC", got.ScheduledEnqueueTime)
			}
		})
	}
}

// TestBodyRoundTrip decodes a sent body the way the RemediationJobs handler
// does: into guard.MessageBody, with clusterId parsed by armid.
func TestBodyRoundTrip(t *testing.T) {
	in := guard.Message{ID: "job-1-wake-3", Kind: guard.MessageJob, Cluster: testCluster, JobID: "job-1", Seq: 3, Reason: "approval re-check"}
	msg, err := toMessage(in, time.Time{})
	if err != nil {
		t.Fatalf("toMessage() = %v", err)
	}
	var got guard.MessageBody
	if err := json.Unmarshal(msg.Body, &got); err != nil {
		t.Fatalf("decode body %s: %v", msg.Body, err)
	}
	if diff := cmp.Diff(in.Body(), got); diff != "" {
		t.Errorf("decoded body mismatch (-want +got):\n%s", diff)
	}
	id, err := armid.ParseCluster(got.ClusterID)
	if err != nil {
		t.Fatalf("armid.ParseCluster(%q) = %v", got.ClusterID, err)
	}
	if id != in.Cluster {
		t.Errorf("armid.ParseCluster(%q) = %+v, want %+v", got.ClusterID, id, in.Cluster)
	}
}
