// Command package lays out the function app as the Functions host expects
// it — host.json, the Linux binary named in host.json and one folder per
// function, at the root — in <out>/app, and zips that folder as
// <out>/aksguard-<version>.zip for zip deploy:
//
//	go run ./tools/package -out dist
//
// It needs no zip tool, and sets the binary's executable bit in the zip,
// which a zip made on Windows would lose.
package main

import (
	"archive/zip"
	"debug/buildinfo"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	out := flag.String("out", "dist", "folder for the app (<out>/app) and its zip (<out>/aksguard-<version>.zip)")
	flag.Parse()
	if err := build(*out); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
}

// binary is the executable host.json's customHandler names.
const binary = "aksguard"

func build(dist string) error {
	if err := os.RemoveAll(dist); err != nil {
		return err
	}
	out := filepath.Join(dist, "app")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	// -buildvcs=auto: stamp the commit (aksguard version prints it) when
	// built from a git checkout, whatever GOFLAGS says.
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=auto", "-ldflags=-s -w", "-o", filepath.Join(out, binary), "./cmd/aksguard")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	if err := copyFile("host.json", filepath.Join(out, "host.json")); err != nil {
		return err
	}
	funcs, err := filepath.Glob("functions/*/function.json")
	if err != nil || len(funcs) == 0 {
		return fmt.Errorf("no functions/*/function.json (%v)", err)
	}
	for _, f := range funcs {
		dst := filepath.Join(out, filepath.Base(filepath.Dir(f)), "function.json")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(f, dst); err != nil {
			return err
		}
	}
	stamp, err := version(filepath.Join(out, binary))
	if err != nil {
		return err
	}
	return zipDir(out, filepath.Join(dist, binary+"-"+stamp+".zip"))
}

// version names a build for the zip: the module's version when built from
// a tag, else devel and the commit (with -dirty for local changes), else
// devel.
func version(bin string) (string, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("read the build info of %s: %w", bin, err)
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v, nil
	}
	stamp, dirty := "devel", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			stamp += "-" + s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		stamp += "-dirty"
	}
	return stamp, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// zipDir zips the files of dir, paths relative to it, into name.
func zipDir(dir, name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Deflate, Modified: time.Now()}
		h.SetMode(0o644)
		if rel == binary {
			h.SetMode(0o755)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	fmt.Printf("package: %s (%s)\n", name, strings.Join([]string{"host.json", binary, "functions"}, ", "))
	return nil
}
