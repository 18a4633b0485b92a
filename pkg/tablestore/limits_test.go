package tablestore_test

import (
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/tablestore"
)

// unreachable is Azurite's well-known development account on a port where
// nothing listens: a store on it fails any call it makes with a transient
// error, so a KindInvalid proves the check ran before any call.
const unreachable = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"TableEndpoint=http://127.0.0.1:1/devstoreaccount1;"

func TestColumnOverLimitIsInvalid(t *testing.T) {
	svc, err := tablestore.ServiceClientFromConnectionString(unreachable, nil)
	if err != nil {
		t.Fatalf("ServiceClientFromConnectionString() error = %v", err)
	}
	s, err := tablestore.New(svc, "limits")
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	over := strings.Repeat("x", 32<<10+1) // 64 KiB + 2 bytes as UTF-16
	wide := strings.Repeat("😀", 16<<10+1) // 4 bytes each as UTF-16
	tests := []struct {
		name, column string
		save         func() error
	}{
		{"finding reasons", "Reasons", func() error {
			return s.SaveFinding(t.Context(), &guard.Finding{Cluster: cluster, Reasons: []string{over}})
		}},
		{"finding resolution of wide runes", "Resolution", func() error {
			return s.SaveFinding(t.Context(), &guard.Finding{Cluster: cluster, Resolution: wide})
		}},
		{"finding outbox", "Outbox", func() error {
			return s.SaveFinding(t.Context(), &guard.Finding{Cluster: cluster, ETag: `W/"1"`,
				Outbox: []guard.Effect{{Audit: &guard.AuditEntry{Key: "k", Detail: over}}}})
		}},
		{"job error", "Error", func() error {
			return s.SaveJob(t.Context(), &guard.Job{Cluster: cluster, ID: "job-1", Error: over})
		}},
		{"job approval", "ApproverName", func() error {
			return s.SaveJob(t.Context(), &guard.Job{Cluster: cluster, ID: "job-1", Approval: &guard.Approval{By: guard.Actor{Name: over}}})
		}},
		{"audit detail", "Detail", func() error {
			return s.AppendAudit(t.Context(), guard.AuditEntry{Cluster: cluster, Key: "k", Detail: over})
		}},
	}
	for _, tt := range tests {
		err := tt.save()
		if guard.KindOf(err) != guard.KindInvalid || !strings.Contains(err.Error(), tt.column) {
			t.Errorf("save(%s) error = %v, want kind invalid naming column %s", tt.name, err, tt.column)
		}
	}
}

func TestNewValidatesPrefix(t *testing.T) {
	svc, err := tablestore.ServiceClientFromConnectionString(unreachable, nil)
	if err != nil {
		t.Fatalf("ServiceClientFromConnectionString() error = %v", err)
	}
	tests := []struct {
		prefix string
		ok     bool
	}{
		{"", true},
		{"aksguard", true},
		{"Dev2", true},
		{"a" + strings.Repeat("9", 54), true},
		{"a" + strings.Repeat("9", 55), false},
		{"2dev", false},
		{"aks-guard", false},
		{"aks_guard", false},
		{"aks guard", false},
		{"ünï", false},
	}
	for _, tt := range tests {
		s, err := tablestore.New(svc, tt.prefix)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q) error = %v, want ok %v", tt.prefix, err, tt.ok)
			continue
		}
		if err != nil {
			continue
		}
		for _, name := range s.Tables() {
			if len(name) < 3 || len(name) > 63 {
				t.Errorf("New(%q).Tables() has %q, want 3 to 63 characters", tt.prefix, name)
			}
		}
	}
	if _, err := tablestore.New(nil, "aks"); err == nil {
		t.Errorf("New(nil, %q) error = nil, want an error", "aks")
	}
}

func TestServiceClientErrors(t *testing.T) {
	const secret = "AccountKey=c2VjcmV0"
	if _, err := tablestore.ServiceClientFromConnectionString("AccountName=a;"+secret+";garbage", nil); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("ServiceClientFromConnectionString(malformed) error = %v, want one that does not repeat the key", err)
	}
	for _, endpoint := range []string{"", "http://account.table.core.windows.net/", "account.table.core.windows.net"} {
		if _, err := tablestore.ServiceClientFromEndpoint(endpoint, nil, nil); err == nil {
			t.Errorf("ServiceClientFromEndpoint(%q) error = nil, want an error", endpoint)
		}
	}
}
