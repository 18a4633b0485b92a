package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
)

// buildInfo is what the binary knows of its own build: the module version
// (a tag when built from one, "(devel)" from a checkout) and the commit and
// its time, which the go command stamps from git.
type buildInfo struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	CommitAt  string `json:"commitTime,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
}

// readBuild reads the binary's build information.
func readBuild() buildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return buildInfo{Version: "unknown"}
	}
	out := buildInfo{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Commit = s.Value
		case "vcs.time":
			out.CommitAt = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		}
	}
	return out
}

// runVersion prints the build information.
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table, or json")
	if _, code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	b := readBuild()
	if output == "json" {
		if err := json.NewEncoder(stdout).Encode(b); err != nil {
			return 1
		}
		return exitOK
	}
	line := fmt.Sprintf("aksguard %s", b.Version)
	if b.Commit != "" {
		line += " (commit " + b.Commit
		if b.Modified {
			line += ", modified"
		}
		if b.CommitAt != "" {
			line += ", " + b.CommitAt
		}
		line += ")"
	}
	fmt.Fprintf(stdout, "%s, %s\n", line, b.GoVersion)
	return exitOK
}
