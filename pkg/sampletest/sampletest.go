// Package sampletest reads the real payloads in testdata/samples
// (SOURCES.md there says where each came from) for any package's tests.
package sampletest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is testdata/samples, found from this file so that tests of any
// package, at any depth, reach it.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "samples")
}

// Read returns a sample file's bytes, or with path the value found by
// following those keys into nested objects (a spec example's wrapper, say).
func Read(t testing.TB, name string, path ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ok bool
		if data, ok = m[p]; !ok {
			t.Fatalf("%s: no %q in %v", name, p, path)
		}
	}
	return data
}
