package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/sampletest"
)

// result is what one in-process run of the CLI left behind.
type result struct {
	code           int
	stdout, stderr string
}

// aksguard runs the CLI with args, stdin and app settings env, as main
// would. The tests of every command use it.
func aksguard(t *testing.T, stdin string, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return env[k] })
	return result{code, stdout.String(), stderr.String()}
}

// jsonLines decodes out as one JSON object per line, each holding at least
// the keys named.
func jsonLines[T any](t *testing.T, out string, keys ...string) []T {
	t.Helper()
	if out == "" {
		t.Fatal("output is empty, want JSON lines")
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("output %q does not end in a newline", out)
	}
	var got []T
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &obj); err != nil || !strings.HasPrefix(line, "{") {
			t.Fatalf("output line %d = %q, want one JSON object: %v", i+1, line, err)
		}
		for _, k := range keys {
			if _, ok := obj[k]; !ok {
				t.Errorf("output line %d = %s, want a %q field", i+1, line, k)
			}
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("output line %d = %s: %v", i+1, line, err)
		}
		got = append(got, v)
	}
	return got
}

// writeFile writes data to a file named name in a fresh directory and
// returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkOut is the contract of one `check --output json` line.
type checkOut struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Verdict   string   `json:"verdict"`
	Compliant bool     `json:"compliant"`
	Reasons   []string `json:"reasons"`
}

var checkKeys = []string{"id", "name", "verdict", "compliant", "reasons"}

// Cluster samples and the verdicts they give.
const (
	spSample  = "aks_get_sp_realguid_sdknet_recording.json"
	msiSample = "aks_get_systemassigned_msi_kubeletidentity_sdknet_recording.json"
	spGUID    = "63113597-dbba-427d-82d3-94e4060d0e8b"
)

var (
	spCluster = checkOut{
		ID:      "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/rg-4149/providers/Microsoft.ContainerService/managedClusters/manCluster-5614",
		Name:    "manCluster-5614",
		Verdict: "service-principal",
		Reasons: []string{"no identity", "servicePrincipalProfile.clientId is " + spGUID},
	}
	msiCluster = checkOut{
		ID:        "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/testaksrg2107/providers/Microsoft.ContainerService/managedClusters/akscluster4379",
		Name:      "akscluster4379",
		Verdict:   "managed-identity",
		Compliant: true,
		Reasons:   []string{"identity.type is SystemAssigned", "servicePrincipalProfile.clientId is msi"},
	}
	specCluster = checkOut{
		ID:      "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1",
		Name:    "clustername1",
		Verdict: "service-principal",
		Reasons: []string{"no identity", "servicePrincipalProfile.clientId is clientid"},
	}
)

// notClusterSamples are samples of other resources, or wrappers around
// clusters: check must refuse them.
var notClusterSamples = []struct {
	file, problem string
}{
	{"aks_maintenanceconfig_spec_2025-01-01_Get_default.json", "top level: resource ID \"/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1/maintenanceConfigurations/default\" is a Microsoft.ContainerService/managedClusters/maintenanceConfigurations under a managed cluster, not the cluster"},
	{"aks_maintenanceconfig_spec_2025-01-01_Get_MaintenanceWindow.json", "top level: resource ID"},
	{"aks_maintenanceconfig_spec_2025-01-01_List_MaintenanceWindow.json", "value[0]: resource ID"},
	{"roleassignments_list_spec_2022-04-01_ListForScope.json", "value[0]: resource type Microsoft.Authorization/roleAssignments is not Microsoft.ContainerService/managedClusters"},
	{"roleassignments_list_spec_2022-04-01_ListForResourceGroup.json", "value[0]: resource type Microsoft.Authorization/roleAssignments"},
	{"wrapper_spec_2025-01-01_ManagedClustersCreate_Update.json", "top level: object has none of the fields of a cluster"},
	{"wrapper_spec_2025-01-01_ManagedClustersResetServicePrincipalProfile.json", "top level: object has none of the fields of a cluster"},
	{"wrapper_spec_2022-04-01_RoleAssignments_CreateForResource.json", "top level: object has none of the fields of a cluster"},
}

func TestCheckSamples(t *testing.T) {
	tests := []struct {
		file     string
		want     []checkOut
		wantCode int
	}{
		{spSample, []checkOut{spCluster}, exitFindings},
		{msiSample, []checkOut{msiCluster}, exitOK},
		{"aks_get_spec_2025-01-01_ManagedClustersGet_sp.json", []checkOut{specCluster}, exitFindings},
		{"aks_get_spec_2025-01-01_PrivateClusterFQDNSubdomain_privatednszone.json", []checkOut{specCluster}, exitFindings},
		{"aks_list_spec_2025-01-01_ManagedClustersList.json", []checkOut{specCluster}, exitFindings},
		// PUT request bodies carry neither id nor name.
		{"aks_put_request_sp_realguid_sdknet_recording.json", []checkOut{{
			Verdict: "service-principal", Reasons: []string{"no identity", "servicePrincipalProfile.clientId is " + spGUID},
		}}, exitFindings},
		{"aks_put_request_systemassigned_sdknet_recording.json", []checkOut{{
			Verdict: "managed-identity", Compliant: true, Reasons: []string{"identity.type is SystemAssigned", "no service principal"},
		}}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(sampletest.Dir(), tt.file)
			r := aksguard(t, "", nil, "check", "--output", "json", path)
			if r.code != tt.wantCode {
				t.Errorf("run(check --output json %s) = %d, want %d; stderr: %s", tt.file, r.code, tt.wantCode, r.stderr)
			}
			if r.stderr != "" {
				t.Errorf("run(check --output json %s) stderr = %q, want none", tt.file, r.stderr)
			}
			got := jsonLines[checkOut](t, r.stdout, checkKeys...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("run(check --output json %s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}

	// Every AKS sample has an expectation here or in notClusterSamples.
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
	}
	for _, s := range notClusterSamples {
		covered[s.file] = true
	}
	for _, n := range sampletest.Names(t, "aks_*.json") {
		if !covered[n] {
			t.Errorf("sample %s has no expectation in TestCheckSamples or notClusterSamples", n)
		}
	}
}

func TestCheckShapes(t *testing.T) {
	sp, msi := sampletest.Map(t, spSample), sampletest.Map(t, msiSample)

	mixed := sampletest.Map(t, msiSample)
	mixed["properties"].(map[string]any)["servicePrincipalProfile"] = map[string]any{"clientId": spGUID}
	mixedWant := msiCluster
	mixedWant.Verdict, mixedWant.Compliant = "mixed", false
	mixedWant.Reasons = []string{"identity.type is SystemAssigned", "servicePrincipalProfile.clientId is " + spGUID + ", not msi"}

	unknown := sampletest.Map(t, spSample)
	delete(unknown["properties"].(map[string]any), "servicePrincipalProfile")
	unknownWant := spCluster
	unknownWant.Verdict, unknownWant.Reasons = "unknown", []string{"no identity and no servicePrincipalProfile"}

	graph := map[string]any{
		"count":         2,
		"data":          []any{sampletest.GraphRow(sp), sampletest.GraphRow(msi)},
		"skip_token":    nil,
		"total_records": 2,
	}
	spRow, msiRow := sampletest.GraphRow(sp), sampletest.GraphRow(msi)
	table := map[string]any{
		"totalRecords": 2,
		"count":        2,
		"data": map[string]any{
			"columns": []any{
				map[string]any{"name": "id", "type": "string"},
				map[string]any{"name": "name", "type": "string"},
				map[string]any{"name": "type", "type": "string"},
				map[string]any{"name": "identity", "type": "object"},
				map[string]any{"name": "properties", "type": "object"},
			},
			"rows": []any{
				[]any{spRow["id"], spRow["name"], spRow["type"], spRow["identity"], spRow["properties"]},
				[]any{msiRow["id"], msiRow["name"], msiRow["type"], msiRow["identity"], msiRow["properties"]},
			},
		},
		"facets":          []any{},
		"resultTruncated": "false",
	}
	jsonl := string(mustJSON(t, sp)) + "\n" + string(mustJSON(t, msi)) + "\n"

	tests := []struct {
		name     string
		file     string // "" reads stdin
		in       []byte
		want     []checkOut
		wantCode int
	}{
		{"az aks show", "show.json", mustJSON(t, sampletest.AzShow(sp)), []checkOut{spCluster}, exitFindings},
		{"az aks show, managed identity", "show.json", mustJSON(t, sampletest.AzShow(msi)), []checkOut{msiCluster}, exitOK},
		{"az aks list", "list.json", mustJSON(t, []any{sampletest.AzShow(sp), sampletest.AzShow(msi)}), []checkOut{spCluster, msiCluster}, exitFindings},
		{"az aks list, all compliant", "list.json", mustJSON(t, []any{sampletest.AzShow(msi), sampletest.AzShow(msi)}), []checkOut{msiCluster, msiCluster}, exitOK},
		{"list response", "value.json", mustJSON(t, map[string]any{"value": []any{sp, msi}}), []checkOut{spCluster, msiCluster}, exitFindings},
		{"az graph query", "graph.json", mustJSON(t, graph), []checkOut{spCluster, msiCluster}, exitFindings},
		{"Resource Graph rows alone", "rows.json", mustJSON(t, []any{sampletest.GraphRow(msi)}), []checkOut{msiCluster}, exitOK},
		{"Resource Graph table", "table.json", mustJSON(t, table), []checkOut{spCluster, msiCluster}, exitFindings},
		{"JSON lines", "clusters.jsonl", []byte(jsonl), []checkOut{spCluster, msiCluster}, exitFindings},
		{"stdin", "", sampletest.Read(t, spSample), []checkOut{spCluster}, exitFindings},
		{"stdin, compliant", "", sampletest.Read(t, msiSample), []checkOut{msiCluster}, exitOK},
		{"mixed is not compliant", "mixed.json", mustJSON(t, mixed), []checkOut{mixedWant}, exitFindings},
		{"unknown is not compliant", "unknown.json", mustJSON(t, unknown), []checkOut{unknownWant}, exitFindings},
		{"one unknown among compliant", "list.json", mustJSON(t, []any{msi, unknown}), []checkOut{msiCluster, unknownWant}, exitFindings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arg, stdin := "-", string(tt.in)
			if tt.file != "" {
				arg, stdin = writeFile(t, tt.file, tt.in), ""
			}
			args := []string{"check", "--output", "json", arg}
			if strings.Contains(tt.name, "unknown") {
				// The unknown cluster has neither identity field, which
				// check refuses unless told to go on.
				args = append(args, "--allow-incomplete")
			}
			r := aksguard(t, stdin, nil, args...)
			if r.code != tt.wantCode {
				t.Errorf("run(check --output json %s) = %d, want %d; stderr: %s", arg, r.code, tt.wantCode, r.stderr)
			}
			got := jsonLines[checkOut](t, r.stdout, checkKeys...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("run(check --output json %s) mismatch (-want +got):\n%s", arg, diff)
			}
		})
	}
}

func TestCheckTable(t *testing.T) {
	sp, msi := sampletest.Map(t, spSample), sampletest.Map(t, msiSample)
	tests := []struct {
		name        string
		in          []byte
		wantRows    [][]string // leading fields of each row: NAME RESOURCEGROUP SUBSCRIPTION VERDICT COMPLIANT
		wantSummary string
		wantCode    int
	}{
		{"one of each", mustJSON(t, []any{sp, msi}),
			[][]string{{"manCluster-5614", "rg-4149", "db1ab6f0-4769-4b27-930e-01e2ef9c123c", "service-principal", "no"}, {"akscluster4379", "testaksrg2107", "db1ab6f0-4769-4b27-930e-01e2ef9c123c", "managed-identity", "yes"}},
			"2 cluster(s): 1 compliant, 1 service-principal", exitFindings},
		{"all compliant", mustJSON(t, map[string]any{"value": []any{msi}}),
			[][]string{{"akscluster4379", "testaksrg2107", "db1ab6f0-4769-4b27-930e-01e2ef9c123c", "managed-identity", "yes"}},
			"1 cluster(s): 1 compliant", exitOK},
		{"no name", sampletest.Read(t, "aks_put_request_sp_realguid_sdknet_recording.json"),
			[][]string{{"(top", "level)", "-", "-", "service-principal"}},
			"1 cluster(s): 0 compliant, 1 service-principal", exitFindings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "clusters.json", tt.in)
			r := aksguard(t, "", nil, "check", path)
			if r.code != tt.wantCode {
				t.Errorf("run(check %s) = %d, want %d; stderr: %s", path, r.code, tt.wantCode, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if len(lines) != len(tt.wantRows)+3 {
				t.Fatalf("run(check %s) printed %q, want a header, %d rows, a blank line and a summary", path, r.stdout, len(tt.wantRows))
			}
			if got, want := strings.Fields(lines[0]), []string{"NAME", "RESOURCEGROUP", "SUBSCRIPTION", "VERDICT", "COMPLIANT", "REASONS"}; !slices.Equal(got, want) {
				t.Errorf("run(check %s) header = %q, want %q", path, got, want)
			}
			for i, want := range tt.wantRows {
				if got := strings.Fields(lines[1+i]); len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
					t.Errorf("run(check %s) row %d = %q, want it to start with %q", path, i+1, lines[1+i], want)
				}
			}
			if got := lines[len(lines)-1]; got != tt.wantSummary {
				t.Errorf("run(check %s) summary = %q, want %q", path, got, tt.wantSummary)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	bad := writeFile(t, "bad.json", []byte("{\n  \"id\": \"x\",\n  \"name\": \n}\n"))
	truncated := writeFile(t, "truncated.json", []byte(`{"value": [{"name": "c1"`))
	notCluster := writeFile(t, "other.json", []byte(`{"foo": 1}`))
	cluster := filepath.Join(sampletest.Dir(), spSample)
	missing := filepath.Join(t.TempDir(), "missing.json")

	tests := []struct {
		name  string
		args  []string
		stdin string
		want  []string // in stderr
	}{
		{"bad JSON", []string{bad}, "", []string{bad, "invalid JSON at line 4, column 1"}},
		{"truncated JSON", []string{truncated}, "", []string{truncated, "unexpected end of input"}},
		{"bad JSON on stdin", []string{"-"}, "{\"id\": ,}", []string{"stdin", "invalid JSON at line 1, column 8"}},
		{"missing file", []string{missing}, "", []string{missing, "no such file or directory"}},
		{"no argument", nil, "", []string{"want one FILE argument or - for stdin, got 0 arguments"}},
		{"two arguments", []string{cluster, cluster}, "", []string{"want one FILE argument or - for stdin, got 2 arguments"}},
		{"unknown output", []string{"--output", "yaml", cluster}, "", []string{`invalid value "yaml" for flag -output`}},
		{"object that is not a cluster", []string{notCluster}, "", []string{notCluster, "object has none of the fields of a cluster"}},
		{"number", []string{"-"}, "42", []string{"stdin", "want a JSON object or array; the input starts with '4' at line 1, column 1"}},
		{"empty stdin", []string{"-"}, "", []string{"stdin", "no JSON input"}},
	}
	for _, s := range notClusterSamples {
		path := filepath.Join(sampletest.Dir(), s.file)
		tests = append(tests, struct {
			name  string
			args  []string
			stdin string
			want  []string
		}{s.file, []string{path}, "", []string{"aksguard check: " + path + ": " + s.problem}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, output := range []string{"table", "json"} {
				args := append([]string{"check", "--output", output}, tt.args...)
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
			}
		})
	}
}

// TestFlagsAfterTheFile: `aksguard check FILE --output json` works as
// `aksguard check --output json FILE` does.
func TestFlagsAfterTheFile(t *testing.T) {
	file := filepath.Join(sampletest.Dir(), "aks_get_sp_realguid_sdknet_recording.json")
	before := aksguard(t, "", nil, "check", "--output", "json", file)
	after := aksguard(t, "", nil, "check", file, "--output", "json")
	if after.code != 1 || after.stdout != before.stdout || after.stdout == "" {
		t.Errorf("check FILE --output json = %d %q, want what check --output json FILE gives (%d %q)", after.code, after.stdout, before.code, before.stdout)
	}
	if got := aksguard(t, "", nil, "check", file, "extra"); got.code != 2 || !strings.Contains(got.stderr, "got 2 arguments") {
		t.Errorf("check FILE extra = %d %q, want 2 naming the extra argument", got.code, got.stderr)
	}
	for _, cmd := range []string{"demo", "serve"} {
		if got := aksguard(t, "", nil, cmd, "foo"); got.code != 2 || !strings.Contains(got.stderr, `takes no arguments, got ["foo"]`) {
			t.Errorf("%s foo = %d %q, want 2: it takes no arguments", cmd, got.code, got.stderr)
		}
	}
}

// TestCheckEmptyFleet: a subscription without clusters is compliant, not
// bad input, in every shape; so is input that arrives as Windows writes it.
// TestCheckNeverPassesOnNothing: input with no cluster, one page of a
// paged Resource Graph answer, or a projection without the identity fields
// exits 2 saying so, unless --allow-incomplete.
func TestCheckNeverPassesOnNothing(t *testing.T) {
	msi := sampletest.Map(t, msiSample)
	page := mustJSON(t, map[string]any{"totalRecords": 1500, "count": 1, "data": []any{msi}, "$skipToken": "ew0KICAiJGlkIjogIjEiLA0KICAiTWF4Um93cyI6IDEwMDAs"})
	blind := `{"data":[{"id":"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1","name":"c1","type":"microsoft.containerservice/managedclusters"}]}`
	for _, tt := range []struct {
		name, in, want string
		allowed        int
	}{
		{"empty array", `[]`, "no cluster in the input", exitOK},
		{"empty list", `{"value": []}`, "no cluster in the input", exitOK},
		{"empty Resource Graph answer", `{"count":0,"data":[],"skip_token":null,"total_records":0}`, "no cluster in the input", exitOK},
		{"one page of several", string(page), "one page of a paged Resource Graph answer", exitOK},
		{"projection without identity", blind, "lack both identity and properties.servicePrincipalProfile (c1)", exitFindings},
	} {
		got := aksguard(t, tt.in, nil, "check", "-")
		if got.code != exitUsage || !strings.Contains(got.stderr, tt.want) {
			t.Errorf("check (%s) = %d %q, want 2 saying %q", tt.name, got.code, got.stderr, tt.want)
		}
		if got := aksguard(t, tt.in, nil, "check", "--allow-incomplete", "-"); got.code != tt.allowed {
			t.Errorf("check --allow-incomplete (%s) = %d %q, want %d", tt.name, got.code, got.stderr, tt.allowed)
		}
	}
}

func TestCheckEncodings(t *testing.T) {
	sp := sampletest.Read(t, "aks_get_sp_realguid_sdknet_recording.json")
	utf16le := []byte{0xFF, 0xFE}
	for _, r := range string(sp) {
		utf16le = append(utf16le, byte(r), byte(r>>8))
	}
	for name, in := range map[string][]byte{"UTF-8 with a BOM": append([]byte{0xEF, 0xBB, 0xBF}, sp...), "UTF-16LE": utf16le} {
		got := aksguard(t, string(in), nil, "check", "--output", "json", "-")
		if got.code != 1 || !strings.Contains(got.stdout, `"verdict":"service-principal"`) {
			t.Errorf("check (%s) = %d %q %q, want 1 with the verdict", name, got.code, got.stdout, got.stderr)
		}
	}
}

// TestCheckRefusesAmbiguousInput holds issue 7's defect 3: input that
// encoding/json would read with a changed meaning is refused with exit 2,
// naming the file, the place and the problem, instead of a verdict.
func TestCheckRefusesAmbiguousInput(t *testing.T) {
	sp := `"servicePrincipalProfile":{"clientId":"3f1b6f2e-8c4d-4a9e-9b7a-2d5c8e1f0a6b"}`
	id := `"id":"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1"`
	for _, tt := range []struct{ name, in, want string }{
		// The second spelling would win in encoding/json and turn the
		// verdict compliant.
		{"duplicate key in another case", "{" + id + "," + sp + ",\n\"ServicePrincipalProfile\":{\"clientId\":\"msi\"}}",
			`stdin: duplicate key "ServicePrincipalProfile" (first as "servicePrincipalProfile" at line 1, column 135) at line 2, column 1`},
		{"duplicate key", "[{" + id + "," + sp + "," + sp + "}]",
			`stdin: duplicate key "servicePrincipalProfile" (first as "servicePrincipalProfile" at line 1, column 136) at line 1, column 214`},
		{"invalid UTF-8", "{" + id + ",\"name\":\"c\xff1\"," + sp + "}", "stdin: invalid UTF-8 (byte 0xFF) at line 1, column 144"},
		{"id that cannot be read", `{"id":"/subscriptions/x/resourceGroups","name":"c1",` + sp + "}", `stdin: top level: resource ID "/subscriptions/x/resourceGroups": invalid resource ID`},
		{"binary", "\x1f\x8b\x08\x00", "stdin: want a JSON object or array; the input starts with byte 0x1F at line 1, column 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := aksguard(t, tt.in, nil, "check", "--output", "json", "-")
			if r.code != exitUsage || !strings.Contains(r.stderr, "aksguard check: "+tt.want) || r.stdout != "" {
				t.Errorf("check = %d, stdout %q, stderr %q; want %d, nothing on stdout, and %q", r.code, r.stdout, r.stderr, exitUsage, tt.want)
			}
		})
	}
}

// countingReader counts what is read from it: binary input without end.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	clear(p)
	c.n += len(p)
	return len(p), nil
}

// TestCheckRefusesBinaryAtOnce: input that is not JSON is refused at its
// first bytes, not after reading it all.
func TestCheckRefusesBinaryAtOnce(t *testing.T) {
	in := &countingReader{}
	var stdout, stderr strings.Builder
	code := run(t.Context(), []string{"check", "-"}, in, &stdout, &stderr, func(string) string { return "" })
	if code != exitUsage || in.n > 1<<20 {
		t.Errorf("check of endless zeros = %d after reading %d bytes (%s); want %d after at most 1 MiB", code, in.n, stderr.String(), exitUsage)
	}
}
