// Package eventgrid publishes guard alerts as CloudEvents 1.0 to an Event
// Grid topic (basic tier), with azeventgrid.
package eventgrid

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/messaging"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azeventgrid"

	"github.com/aksguard/aksguard/pkg/azclient"
	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// Publisher publishes alerts to one Event Grid topic. It is safe for
// concurrent use.
type Publisher struct {
	client *azeventgrid.Client
	host   string
	source string
}

var _ guard.Alerts = (*Publisher)(nil)

// New returns a Publisher to the topic at endpoint, the topic's https
// endpoint as ARM reports it (such as
// "https://example.westeurope-1.eventgrid.azure.net/api/events"),
// authenticated with cred, which needs the "EventGrid Data Sender" role on
// the topic. source is the CloudEvents source of every event, such as
// "/aksguard/<function-app>". opts may be nil; retry bounds left at zero get
// short defaults. New does not connect; it fails only on arguments it can
// tell are wrong.
func New(endpoint string, cred azcore.TokenCredential, source string, opts *azeventgrid.ClientOptions) (*Publisher, error) {
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return nil, fmt.Errorf("event grid endpoint %q: %w", endpoint, err)
	case u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("event grid endpoint %q is not an https URL", endpoint)
	case strings.TrimSpace(source) == "":
		return nil, errors.New("event grid publisher: source is empty")
	case cred == nil:
		return nil, errors.New("event grid publisher: credential is nil")
	}
	o := azeventgrid.ClientOptions{}
	if opts != nil {
		o = *opts
	}
	o.Retry = azclient.Retry(o.Retry)
	client, err := azeventgrid.NewClient(endpoint, cred, &o)
	if err != nil {
		return nil, fmt.Errorf("event grid client for %s: %w", u.Host, err)
	}
	return &Publisher{client: client, host: u.Host, source: source}, nil
}

// Publish sends a as one CloudEvent whose id is a.ID, so a retried publish
// repeats the id and a subscriber can drop the duplicate.
//
// An alert without an ID, type, cluster or time fails with a *guard.Error of
// KindInvalid before anything is sent. Event Grid errors come back as
// *guard.Errors classified by azerr: KindForbidden for 401 and 403,
// KindTransient for throttling, 5xx and network failures, KindInvalid for
// a rejected event (400, 413).
func (p *Publisher) Publish(ctx context.Context, a guard.Alert) error {
	ev, err := p.event(a)
	if err != nil {
		return err
	}
	if _, err := p.client.PublishCloudEvents(ctx, []messaging.CloudEvent{ev}, nil); err != nil {
		return azerr.Classify("event grid publish "+a.ID+" to "+p.host, err)
	}
	return nil
}

// event builds the CloudEvent for a: type a.Type, the Publisher's source,
// subject the cluster's resource ID, time a.Time in UTC, JSON data a.Data.
func (p *Publisher) event(a guard.Alert) (messaging.CloudEvent, error) {
	switch {
	case a.ID == "":
		return messaging.CloudEvent{}, guard.Errorf(guard.KindInvalid, "alert of type %s has no id", a.Type)
	case a.Type == "":
		return messaging.CloudEvent{}, guard.Errorf(guard.KindInvalid, "alert %s has no type", a.ID)
	case a.Cluster.IsZero():
		return messaging.CloudEvent{}, guard.Errorf(guard.KindInvalid, "alert %s names no cluster", a.ID)
	case a.Time.IsZero():
		return messaging.CloudEvent{}, guard.Errorf(guard.KindInvalid, "alert %s has no time", a.ID)
	}
	ev, err := messaging.NewCloudEvent(p.source, string(a.Type), a.Data, &messaging.CloudEventOptions{
		DataContentType: to.Ptr("application/json"),
		Subject:         to.Ptr(a.Cluster.String()),
		Time:            to.Ptr(a.Time.UTC()),
	})
	if err != nil {
		return messaging.CloudEvent{}, guard.Errorf(guard.KindInvalid, "alert %s as cloud event: %w", a.ID, err)
	}
	ev.ID = a.ID
	return ev, nil
}
