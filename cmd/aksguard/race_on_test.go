//go:build race

package main

// raceEnabled is set when the tests run under the race detector, which
// slows the binary down and gives it a fixed overhead of memory.
const raceEnabled = true
