package aks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake/server"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8/fake"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

// maxFleetFile bounds what LoadFleet reads.
const maxFleetFile = 32 << 20

// Fleet is a simulated set of AKS managed clusters in any number of
// subscriptions, served to SDK clients through the armcontainerservice fake
// servers: clients built with ClientOptions talk to it as they would to ARM.
// Clusters are keyed by resource ID, compared case-insensitively as ARM
// does. Fleet counts the calls it serves and can fail the next calls of a
// method on request. It is safe for concurrent use.
//
// Methods are named as the SDK names its operations, such as
// "ManagedClustersClient.Get"; a name without a client, such as "Get", means
// a ManagedClustersClient method.
//
// It serves ManagedClustersClient.Get. Every other operation fails with a
// "not implemented" error from the fake.
type Fleet struct {
	mu       sync.Mutex
	clusters map[string]armcontainerservice.ManagedCluster // by key(id); never modified in place
	writes   uint64                                        // numbers the eTags Put assigns
	calls    map[string]int                                // by method
	failures map[string][]failure                          // by method, oldest first
	servers  map[string]policy.Transporter                 // by lower-cased subscription
}

// failure is a failure FailNext asked for.
type failure struct {
	status     int
	code       string
	retryAfter time.Duration
	left       int
}

// NewFleet returns a Fleet with no clusters.
func NewFleet() *Fleet {
	return &Fleet{
		clusters: map[string]armcontainerservice.ManagedCluster{},
		calls:    map[string]int{},
		failures: map[string][]failure{},
		servers:  map[string]policy.Transporter{},
	}
}

// LoadFleet reads a fleet file: a JSON array of managed clusters as ARM's
// REST API returns them (id, name, type, location, tags, eTag, identity,
// properties). Every cluster must have a managed cluster's resource ID,
// unique in the file, and a "properties" object. A cluster keeps the eTag
// the file gives it and gets a fresh one otherwise. The error names the
// problem and, for one cluster, its position and ID.
func LoadFleet(r io.Reader) (*Fleet, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFleetFile+1))
	if err != nil {
		return nil, fmt.Errorf("read fleet file: %w", err)
	}
	if len(data) > maxFleetFile {
		return nil, fmt.Errorf("read fleet file: larger than %d bytes", maxFleetFile)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("read fleet file: %s", jsonProblem(data, err))
	}
	f := NewFleet()
	seen := map[string]int{}
	for i, raw := range items {
		mc, err := decodeCluster(raw)
		if err != nil {
			return nil, fmt.Errorf("read fleet file: cluster %d: %w", i, err)
		}
		id, _ := armid.ParseCluster(*mc.ID) // decodeCluster checked it
		k := key(id)
		if j, dup := seen[k]; dup {
			return nil, fmt.Errorf("read fleet file: cluster %d: %s repeats cluster %d", i, *mc.ID, j)
		}
		seen[k] = i
		if deref(mc.ETag) == "" {
			mc.ETag = f.nextETag("")
		}
		f.clusters[k] = mc
	}
	return f, nil
}

// decodeCluster decodes and checks one element of a fleet file.
func decodeCluster(raw json.RawMessage) (armcontainerservice.ManagedCluster, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return armcontainerservice.ManagedCluster{}, errors.New("not a JSON object")
	}
	var mc armcontainerservice.ManagedCluster
	if err := json.Unmarshal(raw, &mc); err != nil {
		return armcontainerservice.ManagedCluster{}, err
	}
	if deref(mc.ID) == "" {
		return armcontainerservice.ManagedCluster{}, fmt.Errorf("no \"id\" (name %q)", deref(mc.Name))
	}
	if _, err := armid.ParseCluster(*mc.ID); err != nil {
		return armcontainerservice.ManagedCluster{}, err
	}
	if p, ok := fields["properties"]; !ok || bytes.Equal(bytes.TrimSpace(p), []byte("null")) {
		return armcontainerservice.ManagedCluster{}, fmt.Errorf("%s: no \"properties\" object: a fleet file holds ARM REST bodies, not az aks show output", *mc.ID)
	}
	return mc, nil
}

// jsonProblem describes a JSON decoding error with its line and column.
func jsonProblem(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bytes read, the offending one included.
		line, col := position(data, syn.Offset-1)
		return fmt.Sprintf("line %d, column %d: %v", line, col, err)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Sprintf("want a JSON array of managed clusters, got a JSON %s", typ.Value)
	}
	return err.Error()
}

// position returns the 1-based line and column of the byte at offset.
func position(data []byte, offset int64) (line, col int) {
	before := data[:min(max(offset, 0), int64(len(data)))]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// key is the map key of a cluster: its lower-cased canonical resource ID.
func key(id guard.ClusterID) string { return strings.ToLower(id.String()) }

// Put adds c, or replaces the cluster with the same ID, and gives it a fresh
// eTag as ARM does on every write. The fleet keeps a copy: changing c
// afterwards changes nothing. Put panics if c has no valid managed cluster
// ID; that is a bug in the caller.
func (f *Fleet) Put(c armcontainerservice.ManagedCluster) {
	id, err := armid.ParseCluster(deref(c.ID))
	if err != nil {
		panic("aks: Fleet.Put: " + err.Error())
	}
	c = clone(c)
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(id)
	c.ETag = f.nextETag(deref(f.clusters[k].ETag))
	f.clusters[k] = c
}

// Delete removes the cluster with resource ID id; it does nothing when there
// is none or id is not a cluster's.
func (f *Fleet) Delete(id string) {
	cid, err := armid.ParseCluster(id)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.clusters, key(cid))
}

// Cluster returns a copy of the cluster with resource ID id, and false when
// there is none or id is not a cluster's.
func (f *Fleet) Cluster(id string) (armcontainerservice.ManagedCluster, bool) {
	cid, err := armid.ParseCluster(id)
	if err != nil {
		return armcontainerservice.ManagedCluster{}, false
	}
	mc, ok := f.lookup(cid)
	if !ok {
		return armcontainerservice.ManagedCluster{}, false
	}
	return clone(mc), true
}

// IDs returns the resource IDs of every cluster, as stored, sorted
// case-insensitively.
func (f *Fleet) IDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, 0, len(f.clusters))
	for k := range f.clusters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = *f.clusters[k].ID
	}
	return ids
}

// lookup returns the stored cluster itself; callers must not modify it.
func (f *Fleet) lookup(id guard.ClusterID) (armcontainerservice.ManagedCluster, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mc, ok := f.clusters[key(id)]
	return mc, ok
}

// nextETag returns a new eTag, different from old. f.mu must be held, or f
// not yet shared.
func (f *Fleet) nextETag(old string) *string {
	for {
		f.writes++
		e := fmt.Sprintf("fleet-%08d", f.writes)
		if e != old {
			return &e
		}
	}
}

// clone deep-copies mc through its JSON form, which carries every field.
func clone(mc armcontainerservice.ManagedCluster) armcontainerservice.ManagedCluster {
	b, err := json.Marshal(mc)
	if err != nil {
		panic("aks: copy managed cluster: " + err.Error())
	}
	var out armcontainerservice.ManagedCluster
	if err := json.Unmarshal(b, &out); err != nil {
		panic("aks: copy managed cluster: " + err.Error())
	}
	return out
}

// Calls returns how many requests for method the fleet has served, failed
// ones included. The SDK does not retry the fleet's failures, so that is one
// request per call.
func (f *Fleet) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[qualify(method)]
}

// FailNext makes the next n calls of method, in any subscription, fail with
// an *azcore.ResponseError of the given HTTP status and ARM error code,
// after the failures already asked for. When retryAfter > 0 the error's
// response carries it: a Retry-After header in whole seconds, or a
// retry-after-ms header when retryAfter is not a whole number of seconds.
func (f *Fleet) FailNext(method string, n int, status int, code string, retryAfter time.Duration) {
	if n <= 0 {
		return
	}
	m := qualify(method)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[m] = append(f.failures[m], failure{status: status, code: code, retryAfter: retryAfter, left: n})
}

// qualify names method with its client; a bare method is a
// ManagedClustersClient's.
func qualify(method string) string {
	if strings.Contains(method, ".") {
		return method
	}
	return "ManagedClustersClient." + method
}

// ClientOptions returns options for SDK clients of any subscription that
// route every request to the fleet. Use them with any credential, such as
// azcore/fake.TokenCredential.
func (f *Fleet) ClientOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: router{f}}}
}

// router is the fleet's policy.Transporter. It counts each request, fails
// it when FailNext asked for that, and otherwise hands it to the fake
// servers of the subscription in the request path.
type router struct{ f *Fleet }

func (r router) Do(req *http.Request) (*http.Response, error) {
	method, ok := req.Context().Value(runtime.CtxAPINameKey{}).(string)
	if !ok {
		return nil, fleetError{fmt.Errorf("fleet: %s %s names no SDK operation", req.Method, req.URL.Path)}
	}
	sub := subscriptionOf(req.URL.Path)
	if sub == "" {
		return nil, fleetError{fmt.Errorf("fleet: %s %s names no subscription", req.Method, req.URL.Path)}
	}
	if fl, ok := r.f.record(method); ok {
		return nil, injected(req, fl)
	}
	return r.f.server(sub).Do(req)
}

// record counts a request for method and returns the failure it must end
// in, if FailNext asked for one.
func (f *Fleet) record(method string) (failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	q := f.failures[method]
	if len(q) == 0 {
		return failure{}, false
	}
	fl := q[0]
	q[0].left--
	if q[0].left == 0 {
		q = q[1:]
	}
	if len(q) == 0 {
		delete(f.failures, method)
	} else {
		f.failures[method] = q
	}
	return fl, true
}

// injected returns the error the fake servers return for fl, built with the
// fake's own ErrorResponder. The ErrorResponder cannot set response headers,
// so the Retry-After header is added here, on the error's RawResponse.
func injected(req *http.Request, fl failure) error {
	var er azfake.ErrorResponder
	er.SetResponseError(fl.status, fl.code)
	err := server.GetError(er, req)
	var re *azcore.ResponseError
	if fl.retryAfter > 0 && errors.As(err, &re) && re.RawResponse != nil {
		if fl.retryAfter%time.Second == 0 {
			re.RawResponse.Header.Set("Retry-After", strconv.FormatInt(int64(fl.retryAfter/time.Second), 10))
		} else {
			re.RawResponse.Header.Set("retry-after-ms", strconv.FormatInt(fl.retryAfter.Milliseconds(), 10))
		}
	}
	return err
}

// server returns the fake servers of subscription, creating them on first
// use. This is the one place that wires the fleet to fake servers: other
// armcontainerservice operations (BeginCreateOrUpdate through
// azfake.PollerResponder, maintenance configurations) are further fields of
// this ServerFactory; another SDK's fakes (armauthorization role
// assignments) get their own factory here, chosen by the client name in the
// router.
func (f *Fleet) server(subscription string) policy.Transporter {
	k := strings.ToLower(subscription)
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.servers[k]; ok {
		return s
	}
	s := fake.NewServerFactoryTransport(&fake.ServerFactory{
		ManagedClustersServer: fake.ManagedClustersServer{Get: f.fakeGet(subscription)},
	})
	f.servers[k] = s
	return s
}

// fakeGet serves ManagedClustersClient.Get for subscription: the stored
// cluster with 200, or 404 ResourceNotFound as ARM answers.
func (f *Fleet) fakeGet(subscription string) func(context.Context, string, string, *armcontainerservice.ManagedClustersClientGetOptions) (azfake.Responder[armcontainerservice.ManagedClustersClientGetResponse], azfake.ErrorResponder) {
	return func(_ context.Context, rg, name string, _ *armcontainerservice.ManagedClustersClientGetOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientGetResponse], errResp azfake.ErrorResponder) {
		mc, ok := f.lookup(guard.ClusterID{Subscription: subscription, ResourceGroup: rg, Name: name})
		if !ok {
			errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
			return resp, errResp
		}
		resp.SetResponse(http.StatusOK, armcontainerservice.ManagedClustersClientGetResponse{ManagedCluster: mc}, nil)
		return resp, errResp
	}
}

// subscriptionOf returns the subscription ID in an ARM request path, or "".
func subscriptionOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		return parts[1]
	}
	return ""
}

// fleetError is a failure of the fleet itself. It is non-retriable, so the
// SDK's retry policy gives it back at once rather than treating it as a
// network error.
type fleetError struct{ error }

func (fleetError) NonRetriable() {}

func (e fleetError) Unwrap() error { return e.error }

// Client returns a Client that reads this fleet, authenticated with the
// SDK's fake credential.
func (f *Fleet) Client() *Client { return New(&azfake.TokenCredential{}, f.ClientOptions()) }
