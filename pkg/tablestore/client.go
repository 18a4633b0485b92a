package tablestore

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aksguard/aksguard/pkg/azclient"
)

// ServiceClientFromConnectionString returns a Table Storage client for a
// storage connection string: Azurite's well-known development account or an
// account key, for local runs and tests. The error never repeats the
// connection string, which holds the key. opts may be nil.
func ServiceClientFromConnectionString(conn string, opts *aztables.ClientOptions) (*aztables.ServiceClient, error) {
	if conn == "" {
		return nil, errors.New("table service client: empty connection string")
	}
	svc, err := aztables.NewServiceClientFromConnectionString(conn, bounded(opts))
	if err != nil {
		return nil, errors.New("table service client: malformed connection string (AccountName, AccountKey or SharedAccessSignature, and TableEndpoint or EndpointSuffix expected)")
	}
	return svc, nil
}

// ServiceClientFromEndpoint returns a Table Storage client for endpoint, such
// as "https://<account>.table.core.windows.net/", authenticated with cred:
// the function's managed identity in Azure, which needs the "Storage Table
// Data Contributor" role on the account. The endpoint must be an absolute
// https URL, since the SDK sends tokens over TLS only. opts may be nil.
func ServiceClientFromEndpoint(endpoint string, cred azcore.TokenCredential, opts *aztables.ClientOptions) (*aztables.ServiceClient, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("table service client: endpoint %q is not an absolute https URL", endpoint)
	}
	if cred == nil {
		return nil, errors.New("table service client: no credential")
	}
	svc, err := aztables.NewServiceClient(endpoint, cred, bounded(opts))
	if err != nil {
		return nil, fmt.Errorf("table service client for %s: %w", endpoint, err)
	}
	return svc, nil
}

// bounded returns opts with the retry bounds every Azure client of the guard
// shares (azclient.Retry), so a hung try cannot use up an invocation.
func bounded(opts *aztables.ClientOptions) *aztables.ClientOptions {
	var o aztables.ClientOptions
	if opts != nil {
		o = *opts
	}
	o.Retry = azclient.Retry(o.Retry)
	return &o
}
