package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/sampletest"
	"github.com/aksguard/aksguard/pkg/triage/triagetest"
)

// triageOut is the contract of one `triage --output json` line.
type triageOut struct {
	EventID   string `json:"eventId"`
	EventType string `json:"eventType"`
	ClusterID string `json:"clusterId"`
	Action    string `json:"action"`
	Reason    string `json:"reason"`
}

var triageKeys = []string{"eventId", "eventType", "clusterId", "action", "reason"}

// The cluster of the recorded GET sample, as events spell it and as triage
// prints it.
const (
	eventCluster = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/rg-4149/providers/Microsoft.ContainerService/managedClusters/manCluster-5614"
	wantCluster  = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg-4149/providers/Microsoft.ContainerService/managedClusters/manCluster-5614"
)

const (
	writeSuccess  = "Microsoft.Resources.ResourceWriteSuccess"
	deleteSuccess = "Microsoft.Resources.ResourceDeleteSuccess"
	opWrite       = "Microsoft.ContainerService/managedClusters/write"
	opPoolWrite   = "Microsoft.ContainerService/managedClusters/agentPools/write"
	opTagsWrite   = "Microsoft.Resources/tags/write"
	opDelete      = "Microsoft.ContainerService/managedClusters/delete"
	claimOID      = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	// guardOID and guardAppID stand for the guard's managed identity.
	guardOID   = "9a3c2b1d-7e6f-4a5b-8c9d-0e1f2a3b4c5d"
	guardAppID = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"
)

// eventBatch encodes events as one Event Grid delivery.
func eventBatch(t *testing.T, events ...map[string]any) []byte {
	t.Helper()
	return mustJSON(t, events)
}

func TestTriageEvents(t *testing.T) {
	ev := func(s triagetest.Spec) map[string]any { return triagetest.Map(t, s) }
	one := func(s triagetest.Spec) []byte { return triagetest.JSON(t, s) }
	eg, ce := triagetest.EventGrid, triagetest.CloudEvent
	pool := eventCluster + "/agentPools/nodepool1"
	tags := eventCluster + "/providers/Microsoft.Resources/tags/default"

	evaluate := func(id, reason string) triageOut {
		return triageOut{id, writeSuccess, wantCluster, "evaluate", reason}
	}
	tests := []struct {
		name string
		in   []byte
		args []string
		env  map[string]string
		want []triageOut
	}{
		{name: "cluster write, Event Grid schema",
			in:   one(triagetest.Spec{Schema: eg, ID: "e1", Operation: opWrite, Resource: eventCluster}),
			want: []triageOut{evaluate("e1", "cluster written")}},
		{name: "cluster write, CloudEvents",
			in:   one(triagetest.Spec{Schema: ce, ID: "e1", Operation: opWrite, Resource: eventCluster}),
			want: []triageOut{evaluate("e1", "cluster written")}},
		{name: "agent pool write names its cluster",
			in:   one(triagetest.Spec{Schema: eg, ID: "e1", Operation: opPoolWrite, Resource: pool}),
			want: []triageOut{evaluate("e1", "agent pool written; evaluating its cluster")}},
		{name: "agent pool write, CloudEvents",
			in:   one(triagetest.Spec{Schema: ce, ID: "e1", Operation: opPoolWrite, Resource: pool}),
			want: []triageOut{evaluate("e1", "agent pool written; evaluating its cluster")}},
		{name: "tags write on tags/default names the cluster",
			in:   one(triagetest.Spec{Schema: eg, ID: "e1", Operation: opTagsWrite, Resource: tags}),
			want: []triageOut{{"e1", writeSuccess, wantCluster, "approval-check", "tags written; the approval may have changed"}}},
		{name: "tags write on tags/default, CloudEvents",
			in:   one(triagetest.Spec{Schema: ce, ID: "e1", Operation: opTagsWrite, Resource: tags}),
			want: []triageOut{{"e1", writeSuccess, wantCluster, "approval-check", "tags written; the approval may have changed"}}},
		{name: "tags write on the cluster itself",
			in:   one(triagetest.Spec{Schema: eg, ID: "e1", Operation: opTagsWrite, Resource: eventCluster}),
			want: []triageOut{{"e1", writeSuccess, wantCluster, "approval-check", "tags written; the approval may have changed"}}},
		{name: "cluster delete closes",
			in:   one(triagetest.Spec{Schema: eg, ID: "e1", Type: deleteSuccess, Operation: opDelete, Resource: eventCluster}),
			want: []triageOut{{"e1", deleteSuccess, wantCluster, "close", "cluster deleted"}}},
		{name: "cluster delete, CloudEvents",
			in:   one(triagetest.Spec{Schema: ce, ID: "e1", Type: deleteSuccess, Operation: opDelete, Resource: eventCluster}),
			want: []triageOut{{"e1", deleteSuccess, wantCluster, "close", "cluster deleted"}}},
		{name: "batch of both schemas",
			in: eventBatch(t,
				ev(triagetest.Spec{Schema: eg, ID: "e1", Operation: opWrite, Resource: eventCluster}),
				ev(triagetest.Spec{Schema: ce, ID: "e2", Operation: opPoolWrite, Resource: pool}),
				ev(triagetest.Spec{Schema: eg, ID: "e3", Operation: opTagsWrite, Resource: tags}),
				ev(triagetest.Spec{Schema: ce, ID: "e4", Type: deleteSuccess, Operation: opDelete, Resource: eventCluster}),
				ev(triagetest.Spec{Schema: eg, ID: "e5"}), // the sample as published: a storage account
			),
			want: []triageOut{
				evaluate("e1", "cluster written"),
				evaluate("e2", "agent pool written; evaluating its cluster"),
				{"e3", writeSuccess, wantCluster, "approval-check", "tags written; the approval may have changed"},
				{"e4", deleteSuccess, wantCluster, "close", "cluster deleted"},
				{"e5", writeSuccess, "", "ignore", "operation Microsoft.Storage/storageAccounts/write is not watched"},
			}},
		{name: "events one after another",
			in: []byte(string(one(triagetest.Spec{Schema: eg, ID: "e1", Operation: opWrite, Resource: eventCluster})) + "\n" +
				string(eventBatch(t, ev(triagetest.Spec{Schema: ce, ID: "e2", Operation: opWrite, Resource: eventCluster}))) + "\n"),
			want: []triageOut{evaluate("e1", "cluster written"), evaluate("e2", "cluster written")}},
		{name: "invalid events in a batch are reported, the others too",
			in: eventBatch(t,
				ev(triagetest.Spec{Schema: eg, ID: "e1", Operation: opWrite, Resource: eventCluster}),
				map[string]any{"id": "e2", "type": "x"},
				ev(triagetest.Spec{Schema: eg, ID: "e3", Operation: opWrite,
					Resource: "/subscriptions/{subscription-id}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1"}),
				ev(triagetest.Spec{Schema: ce, ID: "e4", Operation: opPoolWrite, Resource: pool}),
			),
			want: []triageOut{
				evaluate("e1", "cluster written"),
				{"e2", "", "", "ignore", "invalid event: event is neither CloudEvents 1.0 (no specversion) nor Event Grid schema (no eventType)"},
				{"e3", writeSuccess, "", "ignore", `invalid event: resource ID "/subscriptions/{subscription-id}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1": subscription "{subscription-id}" is not a GUID`},
				evaluate("e4", "agent pool written; evaluating its cluster"),
			}},
		{name: "--self: the guard's own write is ignored",
			in: eventBatch(t,
				ev(triagetest.Spec{Schema: eg, ID: "e1", Operation: opWrite, Resource: eventCluster, Claims: map[string]string{claimOID: guardOID}}),
				ev(triagetest.Spec{Schema: ce, ID: "e2", Operation: opPoolWrite, Resource: pool, Claims: map[string]string{"oid": strings.ToUpper(guardOID)}}),
				ev(triagetest.Spec{Schema: eg, ID: "e3", Operation: opWrite, Resource: eventCluster, Claims: map[string]string{claimOID: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"}}),
			),
			args: []string{"--self", guardOID},
			want: []triageOut{
				{"e1", writeSuccess, wantCluster, "ignore", "caused by the guard's own identity"},
				{"e2", writeSuccess, wantCluster, "ignore", "caused by the guard's own identity"},
				evaluate("e3", "cluster written"),
			}},
		{name: "--self with object and client id",
			in: eventBatch(t,
				ev(triagetest.Spec{Schema: eg, ID: "e1", Type: deleteSuccess, Operation: opDelete, Resource: eventCluster, Claims: map[string]string{"appid": guardAppID}}),
				ev(triagetest.Spec{Schema: eg, ID: "e2", Operation: opTagsWrite, Resource: tags, Claims: map[string]string{claimOID: guardOID}}),
			),
			args: []string{"--self", guardOID + "," + guardAppID},
			want: []triageOut{
				{"e1", deleteSuccess, wantCluster, "ignore", "caused by the guard's own identity"},
				{"e2", writeSuccess, wantCluster, "ignore", "caused by the guard's own identity"},
			}},
		{name: "self from the app settings",
			in: eventBatch(t,
				ev(triagetest.Spec{Schema: eg, ID: "e1", Operation: opWrite, Resource: eventCluster, Claims: map[string]string{claimOID: guardOID}}),
				ev(triagetest.Spec{Schema: eg, ID: "e2", Operation: opWrite, Resource: eventCluster, Claims: map[string]string{"appid": guardAppID}}),
			),
			env: map[string]string{"AKSGUARD_PRINCIPAL_ID": guardOID, "AZURE_CLIENT_ID": guardAppID},
			want: []triageOut{
				{"e1", writeSuccess, wantCluster, "ignore", "caused by the guard's own identity"},
				{"e2", writeSuccess, wantCluster, "ignore", "caused by the guard's own identity"},
			}},
		{name: "--self names someone else",
			in:   one(triagetest.Spec{Schema: eg, ID: "e1", Operation: opWrite, Resource: eventCluster, Claims: map[string]string{claimOID: guardOID}}),
			args: []string{"--self", guardAppID},
			want: []triageOut{evaluate("e1", "cluster written")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, source := range []string{"file", "stdin"} {
				arg, stdin := "-", string(tt.in)
				if source == "file" {
					arg, stdin = writeFile(t, "events.json", tt.in), ""
				}
				args := append(append([]string{"triage", "--output", "json"}, tt.args...), arg)
				r := aksguard(t, stdin, tt.env, args...)
				if r.code != exitOK {
					t.Errorf("run(%q) = %d, want %d; stderr: %s", args, r.code, exitOK, r.stderr)
				}
				got := jsonLines[triageOut](t, r.stdout, triageKeys...)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("run(%q) mismatch (-want +got):\n%s", args, diff)
				}
			}
		})
	}
}

func TestTriageSamples(t *testing.T) {
	tests := []struct {
		file string
		want []triageOut
	}{
		{"eventgrid_egschema_ResourceWriteSuccess_docs_rg.json", []triageOut{{"4db48cba-50a2-455a-93b4-de41a3b5b7f6", writeSuccess, "", "ignore",
			"operation Microsoft.Storage/storageAccounts/write is not watched"}}},
		{"eventgrid_cloudevent_ResourceWriteSuccess_sdkgo_test.json", []triageOut{{"25b3b0d0-d79b-44d5-9963-440d4e6a9bba", writeSuccess, "", "ignore",
			"operation Microsoft.EventGrid/eventSubscriptions/write is not watched"}}},
		// A tags write, but on a virtual machine.
		{"eventgrid_cloudevent_tags_write_thirdparty_test.json", []triageOut{{"00000000-0000-0000-0000-000000000000", writeSuccess, "", "ignore",
			"resource is not an AKS managed cluster"}}},
		{"eventgrid_SubscriptionValidationEvent_docs.json", []triageOut{{"2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", "Microsoft.EventGrid.SubscriptionValidationEvent", "", "ignore",
			"subscription validation is answered by the Functions host's Event Grid extension"}}},
		// The reply to a validation, not an event.
		{"eventgrid_SubscriptionValidationResponse_docs.json", []triageOut{{"", "", "", "ignore",
			"invalid event: event is neither CloudEvents 1.0 (no specversion) nor Event Grid schema (no eventType)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(sampletest.Dir(), tt.file)
			r := aksguard(t, "", nil, "triage", "--output", "json", path)
			if r.code != exitOK {
				t.Errorf("run(triage --output json %s) = %d, want %d; stderr: %s", tt.file, r.code, exitOK, r.stderr)
			}
			got := jsonLines[triageOut](t, r.stdout, triageKeys...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("run(triage --output json %s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}

	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
	}
	for _, n := range sampletest.Names(t, "eventgrid_*.json") {
		if !covered[n] {
			t.Errorf("sample %s has no expectation in TestTriageSamples", n)
		}
	}
}

func TestTriageTable(t *testing.T) {
	in := eventBatch(t,
		triagetest.Map(t, triagetest.Spec{ID: "e1", Operation: opPoolWrite, Resource: eventCluster + "/agentPools/nodepool1"}),
		triagetest.Map(t, triagetest.Spec{ID: "e2"}),
	)
	r := aksguard(t, string(in), nil, "triage", "-")
	if r.code != exitOK {
		t.Errorf("run(triage -) = %d, want %d; stderr: %s", r.code, exitOK, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	want := [][]string{
		{"EVENT", "ACTION", "CLUSTER", "ACTOR", "REASON"},
		{"e1", "evaluate", wantCluster, "{user-name}", "agent", "pool", "written;", "evaluating", "its", "cluster"},
		{"e2", "ignore", "-", "{user-name}", "operation", "Microsoft.Storage/storageAccounts/write", "is", "not", "watched"},
	}
	var got [][]string
	for _, l := range lines {
		got = append(got, strings.Fields(l))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("run(triage -) table mismatch (-want +got):\n%s", diff)
	}
}

// TestTriageApprovers: with --approvers, an approval check says whether
// its caller is on the list, and that the guard credits the setter Azure's
// change history names, not the caller.
func TestTriageApprovers(t *testing.T) {
	in := eventBatch(t, triagetest.Map(t, triagetest.Spec{ID: "tags", Operation: "Microsoft.Resources/tags/write", Resource: eventCluster + "/providers/Microsoft.Resources/tags/default"}))
	for _, tt := range []struct{ list, want string }{{"{user-name}", "on the list"}, {"someone@contoso.com", "not on the list"}} {
		r := aksguard(t, string(in), nil, "triage", "--approvers", tt.list, "--output", "json", "-")
		var l struct{ Action, Actor, Approver string }
		if err := json.Unmarshal([]byte(r.stdout), &l); r.code != exitOK || err != nil || l.Action != "approval-check" || l.Approver != tt.want {
			t.Errorf("triage --approvers %s = %d %q (%v); want an approval check %q", tt.list, r.code, r.stdout, err, tt.want)
		}
		table := aksguard(t, string(in), nil, "triage", "--approvers", tt.list, "-")
		if !strings.Contains(table.stdout, "the caller is "+tt.want+" (the guard credits whoever Azure's change history says set the tag)") {
			t.Errorf("triage --approvers %s table = %q", tt.list, table.stdout)
		}
	}
}

func TestTriageErrors(t *testing.T) {
	notJSON := writeFile(t, "events.txt", []byte("this is not JSON\n"))
	truncated := writeFile(t, "truncated.json", []byte(`[{"id": "e1", "eventType": `))
	missing := filepath.Join(t.TempDir(), "missing.json")
	event := writeFile(t, "event.json", triagetest.JSON(t, triagetest.Spec{}))

	tests := []struct {
		name  string
		args  []string
		stdin string
		want  []string // in stderr
	}{
		{"not JSON", []string{notJSON}, "", []string{notJSON + ": event payload: want a JSON object or array; the input starts with 't' at line 1, column 1"}},
		{"truncated", []string{truncated}, "", []string{truncated + ": event payload: invalid JSON at line 1, column 28: unexpected end of input"}},
		{"not JSON on stdin", []string{"-"}, "<xml/>", []string{"stdin: event payload: want a JSON object or array; the input starts with '<'"}},
		{"a string", []string{"-"}, `"event"`, []string{"stdin: event payload: want a JSON object or array"}},
		{"a string in a batch", []string{"-"}, `["event"]`, []string{"stdin: event payload: a string at line 1, column 2, not an event object"}},
		{"empty", []string{"-"}, "", []string{"stdin: event payload: no JSON input"}},
		{"empty batch", []string{"-"}, "[]", []string{"stdin", "holds no events"}},
		{"missing file", []string{missing}, "", []string{missing, "no such file or directory"}},
		{"no argument", nil, "", []string{"want one FILE argument or - for stdin, got 0 arguments"}},
		{"two arguments", []string{event, event}, "", []string{"got 2 arguments"}},
		{"unknown output", []string{"--output", "csv", event}, "", []string{`invalid value "csv" for flag -output`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"triage", "--output", "json"}, tt.args...)
			r := aksguard(t, tt.stdin, nil, args...)
			if r.code != exitUsage {
				t.Errorf("run(%q) = %d, want %d", args, r.code, exitUsage)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("run(%q) stderr = %q, want it to name %q", args, r.stderr, w)
				}
			}
			if r.stdout != "" {
				t.Errorf("run(%q) stdout = %q, want nothing", args, r.stdout)
			}
		})
	}
}

// TestTriageCorrelation: triage shows each event's correlation id, which
// ties it to the request's change record.
func TestTriageCorrelation(t *testing.T) {
	path := filepath.Join(sampletest.Dir(), "eventgrid_cloudevent_ResourceWriteSuccess_sdkgo_test.json")
	r := aksguard(t, "", nil, "triage", "--output", "json", path)
	type line struct {
		CorrelationID string `json:"correlationId"`
	}
	got := jsonLines[line](t, r.stdout, "correlationId")
	if len(got) != 1 || got[0].CorrelationID != "54ef1e39-6a82-44b3-abc1-bdeb6ce4d3c6" {
		t.Errorf("run(triage --output json) correlation ids = %+v, want the sample's 54ef1e39-6a82-44b3-abc1-bdeb6ce4d3c6", got)
	}
}
