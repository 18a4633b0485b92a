package resourcegraph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/resourcegraph"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

// fleetOf puts n clusters on a service principal into subs subscriptions
// of az's fleet, round robin, every third one migrated.
func fleetOf(az *azurefake.Azure, n, subs int) {
	for i := range n {
		id := fmt.Sprintf("/subscriptions/%08x-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c%06d", i%subs, i)
		mc := sampletest.SPCluster(id, "63113597-dbba-427d-82d3-94e4060d0e8b")
		if i%3 == 0 {
			mc.Identity = &armcontainerservice.ManagedClusterIdentity{Type: to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned)}
			mc.Properties.ServicePrincipalProfile.ClientID = to.Ptr("msi")
		}
		az.Fleet.Put(mc)
	}
}

// TestListingPagesAndBatches lists 2,500 clusters in 1,200 subscriptions:
// two pages of subscriptions, then the clusters of two batches of
// subscriptions (1,000 and 200) page by page, every cluster once, with
// the verdict the listing shows.
func TestListingPagesAndBatches(t *testing.T) {
	az := azurefake.New(azurefake.NewClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)))
	defer az.Close()
	fleetOf(az, 2500, 1200)
	l := az.Fleet.ResourceGraph().Fleet(resourcegraph.FleetScope{}, nil)
	seen := map[string]int{}
	compliant, pages, biggest := 0, 0, 0
	got, err := l.Clusters(t.Context(), func(page []guard.Listed) error {
		pages++
		biggest = max(biggest, len(page))
		for _, r := range page {
			seen[r.Cluster.ID.Key()]++
			if guard.Evaluate(r.Cluster).Verdict.Compliant() {
				compliant++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Clusters() error = %v", err)
	}
	// Batch one holds subscriptions 0-999: clusters i with i%1200 < 1000,
	// 2,084 of them (3 pages); batch two the other 416 (1 page).
	if len(seen) != 2500 || compliant != 834 || !got.Complete || len(got.Subscriptions) != 1200 {
		t.Errorf("listed %d clusters (%d compliant), %d subscriptions, complete %v; want 2500 (834), 1200, true", len(seen), compliant, len(got.Subscriptions), got.Complete)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("cluster %s listed %d times", k, n)
		}
	}
	if pages != 4 || biggest != 1000 || got.Queries != 2+4 || az.Fleet.GraphQueries() != 6 {
		t.Errorf("pages %d (largest %d), queries %d (fleet saw %d); want 4 (1000), 6 = 2 subscription pages + 4 cluster pages",
			pages, biggest, got.Queries, az.Fleet.GraphQueries())
	}
}

// listUnderQuota lists n clusters in subs subscriptions with Resource Graph
// allowing quota queries per 5 s. The listing's waits are recorded; a wait
// moves the fleet's clock only when moves says so for it (the first is 1).
func listUnderQuota(t *testing.T, n, subs, quota int, moves func(wait int) bool) (guard.Listing, []time.Duration) {
	t.Helper()
	clock := azurefake.NewClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	az := azurefake.New(clock)
	defer az.Close()
	fleetOf(az, n, subs)
	az.Fleet.SetGraphQuota(quota)
	var waits []time.Duration
	l := az.Fleet.ResourceGraph().Fleet(resourcegraph.FleetScope{}, func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		if moves(len(waits)) {
			clock.Set(clock.Now().Add(d))
		}
		return nil
	})
	listed := 0
	got, err := l.Clusters(t.Context(), func(page []guard.Listed) error { listed += len(page); return nil })
	if err != nil || listed != n {
		t.Fatalf("Clusters() listed %d, error %v; want %d, nil", listed, err, n)
	}
	return got, waits
}

// TestListingHonoursTheQuota: with 3 queries allowed per 5 s, the listing
// waits as the headers say when the quota is spent, and still lists
// everything.
func TestListingHonoursTheQuota(t *testing.T) {
	got, waits := listUnderQuota(t, 4500, 3, 3, func(int) bool { return true })
	// 1 subscription page + 5 cluster pages = 6 queries, 3 per window: the
	// third answer says 0 remaining, 5 s to the reset.
	if len(waits) == 0 || waits[0] != 5*time.Second || got.Queries != 6 {
		t.Errorf("waits %v, queries %d; want a 5 s wait after the quota was spent, 6 queries", waits, got.Queries)
	}
}

// TestListingWaitsAfterA429: a query refused with 429 is made again after
// the reset the answer names, and counted.
func TestListingWaitsAfterA429(t *testing.T) {
	// Waits that do not move the clock leave the quota spent: the third
	// does.
	got, waits := listUnderQuota(t, 10, 2, 1, func(wait int) bool { return wait == 3 })
	// The subscriptions (quota now spent: wait), the clusters refused twice
	// (wait, wait: the clock moves), the clusters again (spent: wait).
	if got.Queries != 4 || len(waits) != 4 {
		t.Errorf("queries %d, waits %v; want 4 queries, two of them refused, and 4 waits", got.Queries, waits)
	}
}

// TestListingPolicyState: the row carries Azure Policy's state of the
// built-in definition where the fleet has one.
func TestListingPolicyState(t *testing.T) {
	az := azurefake.New(azurefake.NewClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)))
	defer az.Close()
	fleetOf(az, 2, 1)
	ids := az.Fleet.IDs()
	at := time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)
	az.Fleet.SetPolicyState(cluster(t, ids[0]), azurefake.PolicyState{State: "NonCompliant", At: at})
	var rows []guard.Listed
	_, err := az.Fleet.ResourceGraph().Fleet(resourcegraph.FleetScope{}, nil).Clusters(t.Context(), func(p []guard.Listed) error {
		rows = append(rows, p...)
		return nil
	})
	if err != nil || len(rows) != 2 {
		t.Fatalf("Clusters() = %d rows, %v", len(rows), err)
	}
	if rows[0].Policy != "NonCompliant" || !rows[0].PolicyAt.Equal(at) || rows[1].Policy != "" {
		t.Errorf("policy states %q at %v, %q; want NonCompliant at %v, none", rows[0].Policy, rows[0].PolicyAt, rows[1].Policy, at)
	}
}
