package jsonin_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/aksguard/aksguard/pkg/jsonin"
)

// whole keeps every value whole and records what it was given.
type whole struct{ got []string }

func (w *whole) Open(jsonin.Path, byte, jsonin.Pos) (bool, error) { return false, nil }
func (w *whole) Value(p jsonin.Path, raw []byte, at jsonin.Pos) error {
	w.got = append(w.got, fmt.Sprintf("%v@%s=%s", []any(p), at, raw))
	return nil
}
func (w *whole) Close(jsonin.Path, jsonin.Pos) error { return nil }

// TestWalkRefuses holds the input rules: every input encoding/json would
// read with a changed meaning, or that is not JSON at all, is refused with
// the line and column of its first bad byte.
func TestWalkRefuses(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"empty", "", "no JSON input"},
		{"white space only", " \n\t", "no JSON input"},
		{"binary", "\x00\x01\x02", "want a JSON object or array; the input starts with byte 0x00 at line 1, column 1"},
		{"text", "hello", "want a JSON object or array; the input starts with 'h' at line 1, column 1"},
		{"a string", `"x"`, `want a JSON object or array; the input starts with '"' at line 1, column 1`},
		{"duplicate key", `{"a":1,"a":2}`, `duplicate key "a" (first as "a" at line 1, column 2) at line 1, column 8`},
		{"duplicate key in another case", "{\"servicePrincipalProfile\":{},\n \"ServicePrincipalProfile\":{\"clientId\":\"msi\"}}",
			`duplicate key "ServicePrincipalProfile" (first as "servicePrincipalProfile" at line 1, column 2) at line 2, column 2`},
		{"duplicate key spelled with an escape", `{"id":1,"\u0069d":2}`, `duplicate key "id" (first as "id" at line 1, column 2) at line 1, column 9`},
		{"duplicate key deep inside", `[{"properties":{"x":{"k":1,"K":2}}}]`, `duplicate key "K" (first as "k" at line 1, column 22) at line 1, column 28`},
		{"invalid UTF-8 in a value", "{\"name\":\"a\xffb\"}", "invalid UTF-8 (byte 0xFF) at line 1, column 11"},
		{"invalid UTF-8 in a key", "{\"n\xc3\":1}", "invalid UTF-8 (byte 0xC3) at line 1, column 4"},
		{"overlong UTF-8", "{\"n\":\"\xc0\xaf\"}", "invalid UTF-8 (bytes C0 AF) at line 1, column 7"},
		{"UTF-8 surrogate", "{\"n\":\"\xed\xa0\x80\"}", "invalid UTF-8 (bytes ED A0 80) at line 1, column 7"},
		{"control character", "{\"n\":\"a\tb\"}", "invalid JSON at line 1, column 8: control character in a string"},
		{"bad escape", `{"n":"\x"}`, `invalid JSON at line 1, column 8: invalid escape \x in a string`},
		{"trailing comma", `{"a":1,}`, `invalid JSON at line 1, column 8: '}' where '"' was expected`},
		{"missing comma", "{\"a\":1\n \"b\":2}", `invalid JSON at line 2, column 2: '"' where ',' or '}' was expected`},
		{"bad literal", `{"a":tru}`, "invalid JSON at line 1, column 9: '}' in literal true"},
		{"bad number", `{"a":01}`, "invalid JSON at line 1, column 7: '1' after a value"},
		{"number without digits", `{"a":-}`, "invalid JSON at line 1, column 7: invalid number"},
		{"truncated", "{\"a\":\n", "invalid JSON at line 2, column 1: unexpected end of input"},
		{"deep", strings.Repeat("[", 600), "nested deeper than 512 levels at line 1, column 513"},
		{"odd UTF-16", "\xff\xfe{\x00}", "read: UTF-16 input with an odd number of bytes at line 1, column 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := jsonin.Walk(strings.NewReader(tt.in), &whole{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("Walk(%q) error = %v\nwant %s", tt.in, err, tt.want)
			}
		})
	}
}

// TestWalkReads: what encoding/json reads, Walk reads alike, byte for byte.
func TestWalkReads(t *testing.T) {
	in := "\ufeff{\"a\":[1,-2.5e+3,true,false,null],\"s\":\"\\u00e9\\ud83d\\ude00 \\\"q\\\" é😀\"}\n[{\"b\":{}},[]]\n{}"
	w := &whole{}
	if err := jsonin.Walk(strings.NewReader(in), w); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`[0]@line 1, column 1={"a":[1,-2.5e+3,true,false,null],"s":"\u00e9\ud83d\ude00 \"q\" é😀"}`,
		`[1]@line 2, column 1=[{"b":{}},[]]`,
		`[2]@line 3, column 1={}`,
	}
	if fmt.Sprint(w.got) != fmt.Sprint(want) {
		t.Errorf("Walk values:\n got %q\nwant %q", w.got, want)
	}
	for _, g := range w.got {
		raw := g[strings.Index(g, "=")+1:]
		if !json.Valid([]byte(raw)) {
			t.Errorf("value %s is not valid JSON", raw)
		}
	}
}

// TestWalkReadsUTF16: PowerShell's > writes UTF-16 with a byte-order mark.
func TestWalkReadsUTF16(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		text := `{"name":"café 😀"}`
		var b bytes.Buffer
		bom := []byte{0xFF, 0xFE}
		if order == binary.BigEndian {
			bom = []byte{0xFE, 0xFF}
		}
		b.Write(bom)
		for _, u := range utf16.Encode([]rune(text)) {
			binary.Write(&b, order, u)
		}
		w := &whole{}
		if err := jsonin.Walk(&b, w); err != nil || len(w.got) != 1 || !strings.HasSuffix(w.got[0], "="+text) {
			t.Errorf("Walk(UTF-16 %v) = %q, %v; want %s", order, w.got, err, text)
		}
	}
	lone := []byte{0xFF, 0xFE, '{', 0, '"', 0, 'a', 0, 0x00, 0xD8, '"', 0, ':', 0, '1', 0, '}', 0}
	if err := jsonin.Walk(bytes.NewReader(lone), &whole{}); err == nil || !strings.Contains(err.Error(), "lone surrogate") {
		t.Errorf("Walk(lone surrogate) error = %v, want one naming it", err)
	}
}

// streamer opens every array and counts the values it is handed.
type streamer struct {
	values, closes int
	maxRaw         int
}

func (s *streamer) Open(_ jsonin.Path, delim byte, _ jsonin.Pos) (bool, error) {
	return delim == '[', nil
}
func (s *streamer) Value(_ jsonin.Path, raw []byte, _ jsonin.Pos) error {
	s.values++
	s.maxRaw = max(s.maxRaw, len(raw))
	return nil
}
func (s *streamer) Close(jsonin.Path, jsonin.Pos) error { s.closes++; return nil }

// elements is an endless array of small objects, count of them.
func elements(count int) io.Reader {
	el := []byte(`{"id":"x","n":12345},`)
	return io.MultiReader(strings.NewReader("["), &repeat{b: el, n: count - 1}, strings.NewReader(`{"id":"x","n":1}]`))
}

type repeat struct {
	b   []byte
	n   int
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.n > 0 {
		c := copy(p[n:], r.b[r.off:])
		n += c
		if r.off += c; r.off == len(r.b) {
			r.off, r.n = 0, r.n-1
		}
	}
	return n, nil
}

// TestWalkStreams: an opened array's elements come one at a time, so what
// is held at once is one element, not the array.
func TestWalkStreams(t *testing.T) {
	s := &streamer{}
	if err := jsonin.Walk(elements(100000), s); err != nil {
		t.Fatal(err)
	}
	if s.values != 100000 || s.closes != 1 || s.maxRaw > 32 {
		t.Errorf("Walk = %d values, %d closes, largest %d bytes; want 100000 values of at most 32 bytes, 1 close", s.values, s.closes, s.maxRaw)
	}
}

// TestWalkBoundsAValue: a value kept whole may not grow without bound.
func TestWalkBoundsAValue(t *testing.T) {
	big := io.MultiReader(strings.NewReader(`{"a":"`), &repeat{b: []byte("xxxxxxxx"), n: jsonin.MaxValue / 8}, strings.NewReader(`"}`))
	err := jsonin.Walk(big, &whole{})
	if err == nil || !strings.Contains(err.Error(), "value larger than 8 MiB") {
		t.Errorf("Walk(9 MiB value) error = %v, want one saying it is too large", err)
	}
}
