package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/settings"
)

// docs returns the README and every page under docs/, as one text.
func docs(t *testing.T) []byte {
	t.Helper()
	files, _ := filepath.Glob("../../docs/*.md")
	var all []byte
	for _, f := range append([]string{"../../README.md"}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestSettingsAreDocumented keeps the code, docs/reference.md's configuration table
// and local.settings.sample.json in step: every setting the binary reads is
// in the table, and every one a person sets is in the sample file, which
// names nothing the binary does not read (besides the host's own).
func TestSettingsAreDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatalf("local.settings.sample.json: %v", err)
	}
	known := map[string]bool{}
	for _, s := range settings.All {
		known[s.Name] = true
		if !strings.Contains(string(readme), "| `"+s.Name+"` |") {
			t.Errorf("docs/reference.md's configuration table lacks %s", s.Name)
		}
		if _, ok := sample.Values[s.Name]; ok == s.Platform {
			t.Errorf("local.settings.sample.json: %s present = %v, want %v (set by the platform: %v)", s.Name, ok, !s.Platform, s.Platform)
		}
	}
	// The host reads these itself; the trigger's identity settings are the
	// operator's to set, so the README documents them too.
	hostOwn := map[string]bool{"FUNCTIONS_WORKER_RUNTIME": true, "AzureWebJobsStorage": true}
	for _, name := range []string{"AKSGUARD_SERVICEBUS__credential", "AKSGUARD_SERVICEBUS__clientId"} {
		hostOwn[name] = true
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("docs/reference.md's configuration table lacks %s, which the Functions host reads", name)
		}
	}
	for name := range sample.Values {
		if !known[name] && !hostOwn[name] {
			t.Errorf("local.settings.sample.json names %s, which the binary does not read", name)
		}
	}
}

// TestREADMENamesWhatExists: every test and scenario file the README and
// docs/ cite as holding a rule exists, so the table of rules cannot name a
// test that was renamed or removed; every relative link points at a file.
func TestREADMENamesWhatExists(t *testing.T) {
	readme := docs(t)
	var sources strings.Builder
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sources.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := regexp.MustCompile("`(Test[A-Za-z0-9]+)`").FindAllStringSubmatch(string(readme), -1)
	if len(tests) < 20 {
		t.Fatalf("the README cites %d tests; want the rules table's", len(tests))
	}
	for _, m := range tests {
		if !strings.Contains(sources.String(), "func "+m[1]+"(") {
			t.Errorf("the README cites %s, which no test file declares", m[1])
		}
	}
	for _, m := range regexp.MustCompile("`([a-z0-9-]+\\.json)`").FindAllStringSubmatch(string(readme), -1) {
		if _, err := os.Stat("../../testdata/scenarios/" + m[1]); err != nil && !slices.Contains([]string{"host.json", "function.json", "demo.json"}, m[1]) {
			t.Errorf("the README cites scenario %s: %v", m[1], err)
		}
	}
}

// TestDocLinks: every relative link in the docs points at a file that
// exists, and at a heading of it when it names one, so moving a section
// cannot leave a dead link.
func TestDocLinks(t *testing.T) {
	pages, _ := filepath.Glob("../../docs/*.md")
	pages = append(pages, "../../README.md", "../../infra/README.md", "../../pkg/demo/README.md", "../../CHANGELOG.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				if _, serr := os.Stat(path); serr != nil {
					t.Errorf("%s links to %s, which does not exist", page, target)
				}
				continue
			}
			if frag != "" && !slices.Contains(anchors(string(b)), frag) {
				t.Errorf("%s links to %s: no such heading", page, target)
			}
		}
	}
}

// anchors are the heading anchors GitHub makes of a Markdown page.
func anchors(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))
		h = regexp.MustCompile(`[^\p{L}\p{N}\- _]`).ReplaceAllString(h, "")
		out = append(out, strings.ReplaceAll(h, " ", "-"))
	}
	return out
}
