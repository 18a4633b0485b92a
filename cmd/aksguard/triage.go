package main

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/settings"
	"github.com/aksguard/aksguard/pkg/triage"
)

// triageLine is one line of `triage --output json`.
type triageLine struct {
	EventID   string       `json:"eventId"`
	EventType string       `json:"eventType"`
	Schema    string       `json:"schema,omitempty"`
	Time      string       `json:"time,omitempty"`
	Operation string       `json:"operation,omitempty"`
	Resource  string       `json:"resource,omitempty"`
	ClusterID string       `json:"clusterId"`
	Action    guard.Action `json:"action"`
	Reason    string       `json:"reason"`
	Actor     string       `json:"actor,omitempty"`
	// Approver says, for an approval check with --approvers, whether the
	// caller is on the list: "on the list" or "not on the list".
	Approver string `json:"approver,omitempty"`
	// CorrelationID ties the event to the request's change record, where
	// the guard learns who set a tag.
	CorrelationID string `json:"correlationId,omitempty"`
	Invalid       bool   `json:"invalid,omitempty"`
}

func runTriage(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv env) int {
	fs := newFlags("triage", "FILE|-", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table or json (one object per event per line)")
	self := fs.String("self", strings.Join(settings.List(getenv(settings.PrincipalID)+","+getenv(settings.ClientID)), ","),
		"the guard's own object and client ids, comma-separated: their events are ignored")
	approvers := fs.String("approvers", getenv(settings.Approvers), "the approver list (AKSGUARD_APPROVERS): show, for each approval check, whether its caller is on it")
	files, code, ok := parseFlags(fs, args, 1)
	if !ok {
		return code
	}
	list := settings.List(*approvers)
	in, name, closeIn, err := openInput("triage", files, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard", err)
		return exitUsage
	}
	defer closeIn()
	selfIDs := settings.List(*self)
	out := newLineWriter(stdout, output == "json", "EVENT\tACTION\tCLUSTER\tACTOR\tREASON", func(l triageLine) string {
		reason := l.Reason
		if l.Approver != "" {
			reason += "; the caller is " + l.Approver + " (the guard credits whoever Azure's change history says set the tag)"
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", l.EventID, l.Action, cmp.Or(l.ClusterID, "-"), cmp.Or(l.Actor, "-"), reason)
	})
	err = triage.Each(in, func(ev guard.Event) error {
		ev = guard.IgnoreSelf(ev, selfIDs)
		l := triageLine{EventID: ev.ID, EventType: ev.Type, Schema: ev.Schema, Time: triage.Stamp(ev.Time), Operation: ev.Operation,
			Resource: ev.Resource, ClusterID: ev.Cluster.String(), Action: ev.Action, Reason: ev.Reason, CorrelationID: ev.CorrelationID,
			Invalid: ev.Invalid}
		if !ev.Actor.IsZero() {
			l.Actor = ev.Actor.String()
		}
		if len(list) > 0 && ev.Action == guard.ActionApprovalCheck {
			l.Approver = "not on the list"
			if guard.OnApproverList(ev.Actor, list) {
				l.Approver = "on the list"
			}
		}
		if err := out.write(l); err != nil {
			return outputError{err}
		}
		return nil
	})
	return finish(stderr, "triage", name, err, out, exitOK)
}
