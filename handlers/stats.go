package handlers

import (
	"maps"
	"sync"
)

// stats counts outcomes per function, for logs, the demo and tests.
type stats struct {
	mu     sync.Mutex
	counts map[string]int64
}

func (s *stats) add(function, result string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]int64{}
	}
	s.counts[function+"/"+result]++
}

// snapshot returns the counts keyed "<function>/<result>", for example
// "ClusterEvents/flagged" or "RemediationJobs/retry".
func (s *stats) snapshot() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}
