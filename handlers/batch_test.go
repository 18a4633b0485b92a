package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
	"github.com/aksguard/aksguard/pkg/triage/triagetest"
)

// countReads counts cluster reads, and refuses those of the cluster named
// forbidden as ARM does without the Reader role.
type countReads struct {
	guard.Clusters
	forbidden string
	n         atomic.Int64
}

func (c *countReads) GetCluster(ctx context.Context, id guard.ClusterID) (guard.Cluster, error) {
	c.n.Add(1)
	if id.Name == c.forbidden {
		return guard.Cluster{}, guard.Errorf(guard.KindForbidden, "get cluster %s: HTTP 403 AuthorizationFailed", id.Name)
	}
	return c.Clusters.GetCluster(ctx, id)
}

// TestRedeliveredBatchReadsEachClusterOnce holds issue 7's cost rule: a
// batch of 5,000 events over 50 clusters (one flagged, one the guard may
// not read, one deleted, the rest compliant), delivered and then delivered
// again as Event Grid does after a failed answer, costs at most one ARM
// read per distinct cluster per delivery.
func TestRedeliveredBatchReadsEachClusterOnce(t *testing.T) {
	// Event Grid batches at most 5,000 events; that many recorded events
	// exceed the 4 MiB default body limit.
	reads := &countReads{forbidden: "no-access"}
	r := newRig(t, func(o *Options, c *guard.Config) {
		o.MaxBody = 32 << 20
		// ARM reads are counted here; 20,000 Table Storage calls on
		// Azurite would time the invocation out on a 2-core machine, and
		// the store's contract is held against Azurite elsewhere.
		c.Store = memory.NewStore()
		reads.Clusters, c.Clusters = c.Clusters, reads
	})
	msi, ok := r.fleet.Cluster(msiCluster)
	if !ok {
		t.Fatal("no compliant cluster in the fleet")
	}
	clusters := []string{spCluster, msiCluster}
	for i := range 46 {
		c := msi
		c.Name = to.Ptr(fmt.Sprintf("compliant-%02d", i))
		c.ID = to.Ptr(msiCluster[:len(msiCluster)-len(*msi.Name)] + *c.Name)
		r.fleet.Put(c)
		clusters = append(clusters, *c.ID)
	}
	forbidden := msiCluster[:len(msiCluster)-len(*msi.Name)] + "no-access"
	gone := msiCluster[:len(msiCluster)-len(*msi.Name)] + "deleted"
	clusters = append(clusters, forbidden, gone)

	events := 5000
	if raceEnabled {
		events = 1000 // the same rule; 5,000 outlast the invocation's 20 s under -race
	}
	var batch []json.RawMessage
	for i := range events {
		batch = append(batch, triagetest.JSON(t, triagetest.Spec{ID: fmt.Sprintf("e%04d", i), Operation: opWrite,
			Resource: clusters[i%len(clusters)], Time: t0.Add(-time.Duration(5000-i) * time.Millisecond)}))
	}
	body, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	for delivery := range 2 {
		before := reads.n.Load()
		got := r.post(ClusterEvents, envelope(t, eventBinding, body, asObject, nil))
		handled := 0
		for _, n := range got.ReturnValue {
			handled += n
		}
		if got.Status != http.StatusOK || handled != len(batch) {
			t.Fatalf("delivery %d = %d %q", delivery+1, got.Status, got.Logs)
		}
		if got.ReturnValue["failed"] != events/len(clusters) {
			t.Errorf("delivery %d: %v, want the events of the cluster the guard may not read failed", delivery+1, got.ReturnValue)
		}
		if n := int(reads.n.Load() - before); n > len(clusters) {
			t.Errorf("delivery %d: %d ARM reads for %d clusters, want at most one each (%v)", delivery+1, n, len(clusters), got.ReturnValue)
		}
		r.clock.set(r.clock.Now().Add(time.Minute))
	}
}
