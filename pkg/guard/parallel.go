package guard

import "sync"

// parallel runs fn for every item, at most workers at a time, and returns
// when all are done.
func parallel[T any](items []T, workers int, fn func(T)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range min(workers, len(items)) {
		wg.Go(func() {
			for it := range work {
				fn(it)
			}
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
}
