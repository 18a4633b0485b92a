// Service Bus cannot run on this machine (no Docker, no emulator), so these
// tests stop at the SDK boundary: a recorder stands in for the
// *azservicebus.Sender, and errors are the SDK's own *azservicebus.Error
// values built by hand. What goes over AMQP is the SDK's business.
package servicebus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/guard"
)

// recorder is a sender that keeps what it is given and answers err.
type recorder struct {
	mu      sync.Mutex
	err     error
	sent    []*azservicebus.Message
	options []*azservicebus.SendMessageOptions
	closed  int
}

var _ sender = (*recorder)(nil)

func (r *recorder) SendMessage(_ context.Context, message *azservicebus.Message, options *azservicebus.SendMessageOptions) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.sent = append(r.sent, message)
	r.options = append(r.options, options)
	return nil
}

func (r *recorder) Close(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed++
	return nil
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestSendPassesBuiltMessage(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	m := guard.Message{ID: "job-1-wake-2", Kind: guard.MessageJob, Cluster: testCluster, JobID: "job-1", Seq: 2,
		Reason: "approval re-check", NotBefore: now.Add(time.Hour)}
	rec := &recorder{}
	q := New(rec, fixedClock(now))

	if err := q.Send(t.Context(), m); err != nil {
		t.Fatalf("Send() = %v, want nil", err)
	}

	want, err := toMessage(m, now)
	if err != nil {
		t.Fatalf("toMessage() = %v", err)
	}
	if diff := cmp.Diff([]*azservicebus.Message{want}, rec.sent); diff != "" {
		t.Errorf("Send() sent (-want +got):\n%s", diff)
	}
	if rec.options[0] != nil {
		t.Errorf("Send() options = %+v, want nil", rec.options[0])
	}
}

func TestSendRejectsInvalidMessages(t *testing.T) {
	valid := guard.Message{ID: "m1", Kind: guard.MessageEvaluate, Cluster: testCluster}
	tests := []struct {
		name    string
		edit    func(m *guard.Message)
		wantErr string // a part of the error message; "" for success
	}{
		{"empty id", func(m *guard.Message) { m.ID = "" }, "empty id"},
		{"id of 129 characters", func(m *guard.Message) { m.ID = strings.Repeat("a", 129) }, "129 characters, more than the 128"},
		{"id of 128 characters", func(m *guard.Message) { m.ID = strings.Repeat("a", 128) }, ""},
		// U+1D11E is one rune but two UTF-16 code units, the unit Service Bus counts.
		{"id of 64 surrogate pairs", func(m *guard.Message) { m.ID = strings.Repeat("\U0001D11E", 64) }, ""},
		{"id of 65 surrogate pairs", func(m *guard.Message) { m.ID = strings.Repeat("\U0001D11E", 65) }, "130 characters"},
		{"no kind", func(m *guard.Message) { m.Kind = "" }, "has no kind"},
		{"no cluster", func(m *guard.Message) { m.Cluster = guard.ClusterID{} }, "names no cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid
			tt.edit(&m)
			rec := &recorder{}
			err := New(rec, fixedClock(time.Time{})).Send(t.Context(), m)
			if tt.wantErr == "" {
				if err != nil || len(rec.sent) != 1 {
					t.Errorf("Send(%q) = %v with %d sent, want nil with 1 sent", m.ID, err, len(rec.sent))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Send() = %v, want an error containing %q", err, tt.wantErr)
			}
			if got := guard.KindOf(err); got != guard.KindInvalid {
				t.Errorf("KindOf(Send()) = %s, want %s", got, guard.KindInvalid)
			}
			if len(rec.sent) != 0 {
				t.Errorf("Send() sent %d messages, want none", len(rec.sent))
			}
		})
	}
}

func TestSendClassifiesErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantKind guard.ErrorKind
		wantCode string
	}{
		{"unauthorized", &azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}, guard.KindForbidden, "unauthorized"},
		{"queue not found", &azservicebus.Error{Code: azservicebus.CodeNotFound}, guard.KindNotFound, "notfound"},
		{"wrapped not found", fmt.Errorf("link: %w", &azservicebus.Error{Code: azservicebus.CodeNotFound}), guard.KindNotFound, "notfound"},
		{"connection lost", &azservicebus.Error{Code: azservicebus.CodeConnectionLost}, guard.KindTransient, "connlost"},
		{"timeout", &azservicebus.Error{Code: azservicebus.CodeTimeout}, guard.KindTransient, "timeout"},
		{"closed", &azservicebus.Error{Code: azservicebus.CodeClosed}, guard.KindTransient, "closed"},
		{"unknown code", &azservicebus.Error{Code: "somethingnew"}, guard.KindTransient, "somethingnew"},
		{"too large", azservicebus.ErrMessageTooLarge, guard.KindInvalid, ""},
		{"deadline", context.DeadlineExceeded, guard.KindTransient, ""},
		{"network", errors.New("dial tcp: lookup example.servicebus.windows.net: no such host"), guard.KindTransient, ""},
	}
	m := guard.Message{ID: "m1", Kind: guard.MessageEvaluate, Cluster: testCluster}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := New(&recorder{err: tt.err}, fixedClock(time.Time{}))
			err := q.Send(t.Context(), m)
			var ge *guard.Error
			if !errors.As(err, &ge) {
				t.Fatalf("Send() = %v (%T), want a *guard.Error", err, err)
			}
			if ge.Kind != tt.wantKind || ge.Code != tt.wantCode {
				t.Errorf("Send() = kind %s, code %q; want %s, %q", ge.Kind, ge.Code, tt.wantKind, tt.wantCode)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("Send() = %v, does not wrap the SDK error", err)
			}
			if !strings.HasPrefix(err.Error(), "service bus send m1") {
				t.Errorf("Send().Error() = %q, want it to start with the operation", err)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	cred := &fake.TokenCredential{}
	q, err := Open("example.servicebus.windows.net", "remediation-jobs", cred)
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	// Open does not connect, so neither does closing what it opened.
	if err := q.Close(t.Context()); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}

	bad := []struct {
		name, namespace, queue string
	}{
		{"no namespace", "", "remediation-jobs"},
		{"connection string", "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=k", "remediation-jobs"},
		{"url", "sb://example.servicebus.windows.net", "remediation-jobs"},
		{"no queue", "example.servicebus.windows.net", ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(tt.namespace, tt.queue, cred); err == nil {
				t.Errorf("Open(%q, %q) = nil error, want one", tt.namespace, tt.queue)
			}
		})
	}
	if _, err := Open("example.servicebus.windows.net", "remediation-jobs", nil); err == nil {
		t.Errorf("Open() with a nil credential = nil error, want one")
	}
}

func TestCloseClosesSender(t *testing.T) {
	rec := &recorder{}
	if err := New(rec, time.Now).Close(t.Context()); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	if rec.closed != 1 {
		t.Errorf("Close() closed the sender %d times, want 1", rec.closed)
	}
}
