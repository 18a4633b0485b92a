package servicebus

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/aksguard/aksguard/pkg/guard"
)

// maxIDLength is Service Bus's limit on MessageId, counted in .NET
// characters (UTF-16 code units).
const maxIDLength = 128

// Application property names. The Functions host hands them to the handler
// as the object Metadata.ApplicationProperties; the body carries the same.
const (
	propKind      = "kind"
	propClusterID = "clusterId"
	propJobID     = "jobId"
	propSeq       = "seq"
	propReason    = "reason"
)

// toMessage builds the Service Bus message for m: MessageID is m.ID, so the
// queue's duplicate detection drops repeats; Subject is the kind; the body is
// the JSON of m.Body(); the same fields, empty ones left out, are
// application properties so they show in the portal and in the trigger's
// metadata; CorrelationID is the job ID when there is one. The message is
// scheduled for m.NotBefore (in UTC) only when that is after now.
//
// It fails with a *guard.Error of KindInvalid for a message Service Bus
// would reject or the handler could not act on.
func toMessage(m guard.Message, now time.Time) (*azservicebus.Message, error) {
	if err := validate(m); err != nil {
		return nil, err
	}
	b := m.Body()
	body, err := json.Marshal(b)
	if err != nil {
		return nil, &guard.Error{Kind: guard.KindInvalid, Err: fmt.Errorf("encode message %s: %w", m.ID, err)}
	}
	props := map[string]any{propKind: string(b.Kind), propClusterID: b.ClusterID}
	if b.JobID != "" {
		props[propJobID] = b.JobID
	}
	if b.Seq != 0 {
		props[propSeq] = int64(b.Seq)
	}
	if b.Reason != "" {
		props[propReason] = b.Reason
	}
	msg := &azservicebus.Message{
		MessageID:             to.Ptr(m.ID),
		Subject:               to.Ptr(string(m.Kind)),
		ContentType:           to.Ptr("application/json"),
		Body:                  body,
		ApplicationProperties: props,
	}
	if m.JobID != "" {
		msg.CorrelationID = to.Ptr(m.JobID)
	}
	if m.NotBefore.After(now) {
		msg.ScheduledEnqueueTime = to.Ptr(m.NotBefore.UTC())
	}
	return msg, nil
}

// validate rejects a message Service Bus would refuse or the receiver could
// not act on.
func validate(m guard.Message) error {
	switch n := idLength(m.ID); {
	case n == 0:
		return guard.Errorf(guard.KindInvalid, "service bus message has an empty id")
	case n > maxIDLength:
		return guard.Errorf(guard.KindInvalid, "service bus message id %q is %d characters, more than the %d Service Bus allows", m.ID, n, maxIDLength)
	case m.Kind == "":
		return guard.Errorf(guard.KindInvalid, "service bus message %s has no kind", m.ID)
	case m.Cluster.IsZero():
		return guard.Errorf(guard.KindInvalid, "service bus message %s names no cluster", m.ID)
	}
	return nil
}

// idLength counts s the way Service Bus (.NET) does, in UTF-16 code units.
func idLength(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
