package azerr

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aksguard/aksguard/pkg/guard"
)

// responseError is the error the SDK makes of an ARM answer: the code read
// from the body ARM sends, {"error":{"code","message"}}, as azcore does.
func responseError(status int, code string, header http.Header, body string) error {
	if header == nil {
		header = http.Header{}
	}
	if body == "" && code != "" {
		body = `{"error":{"code":"` + code + `","message":"said by the service"}}`
	}
	req, err := http.NewRequest(http.MethodGet, "https://management.azure.com/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c", nil)
	if err != nil {
		panic(err)
	}
	return runtime.NewResponseError(&http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body)), Request: req})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		kind       guard.ErrorKind
		retryAfter time.Duration
	}{
		{"throttled with Retry-After", responseError(429, "TooManyRequests", http.Header{"Retry-After": {"30"}}, ""), guard.KindTransient, 30 * time.Second},
		{"throttled with retry-after-ms", responseError(429, "", http.Header{"Retry-After-Ms": {"1500"}}, ""), guard.KindTransient, 1500 * time.Millisecond},
		{"server error", responseError(500, "InternalServerError", nil, ""), guard.KindTransient, 0},
		{"bad gateway without code", responseError(502, "", nil, ""), guard.KindTransient, 0},
		{"another operation", responseError(409, "AnotherOperationInProgress", nil, ""), guard.KindTransient, 0},
		{"principal not found", responseError(400, "PrincipalNotFound", nil, ""), guard.KindTransient, 0},
		{"not found", responseError(404, "ResourceNotFound", nil, ""), guard.KindNotFound, 0},
		{"etag mismatch", responseError(412, "PreconditionFailed", nil, ""), guard.KindConflict, 0},
		{"table etag mismatch", responseError(412, "UpdateConditionNotSatisfied", nil, ""), guard.KindConflict, 0},
		{"entity exists", responseError(409, "EntityAlreadyExists", nil, ""), guard.KindConflict, 0},
		{"role assignment exists", responseError(409, "RoleAssignmentExists", nil, ""), guard.KindConflict, 0},
		{"authorization failed", responseError(403, "AuthorizationFailed", nil, ""), guard.KindForbidden, 0},
		{"unauthorized without code", responseError(401, "", nil, ""), guard.KindForbidden, 0},
		{"property change", responseError(400, "PropertyChangeNotAllowed", nil, ""), guard.KindInvalid, 0},
		{"bad request", responseError(400, "BadRequest", nil, ""), guard.KindInvalid, 0},
		{"invalid parameter", responseError(400, "InvalidParameter", nil, ""), guard.KindInvalid, 0},
		{"identity refused", &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 400, Header: http.Header{}, Body: http.NoBody}}, guard.KindForbidden, 0},
		{"token service down", &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 503, Header: http.Header{}, Body: http.NoBody}}, guard.KindTransient, 0},
		{"network", errors.New("dial tcp: connection refused"), guard.KindTransient, 0},
		{"cancelled", context.Canceled, guard.KindTransient, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Classify("get cluster c1", tt.err)
			var ge *guard.Error
			if !errors.As(err, &ge) {
				t.Fatalf("Classify() = %T, want *guard.Error", err)
			}
			if ge.Kind != tt.kind || ge.RetryAfter != tt.retryAfter {
				t.Errorf("Classify() = kind %s, retry after %s; want %s, %s", ge.Kind, ge.RetryAfter, tt.kind, tt.retryAfter)
			}
			if !strings.HasPrefix(err.Error(), "get cluster c1") {
				t.Errorf("Classify().Error() = %q, want it to start with the operation", err)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("Classify() does not wrap the SDK error")
			}
		})
	}
}

func TestClassifyKeepsServiceMessage(t *testing.T) {
	body := `{"error":{"code":"AuthorizationFailed","message":"The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.ContainerService/managedClusters/read'."}}`
	err := Classify("get cluster c1", responseError(403, "AuthorizationFailed", nil, body))
	want := "get cluster c1: HTTP 403 AuthorizationFailed: The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.ContainerService/managedClusters/read'."
	if got := err.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("Classify().Error() = %q, want prefix %q", got, want)
	}
	if guard.CodeOf(err) != "AuthorizationFailed" {
		t.Errorf("CodeOf() = %q, want AuthorizationFailed", guard.CodeOf(err))
	}
}

func TestClassifyNil(t *testing.T) {
	if err := Classify("op", nil); err != nil {
		t.Errorf("Classify(nil) = %v, want nil", err)
	}
}
