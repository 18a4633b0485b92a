package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
)

// sweep handles the timer that lists the fleet. A failure answers 500; the
// next tick sweeps again, and what this one queued stays queued.
func (s *Server) sweep(ctx context.Context, log *slog.Logger, _ invocation) result {
	out, err := s.svc.Sweep(ctx)
	line := fmt.Sprintf("sweep: %d clusters in %d subscriptions with %d Resource Graph queries; %d re-evaluations and %d deletion checks queued, %d waiting",
		out.Clusters, out.Subscriptions, out.Queries, out.Evaluations, out.GoneChecks, out.Waiting)
	if err != nil {
		s.stats.add(Sweep, "retry")
		log.Error("sweep failed; the next tick sweeps again", "error", err)
		return result{status: http.StatusInternalServerError, logs: []string{line, err.Error()}, value: out}
	}
	s.stats.add(Sweep, "done")
	log.Info("sweep done", "clusters", out.Clusters, "queries", out.Queries, "evaluations", out.Evaluations,
		"gone_checks", out.GoneChecks, "waiting", out.Waiting, "compliance_rate", out.KPIs.ComplianceRate)
	return result{status: http.StatusOK, logs: []string{line}, value: out}
}

// httpRequest is the HTTP trigger's value as the host sends it in
// Data.req: headers as lists, the query as an object or a JSON string.
type httpRequest struct {
	Method  string              `json:"Method"`
	URL     string              `json:"Url"`
	Headers map[string][]string `json:"Headers"`
}

// httpResponse is the "res" output binding.
type httpResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// reportPage answers the Report function's HTTP trigger: JSON, or the
// HTML page when the client prefers text/html (a browser does). Its
// status to the host is 200 whatever the page's: the host then sends the
// page's own status to the client.
func (s *Server) reportPage(ctx context.Context, log *slog.Logger, in invocation) result {
	var req httpRequest
	raw, err := in.binding("req")
	if err == nil {
		err = json.Unmarshal(raw, &req)
	}
	if err != nil {
		s.stats.add(Report, "bad-request")
		return s.page(http.StatusBadRequest, "text/plain; charset=utf-8", "not an HTTP trigger request: "+err.Error())
	}
	if s.report == nil {
		s.stats.add(Report, "unavailable")
		return s.page(http.StatusServiceUnavailable, "text/plain; charset=utf-8", "the report is not configured")
	}
	rep, err := s.report(ctx)
	if err != nil {
		s.stats.add(Report, "failed")
		log.Error("report failed", "error", err)
		return s.page(http.StatusServiceUnavailable, "text/plain; charset=utf-8", "the report cannot be read now: "+err.Error())
	}
	var body bytes.Buffer
	kind := "application/json"
	if wantsHTML(header(req.Headers, "Accept")) {
		kind = "text/html; charset=utf-8"
		err = rep.HTML(&body)
	} else {
		err = json.NewEncoder(&body).Encode(rep)
	}
	if err != nil {
		s.stats.add(Report, "failed")
		return s.page(http.StatusInternalServerError, "text/plain; charset=utf-8", "render the report: "+err.Error())
	}
	s.stats.add(Report, "done")
	return s.page(http.StatusOK, kind, body.String())
}

// page is the result that answers an HTTP trigger with status and body.
func (s *Server) page(status int, kind, body string) result {
	res := httpResponse{StatusCode: status, Headers: map[string]string{"Content-Type": kind,
		// The page is self-contained: forbid everything else.
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
		"Cache-Control":           "no-store"}, Body: body}
	logs := []string{fmt.Sprintf("report: %d %s", status, kind)}
	return result{status: http.StatusOK, logs: logs, outputs: map[string]any{"res": res}}
}

// header returns the first value of a header, matching its name as HTTP
// does, case-insensitively.
func header(h map[string][]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// wantsHTML reports whether an Accept header ranks text/html above
// application/json (a browser's does; curl's */* does not).
func wantsHTML(accept string) bool {
	html, jsonQ := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		kind, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		switch kind {
		case "text/html":
			html = max(html, q)
		case "application/json":
			jsonQ = max(jsonQ, q)
		}
	}
	return html > 0 && html > jsonQ
}
