package resourcegraph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph/fake"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/resourcegraph"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

// sampleRow is the spec's GetChange example as a resourcechanges row, with
// its target made a managed cluster (the example's is a storage account)
// and its tag named as asked.
func sampleRow(t *testing.T, target, tag string) map[string]any {
	t.Helper()
	raw := string(sampletest.Read(t, "resourcechanges_spec_2024-06-01-preview_GetChange.json"))
	raw = strings.ReplaceAll(raw, "/providers/Microsoft.Storage/storageAccounts/myStorageAccount", "/providers/Microsoft.ContainerService/managedClusters/aks1")
	raw = strings.ReplaceAll(raw, `"tags.key1"`, `"tags.`+tag+`"`)
	var row map[string]any
	if err := json.Unmarshal([]byte(raw), &row); err != nil {
		t.Fatal(err)
	}
	return row
}

const specCluster = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/myResourceGroup/providers/Microsoft.ContainerService/managedClusters/aks1"

// fakeClient returns a Client on the armresourcegraph fake, which answers
// every query with rows (or with the error status and code, when status is
// set), and the last query it saw.
func fakeClient(t *testing.T, rows []any, status int, code string) (*resourcegraph.Client, *armresourcegraph.QueryRequest) {
	t.Helper()
	seen := &armresourcegraph.QueryRequest{}
	srv := fake.Server{Resources: func(_ context.Context, q armresourcegraph.QueryRequest, _ *armresourcegraph.ClientResourcesOptions) (resp azfake.Responder[armresourcegraph.ClientResourcesResponse], errResp azfake.ErrorResponder) {
		*seen = q
		if status != 0 {
			errResp.SetResponseError(status, code)
			return resp, errResp
		}
		n := int64(len(rows))
		resp.SetResponse(http.StatusOK, armresourcegraph.ClientResourcesResponse{QueryResponse: armresourcegraph.QueryResponse{Count: &n, Data: rows}}, nil)
		return resp, errResp
	}}
	c, err := resourcegraph.New(&azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: fake.NewServerTransport(&srv)}})
	if err != nil {
		t.Fatal(err)
	}
	return c, seen
}

func cluster(t *testing.T, s string) guard.ClusterID {
	t.Helper()
	id, err := armid.ParseCluster(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTagChangesSample(t *testing.T) {
	id := cluster(t, specCluster)
	c, seen := fakeClient(t, []any{sampleRow(t, specCluster, guard.ApprovalTag)}, 0, "")
	got, err := c.TagChanges(t.Context(), id, guard.ApprovalTag, "88420d5d-8d0e-471f-9115-10d34750c617")
	if err != nil {
		t.Fatalf("TagChanges() error %v", err)
	}
	want := []guard.Change{{
		Type: "Update", At: time.Date(2021, 11, 19, 14, 29, 9, 921000000, time.UTC),
		CorrelationID: "88420d5d-8d0e-471f-9115-10d34750c617", ChangedBy: "someAlias@microsoft.com", ChangedByType: "User",
		ClientType: "Portal", Operation: "Microsoft.Namespace/ResourceType/write",
		Tag: &guard.TagChange{Previous: "", New: "someValue"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TagChanges() mismatch (-want +got):\n%s", diff)
	}
	q := *seen.Query
	for _, part := range []string{"resourcechanges", "properties.targetResourceId =~ '" + specCluster + "'", `contains '"tags.aksguard-remediation"'`, "=~ '88420d5d-8d0e-471f-9115-10d34750c617'", "order by changeTime desc"} {
		if !strings.Contains(q, part) {
			t.Errorf("query %q does not contain %q", q, part)
		}
	}
	if len(seen.Subscriptions) != 1 || *seen.Subscriptions[0] != id.Subscription {
		t.Errorf("query scope = %v, want the cluster's subscription only", seen.Subscriptions)
	}
	if f := seen.Options.ResultFormat; f == nil || *f != armresourcegraph.ResultFormatObjectArray {
		t.Errorf("result format = %v, want objectArray", f)
	}
}

// row builds a resourcechanges row.
func row(target, changeType, at, corr, by string, truncated bool, changes map[string]any) map[string]any {
	return map[string]any{"properties": map[string]any{
		"targetResourceId": target, "changeType": changeType,
		"changeAttributes": map[string]any{"correlationId": corr, "timestamp": at, "changedBy": by, "changedByType": "User", "isTruncated": truncated},
		"changes":          changes,
	}}
}

func TestTagChangesKeepsWhatItPromises(t *testing.T) {
	other := strings.Replace(specCluster, "/aks1", "/aks2", 1)
	tag := func(prev, next any) map[string]any {
		return map[string]any{"tags." + strings.ToUpper(guard.ApprovalTag): map[string]any{"previousValue": prev, "newValue": next}}
	}
	rows := []any{
		row(specCluster, "Update", "2026-11-27T09:00:00Z", "c1", "eve@contoso.com", false, tag(nil, "approved")),
		row(other, "Update", "2026-11-27T09:05:00Z", "c2", "eve@contoso.com", false, tag(nil, "approved")),
		row(specCluster, "Update", "2026-11-27T09:06:00Z", "c3", "eve@contoso.com", false, map[string]any{"tags.owner": map[string]any{"newValue": "x"}}),
		row(specCluster, "Update", "2026-11-27T09:07:00Z", "c4", "dana@contoso.com", false, map[string]any{"tags.owner": map[string]any{"newValue": "y"}}),
		row(specCluster, "Update", "2026-11-27T09:08:00Z", "c5", "dana@contoso.com", true, map[string]any{}),
		row(specCluster, "Update", "2026-11-27T09:09:00Z", "c6", "dana@contoso.com", false, tag("approved", "null")),
		row(strings.ToLower(specCluster), "Create", "2026-11-27T08:00:00Z", "c0", "ci@contoso.com", false, nil),
		row(specCluster, "Delete", "2026-11-26T08:00:00Z", "c-1", "ci@contoso.com", false, nil),
	}
	c, _ := fakeClient(t, rows, 0, "")
	got, err := c.TagChanges(t.Context(), cluster(t, specCluster), guard.ApprovalTag, "c4")
	if err != nil {
		t.Fatal(err)
	}
	var corr []string
	for _, ch := range got {
		corr = append(corr, ch.CorrelationID)
	}
	// Newest first; another cluster's row, and an update that neither
	// touches the tag nor carries the event's correlation, are left out.
	if want := []string{"c6", "c5", "c4", "c1", "c0", "c-1"}; !cmp.Equal(want, corr) {
		t.Errorf("TagChanges() correlations = %v, want %v", corr, want)
	}
	if got[0].Tag == nil || *got[0].Tag != (guard.TagChange{Previous: "approved", New: ""}) {
		t.Errorf("removal = %+v, want approved → \"\" (Microsoft's examples write a missing value as \"null\")", got[0].Tag)
	}
	if !got[1].Truncated || got[1].Tag != nil {
		t.Errorf("truncated record = %+v, want Truncated and no tag", got[1])
	}
}

func TestTagChangesNeverQuotesAStrangeCorrelation(t *testing.T) {
	c, seen := fakeClient(t, nil, 0, "")
	if _, err := c.TagChanges(t.Context(), cluster(t, specCluster), guard.ApprovalTag, "x' or 1==1 or '"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(*seen.Query, "1==1") {
		t.Errorf("query %q holds the correlation id; want it left out", *seen.Query)
	}
}

func TestTagChangesErrors(t *testing.T) {
	tests := []struct {
		status  int
		code    string
		kind    guard.ErrorKind
		mention string
	}{
		{http.StatusForbidden, "AuthorizationFailed", guard.KindForbidden, "Reader"},
		{http.StatusTooManyRequests, "RateLimiting", guard.KindTransient, "429"},
		{http.StatusBadRequest, "BadRequest", guard.KindInvalid, "BadRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			c, _ := fakeClient(t, nil, tt.status, tt.code)
			_, err := c.TagChanges(t.Context(), cluster(t, specCluster), guard.ApprovalTag, "")
			if guard.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("TagChanges() error = %v, want %s mentioning %q", err, tt.kind, tt.mention)
			}
		})
	}
	t.Run("bad timestamp", func(t *testing.T) {
		c, _ := fakeClient(t, []any{row(specCluster, "Create", "yesterday", "c", "x", false, nil)}, 0, "")
		_, err := c.TagChanges(t.Context(), cluster(t, specCluster), guard.ApprovalTag, "")
		if guard.KindOf(err) != guard.KindInvalid || !strings.Contains(err.Error(), "yesterday") {
			t.Errorf("TagChanges() error = %v, want %s naming the timestamp", err, guard.KindInvalid)
		}
	})
}

// TestTagChangesOnTheSimulatedFleet reads the fleet's own change history
// through the real client: a write's record appears after the delay, with
// the caller and the tag's values.
func TestTagChangesOnTheSimulatedFleet(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	clock := azurefake.NewClock(now)
	az := azurefake.New(clock)
	defer az.Close()
	f := az.Fleet
	f.SetChangeDelay(2 * time.Minute)
	id := cluster(t, specCluster)
	mc := armcontainerservice.ManagedCluster{ID: to.Ptr(specCluster), Name: to.Ptr("aks1"), Location: to.Ptr("westeurope"),
		Properties: &armcontainerservice.ManagedClusterProperties{ServicePrincipalProfile: &armcontainerservice.ManagedClusterServicePrincipalProfile{ClientID: to.Ptr("63113597-dbba-427d-82d3-94e4060d0e8b")}}}
	ci := azurefake.Caller{ChangedBy: "ci@contoso.com", Type: azurefake.CallerUser, ClientType: "Azure CLI"}
	f.PutAs(mc, ci, azurefake.Write{})
	clock.Set(now.Add(time.Minute))
	mc.Tags = map[string]*string{guard.ApprovalTag: to.Ptr("approved")}
	dana := azurefake.Caller{ChangedBy: "dana@contoso.com", Type: azurefake.CallerUser}
	corr := f.PutAs(mc, dana, azurefake.Write{Operation: "Microsoft.Resources/tags/write"})
	c := f.ResourceGraph()

	clock.Set(now.Add(2 * time.Minute))
	got, err := c.TagChanges(t.Context(), id, guard.ApprovalTag, corr)
	if err != nil || len(got) != 1 || got[0].Type != "Create" || got[0].ChangedBy != "ci@contoso.com" {
		t.Fatalf("TagChanges() two minutes after the creation = %+v, %v; want the Create record only", got, err)
	}
	clock.Set(now.Add(3 * time.Minute))
	got, err = c.TagChanges(t.Context(), id, guard.ApprovalTag, corr)
	if err != nil || len(got) != 2 {
		t.Fatalf("TagChanges() = %+v, %v; want the tag change and the creation", got, err)
	}
	want := guard.Change{Type: "Update", At: now.Add(time.Minute), CorrelationID: corr, ChangedBy: "dana@contoso.com", ChangedByType: "User",
		Operation: "Microsoft.Resources/tags/write", Tag: &guard.TagChange{New: "approved"}}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("tag change mismatch (-want +got):\n%s", diff)
	}
	if err := az.Faults.Add(azurefake.ChangeHistory, azurefake.Fault{Kind: azurefake.Forbidden, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagChanges(t.Context(), id, guard.ApprovalTag, ""); guard.KindOf(err) != guard.KindForbidden {
		t.Errorf("TagChanges() under a forbidden fault error = %v, want %s", err, guard.KindForbidden)
	}
}

// TestClustersUsing finds, through the real client on the simulated fleet,
// the clusters whose clientId is the service principal's, and refuses an
// application id that could change the query.
func TestClustersUsing(t *testing.T) {
	az := azurefake.New(azurefake.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)))
	defer az.Close()
	const appID = "63113597-dbba-427d-82d3-94e4060d0e8b"
	put := func(id, client string) {
		az.Fleet.Put(armcontainerservice.ManagedCluster{ID: to.Ptr(id), Name: to.Ptr(id[strings.LastIndex(id, "/")+1:]), Location: to.Ptr("westeurope"),
			Properties: &armcontainerservice.ManagedClusterProperties{ServicePrincipalProfile: &armcontainerservice.ManagedClusterServicePrincipalProfile{ClientID: to.Ptr(client)}}})
	}
	other := strings.Replace(specCluster, "aks1", "shares-the-sp", 1)
	put(specCluster, appID)
	put(other, strings.ToUpper(appID))
	put(strings.Replace(specCluster, "aks1", "migrated", 1), "msi")
	got, err := az.Fleet.ResourceGraph().ClustersUsing(t.Context(), appID)
	if err != nil || len(got) != 2 || !got[0].Same(cluster(t, specCluster)) || !got[1].Same(cluster(t, other)) {
		t.Errorf("ClustersUsing() = %v, %v; want the two clusters with that clientId", got, err)
	}
	if _, err := az.Fleet.ResourceGraph().ClustersUsing(t.Context(), "x' or 1 == 1"); guard.KindOf(err) != guard.KindInvalid {
		t.Errorf("ClustersUsing(not a GUID) error = %v, want KindInvalid", err)
	}
}
