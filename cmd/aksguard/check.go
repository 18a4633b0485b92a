package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/aksguard/aksguard/pkg/clusterjson"
	"github.com/aksguard/aksguard/pkg/guard"
)

// checkLine is one line of `check --output json`.
type checkLine struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Verdict      guard.Verdict `json:"verdict"`
	Compliant    bool          `json:"compliant"`
	Reasons      []string      `json:"reasons"`
	IdentityType string        `json:"identityType,omitempty"`
	SPClientID   string        `json:"servicePrincipalClientId,omitempty"`
	Path         string        `json:"path"`
}

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("check", "FILE|-", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table or json (one object per cluster per line)")
	files, code, ok := parseFlags(fs, args, 1)
	if !ok {
		return code
	}
	data, name, err := readInput("check", files, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard", err)
		return exitUsage
	}
	recs, err := clusterjson.Parse(data)
	if err != nil {
		fmt.Fprintf(stderr, "aksguard check: %s: %v\n", name, err)
		return exitUsage
	}
	lines := make([]checkLine, 0, len(recs))
	code = exitOK
	for _, r := range recs {
		ev := guard.Evaluate(r.Cluster)
		l := checkLine{ID: r.RawID, Name: r.Name, Verdict: ev.Verdict, Compliant: ev.Verdict.Compliant(), Reasons: ev.Reasons,
			IdentityType: r.Cluster.IdentityType, Path: r.Path}
		if ev.Verdict.Flagged() {
			l.SPClientID = strings.TrimSpace(r.Cluster.ServicePrincipalClientID)
		}
		if !l.Compliant {
			code = exitFindings
		}
		lines = append(lines, l)
	}
	if output == "json" {
		return writeJSONLines(stdout, stderr, "check", lines, code)
	}
	printCheckTable(stdout, lines)
	return code
}

func printCheckTable(w io.Writer, lines []checkLine) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERDICT\tCOMPLIANT\tREASONS")
	counts := map[guard.Verdict]int{}
	compliant := 0
	for _, l := range lines {
		name := l.Name
		if name == "" {
			name = "(" + l.Path + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, l.Verdict, yesNo(l.Compliant), strings.Join(l.Reasons, "; "))
		counts[l.Verdict]++
		if l.Compliant {
			compliant++
		}
	}
	tw.Flush()
	var parts []string
	for _, v := range []guard.Verdict{guard.VerdictServicePrincipal, guard.VerdictMixed, guard.VerdictUnknown} {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	summary := fmt.Sprintf("\n%d cluster(s): %d compliant", len(lines), compliant)
	if len(parts) > 0 {
		summary += ", " + strings.Join(parts, ", ")
	}
	fmt.Fprintln(w, summary)
}
