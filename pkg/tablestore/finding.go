package tablestore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aksguard/aksguard/pkg/guard"
)

// findingEntity is a finding as a row of the findings table.
type findingEntity struct {
	PartitionKey string // cluster's SubscriptionKey
	RowKey       string // cluster's Key
	clusterColumns
	Verdict        string
	State          string
	Reasons        string // JSON array of strings
	SPClientID     string `json:"SPClientId"`
	Resolution     string
	FirstSeen      string `json:",omitempty"`
	LastEvaluated  string `json:",omitempty"`
	FlaggedAt      string `json:",omitempty"`
	ClosedAt       string `json:",omitempty"`
	RecheckAt      string `json:",omitempty"`
	JobID          string `json:"JobId"`
	FlaggedWriteAt string `json:",omitempty"`
	RecentEvents   string // JSON array of event ids
	Kubelet        string // JSON of guard.KubeletMove, "" before any
	approvalColumns
	Outbox string // JSON array of guard.Effect
}

func findingToEntity(f *guard.Finding) (*findingEntity, error) {
	reasons, err := jsonColumn("Reasons", f.Reasons)
	if err != nil {
		return nil, err
	}
	outbox, err := jsonColumn("Outbox", f.Outbox)
	if err != nil {
		return nil, err
	}
	recent, err := jsonColumn("RecentEvents", f.RecentEvents)
	if err != nil {
		return nil, err
	}
	approval, err := approvalColumnsOf(f.Approval)
	if err != nil {
		return nil, err
	}
	kubelet, err := objectColumn("Kubelet", f.Kubelet)
	if err != nil {
		return nil, err
	}
	return &findingEntity{
		PartitionKey:    f.Cluster.SubscriptionKey(),
		RowKey:          f.Cluster.Key(),
		clusterColumns:  clusterColumnsOf(f.Cluster),
		Verdict:         string(f.Verdict),
		State:           string(f.State),
		Reasons:         reasons,
		SPClientID:      f.SPClientID,
		Resolution:      f.Resolution,
		FirstSeen:       formatTime(f.FirstSeen),
		LastEvaluated:   formatTime(f.LastEvaluated),
		FlaggedAt:       formatTime(f.FlaggedAt),
		ClosedAt:        formatTime(f.ClosedAt),
		RecheckAt:       formatTime(f.RecheckAt),
		JobID:           f.JobID,
		FlaggedWriteAt:  formatTime(f.FlaggedWriteAt),
		RecentEvents:    recent,
		Kubelet:         kubelet,
		approvalColumns: approval,
		Outbox:          outbox,
	}, nil
}

func (e *findingEntity) finding(etag string) (guard.Finding, error) {
	var d decoder
	f := guard.Finding{
		Cluster:        e.id(),
		Verdict:        guard.Verdict(e.Verdict),
		Reasons:        decodeList[string](&d, "Reasons", e.Reasons),
		SPClientID:     e.SPClientID,
		State:          guard.FindingState(e.State),
		Resolution:     e.Resolution,
		FirstSeen:      d.time("FirstSeen", e.FirstSeen),
		LastEvaluated:  d.time("LastEvaluated", e.LastEvaluated),
		FlaggedAt:      d.time("FlaggedAt", e.FlaggedAt),
		ClosedAt:       d.time("ClosedAt", e.ClosedAt),
		JobID:          e.JobID,
		RecheckAt:      d.time("RecheckAt", e.RecheckAt),
		FlaggedWriteAt: d.time("FlaggedWriteAt", e.FlaggedWriteAt),
		RecentEvents:   decodeList[string](&d, "RecentEvents", e.RecentEvents),
		Kubelet:        decodeObject[guard.KubeletMove](&d, "Kubelet", e.Kubelet),
		Approval:       e.approval(&d),
		Outbox:         decodeList[guard.Effect](&d, "Outbox", e.Outbox),
		ETag:           etag,
	}
	if d.err != nil {
		return guard.Finding{}, guard.Errorf(guard.KindInvalid, "decode finding %s/%s: %w", e.PartitionKey, e.RowKey, d.err)
	}
	return f, nil
}

// Finding returns the cluster's finding, or a *guard.Error of KindNotFound.
// Other failures are classified *guard.Errors.
func (s *Store) Finding(ctx context.Context, id guard.ClusterID) (guard.Finding, error) {
	op := "get finding " + id.String()
	if id.IsZero() {
		return guard.Finding{}, guard.Errorf(guard.KindInvalid, "%s: no cluster", op)
	}
	var e findingEntity
	etag, err := get(ctx, s.findings, op, id.SubscriptionKey(), id.Key(), &e)
	if err != nil {
		return guard.Finding{}, err
	}
	return e.finding(etag)
}

// SaveFinding inserts f when f.ETag is empty, else replaces the stored
// finding if its ETag is still f.ETag, and sets f.ETag to the new version.
// A finding that exists (on insert), changed or was deleted (on replace) is
// a KindConflict; a column over 64 KiB is a KindInvalid naming it. f is
// unchanged on error.
func (s *Store) SaveFinding(ctx context.Context, f *guard.Finding) error {
	op := "save finding " + f.Cluster.String()
	if f.Cluster.IsZero() {
		return guard.Errorf(guard.KindInvalid, "%s: no cluster", op)
	}
	e, err := findingToEntity(f)
	if err != nil {
		return guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
	}
	etag, err := save(ctx, s.findings, op, e, f.ETag)
	if err != nil {
		return err
	}
	f.ETag = etag
	return nil
}

// Findings returns every finding, in no particular order, each with its
// current ETag. Failures are classified *guard.Errors.
func (s *Store) Findings(ctx context.Context) ([]guard.Finding, error) {
	return list(ctx, s.findings, "list findings", "", (*findingEntity).finding)
}

// FindingsIn returns the findings in one of states (any without states),
// with a filter on State and, for one subscription, on its partition. A row it cannot decode is
// left out with a *guard.PartialError.
func (s *Store) FindingsIn(ctx context.Context, subscription string, states ...guard.FindingState) ([]guard.Finding, error) {
	var terms []string
	op := "list findings"
	if subscription != "" {
		terms = append(terms, partitionFilter(guard.ClusterID{Subscription: subscription}.SubscriptionKey()))
		op += " of subscription " + subscription
	}
	if len(states) > 0 {
		terms = append(terms, "("+stateFilter(states)+")")
		op += fmt.Sprintf(" in %v", states)
	}
	filter := strings.Join(terms, " and ")
	return listGood(ctx, s.findings, op, filter, (*findingEntity).finding)
}

// PendingFindings returns the findings with effects pending, with a filter
// on the Outbox column. A row it cannot decode is left out with a
// *guard.PartialError.
func (s *Store) PendingFindings(ctx context.Context) ([]guard.Finding, error) {
	return listGood(ctx, s.findings, "list findings with effects pending", pendingFilter, (*findingEntity).finding)
}
