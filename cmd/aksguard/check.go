package main

import (
	"cmp"
	"errors"
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
	// resourceGroup and subscription are the table's columns; the JSON
	// has the whole id.
	resourceGroup, subscription string
}

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("check", "FILE|-", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table or json (one object per cluster per line)")
	incomplete := fs.Bool("allow-incomplete", false, "exit by the verdicts even when the input holds no cluster, is one page of a paged Resource Graph answer, or lacks the identity fields")
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
	out := newLineWriter(stdout, output == "json", "NAME\tRESOURCEGROUP\tSUBSCRIPTION\tVERDICT\tCOMPLIANT\tREASONS", func(l checkLine) string {
		name := l.Name
		if name == "" {
			name = "(" + l.Path + ")"
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", name, cmp.Or(l.resourceGroup, "-"), cmp.Or(l.subscription, "-"), l.Verdict, yesNo(l.Compliant), strings.Join(l.Reasons, "; "))
	})
	var tally checkTally
	var blind []string // clusters whose input lacks both identity fields
	code = exitOK
	err = clusterjson.Each(in, func(r clusterjson.Record) error {
		if !r.Cluster.HasServicePrincipalProfile && r.Cluster.IdentityType == "" {
			blind = append(blind, cmp.Or(r.Name, r.Path))
		}
		ev := guard.Evaluate(r.Cluster)
		l := checkLine{ID: r.RawID, Name: r.Name, Verdict: ev.Verdict, Compliant: ev.Verdict.Compliant(), Reasons: ev.Reasons,
			IdentityType: r.Cluster.IdentityType, Path: r.Path, resourceGroup: r.Cluster.ID.ResourceGroup, subscription: r.Cluster.ID.Subscription}
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
	paged := errors.Is(err, clusterjson.ErrPaged)
	if paged {
		err = nil
	}
	if code = finish(stderr, "check", name, err, out, code); code != exitUsage && output != "json" {
		fmt.Fprintln(stdout, tally)
	}
	if code == exitUsage || *incomplete {
		return code
	}
	// A check that saw nothing, or not all, must not pass.
	switch {
	case tally.total == 0:
		fmt.Fprintf(stderr, "aksguard check: %s: no cluster in the input (pass --allow-incomplete to accept that)\n", name)
		return exitUsage
	case paged:
		fmt.Fprintf(stderr, "aksguard check: %s: %v; pass every page (az graph query --first 1000, then --skip-token) or --allow-incomplete\n", name, clusterjson.ErrPaged)
		return exitUsage
	case len(blind) > 0:
		fmt.Fprintf(stderr, "aksguard check: %s: %d cluster(s) lack both identity and properties.servicePrincipalProfile (%s): the input's projection left them out; project identity and properties (or pass --allow-incomplete)\n",
			name, len(blind), strings.Join(blind[:min(3, len(blind))], ", "))
		return exitUsage
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
