// Package memory holds in-process implementations of the guard's ports: a
// store, a queue and an alert sink. The demo and the tests use them; serve
// never does.
package memory

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aksguard/aksguard/pkg/guard"
)

// Store is a guard.Store in memory with the same ETag semantics as Table
// Storage. Records are deep-copied in and out, so callers never share state.
type Store struct {
	mu      sync.Mutex
	version int
	// findings are by subscription, then cluster: partitions as in Table
	// Storage, so a query of one subscription reads only its own.
	findings map[string]map[string]guard.Finding
	jobs     map[string]guard.Job
	audit    map[string]map[string]guard.AuditEntry
	kpis     map[string]guard.KPIs
}

var _ guard.Store = (*Store)(nil)

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{
		findings: map[string]map[string]guard.Finding{},
		jobs:     map[string]guard.Job{},
		audit:    map[string]map[string]guard.AuditEntry{},
		kpis:     map[string]guard.KPIs{},
	}
}

func (s *Store) nextETag() string {
	s.version++
	return `W/"` + strconv.Itoa(s.version) + `"`
}

// clone deep-copies a record through JSON, as a real store would.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic("memory: record does not marshal: " + err.Error())
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic("memory: record does not unmarshal: " + err.Error())
	}
	return out
}

func notFound(what string) error { return guard.Errorf(guard.KindNotFound, "%s not found", what) }

// checkETag applies the store's optimistic-concurrency rule: an empty
// given ETag inserts, any other must match the stored one.
func checkETag(what string, exists bool, stored, given string) error {
	switch {
	case given == "" && exists:
		return guard.Errorf(guard.KindConflict, "%s already exists", what)
	case given != "" && !exists:
		return guard.Errorf(guard.KindConflict, "%s was deleted", what)
	case given != "" && stored != given:
		return guard.Errorf(guard.KindConflict, "%s was changed by someone else", what)
	}
	return nil
}

func (s *Store) Finding(_ context.Context, id guard.ClusterID) (guard.Finding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.findings[id.SubscriptionKey()][id.Key()]
	if !ok {
		return guard.Finding{}, notFound("finding " + id.String())
	}
	return clone(f), nil
}

func (s *Store) SaveFinding(_ context.Context, f *guard.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	part := s.findings[f.Cluster.SubscriptionKey()]
	old, exists := part[f.Cluster.Key()]
	if err := checkETag("finding "+f.Cluster.String(), exists, old.ETag, f.ETag); err != nil {
		return err
	}
	f.ETag = s.nextETag()
	if part == nil {
		part = map[string]guard.Finding{}
		s.findings[f.Cluster.SubscriptionKey()] = part
	}
	part[f.Cluster.Key()] = clone(*f)
	return nil
}

func (s *Store) Findings(context.Context) ([]guard.Finding, error) {
	return s.findingsWhere("", func(guard.Finding) bool { return true }), nil
}

func (s *Store) PendingFindings(context.Context) ([]guard.Finding, error) {
	return s.findingsWhere("", func(f guard.Finding) bool { return len(f.Outbox) > 0 }), nil
}

func (s *Store) FindingsIn(_ context.Context, subscription string, states ...guard.FindingState) ([]guard.Finding, error) {
	return s.findingsWhere(subscription, func(f guard.Finding) bool { return len(states) == 0 || slices.Contains(states, f.State) }), nil
}

// findingsWhere returns copies of the findings keep keeps, of one
// subscription or ("") all.
func (s *Store) findingsWhere(subscription string, keep func(guard.Finding) bool) []guard.Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := s.findings
	if subscription != "" {
		key := guard.ClusterID{Subscription: subscription}.SubscriptionKey()
		parts = map[string]map[string]guard.Finding{key: s.findings[key]}
	}
	var out []guard.Finding
	for _, fs := range parts {
		for _, f := range fs {
			if keep(f) {
				out = append(out, clone(f))
			}
		}
	}
	return out
}

func jobKey(id guard.ClusterID, jobID string) string { return id.Key() + "|" + jobID }

func (s *Store) Job(_ context.Context, id guard.ClusterID, jobID string) (guard.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobKey(id, jobID)]
	if !ok {
		return guard.Job{}, notFound("job " + jobID)
	}
	return clone(j), nil
}

func (s *Store) SaveJob(_ context.Context, j *guard.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := jobKey(j.Cluster, j.ID)
	old, exists := s.jobs[key]
	if err := checkETag("job "+j.ID, exists, old.ETag, j.ETag); err != nil {
		return err
	}
	j.ETag = s.nextETag()
	s.jobs[key] = clone(*j)
	return nil
}

func (s *Store) Jobs(context.Context) ([]guard.Job, error) {
	return s.jobsWhere(func(guard.Job) bool { return true }), nil
}

func (s *Store) JobsIn(_ context.Context, states ...guard.JobState) ([]guard.Job, error) {
	return s.jobsWhere(func(j guard.Job) bool { return slices.Contains(states, j.State) }), nil
}

func (s *Store) DueJobs(_ context.Context, before time.Time) ([]guard.Job, error) {
	return s.jobsWhere(func(j guard.Job) bool {
		return !j.State.Terminal() && j.NextWake.Before(before) || len(j.Outbox) > 0
	}), nil
}

func (s *Store) JobCounts(context.Context) (map[guard.JobState]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[guard.JobState]int{}
	for _, j := range s.jobs {
		out[j.State]++
	}
	return out, nil
}

func (s *Store) SaveKPIs(_ context.Context, k guard.KPIs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kpis[guard.KPIDay(k.At)] = clone(k)
	return nil
}

func (s *Store) KPIHistory(_ context.Context, since time.Time) ([]guard.KPIs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.KPIs
	for _, day := range slices.Sorted(maps.Keys(s.kpis)) {
		if day >= guard.KPIDay(since) {
			out = append(out, clone(s.kpis[day]))
		}
	}
	return out, nil
}

// jobsWhere returns copies of the jobs keep keeps.
func (s *Store) jobsWhere(keep func(guard.Job) bool) []guard.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]guard.Job, 0, len(s.jobs))
	for _, j := range s.jobs {
		if keep(j) {
			out = append(out, clone(j))
		}
	}
	return out
}

func (s *Store) AppendAudit(_ context.Context, e guard.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	part := s.audit[e.Cluster.Key()]
	if part == nil {
		part = map[string]guard.AuditEntry{}
		s.audit[e.Cluster.Key()] = part
	}
	if _, ok := part[e.Key]; !ok {
		part[e.Key] = clone(e)
	}
	return nil
}

func (s *Store) Audit(_ context.Context, id guard.ClusterID) ([]guard.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	part := s.audit[id.Key()]
	out := make([]guard.AuditEntry, 0, len(part))
	for _, e := range part {
		out = append(out, clone(e))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
