// Package servicebus is the guard.Queue on an Azure Service Bus queue, built
// on azservicebus. The queue must have duplicate detection enabled (it can
// only be set when the queue is created): the guard's message IDs are
// deterministic, and Service Bus drops a message whose ID it has seen within
// the detection window, scheduled messages included.
package servicebus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// QueueName is the remediation queue: functions/RemediationJobs/function.json
// and infra/ name the same one, and a test holds them together.
const QueueName = "remediation-jobs"

// sender is the part of *azservicebus.Sender the Queue uses; its methods copy
// the SDK's signatures so tests can plug in a recorder.
type sender interface {
	SendMessage(ctx context.Context, message *azservicebus.Message, options *azservicebus.SendMessageOptions) error
	Close(ctx context.Context) error
}

var _ sender = (*azservicebus.Sender)(nil)

// retryOptions bound the SDK's own retries, whose defaults (four-second
// initial delay, two-minute cap) suit a long-running receiver, not a handler
// that must answer the Functions host within one invocation. The caller's
// context bounds them too. When they run out, the error is transient and the
// host retries the invocation.
var retryOptions = azservicebus.RetryOptions{
	MaxRetries:    3,
	RetryDelay:    500 * time.Millisecond,
	MaxRetryDelay: 5 * time.Second,
}

// Queue sends guard.Messages to one Service Bus queue. It is safe for
// concurrent use and is meant to live as long as the process, so that the
// AMQP connection is reused across invocations.
type Queue struct {
	sender sender
	// client is set when Open built the sender, so Close closes the
	// connection too.
	client *azservicebus.Client
	// name is the queue's name, for error messages; empty when unknown.
	name string
	now  func() time.Time
}

var _ guard.Queue = (*Queue)(nil)

// New returns a Queue that sends with s. now tells the time, to decide
// whether a message's NotBefore lies in the future.
func New(s sender, now func() time.Time) *Queue {
	return &Queue{sender: s, now: now}
}

// Open returns a Queue on the queue named queue in the Service Bus namespace
// whose fully qualified name is namespace (such as
// "example.servicebus.windows.net"), authenticated with cred, which needs
// the "Azure Service Bus Data Sender" role. It does not connect: the first
// Send does, so a wrong name, a missing queue or a missing role surface
// there. Open fails only on arguments it can tell are wrong.
func Open(namespace, queue string, cred azcore.TokenCredential) (*Queue, error) {
	switch {
	case namespace == "":
		return nil, errors.New("open service bus queue: namespace is empty")
	case strings.Contains(namespace, "://") || strings.ContainsAny(namespace, "/;"):
		return nil, fmt.Errorf("open service bus queue: namespace %q is not a fully qualified host name such as example.servicebus.windows.net", namespace)
	case queue == "":
		return nil, errors.New("open service bus queue: queue name is empty")
	case cred == nil:
		return nil, errors.New("open service bus queue: credential is nil")
	}
	client, err := azservicebus.NewClient(namespace, cred, &azservicebus.ClientOptions{RetryOptions: retryOptions})
	if err != nil {
		return nil, fmt.Errorf("open service bus namespace %s: %w", namespace, err)
	}
	s, err := client.NewSender(queue, nil)
	if err != nil {
		if cerr := client.Close(context.Background()); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, fmt.Errorf("open service bus sender for queue %s: %w", queue, err)
	}
	return &Queue{sender: s, client: client, name: queue, now: time.Now}, nil
}

// Send enqueues m, scheduled for m.NotBefore when that is in the future and
// visible at once otherwise. Sending a message whose ID the queue saw within
// its duplicate-detection window succeeds and changes nothing.
//
// A message Service Bus cannot take (an empty ID or one longer than 128
// characters, no cluster, no kind, or too large) fails with an *guard.Error
// of KindInvalid before anything is sent. Service Bus errors come back as
// *guard.Errors: KindForbidden when the identity may not send, KindNotFound
// when the queue does not exist, KindTransient for everything else
// (connection lost, timeouts, throttling, retries used up).
func (q *Queue) Send(ctx context.Context, m guard.Message) error {
	msg, err := toMessage(m, q.now())
	if err != nil {
		return err
	}
	if err := q.sender.SendMessage(ctx, msg, nil); err != nil {
		return classify(q.op(m.ID), err)
	}
	return nil
}

// Close closes the sender and, for a Queue made by Open, the connection.
// The Queue cannot send afterwards.
func (q *Queue) Close(ctx context.Context) error {
	err := q.sender.Close(ctx)
	if err != nil {
		err = fmt.Errorf("close service bus sender: %w", err)
	}
	if q.client != nil {
		if cerr := q.client.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close service bus connection: %w", cerr))
		}
	}
	return err
}

func (q *Queue) op(id string) string {
	if q.name == "" {
		return "service bus send " + id
	}
	return "service bus send " + id + " to queue " + q.name
}

// codes classifies azservicebus error codes; any other code, and an error
// with none, is transient.
var codes = map[azservicebus.Code]guard.ErrorKind{
	azservicebus.CodeUnauthorizedAccess: guard.KindForbidden,
	azservicebus.CodeNotFound:           guard.KindNotFound,
}

// classify wraps an error from azservicebus, returned by the call described
// by op, in a *guard.Error.
func classify(op string, err error) error {
	var se *azservicebus.Error
	switch {
	case errors.As(err, &se):
		kind, ok := codes[se.Code]
		if !ok {
			kind = guard.KindTransient
		}
		return &guard.Error{Kind: kind, Code: string(se.Code), Err: azerr.Wrap(op+": "+err.Error(), err)}
	case errors.Is(err, azservicebus.ErrMessageTooLarge):
		return &guard.Error{Kind: guard.KindInvalid, Err: azerr.Wrap(op+": "+err.Error(), err)}
	}
	return azerr.Classify(op, err)
}
