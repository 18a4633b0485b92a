package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aksguard/aksguard/pkg/aks"
	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/tablestore"
	"github.com/aksguard/aksguard/pkg/triage/triagetest"
)

// Secrets planted where the Azure SDK or a service puts them in an error.
const (
	plantedSig   = "pL4nTeDs1gNaTuRe0x"
	plantedToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyJ9.c2lnbmF0dXJlLXBsYW50ZWQ"
	plantedKey   = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	plantedSBKey = "Zm9vYmFyYmF6cXV4cXV1eGZvb2Jhcg+/Sb="
)

var noRetries = policy.RetryOptions{MaxRetries: -1}

// sasStore is Table Storage opened with a SAS connection string, as a
// deployment without managed identity does, whose endpoint refuses
// connections. The transport fails as net/http's client does, with the
// request URL, sig included, in the error.
func sasStore(t *testing.T) guard.Store {
	t.Helper()
	conn := "AccountName=aksguardtest;SharedAccessSignature=sv=2024-08-04&ss=t&srt=sco&sp=rwdlacu&se=2027-01-01T00:00:00Z&sig=" + plantedSig
	svc, err := tablestore.ServiceClientFromConnectionString(conn, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: refused{}, Retry: noRetries}})
	if err != nil {
		t.Fatal(err)
	}
	store, err := tablestore.New(svc, "aksguard")
	if err != nil {
		t.Fatal(err)
	}
	return store
}

type refused struct{}

func (refused) Do(req *http.Request) (*http.Response, error) {
	return nil, &url.Error{Op: req.Method, URL: req.URL.String(), Err: syscall.ECONNREFUSED}
}

// echoARM answers every request 403 with a message that repeats the
// request's Authorization header and a connection string, as a careless
// proxy or service may.
type echoARM struct{}

func (echoARM) Do(req *http.Request) (*http.Response, error) {
	body := fmt.Sprintf(`{"error":{"code":"AuthorizationFailed","message":"denied for Authorization: %s; diagnostics DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=%s;EndpointSuffix=core.windows.net and Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=%s"}}`,
		req.Header.Get("Authorization"), plantedKey, plantedSBKey)
	return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: req,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

// tokenCredential hands out the planted token.
type tokenCredential struct{}

func (tokenCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: plantedToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestNoSecretInLogsOrAnswers holds issue 7's redaction rule: with a SAS
// connection string, a bearer token, an account key and a Service Bus key
// planted in the errors of every failure path (storage down for events,
// messages and the timer; ARM refusing a read and echoing the request's
// token), no log line, no answer to the host and no stored record holds
// any of them.
func TestNoSecretInLogsOrAnswers(t *testing.T) {
	cluster, err := armid.ParseCluster(spCluster)
	if err != nil {
		t.Fatal(err)
	}
	event := func(r *rig) reply {
		return r.postEvent(triagetest.Spec{ID: "w", Operation: opWrite, Resource: spCluster, Time: t0}, asObject)
	}
	message := func(r *rig) reply {
		return r.deliver(guard.Message{ID: "evaluate-1", Kind: guard.MessageEvaluate, Cluster: cluster, Reason: "test"}, asString)
	}
	job := func(r *rig) reply {
		return r.deliver(guard.Message{ID: "job-1", Kind: guard.MessageJob, Cluster: cluster, JobID: "j1"}, asString)
	}
	reconcile := func(r *rig) reply { return r.post(Reconcile, []byte(`{"Data":{},"Metadata":{}}`)) }

	storageDown := func(o *Options, c *guard.Config) { c.Store = sasStore(t) }
	armEchoes := func(o *Options, c *guard.Config) {
		c.Clusters = aks.New(tokenCredential{}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: echoARM{}, Retry: noRetries}})
	}
	type call struct {
		do     func(*rig) reply
		status int
	}
	failed, told := http.StatusInternalServerError, http.StatusOK
	for _, tc := range []struct {
		name  string
		setup rigOption
		calls []call
	}{
		// A re-evaluation that cannot load its finding schedules itself
		// again, as when ARM is down.
		{"storage with a SAS connection string is down", storageDown, []call{{event, failed}, {message, told}, {job, failed}, {reconcile, failed}}},
		{"ARM refuses and echoes the token and keys", armEchoes, []call{{event, told}, {message, told}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.setup)
			var seen bytes.Buffer
			for _, c := range tc.calls {
				rep := c.do(r)
				if rep.Status != c.status || len(rep.Logs) == 0 {
					t.Errorf("answer %d with %d log lines, want %d with the failure told: %s", rep.Status, len(rep.Logs), c.status, rep.Raw)
				}
				seen.WriteString(rep.Raw)
			}
			if tc.calls[0].status == told {
				entries, err := r.store.Audit(t.Context(), cluster)
				if err != nil || len(entries) == 0 {
					t.Fatalf("audit = %d entries, %v; want the refused reads on record", len(entries), err)
				}
				fmt.Fprintf(&seen, "%+v", entries)
			}
			seen.WriteString(r.logs.String())
			if !strings.Contains(seen.String(), "REDACTED") {
				t.Errorf("no masked secret: the failure paths did not carry one\n%s", seen.String())
			}
			for _, secret := range []string{plantedSig, plantedToken, plantedKey, plantedSBKey} {
				if strings.Contains(seen.String(), secret) {
					t.Errorf("secret %.12s… reached a log, an answer or a record:\n%s", secret, seen.String())
				}
			}
		})
	}
}
