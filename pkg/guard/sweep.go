package guard

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
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
	// Complete is false when Resource Graph left subscriptions out (it
	// serves at most 10,000 at tenant or management-group scope); only
	// the subscriptions listed are swept.
	Complete bool
}

// SweepOutcome says what one sweep found and did.
type SweepOutcome struct {
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

// sweepWorkers bounds the store queries, and the rows compared, at once.
const sweepWorkers = 8

// listingLag is how long Resource Graph may take to show a new cluster: a
// finding younger than this is not taken as gone for missing from the rows.
const listingLag = 30 * time.Minute

// Sweep lists the fleet, queues a re-evaluation for every cluster whose
// row disagrees with its finding (new, verdict changed, flagged without a
// finding, approval tag changed on an open finding, kubelet moved on a
// kubelet-pending one), and one for every open finding whose cluster the
// listing no longer shows. It computes the KPIs from what it read and
// saves them as the day's snapshot. Rows come in id order, so by
// subscription: each subscription's findings are read with one partition
// query when its first row arrives and let go when its last has passed,
// so memory stays bounded by a page, its subscriptions' findings and the
// list of subscriptions, whatever the fleet's size, and the store answers
// one query per subscription, not one read per cluster.
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
	sw := &sweep{s: s, now: now, tally: newTally(now), subs: map[string]*subscriptionFindings{}, listed: map[string]bool{}, closed: map[string]bool{}}
	listing, err := s.Fleet.Clusters(ctx, func(page []Listed) error {
		var subs []string
		for _, row := range page {
			subs = append(subs, strings.ToLower(row.Cluster.ID.Subscription))
		}
		last := subs[len(subs)-1]
		if err := sw.each(ctx, subs, sw.load); err != nil {
			return err
		}
		s.comparePage(ctx, page, now, sw.find, sw.add)
		// Rows come in id order, so by subscription: every subscription
		// before the page's last is complete.
		return sw.each(ctx, sw.loaded(func(sub string) bool { return sub != last }), sw.close)
	})
	out := &sw.out
	out.Queries, out.Subscriptions = listing.Queries, len(listing.Subscriptions)
	if err != nil {
		return *out, fmt.Errorf("sweep: list the clusters: %w", err)
	}
	if !listing.Complete {
		// Only the subscriptions listed are swept; the others' findings
		// are left as they are.
		s.Log.Warn("sweep: Resource Graph listed only part of the subscriptions (x-ms-tenant-subscription-limit-hit); set a management group to sweep the rest", "subscriptions", len(listing.Subscriptions))
	}
	// Subscriptions that showed no cluster may still have open findings
	// of clusters deleted since.
	rest := sw.loaded(func(string) bool { return true })
	for _, sub := range listing.Subscriptions {
		if sub = strings.ToLower(sub); !sw.listed[sub] {
			rest = append(rest, sub)
		}
	}
	if err := sw.each(ctx, rest, func(ctx context.Context, sub string) error {
		if err := sw.load(ctx, sub); err != nil {
			return err
		}
		return sw.close(ctx, sub)
	}); err != nil {
		return *out, err
	}
	jobs, err := s.Store.JobCounts(ctx)
	if err != nil {
		return *out, fmt.Errorf("sweep: count jobs: %w", err)
	}
	out.KPIs = sw.tally.kpis(jobs)
	if out.KPIs.Flagged, err = s.flaggedRows(ctx, sw.tally.oldest); err != nil {
		return *out, fmt.Errorf("sweep: read the jobs of flagged clusters: %w", err)
	}
	if err := s.Store.SaveKPIs(ctx, out.KPIs); err != nil {
		return *out, fmt.Errorf("sweep: save the day's KPIs: %w", err)
	}
	return *out, nil
}

// sweep is one sweep's running state. What it holds grows with the
// subscriptions and the findings of the subscriptions on the page being
// compared, not with the fleet.
type sweep struct {
	s     Sweeper
	now   time.Time
	mu    sync.Mutex
	out   SweepOutcome
	tally *tally
	// subs holds the findings of the subscriptions being listed.
	subs map[string]*subscriptionFindings
	// listed are the subscriptions that showed a cluster; closed those
	// done with. Rows of a closed one mean Resource Graph did not keep
	// the order.
	listed, closed map[string]bool
	warned         bool
}

// subscriptionFindings are a subscription's findings, read with one
// partition query, and the keys of those whose cluster a row showed.
type subscriptionFindings struct {
	byKey map[string]Finding
	seen  map[string]bool
}

// each runs fn for every distinct subscription of subs, sweepWorkers at a
// time, and returns the first error.
func (sw *sweep) each(ctx context.Context, subs []string, fn func(ctx context.Context, sub string) error) error {
	subs = slices.Compact(slices.Sorted(slices.Values(subs))) // a copy: the caller's stays as it was
	errs := make(chan error, len(subs))
	parallel(subs, sweepWorkers, func(sub string) {
		if err := fn(ctx, sub); err != nil {
			errs <- err
		}
	})
	close(errs)
	return <-errs
}

// loaded returns the subscriptions whose findings are held that keep
// says to pick.
func (sw *sweep) loaded(keep func(sub string) bool) []string {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	var out []string
	for sub := range sw.subs {
		if keep(sub) {
			out = append(out, sub)
		}
	}
	return out
}

// load reads a subscription's findings, once.
func (sw *sweep) load(ctx context.Context, sub string) error {
	sw.mu.Lock()
	_, ok := sw.subs[sub]
	if sw.closed[sub] && !sw.warned {
		// A deletion check queued for this subscription's clusters costs
		// an ARM read, which finds them; it never closes a finding.
		sw.warned = true
		sw.s.Log.Warn("sweep: Resource Graph listed a subscription's clusters out of order; its open findings may be counted twice", "subscription", sub)
	}
	sw.mu.Unlock()
	if ok {
		return nil
	}
	fs, err := sw.s.Store.FindingsIn(ctx, sub)
	// Undecodable rows cannot be compared; the others still are.
	if _, err = leftOut(sw.s.Log, "sweep: subscription "+sub, err); err != nil {
		return fmt.Errorf("read the findings of subscription %s: %w", sub, err)
	}
	sf := &subscriptionFindings{byKey: make(map[string]Finding, len(fs)), seen: map[string]bool{}}
	for _, f := range fs {
		sf.byKey[f.Cluster.Key()] = f
	}
	sw.mu.Lock()
	sw.subs[sub] = sf
	sw.mu.Unlock()
	return nil
}

// find returns the finding of a listed cluster, from its subscription's.
func (sw *sweep) find(id ClusterID) (Finding, bool) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sf := sw.subs[strings.ToLower(id.Subscription)]
	if sf == nil {
		return Finding{}, false
	}
	f, ok := sf.byKey[id.Key()]
	return f, ok
}

// add counts one compared row.
func (sw *sweep) add(r pageResult) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.tally.add(r)
	sw.out.Clusters++
	if r.sent {
		sw.out.Evaluations++
	}
	if r.waiting {
		sw.out.Waiting++
	}
	sub := strings.ToLower(r.row.Cluster.ID.Subscription)
	sw.listed[sub] = true
	if sf := sw.subs[sub]; sf != nil {
		sf.seen[r.row.Cluster.ID.Key()] = true
	}
}

// close finishes a subscription: an open finding whose cluster its rows
// did not show gets a re-evaluation, which reads the cluster and closes
// the finding if ARM says it is gone; it is counted in the KPIs meanwhile.
func (sw *sweep) close(ctx context.Context, sub string) error {
	sw.mu.Lock()
	sf := sw.subs[sub]
	delete(sw.subs, sub)
	sw.closed[sub] = true
	sw.mu.Unlock()
	if sf == nil {
		return nil
	}
	for k, f := range sf.byKey {
		if sf.seen[k] || f.State != FindingOpen && f.State != FindingKubeletPending {
			continue
		}
		sw.mu.Lock()
		sw.tally.finding(f) // open until a read confirms the cluster is gone
		sw.mu.Unlock()
		if f.FirstSeen.After(sw.now.Add(-listingLag)) {
			continue
		}
		sent := sw.s.sendEvaluate(ctx, f.Cluster, "sweep: Resource Graph no longer lists the cluster", "gone", sw.now)
		sw.mu.Lock()
		if sent {
			sw.out.GoneChecks++
		} else {
			sw.out.Waiting++
		}
		sw.mu.Unlock()
	}
	return nil
}

// pageResult is what comparing one row found.
type pageResult struct {
	row Listed
	// verdict is the row's, as the listing shows the cluster.
	verdict Verdict
	finding Finding
	found   bool
	sent    bool
	waiting bool
}

// comparePage compares every row of a page with its finding (find), and
// queues a re-evaluation where the two disagree, sweepWorkers rows at a
// time, since a first sweep queues one for every cluster; it hands each
// result to done.
func (s Sweeper) comparePage(ctx context.Context, page []Listed, now time.Time, find func(ClusterID) (Finding, bool), done func(pageResult)) {
	parallel(page, sweepWorkers, func(row Listed) { done(s.compareRow(ctx, row, now, find)) })
}

func (s Sweeper) compareRow(ctx context.Context, row Listed, now time.Time, find func(ClusterID) (Finding, bool)) pageResult {
	r := pageResult{row: row, verdict: Evaluate(row.Cluster).Verdict}
	r.finding, r.found = find(row.Cluster.ID)
	if why := disagreement(r.finding, r.found, row.Cluster, r.verdict); why != "" {
		r.sent = s.sendEvaluate(ctx, row.Cluster.ID, "sweep: "+why, why, now)
		r.waiting = !r.sent
	}
	return r
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
func disagreement(f Finding, found bool, c Cluster, verdict Verdict) string {
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
