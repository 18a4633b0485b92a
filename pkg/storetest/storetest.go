// Package storetest is the contract suite for guard.Store, and the tests'
// way to the Azurite that scripts/test.sh starts. Every implementation runs
// the suite, so the in-memory store that the demo uses behaves like the
// Table Storage one that serve uses.
package storetest

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aksguard/aksguard/pkg/guard"
)

// Run runs the guard.Store contract as subtests of t. newStore must return
// an empty store; it is called once per subtest with that subtest's t, so it
// can register its own cleanup. Records are compared with cmp.Diff: times by
// instant (time.Time.Equal), nil and empty slices as equal.
func Run(t *testing.T, newStore func(t *testing.T) guard.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s guard.Store)
	}{
		{"FindingNotFound", testFindingNotFound},
		{"JobNotFound", testJobNotFound},
		{"InsertSetsETag", testInsertSetsETag},
		{"InsertExistingConflicts", testInsertExistingConflicts},
		{"ReplaceWithCurrentETag", testReplaceWithCurrentETag},
		{"ReplaceWithStaleETagConflicts", testReplaceWithStaleETagConflicts},
		{"RacingSavesOneWins", testRacingSavesOneWins},
		{"FindingRoundTrip", testFindingRoundTrip},
		{"JobRoundTrip", testJobRoundTrip},
		{"ListsEverything", testListsEverything},
		{"FilteredQueries", testFilteredQueries},
		{"KPIs", testKPIs},
		{"AuditAppendOnce", testAuditAppendOnce},
		{"AuditOrderAndPartition", testAuditOrderAndPartition},
		{"ClusterIDCaseInsensitive", testClusterIDCaseInsensitive},
		{"AwkwardNames", testAwkwardNames},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

// Fixtures. The subscription and names follow the shape of real ARM IDs.
const subscription = "db1ab6f0-4769-4b27-930e-01e2ef9c123c"

var (
	clusterA = guard.ClusterID{Subscription: subscription, ResourceGroup: "rg-guard", Name: "aks-a"}
	clusterB = guard.ClusterID{Subscription: subscription, ResourceGroup: "rg-guard", Name: "aks-b"}
	clusterC = guard.ClusterID{Subscription: "0b8f5c3e-1d2a-4e6f-9a7b-3c4d5e6f7a8b", ResourceGroup: "rg-other", Name: "aks-c"}
)

// at returns an instant with full nanoseconds in a zone other than UTC, so a
// store that truncates times or mishandles offsets fails the round trip.
func at(minutes int) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+1", 3600)).
		Add(time.Duration(minutes) * time.Minute)
}

// cmpOpts compare records as the contract promises: times by instant, nil
// and empty slices alike.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

// outbox returns one effect of every kind, each with its fields set.
func outbox(id guard.ClusterID, jobID string) []guard.Effect {
	return []guard.Effect{
		{Audit: &guard.AuditEntry{Cluster: id, Key: "20250314T140926.535897932Z-0123456789abcdef", At: at(0),
			Action: "flagged", Actor: "alice@example.com", Cause: "event 7f3c (cluster write)",
			Detail: "service principal 11111111-2222-3333-4444-555555555555", JobID: jobID}},
		{Job: &guard.Job{Cluster: id, ID: jobID, State: guard.JobAwaitingApproval, CreatedAt: at(0), UpdatedAt: at(0),
			NextWake: at(60), WakeSeq: 1}},
		{Message: &guard.Message{ID: jobID + "-wake-1", Kind: guard.MessageJob, Cluster: id, JobID: jobID, Seq: 1,
			Reason: "re-check approval", NotBefore: at(60)}},
		{Alert: &guard.Alert{ID: "5e1b2c3d4e5f6071", Type: guard.AlertFlagged, Cluster: id, Time: at(0),
			Data: guard.AlertData{ClusterID: id.String(), Summary: "aks-a uses a service principal",
				Verdict: guard.VerdictServicePrincipal, Reasons: []string{"no identity", "clientId is an application id"},
				Finding: string(guard.FindingOpen), JobID: jobID, JobState: string(guard.JobAwaitingApproval),
				Actor: "alice@example.com", Error: "none yet", FollowUp: "approve with the tag"}}},
	}
}

// fullFinding returns a finding with every field but ETag set.
func fullFinding(id guard.ClusterID) guard.Finding {
	jobID := "20250314T140926Z-0123456789abcdef"
	return guard.Finding{
		Cluster:        id,
		Verdict:        guard.VerdictServicePrincipal,
		Reasons:        []string{"no managed identity", `servicePrincipalProfile.clientId is "11111111-2222-3333-4444-555555555555"`, "ünïcode ✓"},
		SPClientID:     "11111111-2222-3333-4444-555555555555",
		State:          guard.FindingOpen,
		Resolution:     "not yet",
		FirstSeen:      at(0),
		LastEvaluated:  at(5),
		FlaggedAt:      at(1),
		ClosedAt:       at(9),
		JobID:          jobID,
		FlaggedWriteAt: at(1).Add(-90 * time.Second),
		RecheckAt:      at(30),
		RecentEvents:   []string{"4db48cba-50a2-455a-93b4-de41a3b5b7f6", "evt-2"},
		Kubelet:        fullKubelet(),
		Approval:       fullApproval(),
		Outbox:         outbox(id, jobID),
	}
}

func fullKubelet() *guard.KubeletMove {
	return &guard.KubeletMove{Since: at(7), Pools: []guard.PoolImage{{Name: "system", Image: "AKSUbuntu-2204gen2containerd-202610.01.0"}}}
}

func fullApproval() *guard.Approval {
	return &guard.Approval{
		Value:   "approved",
		Status:  guard.ApprovalRejected,
		Reason:  "alice@example.com is not on the approver list",
		By:      guard.Actor{ObjectID: "9a8b7c6d-0000-1111-2222-333344445555", AppID: "app-1", UPN: "alice@example.com", Name: "Alice", User: true},
		At:      at(2),
		EventID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
		Change: &guard.Change{Type: guard.ChangeUpdate, At: at(1), CorrelationID: "88420d5d-8d0e-471f-9115-10d34750c617",
			ChangedBy: "alice@example.com", ChangedByType: "User", ClientType: "Azure CLI", Operation: "Microsoft.Resources/tags/write",
			Truncated: true, Tag: &guard.TagChange{Previous: "exempt:lab", New: "approved"}},
		Since:    at(1),
		Awaiting: "6e5d4c3b-2a19-4807-9f6e-5d4c3b2a1908",
		Checks:   3,
	}
}

func fullAssignment(role string) guard.RoleAssignment {
	return guard.RoleAssignment{
		ID:               "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleAssignments/b0f43c54-e787-4862-89b1-a653fa9cf747",
		Scope:            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg",
		RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/" + role,
		RoleName:         "Contributor",
		PrincipalID:      "7a8b9c0d-0000-1111-2222-333344445555",
		PrincipalType:    "ServicePrincipal",
		Condition:        "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'x'",
		ConditionVersion: "2.0",
	}
}

// fullJob returns a job with every field but ETag set.
func fullJob(id guard.ClusterID, jobID string) guard.Job {
	return guard.Job{
		Cluster:   id,
		ID:        jobID,
		State:     guard.JobWaitingWindow,
		CreatedAt: at(0),
		UpdatedAt: at(3),
		NextWake:  at(120),
		WakeSeq:   4,
		Attempts:  2,
		Mode:      guard.ModeEnforce,
		Approval:  fullApproval(),
		Plan: &guard.Plan{
			Target:           guard.IdentityTarget{Type: "UserAssigned", UserAssigned: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1"},
			TargetPrincipal:  &guard.Principal{AppID: "5e6f7a8b-0000-1111-2222-333344445555", ObjectID: "6f7a8b9c-0000-1111-2222-333344445555", DisplayName: "id-1", UPN: "unused-for-identities@contoso.com"},
			ServicePrincipal: guard.Principal{AppID: "63113597-dbba-427d-82d3-94e4060d0e8b", ObjectID: "7a8b9c0d-0000-1111-2222-333344445555", DisplayName: "sp-aks", UPN: "unused-for-apps@contoso.com"},
			ControlPlane:     []guard.RoleAssignment{fullAssignment("b24988ac-6180-42a0-ab88-20f7382dd24c")},
			Kubelet:          []guard.RoleAssignment{fullAssignment(guard.AcrPullRoleID)},
			Addons:           map[string][]guard.RoleAssignment{"omsagent": {fullAssignment("3913510d-42f4-4e42-8a64-420c390055eb")}},
			Needs:            []guard.Need{{Scope: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/v/subnets/s", Actions: []string{"Microsoft.Network/virtualNetworks/subnets/join/action"}, Why: "linked authorization"}},
			IdentityNeeds:    []guard.Need{{Scope: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-net", Actions: []string{"Microsoft.Network/routeTables/write"}, Why: "kubenet"}},
			Scopes:           []string{"/subscriptions/00000000-0000-0000-0000-000000000000"},
			Window:           "weekly on Friday 09:00–13:00 UTC (default)",
			ClusterETag:      "eTag-1",
			Warnings:         []string{"nodes are reimaged"},
			Blocked:          "not blocked, but every field is set",
		},
		ResumeToken:     `{"type":"AzureAsyncOperation","pollURL":"https://management.azure.com/x"}`,
		UpdateStartedAt: at(4),
		UpdateETag:      "fleet-00000042",
		Replans:         1,
		ApprovedPlan:    "3f9c2a7d41b0",
		Kubelet:         fullKubelet(),
		NoNewerImage:    []string{"user"},
		PoolToken:       `{"type":"fake","fakeURL":"https://management.azure.com/y"}`,
		PoolUpgrading:   "system",
		Granted:         []string{"scope|role|principal|"},
		Outcome:         "waiting for the maintenance window",
		Error:           "HTTP 409 AnotherOperationInProgress",
		Outbox:          outbox(id, jobID),
	}
}

// checkAllSet fails when a fixture leaves an exported field (other than
// ETag) at its zero value, walking into nested structs and pointers. A new
// field added to Finding or Job thus fails here until the fixture sets it,
// and then the round trip proves each store keeps it.
func checkAllSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.IsZero() {
		t.Fatalf("storetest fixture leaves %s unset; set it so the round trip covers it", path)
	}
	if v.Kind() != reflect.Struct || v.Type() == reflect.TypeFor[time.Time]() {
		return
	}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() || f.Name == "ETag" {
			continue
		}
		checkAllSet(t, path+"."+f.Name, v.Field(i))
	}
}

// checkKind fails unless err is a *guard.Error of kind want.
func checkKind(t *testing.T, call string, err error, want guard.ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s = nil error, want kind %s", call, want)
	}
	if got := guard.KindOf(err); got != want {
		t.Fatalf("%s error = %v (kind %s), want kind %s", call, err, got, want)
	}
}

// subject is a versioned record kind, so the ETag rules are checked for
// findings and jobs alike. save writes version v with etag and returns the
// record's ETag afterwards; load returns the stored version and ETag.
type subject struct {
	name string
	save func(ctx context.Context, s guard.Store, v, etag string) (string, error)
	load func(ctx context.Context, s guard.Store) (v, etag string, err error)
}

const jobID = "20250314T140926Z-0123456789abcdef"

var subjects = []subject{
	{
		name: "Finding",
		save: func(ctx context.Context, s guard.Store, v, etag string) (string, error) {
			f := guard.Finding{Cluster: clusterA, Verdict: guard.VerdictServicePrincipal, State: guard.FindingOpen, Resolution: v, ETag: etag}
			err := s.SaveFinding(ctx, &f)
			return f.ETag, err
		},
		load: func(ctx context.Context, s guard.Store) (string, string, error) {
			f, err := s.Finding(ctx, clusterA)
			return f.Resolution, f.ETag, err
		},
	},
	{
		name: "Job",
		save: func(ctx context.Context, s guard.Store, v, etag string) (string, error) {
			j := guard.Job{Cluster: clusterA, ID: jobID, State: guard.JobAwaitingApproval, Outcome: v, ETag: etag}
			err := s.SaveJob(ctx, &j)
			return j.ETag, err
		},
		load: func(ctx context.Context, s guard.Store) (string, string, error) {
			j, err := s.Job(ctx, clusterA, jobID)
			return j.Outcome, j.ETag, err
		},
	},
}

// mustSave saves version v of sub and returns the new ETag.
func mustSave(t *testing.T, s guard.Store, sub subject, v, etag string) string {
	t.Helper()
	got, err := sub.save(t.Context(), s, v, etag)
	if err != nil {
		t.Fatalf("Save%s(%s, etag %q) error = %v, want nil", sub.name, v, etag, err)
	}
	return got
}

// checkStored fails unless sub's stored record is version v with etag.
func checkStored(t *testing.T, s guard.Store, sub subject, v, etag string) {
	t.Helper()
	gotV, gotETag, err := sub.load(t.Context(), s)
	if err != nil {
		t.Fatalf("%s() error = %v, want nil", sub.name, err)
	}
	if gotV != v || gotETag != etag {
		t.Errorf("%s() = version %q etag %q, want version %q etag %q", sub.name, gotV, gotETag, v, etag)
	}
}

func testFindingNotFound(t *testing.T, s guard.Store) {
	_, err := s.Finding(t.Context(), clusterA)
	checkKind(t, "Finding(empty store)", err, guard.KindNotFound)

	f := guard.Finding{Cluster: clusterB, State: guard.FindingClear}
	if err := s.SaveFinding(t.Context(), &f); err != nil {
		t.Fatalf("SaveFinding(%s) error = %v", clusterB, err)
	}
	_, err = s.Finding(t.Context(), clusterA)
	checkKind(t, "Finding(other cluster saved)", err, guard.KindNotFound)
}

func testJobNotFound(t *testing.T, s guard.Store) {
	_, err := s.Job(t.Context(), clusterA, jobID)
	checkKind(t, "Job(empty store)", err, guard.KindNotFound)

	j := guard.Job{Cluster: clusterA, ID: jobID, State: guard.JobAwaitingApproval}
	if err := s.SaveJob(t.Context(), &j); err != nil {
		t.Fatalf("SaveJob(%s) error = %v", jobID, err)
	}
	_, err = s.Job(t.Context(), clusterA, "20250101T000000Z-ffffffffffffffff")
	checkKind(t, "Job(unknown id)", err, guard.KindNotFound)
	_, err = s.Job(t.Context(), clusterB, jobID)
	checkKind(t, "Job(id of another cluster's job)", err, guard.KindNotFound)
}

func testInsertSetsETag(t *testing.T, s guard.Store) {
	for _, sub := range subjects {
		etag := mustSave(t, s, sub, "v1", "")
		if etag == "" {
			t.Errorf("Save%s(new) left ETag empty, want the store's version", sub.name)
		}
		checkStored(t, s, sub, "v1", etag)
	}
}

func testInsertExistingConflicts(t *testing.T, s guard.Store) {
	for _, sub := range subjects {
		etag := mustSave(t, s, sub, "v1", "")
		got, err := sub.save(t.Context(), s, "v2", "")
		checkKind(t, "Save"+sub.name+"(existing, empty etag)", err, guard.KindConflict)
		if got != "" {
			t.Errorf("Save%s(existing, empty etag) set ETag %q on failure, want it left empty", sub.name, got)
		}
		checkStored(t, s, sub, "v1", etag)
	}
}

func testReplaceWithCurrentETag(t *testing.T, s guard.Store) {
	for _, sub := range subjects {
		e1 := mustSave(t, s, sub, "v1", "")
		e2 := mustSave(t, s, sub, "v2", e1)
		if e2 == "" || e2 == e1 {
			t.Errorf("Save%s(current etag %q) = etag %q, want a new non-empty one", sub.name, e1, e2)
		}
		checkStored(t, s, sub, "v2", e2)
		e3 := mustSave(t, s, sub, "v3", e2)
		checkStored(t, s, sub, "v3", e3)
	}
}

func testReplaceWithStaleETagConflicts(t *testing.T, s guard.Store) {
	for _, sub := range subjects {
		e1 := mustSave(t, s, sub, "v1", "")
		e2 := mustSave(t, s, sub, "v2", e1)
		got, err := sub.save(t.Context(), s, "v3", e1)
		checkKind(t, "Save"+sub.name+"(stale etag)", err, guard.KindConflict)
		if got != e1 {
			t.Errorf("Save%s(stale etag %q) changed ETag to %q on failure, want it unchanged", sub.name, e1, got)
		}
		checkStored(t, s, sub, "v2", e2)
	}
}

func testRacingSavesOneWins(t *testing.T, s guard.Store) {
	for _, sub := range subjects {
		e1 := mustSave(t, s, sub, "v1", "")
		versions := []string{"left", "right"}
		etags := make([]string, len(versions))
		errs := make([]error, len(versions))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, v := range versions {
			wg.Go(func() {
				<-start
				etags[i], errs[i] = sub.save(t.Context(), s, v, e1)
			})
		}
		close(start)
		wg.Wait()

		var won []int
		for i, err := range errs {
			switch {
			case err == nil:
				won = append(won, i)
			case guard.KindOf(err) != guard.KindConflict:
				t.Errorf("Save%s(%s, etag %q) error = %v, want nil or kind conflict", sub.name, versions[i], e1, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("racing Save%s from one etag: %d succeeded (errors %v), want exactly 1", sub.name, len(won), errs)
		}
		checkStored(t, s, sub, versions[won[0]], etags[won[0]])
	}
}

func testFindingRoundTrip(t *testing.T, s guard.Store) {
	want := fullFinding(clusterA)
	checkAllSet(t, "Finding", reflect.ValueOf(want))
	f := want
	if err := s.SaveFinding(t.Context(), &f); err != nil {
		t.Fatalf("SaveFinding(full) error = %v", err)
	}
	want.ETag = f.ETag

	got, err := s.Finding(t.Context(), clusterA)
	if err != nil {
		t.Fatalf("Finding(%s) error = %v", clusterA, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("Finding(%s) mismatch (-want +got):\n%s", clusterA, diff)
	}
	all, err := s.Findings(t.Context())
	if err != nil {
		t.Fatalf("Findings() error = %v", err)
	}
	if diff := cmp.Diff([]guard.Finding{want}, all, cmpOpts...); diff != "" {
		t.Errorf("Findings() mismatch (-want +got):\n%s", diff)
	}

	// A listed record carries its current ETag: saving it back succeeds, and
	// emptying the lists and times really empties them.
	next := all[0]
	next.Reasons, next.Outbox, next.ClosedAt, next.State = nil, nil, time.Time{}, guard.FindingResolved
	if err := s.SaveFinding(t.Context(), &next); err != nil {
		t.Fatalf("SaveFinding(listed, etag %q) error = %v, want nil", all[0].ETag, err)
	}
	got, err = s.Finding(t.Context(), clusterA)
	if err != nil {
		t.Fatalf("Finding(%s) error = %v", clusterA, err)
	}
	if diff := cmp.Diff(next, got, cmpOpts...); diff != "" {
		t.Errorf("Finding(%s) after clearing fields mismatch (-want +got):\n%s", clusterA, diff)
	}
}

func testJobRoundTrip(t *testing.T, s guard.Store) {
	want := fullJob(clusterA, jobID)
	checkAllSet(t, "Job", reflect.ValueOf(want))
	j := want
	if err := s.SaveJob(t.Context(), &j); err != nil {
		t.Fatalf("SaveJob(full) error = %v", err)
	}
	want.ETag = j.ETag

	got, err := s.Job(t.Context(), clusterA, jobID)
	if err != nil {
		t.Fatalf("Job(%s, %s) error = %v", clusterA, jobID, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("Job(%s, %s) mismatch (-want +got):\n%s", clusterA, jobID, diff)
	}
	all, err := s.Jobs(t.Context())
	if err != nil {
		t.Fatalf("Jobs() error = %v", err)
	}
	if diff := cmp.Diff([]guard.Job{want}, all, cmpOpts...); diff != "" {
		t.Errorf("Jobs() mismatch (-want +got):\n%s", diff)
	}

	// Clearing the approval and the outbox really clears them.
	next := all[0]
	next.Approval, next.Outbox, next.NextWake, next.WakeSeq, next.State = nil, nil, time.Time{}, 0, guard.JobCancelled
	if err := s.SaveJob(t.Context(), &next); err != nil {
		t.Fatalf("SaveJob(listed, etag %q) error = %v, want nil", all[0].ETag, err)
	}
	got, err = s.Job(t.Context(), clusterA, jobID)
	if err != nil {
		t.Fatalf("Job(%s, %s) error = %v", clusterA, jobID, err)
	}
	if diff := cmp.Diff(next, got, cmpOpts...); diff != "" {
		t.Errorf("Job(%s, %s) after clearing fields mismatch (-want +got):\n%s", clusterA, jobID, diff)
	}
}

func testListsEverything(t *testing.T, s guard.Store) {
	findings, err := s.Findings(t.Context())
	if err != nil || len(findings) != 0 {
		t.Fatalf("Findings(empty store) = %d findings, %v, want none, nil", len(findings), err)
	}
	jobs, err := s.Jobs(t.Context())
	if err != nil || len(jobs) != 0 {
		t.Fatalf("Jobs(empty store) = %d jobs, %v, want none, nil", len(jobs), err)
	}

	var wantFindings []guard.Finding
	for _, id := range []guard.ClusterID{clusterA, clusterB, clusterC} {
		f := guard.Finding{Cluster: id, Verdict: guard.VerdictManagedIdentity, State: guard.FindingClear, LastEvaluated: at(1)}
		if err := s.SaveFinding(t.Context(), &f); err != nil {
			t.Fatalf("SaveFinding(%s) error = %v", id, err)
		}
		wantFindings = append(wantFindings, f)
	}
	var wantJobs []guard.Job
	for _, k := range []struct {
		id    guard.ClusterID
		jobID string
	}{
		{clusterA, "20250314T140926Z-0000000000000001"},
		{clusterA, "20250315T140926Z-0000000000000002"},
		{clusterB, "20250314T140926Z-0000000000000001"},
		{clusterC, "20250316T140926Z-0000000000000003"},
	} {
		j := guard.Job{Cluster: k.id, ID: k.jobID, State: guard.JobPlanned, CreatedAt: at(2)}
		if err := s.SaveJob(t.Context(), &j); err != nil {
			t.Fatalf("SaveJob(%s, %s) error = %v", k.id, k.jobID, err)
		}
		wantJobs = append(wantJobs, j)
	}

	findings, err = s.Findings(t.Context())
	if err != nil {
		t.Fatalf("Findings() error = %v", err)
	}
	byCluster := cmpopts.SortSlices(func(a, b guard.Finding) bool { return a.Cluster.Key() < b.Cluster.Key() })
	if diff := cmp.Diff(wantFindings, findings, append(cmpOpts, byCluster)...); diff != "" {
		t.Errorf("Findings() mismatch (-want +got):\n%s", diff)
	}
	jobs, err = s.Jobs(t.Context())
	if err != nil {
		t.Fatalf("Jobs() error = %v", err)
	}
	byJob := cmpopts.SortSlices(func(a, b guard.Job) bool {
		if a.Cluster.Key() != b.Cluster.Key() {
			return a.Cluster.Key() < b.Cluster.Key()
		}
		return a.ID < b.ID
	})
	if diff := cmp.Diff(wantJobs, jobs, append(cmpOpts, byJob)...); diff != "" {
		t.Errorf("Jobs() mismatch (-want +got):\n%s", diff)
	}
}

// testFilteredQueries: JobsIn, DueJobs and PendingFindings return exactly
// the records they promise, also after a record moves out of them.
func testFilteredQueries(t *testing.T, s guard.Store) {
	ctx := t.Context()
	now := at(60)
	jobs := map[string]guard.Job{
		"updating":          {State: guard.JobUpdating, NextWake: now.Add(time.Minute)},
		"granting":          {State: guard.JobGrantingRoles, NextWake: now.Add(-time.Minute)},
		"overdue":           {State: guard.JobAwaitingApproval, NextWake: now.Add(-time.Nanosecond)},
		"due-at-the-minute": {State: guard.JobPlanned, NextWake: now},
		"finished-overdue":  {State: guard.JobSucceeded, NextWake: now.Add(-time.Hour)},
		"finished-pending":  {State: guard.JobCancelled, NextWake: now.Add(time.Hour), Outbox: outbox(clusterA, "finished-pending")},
	}
	for name, j := range jobs {
		j.Cluster, j.ID = clusterA, name
		if err := s.SaveJob(ctx, &j); err != nil {
			t.Fatalf("SaveJob(%s) error = %v", name, err)
		}
		jobs[name] = j
	}
	ids := func(js []guard.Job) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		slices.Sort(out)
		return out
	}
	in, err := s.JobsIn(ctx, guard.JobUpdating, guard.JobGrantingRoles)
	if want := []string{"granting", "updating"}; err != nil || !slices.Equal(ids(in), want) {
		t.Errorf("JobsIn(updating, granting-roles) = %v, %v; want %v", ids(in), err, want)
	}
	due, err := s.DueJobs(ctx, now)
	if want := []string{"finished-pending", "granting", "overdue"}; err != nil || !slices.Equal(ids(due), want) {
		t.Errorf("DueJobs(%v) = %v, %v; want %v", now, ids(due), err, want)
	}
	// A job that moves on leaves the queries.
	j := jobs["granting"]
	j.State, j.NextWake = guard.JobUpdating, now.Add(time.Hour)
	if err := s.SaveJob(ctx, &j); err != nil {
		t.Fatal(err)
	}
	due, err = s.DueJobs(ctx, now)
	if want := []string{"finished-pending", "overdue"}; err != nil || !slices.Equal(ids(due), want) {
		t.Errorf("DueJobs(%v) after a job moved on = %v, %v; want %v", now, ids(due), err, want)
	}

	quiet := guard.Finding{Cluster: clusterB, State: guard.FindingOpen}
	busy := guard.Finding{Cluster: clusterC, State: guard.FindingOpen, Outbox: outbox(clusterC, "j")}
	for _, f := range []*guard.Finding{&quiet, &busy} {
		if err := s.SaveFinding(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	pending, err := s.PendingFindings(ctx)
	if err != nil || len(pending) != 1 || !pending[0].Cluster.Same(clusterC) {
		t.Errorf("PendingFindings() = %d findings, %v; want %s's", len(pending), err, clusterC.Name)
	}
	busy.Outbox = nil
	if err := s.SaveFinding(ctx, &busy); err != nil {
		t.Fatal(err)
	}
	if pending, err := s.PendingFindings(ctx); err != nil || len(pending) != 0 {
		t.Errorf("PendingFindings() after the effects were done = %d findings, %v; want none", len(pending), err)
	}
	closed := guard.Finding{Cluster: clusterA, State: guard.FindingResolved}
	if err := s.SaveFinding(ctx, &closed); err != nil {
		t.Fatal(err)
	}
	open, err := s.FindingsIn(ctx, "", guard.FindingOpen, guard.FindingKubeletPending)
	if err != nil || len(open) != 2 || open[0].Cluster.Same(clusterA) || open[1].Cluster.Same(clusterA) {
		t.Errorf("FindingsIn(every subscription, open, kubelet-pending) = %d findings, %v; want %s's and %s's", len(open), err, clusterB.Name, clusterC.Name)
	}
	open, err = s.FindingsIn(ctx, strings.ToUpper(clusterC.Subscription), guard.FindingOpen)
	if err != nil || len(open) != 1 || !open[0].Cluster.Same(clusterC) {
		t.Errorf("FindingsIn(%s's subscription, open) = %d findings, %v; want %s's", clusterC.Name, len(open), err, clusterC.Name)
	}
	all, err := s.FindingsIn(ctx, clusterA.Subscription)
	if err != nil || len(all) != 2 {
		t.Errorf("FindingsIn(%s's subscription, any state) = %d findings, %v; want %s's and %s's", clusterA.Name, len(all), err, clusterA.Name, clusterB.Name)
	}
	counts, err := s.JobCounts(ctx)
	want := map[guard.JobState]int{guard.JobUpdating: 2, guard.JobAwaitingApproval: 1, guard.JobPlanned: 1, guard.JobSucceeded: 1, guard.JobCancelled: 1}
	if diff := cmp.Diff(want, counts); err != nil || diff != "" {
		t.Errorf("JobCounts() error %v, diff (-want +got):\n%s", err, diff)
	}
}

// testKPIs: one snapshot a day, the day's last replacing its first, read
// back oldest first from a day on.
func testKPIs(t *testing.T, s guard.Store) {
	ctx := t.Context()
	day := func(d, h int) time.Time { return time.Date(2026, 12, d, h, 0, 0, 0, time.UTC) }
	k := func(d, h, clusters int) guard.KPIs {
		return guard.KPIs{At: day(d, h), Clusters: clusters, ManagedIdentity: 1, ComplianceRate: 1 / float64(clusters),
			Findings: map[guard.FindingState]int{guard.FindingOpen: 2}, OpenByAge: map[string]int{"<1d": 2},
			Jobs: map[guard.JobState]int{guard.JobFailed: 1}, Incidents: 1, MeanTimeToRemediateSeconds: 3600.5,
			Policy: guard.PolicyCheck{Assigned: 3, Agree: 2, DisagreeTotal: 1, Disagreements: []guard.PolicyDisagreement{
				{Cluster: clusterA.String(), Policy: "Compliant", Guard: "service-principal", Why: "unknown"}}},
			Flagged: []guard.FlaggedCluster{{Cluster: clusterB.String(), State: guard.FindingOpen, FlaggedAt: day(d, 1),
				Approver: "dana@contoso.com", Job: guard.JobWaitingWindow, Next: "waiting-window until 2026-12-06T02:00:00Z"}},
			FlaggedTotal: 7}
	}
	for _, v := range []guard.KPIs{k(1, 9, 3), k(2, 9, 4), k(2, 18, 5), k(3, 9, 6)} {
		if err := s.SaveKPIs(ctx, v); err != nil {
			t.Fatalf("SaveKPIs(%v) error = %v", v.At, err)
		}
	}
	got, err := s.KPIHistory(ctx, day(2, 12))
	want := []guard.KPIs{k(2, 18, 5), k(3, 9, 6)}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); err != nil || diff != "" {
		t.Errorf("KPIHistory(from the 2nd) error %v, diff (-want +got):\n%s", err, diff)
	}
}

func testAuditAppendOnce(t *testing.T, s guard.Store) {
	e := guard.AuditEntry{Cluster: clusterA, Key: "20250314T140926.535897932Z-0123456789abcdef", At: at(0),
		Action: "flagged", Actor: "alice@example.com", Cause: "event 7f3c", Detail: "first write", JobID: jobID}
	if err := s.AppendAudit(t.Context(), e); err != nil {
		t.Fatalf("AppendAudit(%s) error = %v", e.Key, err)
	}
	retry := e
	retry.Detail = "second write of the same key"
	if err := s.AppendAudit(t.Context(), retry); err != nil {
		t.Fatalf("AppendAudit(%s) again = %v, want nil (a no-op)", e.Key, err)
	}
	got, err := s.Audit(t.Context(), clusterA)
	if err != nil {
		t.Fatalf("Audit(%s) error = %v", clusterA, err)
	}
	if diff := cmp.Diff([]guard.AuditEntry{e}, got, cmpOpts...); diff != "" {
		t.Errorf("Audit(%s) mismatch (-want +got):\n%s", clusterA, diff)
	}
}

func testAuditOrderAndPartition(t *testing.T, s guard.Store) {
	entry := func(id guard.ClusterID, key string, minutes int) guard.AuditEntry {
		return guard.AuditEntry{Cluster: id, Key: key, At: at(minutes), Action: "evaluated", Actor: "aksguard", Cause: "sweep"}
	}
	a1 := entry(clusterA, "20250314T140926.000000001Z-aaaaaaaaaaaaaaaa", 0)
	a2 := entry(clusterA, "20250314T141026.000000000Z-bbbbbbbbbbbbbbbb", 1)
	a3 := entry(clusterA, "20250314T141126.000000000Z-0000000000000000", 2)
	b1 := entry(clusterB, "20250314T140000.000000000Z-cccccccccccccccc", -9)
	for _, e := range []guard.AuditEntry{a3, b1, a1, a2} {
		if err := s.AppendAudit(t.Context(), e); err != nil {
			t.Fatalf("AppendAudit(%s) error = %v", e.Key, err)
		}
	}
	tests := []struct {
		id   guard.ClusterID
		want []guard.AuditEntry
	}{
		{clusterA, []guard.AuditEntry{a1, a2, a3}},
		{clusterB, []guard.AuditEntry{b1}},
		{clusterC, nil},
	}
	for _, tt := range tests {
		got, err := s.Audit(t.Context(), tt.id)
		if err != nil {
			t.Fatalf("Audit(%s) error = %v", tt.id, err)
		}
		if diff := cmp.Diff(tt.want, got, cmpOpts...); diff != "" {
			t.Errorf("Audit(%s) mismatch (-want +got):\n%s", tt.id, diff)
		}
	}
}

func testClusterIDCaseInsensitive(t *testing.T, s guard.Store) {
	saved := guard.ClusterID{Subscription: "DB1AB6F0-4769-4B27-930E-01E2EF9C123C", ResourceGroup: "RG-Mixed.Case", Name: "Aks-Prod_1"}
	asked := guard.ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "rg-mixed.case", Name: "AKS-PROD_1"}

	f := guard.Finding{Cluster: saved, Verdict: guard.VerdictServicePrincipal, State: guard.FindingOpen}
	if err := s.SaveFinding(t.Context(), &f); err != nil {
		t.Fatalf("SaveFinding(%s) error = %v", saved, err)
	}
	got, err := s.Finding(t.Context(), asked)
	if err != nil {
		t.Fatalf("Finding(%s) error = %v, want the finding saved as %s", asked, err, saved)
	}
	if diff := cmp.Diff(f, got, cmpOpts...); diff != "" {
		t.Errorf("Finding(%s) mismatch (-want +got):\n%s", asked, diff)
	}
	other := guard.Finding{Cluster: asked, State: guard.FindingClear}
	checkKind(t, "SaveFinding(new, same cluster in other case)", s.SaveFinding(t.Context(), &other), guard.KindConflict)

	j := guard.Job{Cluster: saved, ID: jobID, State: guard.JobPlanned}
	if err := s.SaveJob(t.Context(), &j); err != nil {
		t.Fatalf("SaveJob(%s, %s) error = %v", saved, jobID, err)
	}
	if _, err := s.Job(t.Context(), asked, jobID); err != nil {
		t.Errorf("Job(%s, %s) error = %v, want the job saved under %s", asked, jobID, err, saved)
	}
	otherJob := guard.Job{Cluster: asked, ID: jobID, State: guard.JobPlanned}
	checkKind(t, "SaveJob(new, same cluster in other case)", s.SaveJob(t.Context(), &otherJob), guard.KindConflict)

	e := guard.AuditEntry{Cluster: saved, Key: "20250314T140926.535897932Z-0123456789abcdef", At: at(0), Action: "flagged"}
	if err := s.AppendAudit(t.Context(), e); err != nil {
		t.Fatalf("AppendAudit(%s) error = %v", e.Key, err)
	}
	entries, err := s.Audit(t.Context(), asked)
	if err != nil {
		t.Fatalf("Audit(%s) error = %v", asked, err)
	}
	if diff := cmp.Diff([]guard.AuditEntry{e}, entries, cmpOpts...); diff != "" {
		t.Errorf("Audit(%s) mismatch (-want +got):\n%s", asked, diff)
	}
}

func testAwkwardNames(t *testing.T, s guard.Store) {
	// ARM allows these characters in resource group and cluster names; the
	// keys must keep every cluster apart and readable back.
	ids := []guard.ClusterID{
		{Subscription: subscription, ResourceGroup: "rg_(prod).eu-west.1", Name: "aks-prod_1"},
		{Subscription: subscription, ResourceGroup: "rg_(prod).eu-west.1", Name: "aks_prod-1"},
		{Subscription: subscription, ResourceGroup: "(rg)", Name: "a"},
		{Subscription: subscription, ResourceGroup: "rg.with.dots", Name: "a-b_c-d"},
		{Subscription: subscription, ResourceGroup: "rg-ünïcode", Name: "aks"},
	}
	for i, id := range ids {
		f := guard.Finding{Cluster: id, Verdict: guard.VerdictMixed, State: guard.FindingOpen, JobID: jobID}
		if err := s.SaveFinding(t.Context(), &f); err != nil {
			t.Fatalf("SaveFinding(%s) error = %v", id, err)
		}
		got, err := s.Finding(t.Context(), id)
		if err != nil {
			t.Fatalf("Finding(%s) error = %v", id, err)
		}
		if diff := cmp.Diff(f, got, cmpOpts...); diff != "" {
			t.Errorf("Finding(%s) mismatch (-want +got):\n%s", id, diff)
		}
		j := guard.Job{Cluster: id, ID: jobID, State: guard.JobPlanned, WakeSeq: i}
		if err := s.SaveJob(t.Context(), &j); err != nil {
			t.Fatalf("SaveJob(%s, %s) error = %v", id, jobID, err)
		}
		gotJob, err := s.Job(t.Context(), id, jobID)
		if err != nil {
			t.Fatalf("Job(%s, %s) error = %v", id, jobID, err)
		}
		if diff := cmp.Diff(j, gotJob, cmpOpts...); diff != "" {
			t.Errorf("Job(%s, %s) mismatch (-want +got):\n%s", id, jobID, diff)
		}
		e := guard.AuditEntry{Cluster: id, Key: "20250314T140926.535897932Z-0123456789abcdef", At: at(i), Action: "flagged"}
		if err := s.AppendAudit(t.Context(), e); err != nil {
			t.Fatalf("AppendAudit(%s) error = %v", id, err)
		}
		entries, err := s.Audit(t.Context(), id)
		if err != nil {
			t.Fatalf("Audit(%s) error = %v", id, err)
		}
		if diff := cmp.Diff([]guard.AuditEntry{e}, entries, cmpOpts...); diff != "" {
			t.Errorf("Audit(%s) mismatch (-want +got):\n%s", id, diff)
		}
	}
	findings, err := s.Findings(t.Context())
	if err != nil {
		t.Fatalf("Findings() error = %v", err)
	}
	var got []string
	for _, f := range findings {
		got = append(got, f.Cluster.String())
	}
	var want []string
	for _, id := range ids {
		want = append(want, id.String())
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Findings() clusters mismatch (-want +got):\n%s", diff)
	}
}
