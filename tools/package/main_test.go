package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestPackageLayout builds the function app and checks the zip is laid out
// as the Functions host expects: host.json and the executable binary at the
// root, each function's folder beside them.
func TestPackageLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	out := t.TempDir()
	if err := build(out); err != nil {
		t.Fatalf("build() error = %v", err)
	}
	zips, _ := filepath.Glob(filepath.Join(out, "aksguard-*.zip"))
	if len(zips) != 1 {
		t.Fatalf("zips %v, want one aksguard-<version>.zip", zips)
	}
	zr, err := zip.OpenReader(zips[0])
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "aksguard" && f.Mode().Perm()&0o111 == 0 {
			t.Errorf("aksguard in the zip has mode %v, want executable", f.Mode())
		}
	}
	funcs, _ := filepath.Glob("functions/*/function.json")
	want := []string{"aksguard", "host.json"}
	for _, f := range funcs {
		want = append(want, filepath.Base(filepath.Dir(f))+"/function.json")
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("zip holds %v, want %v", names, want)
	}
	if b, err := os.ReadFile(filepath.Join(out, "app", "aksguard")); err != nil || len(b) < 4 || string(b[1:4]) != "ELF" {
		t.Errorf("dist/aksguard is not a Linux binary (%v)", err)
	}
}
