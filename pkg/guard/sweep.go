package guard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Event Grid sees only clusters that change; most clusters on a service
// principal already exist. A sweep lists every cluster Azure Resource
// Graph knows and compares each row with the cluster's finding. Resource
// Graph lags ARM and is not the record: a row that disagrees only queues
// a re-evaluation, which reads the cluster from ARM and records what it
// finds through the same rules as an event. A fleet whose rows agree with
// its findings costs no ARM read and no message.

// Fleet lists the managed clusters Azure Resource Graph shows.
type Fleet interface {
	// Clusters calls fn with each page of clusters as Resource Graph
	// returns it; it never holds more than one page. It stops at fn's
	// first error and returns it.
	Clusters(ctx context.Context, fn func(page []Listed) error) (Listing, error)
}

// Listed is one cluster as a listing shows it. Cluster carries what the
// verdict, the approval tag and the kubelet check need: ID, IdentityType,
// the service principal profile, Tags and Pools.
type Listed struct {
	Cluster Cluster
	// Policy is the compliance state Azure Policy gives the cluster for
	// the built-in definition "Azure Kubernetes Service clusters should use
	// managed identities" (PolicyDefinitionID): "Compliant",
	// "NonCompliant", …; empty where the definition is not assigned.
	Policy string
	// PolicyAt is when Azure Policy last evaluated the cluster.
	PolicyAt time.Time
}

// PolicyDefinitionID is the name of the built-in policy definition the
// sweep compares its verdicts with.
const PolicyDefinitionID = "da6e2401-19da-4532-9141-fb8fbde08431"

// Listing says what a listing covered and cost.
type Listing struct {
	// Queries counts the Resource Graph queries made.
	Queries int
	// Subscriptions are the subscriptions listed, lower case.
	Subscriptions []string
	// Complete is false when Resource Graph left subscriptions out; a
	// cluster missing from the rows then proves nothing.
	Complete bool
}

// SweepOutcome says what one sweep found and did.
type SweepOutcome struct {
	Listing Listing `json:"-"`
	// Clusters counts the rows listed; Queries the Resource Graph queries.
	Clusters      int `json:"clusters"`
	Subscriptions int `json:"subscriptions"`
	Queries       int `json:"queries"`
	// Evaluations counts re-evaluations queued for rows that disagree with
	// their findings; GoneChecks those queued for findings whose cluster
	// the listing no longer shows.
	Evaluations int `json:"evaluations"`
	GoneChecks  int `json:"goneChecks"`
	// Waiting counts re-evaluations the queue would not take now; the next
	// sweep finds the same disagreement and queues them again.
	Waiting int  `json:"waiting"`
	KPIs    KPIs `json:"kpis"`
}

// Sweeper sweeps the fleet. It needs only the listing, the store and the
// queue: an operator runs it from a workstation (aksguard sweep), and the
// deployed guard carries out the re-evaluations it queues.
type Sweeper struct {
	Fleet Fleet
	Store Store
	Queue Queue
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log is where re-evaluations the queue refused are logged; nil
	// discards.
	Log *slog.Logger
}

// Sweep sweeps with the Service's ports. See Sweeper.Sweep.
func (s *Service) Sweep(ctx context.Context) (SweepOutcome, error) {
	return Sweeper{Fleet: s.fleet, Store: s.store, Queue: s.queue, Now: s.now, Log: s.log}.Sweep(ctx)
}

// sweepWorkers bounds the findings read at once while a page is compared.
const sweepWorkers = 8

// listingLag is how long Resource Graph may take to show a new cluster: a
// finding younger than this is not taken as gone for missing from the rows.
const listingLag = 30 * time.Minute

// Sweep lists the fleet, queues a re-evaluation for every cluster whose
// row disagrees with its finding (new, verdict changed, flagged without a
// finding, approval tag changed on an open finding, kubelet moved on a
// kubelet-pending one), and one for every open finding whose cluster the
// listing no longer shows. It computes the KPIs from what it read and
// saves them as the day's snapshot. Memory stays bounded by a page, the
// subscriptions and the open findings, whatever the fleet's size.
func (s Sweeper) Sweep(ctx context.Context) (SweepOutcome, error) {
	switch {
	case s.Fleet == nil:
		return SweepOutcome{}, Errorf(KindInvalid, "sweep: no Resource Graph listing configured")
	case s.Store == nil || s.Queue == nil:
		return SweepOutcome{}, Errorf(KindInvalid, "sweep: a store and a queue are needed")
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	now := s.Now()
	tally := newTally(now)
	var mu sync.Mutex
	var out SweepOutcome
	seen := map[string]bool{} // keys of open findings the rows show
	listing, err := s.Fleet.Clusters(ctx, func(page []Listed) error {
		return s.comparePage(ctx, page, now, func(r pageResult) {
			mu.Lock()
			defer mu.Unlock()
			tally.add(r)
			out.Clusters++
			if r.sent {
				out.Evaluations++
			}
			if r.waiting {
				out.Waiting++
			}
			if r.found && (r.finding.State == FindingOpen || r.finding.State == FindingKubeletPending) {
				seen[r.finding.Cluster.Key()] = true
			}
		})
	})
	out.Listing, out.Queries, out.Subscriptions = listing, listing.Queries, len(listing.Subscriptions)
	if err != nil {
		return out, fmt.Errorf("sweep: list the clusters: %w", err)
	}
	open, err := s.Store.FindingsIn(ctx, FindingOpen, FindingKubeletPending)
	var pe *PartialError
	if errors.As(err, &pe) {
		// Undecodable rows cannot be counted; the others still are.
		s.Log.Error("sweep: records left out", "error", err)
		err = nil
	}
	if err != nil {
		return out, fmt.Errorf("sweep: list open findings: %w", err)
	}
	listed := map[string]bool{}
	for _, sub := range listing.Subscriptions {
		listed[strings.ToLower(sub)] = true
	}
	for _, f := range open {
		if seen[f.Cluster.Key()] {
			continue
		}
		tally.addUnlisted(f)
		if !listing.Complete || !listed[strings.ToLower(f.Cluster.Subscription)] || f.FirstSeen.After(now.Add(-listingLag)) {
			continue
		}
		if s.sendEvaluate(ctx, f.Cluster, "sweep: Resource Graph no longer lists the cluster", "gone", now) {
			out.GoneChecks++
		} else {
			out.Waiting++
		}
	}
	jobs, err := s.Store.JobCounts(ctx)
	if err != nil {
		return out, fmt.Errorf("sweep: count jobs: %w", err)
	}
	out.KPIs = tally.kpis(jobs)
	if out.KPIs.Flagged, err = s.flaggedRows(ctx, tally.oldest); err != nil {
		return out, fmt.Errorf("sweep: read the jobs of flagged clusters: %w", err)
	}
	if err := s.Store.SaveKPIs(ctx, out.KPIs); err != nil {
		return out, fmt.Errorf("sweep: save the day's KPIs: %w", err)
	}
	return out, nil
}

// pageResult is what comparing one row found.
type pageResult struct {
	row     Listed
	finding Finding
	found   bool
	sent    bool
	waiting bool
}

// comparePage reads the finding of every row of a page, sweepWorkers at a
// time, queues a re-evaluation where the two disagree, and hands each
// result to done. It fails only when the store cannot be read.
func (s Sweeper) comparePage(ctx context.Context, page []Listed, now time.Time, done func(pageResult)) error {
	work := make(chan Listed)
	errs := make(chan error, sweepWorkers)
	var wg sync.WaitGroup
	for range min(sweepWorkers, len(page)) {
		wg.Go(func() {
			for row := range work {
				r, err := s.compareRow(ctx, row, now)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				done(r)
			}
		})
	}
	for _, row := range page {
		work <- row
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func (s Sweeper) compareRow(ctx context.Context, row Listed, now time.Time) (pageResult, error) {
	r := pageResult{row: row}
	f, err := s.Store.Finding(ctx, row.Cluster.ID)
	switch {
	case err == nil:
		r.finding, r.found = f, true
	case KindOf(err) != KindNotFound:
		return r, fmt.Errorf("read finding %s: %w", row.Cluster.ID, err)
	}
	if why := disagreement(r.finding, r.found, row.Cluster); why != "" {
		r.sent = s.sendEvaluate(ctx, row.Cluster.ID, "sweep: "+why, why, now)
		r.waiting = !r.sent
	}
	return r, nil
}

// sendEvaluate queues a re-evaluation of id. Its id names the sweep's hour
// and the disagreement, so a sweep run twice within Service Bus's
// duplicate-detection window queues it once.
func (s Sweeper) sendEvaluate(ctx context.Context, id ClusterID, reason, what string, now time.Time) bool {
	hour := now.UTC().Truncate(time.Hour).Format("2006010215")
	m := Message{ID: "sweep-" + shortHash(id.Key(), what, hour), Kind: MessageEvaluate, Cluster: id, Reason: reason}
	if err := s.Queue.Send(ctx, m); err != nil {
		s.Log.Warn("sweep: re-evaluation not queued; the next sweep tries again", "cluster_id", id.String(), "error", err)
		return false
	}
	return true
}

// disagreement says why a listed cluster's row disagrees with its finding,
// or "" when the finding already records what the row shows.
func disagreement(f Finding, found bool, c Cluster) string {
	verdict := Evaluate(c).Verdict
	tag, _ := c.Tag(ApprovalTag)
	tag = strings.TrimSpace(tag)
	recorded := ""
	if f.Approval != nil {
		recorded = f.Approval.Value
	}
	switch {
	case !found:
		return "not evaluated before"
	case f.State == FindingDeleted || f.Resolution == resolutionDeleted:
		return "recorded as deleted"
	case f.Verdict != verdict:
		return "Resource Graph shows " + string(verdict) + ", the finding " + string(f.Verdict)
	case (f.State == FindingOpen || f.State == FindingExempt || f.State == FindingKubeletPending) && tag != recorded:
		// A tags event lost or not yet delivered: the re-evaluation credits
		// the value only as Azure's change history says.
		return "approval tag changed"
	case f.State == FindingKubeletPending && f.Kubelet != nil && len(f.Kubelet.onServicePrincipal(c)) == 0:
		return "every pool has a new node image"
	}
	return ""
}

// flaggedRows describes each finding for the report's table, with its
// job's state and what it waits for: one job read per row, and there are
// at most maxFlagged.
func (s Sweeper) flaggedRows(ctx context.Context, fs []Finding) ([]FlaggedCluster, error) {
	out := make([]FlaggedCluster, 0, len(fs))
	for _, f := range fs {
		row := FlaggedCluster{Cluster: f.Cluster.String(), State: f.State, FlaggedAt: f.FlaggedAt, Next: "—"}
		if f.Approval.approved() {
			row.Approver = f.Approval.By.String()
		}
		if f.JobID != "" {
			j, err := s.Store.Job(ctx, f.Cluster, f.JobID)
			switch {
			case err == nil:
				row.Job, row.Next = j.State, nextStep(j)
			case KindOf(err) != KindNotFound:
				return nil, err
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// maxNextStep bounds the words of a next step, in characters.
const maxNextStep = 120

// nextStep says in a few words what a job waits for.
func nextStep(j Job) string {
	switch {
	case j.State == JobAwaitingApproval:
		return "tag " + ApprovalTag + "=approved"
	case j.State.Terminal():
		line, _, _ := strings.Cut(cmp.Or(j.Outcome, string(j.State)), "\n")
		if r := []rune(line); len(r) > maxNextStep {
			line = string(r[:maxNextStep-1]) + "…"
		}
		return line
	case !j.NextWake.IsZero():
		return string(j.State) + " until " + stamp(j.NextWake)
	}
	return string(j.State)
}
