// Package demo holds the story aksguard demo tells: demo.json, a scenario
// that simulate runs through the real custom handler and domain on the
// simulated Azure. README.md here says what each cluster shows.
package demo

import (
	"bytes"
	_ "embed"

	"github.com/aksguard/aksguard/pkg/simulate"
)

//go:embed demo.json
var scenario []byte

// Scenario returns the demo's scenario.
func Scenario() (*simulate.Scenario, error) { return simulate.Load(bytes.NewReader(scenario)) }

// Trail is the cluster whose audit trail the demo prints.
const Trail = "payments-prod-weu"
