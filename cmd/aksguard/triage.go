package main

import (
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
	files, code, ok := parseFlags(fs, args, 1)
	if !ok {
		return code
	}
	in, name, closeIn, err := openInput("triage", files, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard", err)
		return exitUsage
	}
	defer closeIn()
	selfIDs := settings.List(*self)
	out := newLineWriter(stdout, output == "json", "EVENT\tACTION\tCLUSTER\tREASON", func(l triageLine) string {
		cluster := l.ClusterID
		if cluster == "" {
			cluster = "-"
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s", l.EventID, l.Action, cluster, l.Reason)
	})
	err = triage.Each(in, func(ev guard.Event) error {
		ev = guard.IgnoreSelf(ev, selfIDs)
		l := triageLine{EventID: ev.ID, EventType: ev.Type, Schema: ev.Schema, Time: triage.Stamp(ev.Time), Operation: ev.Operation,
			Resource: ev.Resource, ClusterID: ev.Cluster.String(), Action: ev.Action, Reason: ev.Reason, CorrelationID: ev.CorrelationID,
			Invalid: ev.Invalid}
		if !ev.Actor.IsZero() {
			l.Actor = ev.Actor.String()
		}
		if err := out.write(l); err != nil {
			return outputError{err}
		}
		return nil
	})
	return finish(stderr, "triage", name, err, out, exitOK)
}
