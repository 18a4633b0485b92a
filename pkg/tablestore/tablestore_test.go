package tablestore_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/storetest"
)

func TestStoreContract(t *testing.T) {
	conn := storetest.Azurite(t)
	storetest.Run(t, func(t *testing.T) guard.Store {
		s, _ := storetest.Tables(t, conn)
		return s
	})
}

var cluster = guard.ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "RG-Guard", Name: "aks-a"}

// at is an instant with nanoseconds in a zone other than UTC.
var at = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+1", 3600))

func TestEntityColumns(t *testing.T) {
	s, svc := storetest.Tables(t, storetest.Azurite(t))
	ctx := t.Context()
	f := guard.Finding{Cluster: cluster, Verdict: guard.VerdictServicePrincipal, Reasons: []string{"no identity", "a<b"},
		SPClientID: "11111111-2222-3333-4444-555555555555", State: guard.FindingOpen, FirstSeen: at, JobID: "job-1",
		Outbox: []guard.Effect{{Message: &guard.Message{ID: "m1", Kind: guard.MessageJob, NotBefore: at}}}}
	if err := s.SaveFinding(ctx, &f); err != nil {
		t.Fatalf("SaveFinding() error = %v", err)
	}
	j := guard.Job{Cluster: cluster, ID: "job-1", State: guard.JobPlanned, WakeSeq: 4, Attempts: 2, Outcome: "planned",
		Approval: &guard.Approval{Value: "approved", By: guard.Actor{UPN: "alice@example.com"}, At: at, EventID: "ev-1"}}
	if err := s.SaveJob(ctx, &j); err != nil {
		t.Fatalf("SaveJob() error = %v", err)
	}
	a := guard.AuditEntry{Cluster: cluster, Key: "20250314T140926.535897932Z-0123456789abcdef", At: at, Action: "flagged",
		Actor: "aksguard", Cause: "sweep", JobID: "job-1"}
	if err := s.AppendAudit(ctx, a); err != nil {
		t.Fatalf("AppendAudit() error = %v", err)
	}

	const utc = "2025-03-14T14:09:26.535897932Z"
	id := cluster.String()
	tables := s.Tables()
	tests := []struct {
		table, pk, rk string
		want          map[string]any
	}{
		{tables[0], cluster.SubscriptionKey(), cluster.Key(), map[string]any{
			"ClusterId": id, "Subscription": cluster.Subscription, "ResourceGroup": "RG-Guard", "Name": "aks-a",
			"Verdict": "service-principal", "State": "open", "Reasons": `["no identity","a<b"]`,
			"SPClientId": f.SPClientID, "FirstSeen": utc, "JobId": "job-1", "Resolution": "",
			"Outbox": `[{"Message":{"ID":"m1","Kind":"job","Cluster":{"Subscription":"","ResourceGroup":"","Name":""},"JobID":"","Seq":0,"Reason":"","NotBefore":"2025-03-14T15:09:26.535897932+01:00"}}]`,
		}},
		{tables[1], cluster.Key(), "job-1", map[string]any{
			"ClusterId": id, "JobId": "job-1", "State": "planned", "WakeSeq": "4", "WakeSeq@odata.type": "Edm.Int64",
			"Attempts": "2", "ApprovalValue": "approved", "ApproverUpn": "alice@example.com", "ApproverObjectId": "",
			"ApprovedAt": utc, "ApprovalEventId": "ev-1", "Outcome": "planned", "Error": "", "Outbox": "[]",
		}},
		{tables[2], cluster.Key(), a.Key, map[string]any{
			"ClusterId": id, "Key": a.Key, "At": utc, "Action": "flagged", "Actor": "aksguard", "Cause": "sweep", "JobId": "job-1",
		}},
	}
	for _, tt := range tests {
		resp, err := svc.NewClient(tt.table).GetEntity(ctx, tt.pk, tt.rk, nil)
		if err != nil {
			t.Fatalf("GetEntity(%s, %s, %s) error = %v", tt.table, tt.pk, tt.rk, err)
		}
		var raw map[string]any
		if err := json.Unmarshal(resp.Value, &raw); err != nil {
			t.Fatalf("GetEntity(%s) value %s: %v", tt.table, resp.Value, err)
		}
		got := map[string]any{}
		for k := range tt.want {
			if v, ok := raw[k]; ok {
				got[k] = v
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("GetEntity(%s) columns mismatch (-want +got):\n%s\nall: %s", tt.table, diff, resp.Value)
		}
		for _, absent := range []string{"ClosedAt", "NextWake"} {
			if _, ok := raw[absent]; ok {
				t.Errorf("GetEntity(%s) has column %s for a zero time, want it left out", tt.table, absent)
			}
		}
	}
}

func TestColumnAtLimitIsStored(t *testing.T) {
	s, _ := storetest.Tables(t, storetest.Azurite(t))
	f := guard.Finding{Cluster: cluster, State: guard.FindingOpen, Resolution: strings.Repeat("x", 32<<10)}
	if err := s.SaveFinding(t.Context(), &f); err != nil {
		t.Fatalf("SaveFinding(Resolution of 64 KiB as UTF-16) error = %v, want nil", err)
	}
	got, err := s.Finding(t.Context(), cluster)
	if err != nil || got.Resolution != f.Resolution {
		t.Errorf("Finding() = Resolution of %d characters, %v, want %d, nil", len(got.Resolution), err, len(f.Resolution))
	}
}

func TestReplaceOfDeletedConflicts(t *testing.T) {
	s, svc := storetest.Tables(t, storetest.Azurite(t))
	ctx := t.Context()
	f := guard.Finding{Cluster: cluster, State: guard.FindingOpen}
	j := guard.Job{Cluster: cluster, ID: "job-1", State: guard.JobPlanned}
	if err := s.SaveFinding(ctx, &f); err != nil {
		t.Fatalf("SaveFinding() error = %v", err)
	}
	if err := s.SaveJob(ctx, &j); err != nil {
		t.Fatalf("SaveJob() error = %v", err)
	}
	tables := s.Tables()
	for _, k := range []struct{ table, pk, rk string }{
		{tables[0], cluster.SubscriptionKey(), cluster.Key()},
		{tables[1], cluster.Key(), "job-1"},
	} {
		if _, err := svc.NewClient(k.table).DeleteEntity(ctx, k.pk, k.rk, nil); err != nil {
			t.Fatalf("DeleteEntity(%s) error = %v", k.table, err)
		}
	}
	if err := s.SaveFinding(ctx, &f); guard.KindOf(err) != guard.KindConflict {
		t.Errorf("SaveFinding(deleted, etag %q) error = %v, want kind conflict", f.ETag, err)
	}
	if err := s.SaveJob(ctx, &j); guard.KindOf(err) != guard.KindConflict {
		t.Errorf("SaveJob(deleted, etag %q) error = %v, want kind conflict", j.ETag, err)
	}
}

func TestEnsureTablesTwice(t *testing.T) {
	s, svc := storetest.Tables(t, storetest.Azurite(t))
	if err := s.EnsureTables(t.Context()); err != nil {
		t.Fatalf("EnsureTables() on existing tables error = %v, want nil", err)
	}
	for _, name := range s.Tables() {
		filter := "TableName eq '" + name + "'"
		page, err := svc.NewListTablesPager(&aztables.ListTablesOptions{Filter: &filter}).NextPage(t.Context())
		if err != nil || len(page.Tables) != 1 {
			t.Errorf("ListTables(%s) = %d tables, %v, want 1, nil", name, len(page.Tables), err)
		}
	}
}

// TestFilteredQueriesReadEveryVersion: the queries Reconcile and the update
// cap use find rows as older versions wrote them (an empty outbox as "",
// no column added since), and leave out a row they cannot decode, naming
// it, instead of failing: one bad row must not stop every claim.
func TestFilteredQueriesReadEveryVersion(t *testing.T) {
	s, svc := storetest.Tables(t, storetest.Azurite(t))
	ctx := t.Context()
	tables := s.Tables()
	due, later := "2025-03-14T14:00:00Z", "2025-03-14T16:00:00Z"
	now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	row := func(table string, cols map[string]any) {
		t.Helper()
		b, err := json.Marshal(cols)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.NewClient(table).AddEntity(ctx, b, nil); err != nil {
			t.Fatalf("AddEntity(%s) error = %v", cols["RowKey"], err)
		}
	}
	job := func(id, state, wake, outbox string, extra ...string) {
		cols := map[string]any{"PartitionKey": cluster.Key(), "RowKey": id, "ClusterId": cluster.String(), "JobId": id,
			"State": state, "NextWake": wake, "Outbox": outbox}
		for i := 0; i+1 < len(extra); i += 2 {
			cols[extra[i]] = extra[i+1]
		}
		row(tables[1], cols)
	}
	pending := `[{"Message":{"ID":"m1","Kind":"job","Cluster":{"Subscription":"","ResourceGroup":"","Name":""},"JobID":"","Seq":0,"Reason":"","NotBefore":"0001-01-01T00:00:00Z"}}]`
	job("old-due", "planned", due, "")
	job("old-later", "planned", later, "")
	job("old-done", "succeeded", due, "[]")
	job("old-pending", "succeeded", later, pending)
	job("bad-due", "updating", due, "[]", "ApprovedAt", "not a time", "ApprovalValue", "approved")
	row(tables[0], map[string]any{"PartitionKey": cluster.SubscriptionKey(), "RowKey": cluster.Key(), "ClusterId": cluster.String(),
		"State": "open", "Outbox": pending})

	ids := func(js []guard.Job) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		slices.Sort(out)
		return out
	}
	var partial *guard.PartialError
	got, err := s.DueJobs(ctx, now)
	if !errors.As(err, &partial) || len(partial.Bad) != 1 || !strings.Contains(partial.Bad[0], "bad-due") {
		t.Errorf("DueJobs() error = %v, want the undecodable row bad-due named and left out", err)
	}
	if diff := cmp.Diff([]string{"old-due", "old-pending"}, ids(got)); diff != "" {
		t.Errorf("DueJobs() mismatch (-want +got):\n%s", diff)
	}
	got, err = s.JobsIn(ctx, guard.JobUpdating, guard.JobPlanned)
	if !errors.As(err, &partial) || len(partial.Bad) != 1 {
		t.Errorf("JobsIn() error = %v, want the undecodable row left out", err)
	}
	if diff := cmp.Diff([]string{"old-due", "old-later"}, ids(got)); diff != "" {
		t.Errorf("JobsIn(updating, planned) mismatch (-want +got):\n%s", diff)
	}
	fs, err := s.PendingFindings(ctx)
	if err != nil || len(fs) != 1 || len(fs[0].Outbox) != 1 {
		t.Errorf("PendingFindings() = %+v, %v; want the finding with its pending effect", fs, err)
	}
}
