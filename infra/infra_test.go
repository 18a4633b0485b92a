// Package infra holds the Bicep that deploys the guard; this test keeps it
// in step with the code, since the Bicep compiler cannot run here.
package infra_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/servicebus"
	"github.com/aksguard/aksguard/pkg/settings"
	"github.com/aksguard/aksguard/pkg/triage"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// block returns the text between the line that starts with start and the
// next line, at the same indentation, that is the closing brace.
func block(t *testing.T, text, start string) string {
	t.Helper()
	i := strings.Index(text, start)
	if i < 0 {
		t.Fatalf("no %q", start)
	}
	line := text[strings.LastIndex(text[:i], "\n")+1 : i]
	indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
	j := strings.Index(text[i:], "\n"+indent+"}")
	if j < 0 {
		t.Fatalf("%q does not close", start)
	}
	return text[i : i+j]
}

var keyRE = regexp.MustCompile(`(?m)^\s*([A-Za-z_][A-Za-z0-9_]*):`)

func keys(text string) []string {
	var out []string
	for _, m := range keyRE.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// trigger are the settings of the RemediationJobs trigger's identity-based
// connection that the host reads besides the namespace, which the code
// reads too.
var trigger = []string{"AKSGUARD_SERVICEBUS__clientId", "AKSGUARD_SERVICEBUS__credential"}

// TestAppSettingsAgree: the guard's app settings in the Bicep are exactly
// those the code reads that a person sets (not the platform's), less the
// connection string (the deployment has no keys), plus the trigger's
// connection; local.settings.sample.json has every one the code reads.
func TestAppSettingsAgree(t *testing.T) {
	var want []string
	for _, s := range settings.All {
		if !s.Platform && s.Name != settings.TablesConn {
			want = append(want, s.Name)
		}
	}
	want = append(want, trigger...)
	slices.Sort(want)
	got := keys(block(t, read(t, "main.bicep"), "guardSettings: {"))
	got = slices.DeleteFunc(got, func(k string) bool { return k == "guardSettings" })
	if !slices.Equal(got, want) {
		t.Errorf("main.bicep guardSettings = %v\nwant (pkg/settings, less the platform's and %s, plus the trigger's) %v", got, settings.TablesConn, want)
	}

	var sample struct{ Values map[string]string }
	if err := json.Unmarshal([]byte(read(t, "../local.settings.sample.json")), &sample); err != nil {
		t.Fatal(err)
	}
	host := []string{"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}
	for _, s := range settings.All {
		if _, ok := sample.Values[s.Name]; !ok && !s.Platform {
			t.Errorf("local.settings.sample.json lacks %s", s.Name)
		}
	}
	for k := range sample.Values {
		if _, ok := settings.Lookup(k); !ok && !slices.Contains(host, k) && !slices.Contains(trigger, k) {
			t.Errorf("local.settings.sample.json has %s, which nothing reads", k)
		}
	}
	hostSettings := keys(block(t, read(t, "modules/functionapp.bicep"), "var hostSettings = {"))
	for _, k := range []string{"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "APPLICATIONINSIGHTS_CONNECTION_STRING"} {
		if !slices.Contains(hostSettings, k) {
			t.Errorf("functionapp.bicep hostSettings lacks %s", k)
		}
	}
}

// TestEventFilterIsTheIntakes: the event subscription lets through exactly
// the operations the intake handles, to the ClusterEvents function.
func TestEventFilterIsTheIntakes(t *testing.T) {
	ops := regexp.MustCompile(`'(Microsoft\.[A-Za-z./]+)'`).FindAllStringSubmatch(block(t, read(t, "main.bicep"), "var operations = ["), -1)
	var got []string
	for _, m := range ops {
		got = append(got, m[1])
	}
	want := slices.Clone(triage.Operations)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("main.bicep operations = %v, want triage.Operations %v", got, want)
	}
	events := read(t, "modules/events.bicep")
	for _, want := range []string{"'/functions/ClusterEvents'", "values: operations", "operatorType: 'StringIn'", "key: 'data.operationName'",
		"'Microsoft.Resources.ResourceWriteSuccess'", "'Microsoft.Resources.ResourceDeleteSuccess'"} {
		if !strings.Contains(strings.ReplaceAll(events, "${functionAppId}", "'"), want) {
			t.Errorf("events.bicep lacks %s", want)
		}
	}
	if _, err := os.Stat("../functions/ClusterEvents/function.json"); err != nil {
		t.Errorf("the event subscription targets ClusterEvents: %v", err)
	}
}

// TestQueueAgrees: the queue the Bicep creates is the one the code and
// functions/RemediationJobs/function.json name.
func TestQueueAgrees(t *testing.T) {
	if !strings.Contains(read(t, "modules/servicebus.bicep"), "param queueName string = '"+servicebus.QueueName+"'") {
		t.Errorf("servicebus.bicep does not create %q", servicebus.QueueName)
	}
	if !strings.Contains(read(t, "../functions/RemediationJobs/function.json"), `"queueName": "`+servicebus.QueueName+`"`) {
		t.Errorf("functions/RemediationJobs/function.json does not read %q", servicebus.QueueName)
	}
}

var apiRE = regexp.MustCompile(`'(Microsoft\.[A-Za-z]+/[A-Za-z/]+@[0-9]{4}-[0-9]{2}-[0-9]{2}(?:-preview)?)'`)

// TestAPIVersionsAreListed: infra/README.md names every resource type and
// API version the Bicep uses, and only those.
func TestAPIVersionsAreListed(t *testing.T) {
	files, err := filepath.Glob("*.bicep")
	if err != nil {
		t.Fatal(err)
	}
	mods, _ := filepath.Glob("modules/*.bicep")
	used := map[string]bool{}
	for _, f := range append(files, mods...) {
		for _, m := range apiRE.FindAllStringSubmatch(read(t, f), -1) {
			used[m[1]] = true
		}
	}
	if len(used) < 10 {
		t.Fatalf("found %d resource types in the Bicep: the pattern is wrong", len(used))
	}
	doc := read(t, "README.md")
	for _, v := range slices.Sorted(maps.Keys(used)) {
		if !strings.Contains(doc, "`"+v+"`") {
			t.Errorf("infra/README.md does not list `%s`", v)
		}
	}
	for _, m := range regexp.MustCompile("`(Microsoft\\.[A-Za-z]+/[A-Za-z/]+@[0-9-]+(?:-preview)?)`").FindAllStringSubmatch(doc, -1) {
		if !used[m[1]] {
			t.Errorf("infra/README.md lists `%s`, which the Bicep does not use", m[1])
		}
	}
}

// TestEveryModuleIsUsed: each module file is deployed by main.bicep or
// another module.
func TestEveryModuleIsUsed(t *testing.T) {
	mods, _ := filepath.Glob("modules/*.bicep")
	all := read(t, "main.bicep")
	for _, m := range mods {
		all += read(t, m)
	}
	for _, m := range mods {
		base := filepath.Base(m)
		if !strings.Contains(all, "'modules/"+base+"'") && !strings.Contains(all, "'"+base+"'") {
			t.Errorf("%s is not deployed by anything", m)
		}
	}
}
