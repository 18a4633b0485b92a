// Package sampletest reads the real payloads in testdata/samples
// (SOURCES.md there says where each came from) for any package's tests.
package sampletest

import (
	"bytes"
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

// Names returns the base names of the samples matching pattern (a
// filepath.Match pattern such as "aks_*.json"), and fails t when there are
// none: a test that checks every sample must not pass on an empty folder.
func Names(t testing.TB, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(), pattern))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no %s samples in %s (err %v)", pattern, Dir(), err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names
}

// Array returns the named samples as one JSON array, the shape a fleet file
// or a list response takes.
func Array(t testing.TB, names ...string) []byte {
	t.Helper()
	parts := make([][]byte, len(names))
	for i, n := range names {
		parts[i] = Read(t, n)
	}
	return append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
}
