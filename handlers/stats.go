package handlers

import (
	"maps"
	"sync"
)

// Stats counts outcomes per function, for logs, the demo and tests.
type Stats struct {
	mu     sync.Mutex
	counts map[string]int64
}

func (s *Stats) add(function, result string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]int64{}
	}
	s.counts[function+"/"+result]++
}

// Snapshot returns the counts keyed "<function>/<result>", for example
// "ClusterEvents/flagged" or "RemediationJobs/retry".
func (s *Stats) Snapshot() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}
