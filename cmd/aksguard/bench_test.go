package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/sampletest"
	"github.com/aksguard/aksguard/pkg/settings"
)

// BenchmarkStartToFirstAnswer is the time from starting `aksguard serve` to
// its first 200 on GET /, the host's readiness probe: process start, settings,
// wiring of every Azure client (none connects at start), listen. The binary is
// built once, as `make build` does; each iteration starts it on a free port
// and polls GET / every 0.5 ms. Stopping it (SIGTERM, wait) is not timed.
// B/op and allocs/op are the benchmark's own, not the server's.
func BenchmarkStartToFirstAnswer(b *testing.B) {
	benchSkipShort(b)
	bin := benchBuild(b)
	poll := benchPoller()
	for b.Loop() {
		b.StopTimer()
		env := benchEnv(b)
		b.StartTimer()
		p := benchStart(b, bin, env)
		p.waitReady(b, poll)
		b.StopTimer()
		p.stop(b)
		b.StartTimer()
	}
}

// BenchmarkIdleMemory is the resident memory of `aksguard serve` once it
// has answered its first probe and 100 ClusterEvents invocations that need
// no Azure call (the docs' storage account write, which triage ignores):
// VmRSS as MB-rss and VmHWM as MB-peak, in MB of 10^6 bytes, averaged over
// the iterations, each a fresh process. ns/op is suppressed; B/op and
// allocs/op are the benchmark's own.
func BenchmarkIdleMemory(b *testing.B) {
	benchSkipShort(b)
	if _, err := os.Stat("/proc/self/status"); err != nil {
		benchSkip(b, "/proc/<pid>/status is not available here ("+err.Error()+"), so resident memory cannot be read")
	}
	bin := benchBuild(b)
	poll := benchPoller()
	body := benchInvocation(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	var rss, peak float64
	n := 0
	for b.Loop() {
		p := benchStart(b, bin, benchEnv(b))
		p.waitReady(b, poll)
		for i := range 100 {
			p.invokeIgnored(b, client, body, i == 0)
		}
		tr.CloseIdleConnections()
		r, h := benchMemory(b, p.cmd.Process.Pid)
		rss, peak, n = rss+r, peak+h, n+1
		p.stop(b)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(rss/float64(n), "MB-rss")
	b.ReportMetric(peak/float64(n), "MB-peak")
}

// benchSkipShort skips the process benchmarks in -short mode.
func benchSkipShort(b *testing.B) {
	b.Helper()
	if testing.Short() {
		benchSkip(b, "-short: this benchmark builds the binary and starts it as a separate process")
	}
}

// benchSkip skips b, printing the reason also without -v.
func benchSkip(b *testing.B, reason string) {
	b.Helper()
	if !testing.Verbose() {
		fmt.Printf("skipped %s: %s\n", b.Name(), reason)
	}
	b.Skip(reason)
}

// benchBuild builds the binary as `make build` does, into a temporary
// directory, and returns its path.
func benchBuild(b *testing.B) string {
	b.Helper()
	gotool, err := exec.LookPath("go")
	if err != nil {
		b.Fatalf("the go command is needed to build aksguard: %v", err)
	}
	bin := filepath.Join(b.TempDir(), "aksguard")
	cmd := exec.Command(gotool, "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// benchEnv is the smallest environment serve starts with: serveEnv, and
// nothing from this process besides PATH, so IDENTITY_ENDPOINT and the
// developer's AZURE_* variables are not set, and HOME and AZURE_CONFIG_DIR
// are an empty directory: the credential serve builds is the developer
// one, and it reads no sign-in. serve connects to nothing at start.
func benchEnv(b *testing.B) []string {
	b.Helper()
	home := b.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AZURE_CONFIG_DIR=" + filepath.Join(home, ".azure")}
	for k, v := range serveEnv(freePort(b)) {
		env = append(env, k+"="+v)
	}
	return env
}

// benchProc is one running `aksguard serve`.
type benchProc struct {
	cmd    *exec.Cmd
	url    string
	out    string        // file holding its stdout and stderr
	exited chan struct{} // closed when it has exited; err is then set
	err    error
}

// benchStart starts `aksguard serve` with env; the process is killed at
// the end of the benchmark if it is still running.
func benchStart(b *testing.B, bin string, env []string) *benchProc {
	b.Helper()
	var port string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, settings.Port+"="); ok {
			port = v
		}
	}
	out, err := os.CreateTemp(b.TempDir(), "serve-*.log")
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	p := &benchProc{cmd: exec.Command(bin, "serve"), url: "http://127.0.0.1:" + port, out: out.Name(), exited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		b.Fatalf("start %s serve: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	b.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			if err := p.cmd.Process.Kill(); err != nil {
				b.Logf("kill aksguard serve: %v", err)
			}
			<-p.exited
		}
	})
	return p
}

// benchPoller is the readiness prober: a new connection per probe, as the
// host's probe makes.
func benchPoller() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
}

// waitReady polls GET / until it answers 200.
func (p *benchProc) waitReady(b *testing.B, client *http.Client) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(p.url + "/")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			b.Fatalf("aksguard serve exited before answering GET /: %v\n%s", p.err, p.output())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("aksguard serve did not answer GET / with 200 within 10s: %v\n%s", err, p.output())
		}
		time.Sleep(500 * time.Microsecond)
	}
}

// invokeIgnored posts one ClusterEvents invocation whose event triage
// ignores; check also decodes the answer.
func (p *benchProc) invokeIgnored(b *testing.B, client *http.Client, body []byte, check bool) {
	b.Helper()
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, p.url+"/ClusterEvents", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		b.Fatalf("POST /ClusterEvents: %v\n%s", err, p.output())
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("POST /ClusterEvents = %d %q (%v), want 200", resp.StatusCode, raw, err)
	}
	if !check {
		return
	}
	var got struct{ ReturnValue map[string]int }
	if err := json.Unmarshal(raw, &got); err != nil || got.ReturnValue["ignored"] != 1 || len(got.ReturnValue) != 1 {
		b.Fatalf("POST /ClusterEvents = %s (%v), want ReturnValue {\"ignored\":1}: the event must need no Azure call", raw, err)
	}
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *benchProc) stop(b *testing.B) {
	b.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatalf("SIGTERM aksguard serve: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		b.Fatalf("aksguard serve did not exit within 10s of SIGTERM\n%s", p.output())
	}
	if p.err != nil {
		b.Fatalf("aksguard serve after SIGTERM: %v, want exit status 0\n%s", p.err, p.output())
	}
}

func (p *benchProc) output() string {
	out, err := os.ReadFile(p.out)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	return string(out)
}

// benchInvocation is the host's request for one ClusterEvents invocation
// carrying the docs' ResourceWriteSuccess sample unchanged (a storage
// account write), the trigger value as a JSON string.
func benchInvocation(b *testing.B) []byte {
	b.Helper()
	event := sampletest.Read(b, "eventgrid_egschema_ResourceWriteSuccess_docs_rg.json")
	body, err := json.Marshal(map[string]any{
		"Data":     map[string]any{"event": string(event)},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": "ClusterEvents", "UtcNow": time.Now().UTC().Format(time.RFC3339Nano)}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// benchMemory returns VmRSS and VmHWM of process pid in MB (10^6 bytes).
func benchMemory(b *testing.B, pid int) (rss, peak float64) {
	b.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	found := 0
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			b.Fatalf("/proc/%d/status: %s: %v", pid, s.Text(), err)
		}
		mb := kb * 1024 / 1e6
		if name == "VmRSS" {
			rss = mb
		} else {
			peak = mb
		}
		found++
	}
	if err := s.Err(); err != nil {
		b.Fatal(err)
	}
	if found != 2 {
		b.Fatal(errors.New("/proc/" + strconv.Itoa(pid) + "/status lacks VmRSS or VmHWM"))
	}
	return rss, peak
}
