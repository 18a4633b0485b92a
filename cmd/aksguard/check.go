package main

import (
	"fmt"
	"io"
	"strings"

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
	in, name, closeIn, err := openInput("check", files, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard", err)
		return exitUsage
	}
	defer closeIn()
	out := newLineWriter(stdout, output == "json", "NAME\tVERDICT\tCOMPLIANT\tREASONS", func(l checkLine) string {
		name := l.Name
		if name == "" {
			name = "(" + l.Path + ")"
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s", name, l.Verdict, yesNo(l.Compliant), strings.Join(l.Reasons, "; "))
	})
	var tally checkTally
	code = exitOK
	err = clusterjson.Each(in, func(r clusterjson.Record) error {
		ev := guard.Evaluate(r.Cluster)
		l := checkLine{ID: r.RawID, Name: r.Name, Verdict: ev.Verdict, Compliant: ev.Verdict.Compliant(), Reasons: ev.Reasons,
			IdentityType: r.Cluster.IdentityType, Path: r.Path}
		if ev.Verdict.Flagged() {
			l.SPClientID = strings.TrimSpace(r.Cluster.ServicePrincipalClientID)
		}
		if !l.Compliant {
			code = exitFindings
		}
		tally.add(l)
		if err := out.write(l); err != nil {
			return outputError{err}
		}
		return nil
	})
	if code = finish(stderr, "check", name, err, out, code); code != exitUsage && output != "json" {
		fmt.Fprintln(stdout, tally)
	}
	return code
}

// checkTally counts verdicts for the table's summary.
type checkTally struct {
	total, compliant int
	verdicts         map[guard.Verdict]int
}

func (t *checkTally) add(l checkLine) {
	if t.verdicts == nil {
		t.verdicts = map[guard.Verdict]int{}
	}
	t.total++
	t.verdicts[l.Verdict]++
	if l.Compliant {
		t.compliant++
	}
}

func (t checkTally) String() string {
	var parts []string
	for _, v := range []guard.Verdict{guard.VerdictServicePrincipal, guard.VerdictMixed, guard.VerdictUnknown} {
		if t.verdicts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", t.verdicts[v], v))
		}
	}
	summary := fmt.Sprintf("\n%d cluster(s): %d compliant", t.total, t.compliant)
	if len(parts) > 0 {
		summary += ", " + strings.Join(parts, ", ")
	}
	return summary
}
