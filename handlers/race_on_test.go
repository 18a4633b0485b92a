//go:build race

package handlers

// raceEnabled is set when the tests run under the race detector, which
// makes the largest batches too slow for an invocation's time limit.
const raceEnabled = true
