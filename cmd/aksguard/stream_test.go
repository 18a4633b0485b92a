package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/aksguard/aksguard/pkg/sampletest"
	"github.com/aksguard/aksguard/pkg/triage/triagetest"
)

// arrayReader is a JSON array of at least size bytes, made as it is read:
// copies of one element, NAME in each replaced by a number of its own, so
// no test holds the input in memory.
type arrayReader struct {
	element   []byte
	size, out int64
	n         int
	buf       bytes.Buffer
	done      bool
}

// newFleetReader is `az aks list -o json` of a fleet of at least size
// bytes: copies of a recorded service-principal cluster, each with its
// own name and id.
func newFleetReader(t testing.TB, size int64) *arrayReader {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(sampletest.Read(t, "aks_get_sp_realguid_sdknet_recording.json"), &v); err != nil {
		t.Fatal(err)
	}
	name := v["name"].(string)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &arrayReader{element: bytes.ReplaceAll(b, []byte(name), []byte("NAME")), size: size}
}

// newEventsReader is a saved batch of Event Grid events of at least size
// bytes: copies of a cluster write event, each with its own id.
func newEventsReader(t testing.TB, size int64) *arrayReader {
	t.Helper()
	return &arrayReader{element: triagetest.JSON(t, triagetest.Spec{ID: "NAME"}), size: size}
}

func (a *arrayReader) Read(p []byte) (int, error) {
	for a.buf.Len() < len(p) && !a.done {
		switch {
		case a.n == 0:
			a.buf.WriteByte('[')
		case a.out+int64(a.buf.Len()) >= a.size:
			a.buf.WriteString("]\n")
			a.done = true
			continue
		default:
			a.buf.WriteByte(',')
		}
		a.buf.Write(bytes.ReplaceAll(a.element, []byte("NAME"), fmt.Appendf(nil, "c%08d", a.n)))
		a.n++
	}
	n, err := a.buf.Read(p)
	a.out += int64(n)
	if err == io.EOF && !a.done {
		err = nil
	}
	return n, err
}

// helperEnv, when set, makes the test binary run the CLI with the
// arguments in it (space-separated) on its own stdin, for tests that
// measure a separate process.
const helperEnv = "AKSGUARD_TEST_RUN"

func TestMain(m *testing.M) {
	if args := os.Getenv(helperEnv); args != "" {
		os.Exit(run(nil, strings.Fields(args), os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(m.Run())
}

// peakRSS runs the CLI with args in a separate process on in and returns
// its exit code, its stderr and its peak resident memory in MB (10^6).
func peakRSS(t testing.TB, in io.Reader, args ...string) (int, string, float64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join(args, " "))
	cmd.Stdin, cmd.Stdout = in, io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return cmd.ProcessState.ExitCode(), stderr.String(), float64(ru.Maxrss*1024) / 1e6 // Maxrss is in KiB on Linux
}

// streamCases are the commands that read input people hand them.
var streamCases = []struct {
	command string
	input   func(testing.TB, int64) *arrayReader
	code    int
}{
	{"check", newFleetReader, exitFindings},
	{"triage", newEventsReader, exitOK},
}

// BenchmarkStream is `aksguard check --output json -` on a 200 MB `az aks
// list` (about 105,000 clusters) and `aksguard triage --output json -` on a
// 200 MB saved batch of events, each in a separate process: MB-peak is its
// peak resident memory (MB of 10^6 bytes), MB/s the input read per second.
// B/op and allocs/op are the benchmark's own.
func BenchmarkStream(b *testing.B) {
	const size = 200_000_000
	for _, c := range streamCases {
		b.Run(c.command, func(b *testing.B) {
			var peak float64
			for b.Loop() {
				code, stderr, mb := peakRSS(b, c.input(b, size), c.command, "--output", "json", "-")
				if code != c.code {
					b.Fatalf("%s = %d, want %d: %s", c.command, code, c.code, stderr)
				}
				peak = max(peak, mb)
			}
			b.ReportMetric(peak, "MB-peak")
			b.ReportMetric(float64(size)/1e6*float64(b.N)/b.Elapsed().Seconds(), "MB/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestMemoryIsBounded holds issue 7's streaming rule: check and triage read
// 100 MB in a separate process with peak resident memory under 64 MB, and
// 10 MB with about the same: memory does not follow the input's size.
// Under the race detector, which adds some 50 MB of its own and runs
// several times slower, 40 MB against 5 MB, and the bound is 128 MB.
func TestMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: reads 110 MB through a separate process per command")
	}
	small, large, bound := int64(10_000_000), int64(100_000_000), 64.0
	if raceEnabled {
		small, large, bound = 5_000_000, 40_000_000, 128
	}
	for _, c := range streamCases {
		t.Run(c.command, func(t *testing.T) {
			var peaks []float64
			for _, size := range []int64{small, large} {
				code, stderr, mb := peakRSS(t, c.input(t, size), c.command, "--output", "json", "-")
				if code != c.code {
					t.Fatalf("%s of %d bytes = %d, want %d: %s", c.command, size, code, c.code, stderr)
				}
				peaks = append(peaks, mb)
			}
			if peaks[1] >= bound || peaks[1]-peaks[0] > 16 {
				t.Errorf("peak resident memory = %.1f MB for %d MB in, %.1f MB for %d MB in; want under %.0f MB and within 16 MB of each other",
					peaks[0], small/1e6, peaks[1], large/1e6, bound)
			}
		})
	}
}
