package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/redact"
	"github.com/aksguard/aksguard/pkg/report"
	"github.com/aksguard/aksguard/pkg/triage"
)

// Function names: the folders under functions/, which are the routes the
// host calls, and the trigger binding names in their function.json.
const (
	ClusterEvents   = "ClusterEvents"
	RemediationJobs = "RemediationJobs"
	Reconcile       = "Reconcile"
	Sweep           = "Sweep"
	Report          = "Report"

	eventBinding   = "event"
	messageBinding = "message"
)

// Service is what the handlers need from the domain.
type Service interface {
	NewBatch() *guard.Batch
	HandleMessage(ctx context.Context, m guard.Message) (guard.Outcome, error)
	Reconcile(ctx context.Context) (guard.ReconcileOutcome, error)
	Sweep(ctx context.Context) (guard.SweepOutcome, error)
}

var _ Service = (*guard.Service)(nil)

// Options tune a Server; zero values take the defaults.
type Options struct {
	// MaxBody bounds a request body. Default 4 MiB: an Event Grid event is
	// at most 1 MB, and the host sends it twice (the trigger value, JSON
	// encoded as a string, and its data again in Metadata).
	MaxBody int64
	Log     *slog.Logger
	// Report builds the fleet report the Report function answers with;
	// nil answers 503.
	Report func(ctx context.Context) (report.Report, error)
}

// Time bounds of one invocation's work.
const (
	// jobTimeout bounds one RemediationJobs invocation, well under the
	// host's functionTimeout.
	jobTimeout = 2 * time.Minute
	// eventTimeout bounds one ClusterEvents invocation: Event Grid waits 30
	// seconds for an answer and delivers again after that.
	eventTimeout = 20 * time.Second
	// sweepTimeout bounds one Sweep, under host.json's functionTimeout
	// (5 minutes): a sweep cut short is run whole by the next tick.
	sweepTimeout = 4 * time.Minute
	// reportTimeout bounds one Report request.
	reportTimeout = 30 * time.Second
	// maxLogLines bounds the Logs of one answer; a batch of thousands of
	// bad events would otherwise become thousands of host log entries.
	maxLogLines = 50
)

// Server is the custom handler.
type Server struct {
	svc     Service
	report  func(ctx context.Context) (report.Report, error)
	maxBody int64
	log     *slog.Logger
	stats   stats
}

// New returns a Server that sends work to svc.
func New(svc Service, o Options) *Server {
	// SDK errors quote request URLs, which carry a SAS token when the
	// guard was given a SAS connection string: every log line is masked.
	s := &Server{svc: svc, report: o.Report, maxBody: o.MaxBody, log: redact.Logger(o.Log)}
	if s.maxBody <= 0 {
		s.maxBody = 4 << 20
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Stats returns the server's outcome counters.
func (s *Server) Stats() map[string]int64 { return s.stats.snapshot() }

// Handler routes the host's requests.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// The host probes the port until anything answers.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.answer(w, http.StatusOK, map[string]string{"service": "aksguard"})
	})
	// A ClusterEvents request that is not an invocation is answered 2xx:
	// Event Grid would deliver it again for a day to no avail. A
	// RemediationJobs one is refused, so Service Bus dead-letters the
	// message after its deliveries and keeps it for a person to read.
	mux.HandleFunc("POST /"+ClusterEvents, s.invoke(ClusterEvents, eventTimeout, http.StatusOK, s.clusterEvents))
	mux.HandleFunc("POST /"+RemediationJobs, s.invoke(RemediationJobs, jobTimeout, 0, s.remediationJobs))
	mux.HandleFunc("POST /"+Reconcile, s.invoke(Reconcile, jobTimeout, 0, s.reconcile))
	mux.HandleFunc("POST /"+Sweep, s.invoke(Sweep, sweepTimeout, 0, s.sweep))
	mux.HandleFunc("POST /"+Report, s.invoke(Report, reportTimeout, 0, s.reportPage))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.stats.add("unknown", "not-found")
		s.answer(w, http.StatusNotFound, response{Logs: []string{fmt.Sprintf("no function at %s %s", r.Method, r.URL.Path)}})
	})
	return mux
}

// result is what a function body returns: the status for the host, and
// the log lines for the response.
type result struct {
	status int
	logs   []string
	value  any
	// outputs are the function's output bindings, such as an HTTP
	// trigger's "res".
	outputs map[string]any
}

// invoke decodes the envelope, bounds the work in time, and writes the
// response. A body that is too large or not an envelope is refused with a
// 4xx, unless badStatus names the status to answer instead.
func (s *Server) invoke(function string, timeout time.Duration, badStatus int, handle func(ctx context.Context, log *slog.Logger, in invocation) result) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		log := s.log.With("function", function, "invocation_id", r.Header.Get("X-Azure-Functions-InvocationId"))
		var in invocation
		body, err := readBody(w, r, s.maxBody)
		if err == nil {
			err = json.Unmarshal(body, &in)
		}
		if err != nil {
			status, msg := http.StatusBadRequest, "request body is not a Functions invocation: "+err.Error()
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", s.maxBody)
			}
			if badStatus != 0 {
				status = badStatus
			}
			s.stats.add(function, "bad-request")
			log.Error("bad request", "status", status, "error", msg)
			s.answer(w, status, response{Logs: []string{msg}, ReturnValue: map[guard.Result]int{guard.ResultRejected: 1}})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		res := handle(ctx, log, in)
		log.Info("invocation done", "status", res.status, "duration_ms", time.Since(start).Milliseconds())
		if res.outputs == nil {
			res.outputs = map[string]any{}
		}
		s.answer(w, res.status, response{Outputs: res.outputs, Logs: capLogs(res.logs), ReturnValue: res.value})
	}
}

// readBody reads the request body, at most max bytes, into one buffer
// sized from Content-Length.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	size := int64(bytes.MinRead)
	if r.ContentLength > 0 {
		size = min(r.ContentLength, max) + 1 // +1 so ReadFrom sees EOF without growing
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, max))
	return buf.Bytes(), err
}

// clusterEvents handles the Event Grid trigger. Every event of a batch is
// handled even when one fails; a transient failure of any answers 500, so
// Event Grid delivers the batch again and the handled ones are found done.
func (s *Server) clusterEvents(ctx context.Context, log *slog.Logger, in invocation) result {
	raw, err := in.binding(eventBinding)
	if err != nil {
		return s.rejectEvent(log, "invalid event: "+err.Error())
	}
	events, err := triage.Decode(raw)
	if err != nil {
		return s.rejectEvent(log, "invalid event: "+err.Error())
	}
	res := result{status: http.StatusOK}
	counts := map[guard.Result]int{}
	for _, h := range s.svc.NewBatch().HandleEvents(ctx, events) {
		ev, out, err := h.Event, h.Outcome, h.Err
		elog := log.With("event_id", ev.ID, "event_type", ev.Type, "cluster_id", ev.Cluster.String())
		if err != nil {
			res.status = http.StatusInternalServerError
			s.stats.add(ClusterEvents, "retry")
			elog.Error("event failed; Event Grid will deliver it again", "error", err)
			res.logs = append(res.logs, fmt.Sprintf("event %s: retry: %v", ev.ID, err))
			continue
		}
		counts[out.Result]++
		s.stats.add(ClusterEvents, string(out.Result))
		level := slog.LevelInfo
		switch out.Result {
		case guard.ResultRejected:
			level = slog.LevelWarn
		case guard.ResultFailed:
			// A cluster the guard may not read: a person must grant access.
			level = slog.LevelError
		}
		elog.Log(ctx, level, "event handled", "result", out.Result, "job_id", out.JobID, "detail", out.Detail)
		res.logs = append(res.logs, "event "+ev.ID+": "+logLine(out))
	}
	res.value = counts
	return res
}

// remediationJobs handles the Service Bus trigger. It answers non-2xx only
// when state could not be recorded: Service Bus then redelivers at once,
// which is right for a storage hiccup and wrong for any planned wait —
// those are scheduled messages.
func (s *Server) remediationJobs(ctx context.Context, log *slog.Logger, in invocation) result {
	m, err := decodeMessage(in)
	if err != nil {
		// Refused, not completed: Service Bus delivers it again and then
		// dead-letters it, where a person can read it; a 2xx would drop
		// what may be a job's only pending step.
		s.stats.add(RemediationJobs, string(guard.ResultRejected))
		msg := "invalid message: " + err.Error()
		log.Error("message refused; Service Bus dead-letters it after its deliveries", "error", msg)
		return result{status: http.StatusBadRequest, logs: []string{msg}, value: map[guard.Result]int{guard.ResultRejected: 1}}
	}
	log = log.With("message_id", m.ID, "delivery_count", in.meta("DeliveryCount"), "cluster_id", m.Cluster.String(), "job_id", m.JobID)
	out, err := s.svc.HandleMessage(ctx, m)
	if err != nil {
		s.stats.add(RemediationJobs, "retry")
		log.Error("message failed; Service Bus will deliver it again", "error", err)
		return result{status: http.StatusInternalServerError, logs: []string{fmt.Sprintf("message %s: retry: %v", m.ID, err)}}
	}
	s.stats.add(RemediationJobs, string(out.Result))
	log.Info("message handled", "result", out.Result, "detail", out.Detail)
	return result{status: http.StatusOK, logs: []string{"message " + m.ID + ": " + logLine(out)},
		value: map[guard.Result]int{out.Result: 1}}
}

// reconcile handles the timer that re-drives lost work. The timer's
// payload says nothing the guard needs; a failure answers 500 and the next
// tick tries again.
func (s *Server) reconcile(ctx context.Context, log *slog.Logger, _ invocation) result {
	out, err := s.svc.Reconcile(ctx)
	line := fmt.Sprintf("reconcile: %d wake-ups sent again, %d records' effects carried out, %d still waiting, %d records skipped, %d dry-run jobs now enforced",
		out.Woken, out.Drained, out.Waiting, out.Skipped, out.Enforced)
	if err != nil {
		s.stats.add(Reconcile, "retry")
		log.Error("reconcile failed; the next tick tries again", "error", err)
		return result{status: http.StatusInternalServerError, logs: []string{line, "reconcile: " + err.Error()}, value: out}
	}
	s.stats.add(Reconcile, "done")
	level := slog.LevelInfo
	if out.Skipped > 0 {
		level = slog.LevelError
	}
	log.Log(ctx, level, "reconcile done", "woken", out.Woken, "drained", out.Drained, "waiting", out.Waiting, "skipped", out.Skipped)
	return result{status: http.StatusOK, logs: []string{line}, value: out}
}

// logLine says what happened in the words of the response's Logs.
func logLine(out guard.Outcome) string {
	if out.Cluster.IsZero() {
		return string(out.Result) + ": " + out.Detail
	}
	return string(out.Result) + " " + out.Cluster.Name + ": " + out.Detail
}

// decodeMessage reads the queue message body and its Service Bus metadata.
func decodeMessage(in invocation) (guard.Message, error) {
	raw, err := in.binding(messageBinding)
	if err != nil {
		return guard.Message{}, err
	}
	// Unknown fields are allowed: a newer version's message must still
	// wake the job during a rolling deployment.
	var b guard.MessageBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return guard.Message{}, fmt.Errorf("body is not a queue message: %w", err)
	}
	id, err := armid.ParseCluster(b.ClusterID)
	if err != nil {
		return guard.Message{}, err
	}
	m := guard.Message{ID: in.meta("MessageId"), Kind: b.Kind, Cluster: id, JobID: b.JobID, Seq: b.Seq, Reason: b.Reason}
	if m.ID == "" {
		// Retries derive their ids from it; without one they would collide
		// under duplicate detection.
		return guard.Message{}, errors.New("no MessageId in the trigger metadata")
	}
	switch m.Kind {
	case guard.MessageJob:
		if m.JobID == "" {
			// Refused, not dropped: it may be the job's only pending step.
			return guard.Message{}, errors.New("job message names no jobId")
		}
	case guard.MessageEvaluate:
	default:
		return guard.Message{}, fmt.Errorf("unknown message kind %q", b.Kind)
	}
	return m, nil
}

// rejectEvent answers an event that can never be handled with 2xx, so
// Event Grid does not deliver it again for a day, after logging and
// counting it.
func (s *Server) rejectEvent(log *slog.Logger, msg string) result {
	s.stats.add(ClusterEvents, string(guard.ResultRejected))
	log.Warn("input rejected", "error", msg)
	return result{status: http.StatusOK, logs: []string{msg}, value: map[guard.Result]int{guard.ResultRejected: 1}}
}

// answer writes v as the JSON answer to the host. The host logs an
// answer's Logs, so they are masked like the handler's own log.
func (s *Server) answer(w http.ResponseWriter, status int, v any) {
	if r, ok := v.(response); ok {
		r.Logs = redact.Lines(r.Logs)
		v = r
	}
	// The host parses the answer as JSON; say so, or Go sniffs text/plain.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("answer not delivered; the host is gone", "error", err)
	}
}

// capLogs keeps the first maxLogLines lines and says how many it left out;
// every line is also in the handler's own log.
func capLogs(logs []string) []string {
	if len(logs) <= maxLogLines {
		return logs
	}
	return append(logs[:maxLogLines:maxLogLines], fmt.Sprintf("… and %d more lines in the handler's log", len(logs)-maxLogLines))
}

// Serve runs the handler on l until ctx is done, then shuts down
// gracefully, letting running invocations finish within grace.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      max(jobTimeout, eventTimeout) + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
