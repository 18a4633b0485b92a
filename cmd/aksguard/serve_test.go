package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/settings"
)

// azuriteConn is the connection string of Azurite's well-known development
// account (the key is public), at a port where nothing listens: serve must
// start without connecting.
const azuriteConn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"TableEndpoint=http://127.0.0.1:1/devstoreaccount1;"

// serveEnv returns every setting serve needs, listening on port.
func serveEnv(port string) map[string]string {
	return map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT":                 port,
		"AKSGUARD_TABLES_CONNECTION_STRING":            azuriteConn,
		"AKSGUARD_SERVICEBUS__fullyQualifiedNamespace": "example.servicebus.windows.net",
		"AKSGUARD_ALERTS_ENDPOINT":                     "https://aksguard-alerts.westeurope-1.eventgrid.azure.net/api/events",
		"AKSGUARD_PRINCIPAL_ID":                        guardOID,
	}
}

// requiredSettings are the settings serve lists when they are missing.
var requiredSettings = []string{
	"FUNCTIONS_CUSTOMHANDLER_PORT",
	"AKSGUARD_SERVICEBUS__fullyQualifiedNamespace",
	"AKSGUARD_ALERTS_ENDPOINT",
	"AKSGUARD_PRINCIPAL_ID",
}

// tablesMissing is how serve says that no table setting is present.
const tablesMissing = "neither AKSGUARD_TABLES_ENDPOINT nor AKSGUARD_TABLES_CONNECTION_STRING is set (serve never falls back to memory)"

func TestServeFailsFast(t *testing.T) {
	// A free port, so that a serve that wrongly starts does listen, and
	// stops when ctx ends below.
	port := freePort(t)
	without := func(names ...string) map[string]string {
		env := serveEnv(port)
		for _, n := range names {
			delete(env, n)
		}
		return env
	}
	with := func(k, v string) map[string]string {
		env := serveEnv(port)
		env[k] = v
		return env
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string // in stderr
	}{
		{"nothing set", nil, []string{
			"FUNCTIONS_CUSTOMHANDLER_PORT is not set",
			"AKSGUARD_SERVICEBUS__fullyQualifiedNamespace is not set",
			"AKSGUARD_ALERTS_ENDPOINT is not set",
			"AKSGUARD_PRINCIPAL_ID is not set",
			tablesMissing,
		}},
		{"no port", without("FUNCTIONS_CUSTOMHANDLER_PORT"), []string{"FUNCTIONS_CUSTOMHANDLER_PORT is not set"}},
		{"blank port", with("FUNCTIONS_CUSTOMHANDLER_PORT", "  "), []string{"FUNCTIONS_CUSTOMHANDLER_PORT is not set"}},
		{"no Service Bus", without("AKSGUARD_SERVICEBUS__fullyQualifiedNamespace"), []string{"AKSGUARD_SERVICEBUS__fullyQualifiedNamespace is not set"}},
		{"no alerts endpoint", without("AKSGUARD_ALERTS_ENDPOINT"), []string{"AKSGUARD_ALERTS_ENDPOINT is not set"}},
		{"no principal id", without("AKSGUARD_PRINCIPAL_ID"), []string{"AKSGUARD_PRINCIPAL_ID is not set"}},
		{"no table setting", without("AKSGUARD_TABLES_CONNECTION_STRING"), []string{tablesMissing}},
		{"debounce not a duration", with("AKSGUARD_DEBOUNCE", "soon"), []string{`AKSGUARD_DEBOUNCE="soon" is not a positive duration`}},
		{"debounce negative", with("AKSGUARD_DEBOUNCE", "-5s"), []string{`AKSGUARD_DEBOUNCE="-5s" is not a positive duration`}},
		{"debounce zero", with("AKSGUARD_DEBOUNCE", "0s"), []string{`AKSGUARD_DEBOUNCE="0s" is not a positive duration`}},
		{"debounce without unit", with("AKSGUARD_DEBOUNCE", "60"), []string{`AKSGUARD_DEBOUNCE="60" is not a positive duration`}},
		{"log level", with("AKSGUARD_LOG_LEVEL", "loud"), []string{`AKSGUARD_LOG_LEVEL="loud" is not debug, info, warn or error`}},
		{"table prefix", with("AKSGUARD_TABLE_PREFIX", "1bad"), []string{`AKSGUARD_TABLE_PREFIX="1bad" is not up to 55 letters and digits starting with a letter`}},
		{"principal id", with("AKSGUARD_PRINCIPAL_ID", "me"), []string{`AKSGUARD_PRINCIPAL_ID="me" is not an object id (a GUID)`}},
		{"user-assigned identity", with("AKSGUARD_USER_ASSIGNED_IDENTITY", "id-aks-cp"), []string{`AKSGUARD_USER_ASSIGNED_IDENTITY="id-aks-cp" is not a user-assigned identity's resource ID`}},
		// A connection string where the namespace belongs: named, its key
		// masked.
		{"Service Bus connection string", with("AKSGUARD_SERVICEBUS__fullyQualifiedNamespace", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=Zm9vYmFyYmF6cXV4+/Sb="),
			[]string{`AKSGUARD_SERVICEBUS__fullyQualifiedNamespace="Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=REDACTED" is not a fully qualified namespace`}},
		{"everything at once", map[string]string{"AKSGUARD_DEBOUNCE": "soon", "AKSGUARD_LOG_LEVEL": "verbose"}, []string{
			"FUNCTIONS_CUSTOMHANDLER_PORT is not set",
			"AKSGUARD_SERVICEBUS__fullyQualifiedNamespace is not set",
			"AKSGUARD_ALERTS_ENDPOINT is not set",
			"AKSGUARD_PRINCIPAL_ID is not set",
			tablesMissing,
			`AKSGUARD_DEBOUNCE="soon"`,
			`AKSGUARD_LOG_LEVEL="verbose"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			var stdout, stderr strings.Builder
			code := run(ctx, []string{"serve"}, strings.NewReader(""), &stdout, &stderr, func(k string) string { return tt.env[k] })
			r := result{code, stdout.String(), stderr.String()}
			if r.code != exitUsage {
				t.Errorf("run(serve) = %d, want %d", r.code, exitUsage)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("run(serve) stderr = %q, want it to say %q", r.stderr, w)
				}
			}
			// Only what is wrong is listed.
			for _, name := range requiredSettings {
				if strings.TrimSpace(tt.env[name]) != "" && strings.Contains(r.stderr, name+" is not set") {
					t.Errorf("run(serve) stderr = %q, want no complaint about %s, which is set", r.stderr, name)
				}
			}
			if tt.env["AKSGUARD_TABLES_CONNECTION_STRING"] != "" && strings.Contains(r.stderr, tablesMissing) {
				t.Errorf("run(serve) stderr = %q, want no complaint about the table setting, which is set", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("run(serve) stdout = %q, want nothing: serve must not start", r.stdout)
			}
		})
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func TestServeStartsAndStops(t *testing.T) {
	port := freePort(t)
	env := serveEnv(port)
	env["AKSGUARD_DEBOUNCE"], env["AKSGUARD_LOG_LEVEL"] = "90s", "debug"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var stdout, stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	}()

	url := "http://127.0.0.1:" + port + "/"
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	var status int
	for status == 0 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err == nil {
			status = resp.StatusCode
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("run(serve) = %d before answering GET %s; stderr: %s", code, url, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no answer within 10s: %v", url, err)
		}
	}
	if status != http.StatusOK {
		t.Errorf("GET %s = %d, want %d", url, status, http.StatusOK)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("run(serve) after cancel = %d, want %d; stderr: %s", code, exitOK, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run(serve) did not return within 15s of its context being cancelled")
	}
	client.CloseIdleConnections()
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("GET %s after shutdown = %d, want the port closed", url, resp.StatusCode)
	}
	if stderr.String() != "" {
		t.Errorf("run(serve) stderr = %q, want nothing", stderr.String())
	}

	// stdout holds slog JSON lines: where it listened, and that it stopped.
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("run(serve) log line %q is not JSON: %v", line, err)
		}
		msg, _ := rec["msg"].(string)
		msgs = append(msgs, msg)
		if msg == "listening" && rec["addr"] != "127.0.0.1:"+port {
			t.Errorf("run(serve) logged listening on %v, want 127.0.0.1:%s", rec["addr"], port)
		}
	}
	for _, want := range []string{"listening", "stopped"} {
		if !strings.Contains(strings.Join(msgs, "\n"), want) {
			t.Errorf("run(serve) logs = %q, want a %q entry", msgs, want)
		}
	}
}

// TestServeRequiredSettings keeps the list above in step with the settings
// serve reads, so a new required setting gets a test too.
func TestServeRequiredSettings(t *testing.T) {
	var got []string
	for _, s := range settings.All {
		if s.Required {
			got = append(got, s.Name)
		}
	}
	if diff := cmp.Diff(requiredSettings, got); diff != "" {
		t.Errorf("required settings mismatch (-test +settings):\n%s", diff)
	}
}
