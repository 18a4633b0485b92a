package guard_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
)

// lastMinute is a change a person makes while the job is about to send its
// PUT, with the event ARM sends for it.
type lastMinute struct {
	name string
	// change makes the change and returns its event.
	change func(w *world) guard.Event
	// finding is the state the finding ends in.
	finding guard.FindingState
}

var lastMinuteChanges = []lastMinute{
	{"approval removed", func(w *world) guard.Event {
		corr := w.setTag(guard.ApprovalTag, "", dana, opTags)
		return w.event(opTags, dana, corr, "dana-removes")
	}, guard.FindingOpen},
	{"exempted", func(w *world) guard.Event {
		corr := w.setTag(guard.ApprovalTag, "exempt:keeps its service principal until Q3", dana, opTags)
		return w.event(opTags, dana, corr, "dana-exempts")
	}, guard.FindingExempt},
	{"migrated by hand", func(w *world) guard.Event {
		mc, _ := w.fleet.Cluster(spID)
		mc.Identity = &armcontainerservice.ManagedClusterIdentity{Type: to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned), PrincipalID: to.Ptr("4b7e2c1d-9a8f-4e6b-b5c3-2d1f0e9a8b7c")}
		mc.Properties.ServicePrincipalProfile = &armcontainerservice.ManagedClusterServicePrincipalProfile{ClientID: to.Ptr("msi")}
		corr := w.fleet.PutAs(mc, caller(eve), azurefake.Write{})
		return w.event(opClusterWrite, eve, corr, "eve-migrates")
	}, guard.FindingKubeletPending},
}

// event is the event ARM sends for the SP cluster's request corr.
func (w *world) event(op string, by guard.Actor, corr, eventID string) guard.Event {
	action := guard.ActionEvaluate
	if op == opTags {
		action = guard.ActionApprovalCheck
	}
	return guard.Event{ID: eventID, Type: "Microsoft.Resources.ResourceWriteSuccess", Time: w.clock(),
		Operation: op, Cluster: id(w.t, spID), Action: action, Actor: by, CorrelationID: corr}
}

// TestLastMinuteChangeStopsThePUT holds defect 2: a person removes the
// approval, exempts the cluster or migrates it by hand right before the
// job's PUT. Whether a tags write changes the cluster's eTag is not
// documented: with a new eTag, ARM refuses the PUT (412) and the job
// records what it reads then; with the eTag kept, the update refuses to
// send a body whose read no longer carries the approval. Either way there
// is no PUT after the change, and the job ends as the change says.
func TestLastMinuteChangeStopsThePUT(t *testing.T) {
	for _, keep := range []bool{false, true} {
		for _, lm := range lastMinuteChanges {
			name := lm.name + ", tags write changes the eTag"
			if keep {
				name = lm.name + ", tags write keeps the eTag"
			}
			t.Run(name, func(t *testing.T) {
				var event *guard.Event
				hook := &hookClusters{}
				w := remediationWorld(t, enforce, func(c *guard.Config) { hook.Clusters = c.Clusters; c.Clusters = hook })
				w.fleet.SetTagsKeepETag(keep)
				w.set(t0.Add(2 * time.Minute))
				fire := func() {
					if event == nil {
						ev := lm.change(w)
						event = &ev
					}
				}
				if keep {
					// After the job's last read, before the update reads
					// the body it sends.
					hook.before = fire
				} else {
					// When the PUT reaches ARM, after every read.
					w.fleet.BeforePut(func(guard.ClusterID) { fire() })
				}
				w.tag("approved", dana)
				w.pump(t0.Add(10 * time.Minute))
				if event == nil {
					t.Fatalf("the job never came to its PUT (job %s %q)", w.job().State, w.job().Outcome)
				}
				// The job recorded what it read after the refusal, before
				// any further step and before the change's own event.
				if f := w.finding(); f.State != lm.finding {
					t.Errorf("finding before the event = %s, want %s as the job read it", f.State, lm.finding)
				}
				if j := w.job(); j.State != guard.JobCancelled || j.Replans != 0 {
					t.Errorf("job before the event = %s %q after %d re-plans, want cancelled, not planned again", j.State, j.Outcome, j.Replans)
				}
				if _, err := w.svc.HandleEvent(t.Context(), *event); err != nil {
					t.Fatal(err)
				}
				w.pump(t0.Add(72 * time.Hour))
				if n := w.puts(); n != 0 {
					t.Errorf("PUTs accepted = %d, want 0 after the change", n)
				}
				w.checkRecorded(guard.JobCancelled, lm.finding)
			})
		}
	}
}

// hookClusters runs before, once, when the job starts its update.
type hookClusters struct {
	guard.Clusters
	before func()
}

func (h *hookClusters) StartIdentityUpdate(ctx context.Context, id guard.ClusterID, u guard.IdentityUpdate, wait time.Duration) (guard.UpdateStatus, error) {
	if h.before != nil {
		h.before()
	}
	return h.Clusters.StartIdentityUpdate(ctx, id, u, wait)
}

// TestFailedUpdateNeedsAPerson holds defect 3: the AKS operation the PUT
// started fails, whether its answer arrives or is lost. The failure is
// recorded, audited and alerted, and no second PUT goes out until a person
// approves again; then the job resumes and sends it.
func TestFailedUpdateNeedsAPerson(t *testing.T) {
	for _, lost := range []bool{false, true} {
		name := "answer arrives"
		if lost {
			name = "answer lost"
		}
		t.Run(name, func(t *testing.T) {
			w := remediationWorld(t, enforce)
			faults := []azurefake.Fault{{Kind: azurefake.OperationFailed, Count: 1}}
			if lost {
				faults = append(faults, azurefake.Fault{Kind: azurefake.LostAnswer, Count: 1})
			}
			for _, f := range faults {
				if err := w.az.Faults.Add(azurefake.ARMPut, f); err != nil {
					t.Fatal(err)
				}
			}
			w.set(t0.Add(2 * time.Minute))
			w.tag("approved", dana)
			w.pump(t0.Add(24 * time.Hour))
			if n := w.puts(); n != 1 {
				t.Fatalf("PUTs accepted = %d, want 1: no second PUT without a person", n)
			}
			j := w.job()
			if j.State != guard.JobFailed || !strings.Contains(j.Outcome, "approve again") {
				t.Errorf("job = %s %q, want failed, saying a new approval resumes it", j.State, j.Outcome)
			}
			if !lost && !strings.Contains(j.Error, "InternalOperationError") {
				t.Errorf("job error = %q, want the operation's ARM error kept", j.Error)
			}
			if !slices.Contains(w.alertTypes(), "remediation.needs-attention") || slices.Contains(w.alertTypes(), "remediation.failed") || !slices.Contains(w.auditActions(), "job-failed") {
				t.Errorf("alerts %q, audit %q; want the failure after the PUT alerted as needs-attention (not failed) and on the audit trail", w.alertTypes(), w.auditActions())
			}
			w.tag("", dana)
			w.tag("approved", dana)
			w.pump(t0.Add(48 * time.Hour))
			if n := w.puts(); n != 2 {
				t.Errorf("PUTs accepted after the new approval = %d, want 2", n)
			}
			if jj := w.job(); jj.ID != j.ID {
				t.Errorf("job %s after the new approval, want job %s resumed", jj.ID, j.ID)
			}
			w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
		})
	}
}

// readHook calls after once, after the first read of a cluster it sees.
type readHook struct {
	guard.Clusters
	after func()
}

func (h *readHook) GetCluster(ctx context.Context, id guard.ClusterID) (guard.Cluster, error) {
	c, err := h.Clusters.GetCluster(ctx, id)
	if after := h.after; after != nil {
		h.after = nil
		after()
	}
	return c, err
}

// TestRefusedReadIsNotADeletion holds defect 4 of issue 7: the finding
// changes between a job's read and its record, so the job reads again, and
// ARM refuses that read (403, a role still propagating). Only a confirmed
// 404 means the cluster is gone: the job retries, then finishes with one
// PUT.
func TestRefusedReadIsNotADeletion(t *testing.T) {
	hook := &readHook{}
	w := remediationWorld(t, enforce, func(c *guard.Config) { hook.Clusters = c.Clusters; c.Clusters = hook })
	w.tag("approved", dana)
	hook.after = func() {
		f := w.finding()
		if err := w.store.SaveFinding(t.Context(), &f); err != nil {
			t.Fatal(err)
		}
		if err := w.az.Faults.Add(azurefake.ARMRead, azurefake.Fault{Kind: azurefake.Forbidden, Count: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var retried bool
	for _, out := range w.pump(t0.Add(time.Hour)) {
		retried = retried || strings.Contains(out.Detail, "retrying")
		if out.Result == guard.ResultCancelled {
			t.Fatalf("job cancelled after a refused read: %+v", out)
		}
	}
	if hook.after != nil {
		t.Fatal("the job never read the cluster")
	}
	w.pump(t0.Add(24 * time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded || w.puts() != 1 || !retried {
		t.Errorf("job = %s %q after %d PUTs (retried %v); want succeeded with one PUT after a retry", j.State, j.Outcome, w.puts(), retried)
	}
}
