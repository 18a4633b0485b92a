package redact_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/redact"
)

// Planted secrets: each test text holds one, and none may survive.
const (
	sasSig     = "pL4nTeDs1gNaTuRe%2B0x%3D"
	accountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	sbKey      = "Zm9vYmFyYmF6cXV4cXV1eGZvb2Jhcg+/Sb="
	jwt        = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyJ9.c2lnbmF0dXJlLXBsYW50ZWQ"
	opaque     = "0paqueT0kenPlanted"
	secret     = "Cl13ntS3cr3tPlanted~x"
)

var planted = []string{sasSig, accountKey, sbKey, jwt, opaque, secret}

// leaks is every text an Azure SDK, a misplaced setting or a service's
// error message can carry, with the part that must remain.
var leaks = []struct{ text, keep string }{
	{`Get "https://acct.table.core.windows.net/Tables?sv=2024-08-04&ss=t&srt=sco&sp=rwdlacu&se=2027-01-01T00:00:00Z&sig=` + sasSig + `": dial tcp: connection refused`,
		`Get "https://acct.table.core.windows.net/Tables?sv=2024-08-04&ss=t&srt=sco&sp=rwdlacu&se=2027-01-01T00:00:00Z&sig=REDACTED": dial tcp: connection refused`},
	{"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + accountKey + ";EndpointSuffix=core.windows.net",
		"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=REDACTED;EndpointSuffix=core.windows.net"},
	{"TableEndpoint=https://acct.table.core.windows.net/;SharedAccessSignature=sv=2024-08-04&sig=" + sasSig,
		"TableEndpoint=https://acct.table.core.windows.net/;SharedAccessSignature=REDACTED"},
	{`AKSGUARD_SERVICEBUS="Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=` + sbKey + `" is not a namespace`,
		`AKSGUARD_SERVICEBUS="Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=REDACTED" is not a namespace`},
	{"SharedAccessSignature sr=sb%3a%2f%2fns.servicebus.windows.net&sig=" + sasSig + "&se=1700000000&skn=send",
		"SharedAccessSignature REDACTED"},
	{"request had Authorization: Bearer " + jwt, "request had Authorization: REDACTED"},
	{`{"Authorization":"Bearer ` + opaque + `","x-ms-client-request-id":"1"}`, `{"Authorization":"REDACTED","x-ms-client-request-id":"1"}`},
	{"token " + jwt + " expired", "token REDACTED expired"},
	{"aeg-sas-key: " + opaque, "aeg-sas-key: REDACTED"},
	{"POST https://login.microsoftonline.com/t/oauth2/v2.0/token client_id=c&client_secret=" + secret + "&scope=x",
		"POST https://login.microsoftonline.com/t/oauth2/v2.0/token client_id=c&client_secret=REDACTED&scope=x"},
	{"Authorization: SharedKey acct:" + opaque, "Authorization: REDACTED"},
}

func TestString(t *testing.T) {
	for _, l := range leaks {
		if got := redact.String(l.text); got != l.keep {
			t.Errorf("String(%q)\n = %q\nwant %q", l.text, got, l.keep)
		}
	}
}

// TestStringKeepsPlainText: words near a secret's name are not secrets.
func TestStringKeepsPlainText(t *testing.T) {
	for _, s := range []string{
		"get cluster /subscriptions/x/resourceGroups/rg-sig/providers/Microsoft.ContainerService/managedClusters/key-vault: HTTP 403 AuthorizationFailed",
		"statusCode=404 signature verified; the token service answered 503",
		"tags.aksguard-remediation set by dana@contoso.com",
		"the guard may not join the subnet (linked authorization: pool system uses this subnet)",
	} {
		if got := redact.String(s); got != s {
			t.Errorf("String(%q) = %q, want it unchanged", s, got)
		}
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

type named string

// TestLogger plants every kind of secret in a message and in each kind of
// attribute a handler logs, directly and through With and groups.
func TestLogger(t *testing.T) {
	for _, l := range leaks {
		var buf bytes.Buffer
		log := redact.Logger(slog.New(slog.NewJSONHandler(&buf, nil)))
		log.With("with", l.text).WithGroup("g").Error("failed: "+l.text,
			"string", l.text, "error", fmt.Errorf("wrapped: %w", errors.New(l.text)), "stringer", stringer(l.text),
			"named", named(l.text), "lines", []string{l.text}, "bytes", []byte(l.text),
			slog.Group("group", "inner", l.text), "count", 3)
		for _, p := range planted {
			if strings.Contains(buf.String(), p) {
				t.Errorf("log line holds %q:\n%s", p, buf.String())
			}
		}
		if !strings.Contains(buf.String(), `"count":3`) {
			t.Errorf("log line lost a number: %s", buf.String())
		}
	}
}

func TestLoggerWrapsOnce(t *testing.T) {
	log := redact.Logger(slog.New(slog.DiscardHandler))
	if redact.Logger(log) != log {
		t.Error("a redacting logger was wrapped again")
	}
	if redact.Logger(nil) != nil {
		t.Error("a nil logger became a logger")
	}
}
