// Package jsonin reads JSON input from people and their tools (az, Resource
// Graph exports, saved events) as a stream, with memory bounded by the
// largest single value the caller keeps whole, not by the input's size.
//
// It is stricter than encoding/json, which accepts what would silently
// change a verdict: invalid UTF-8 (replaced with U+FFFD), and duplicate
// keys, including keys that differ only in case (the last one wins, and
// encoding/json matches struct fields case-insensitively). Every error
// names the line and column where the input went wrong, and input that is
// not JSON is refused at its first byte.
package jsonin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits of one input.
const (
	// MaxValue bounds a value kept whole, and the keys of one object: a
	// cluster body is tens of kilobytes.
	MaxValue = 8 << 20
	// maxDepth bounds nesting.
	maxDepth = 512
)

// Pos is a place in the input: line and column, counted in bytes, from 1.
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("line %d, column %d", p.Line, p.Col) }

// Error is input that cannot be read, and where.
type Error struct {
	Pos Pos
	Msg string
	// Syntax is set when the input is not JSON at Pos.
	Syntax bool
}

func (e *Error) Error() string {
	if e.Syntax {
		return "invalid JSON at " + e.Pos.String() + ": " + e.Msg
	}
	return e.Msg + " at " + e.Pos.String()
}

// Path says where a value is: the index of the top-level value first, then
// object keys (string) and array indexes (int).
type Path []any

// Handler receives the input as Walk reads it.
type Handler interface {
	// Open is called where an object or array (delim '{' or '[') begins
	// at p. It returns true to receive its members one at a time, then
	// Close; false to receive it whole in Value.
	Open(p Path, delim byte, at Pos) (bool, error)
	// Value receives a value whole. raw is valid JSON, and is reused once
	// Value returns.
	Value(p Path, raw []byte, at Pos) error
	// Close is called at the end of an opened object or array.
	Close(p Path, at Pos) error
}

// Walk reads every JSON value in r, one after another (JSON lines or
// concatenated values), and hands them to h. A UTF-8 byte-order mark is
// skipped and UTF-16 with one is read as text, since Windows tools write
// them. The first value must be an object or an array.
func Walk(r io.Reader, h Handler) error {
	br, err := text(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return err
	}
	s := &scanner{r: br, h: h, line: 1, col: 1}
	for n := 0; ; n++ {
		b, err := s.space()
		if err == io.EOF {
			if n == 0 {
				return errors.New("no JSON input")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 && b != '{' && b != '[' {
			return s.fail(fmt.Sprintf("want a JSON object or array; the input starts with %s", quoteByte(b)))
		}
		if err := s.value(Path{n}, false); err != nil {
			return err
		}
	}
}

type scanner struct {
	r         *bufio.Reader
	h         Handler
	line, col int
	// last is where the byte next read last was.
	last Pos
	// capturing is set while a value is read whole into buf.
	capturing bool
	buf       []byte
	depth     int
}

// peek returns the next byte without reading it.
func (s *scanner) peek() (byte, error) {
	b, err := s.r.Peek(1)
	if err != nil {
		if err == io.EOF {
			return 0, io.EOF
		}
		return 0, s.fail("read: " + err.Error())
	}
	return b[0], nil
}

// next reads one byte, counting lines and keeping it when capturing.
func (s *scanner) next() (byte, error) {
	b, err := s.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, s.syntax("unexpected end of input")
		}
		return 0, s.fail("read: " + err.Error())
	}
	if s.capturing {
		if len(s.buf) >= MaxValue {
			return 0, s.fail(fmt.Sprintf("value larger than %d MiB", MaxValue>>20))
		}
		s.buf = append(s.buf, b)
	}
	s.last = Pos{s.line, s.col}
	if b == '\n' {
		s.line, s.col = s.line+1, 1
	} else {
		s.col++
	}
	return b, nil
}

func (s *scanner) pos() Pos { return Pos{s.line, s.col} }

func (s *scanner) fail(msg string) error { return &Error{Pos: s.pos(), Msg: msg} }

func (s *scanner) syntax(msg string) error { return &Error{Pos: s.pos(), Msg: msg, Syntax: true} }

// bad is a syntax error at the byte just read.
func (s *scanner) bad(msg string) error { return &Error{Pos: s.last, Msg: msg, Syntax: true} }

// space skips white space and returns the next byte, unread.
func (s *scanner) space() (byte, error) {
	for {
		b, err := s.peek()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\n', '\r':
			if _, err := s.next(); err != nil {
				return 0, err
			}
		default:
			return b, nil
		}
	}
}

// expect reads the next non-space byte, which must be one of want.
func (s *scanner) expect(want string) (byte, error) {
	b, err := s.space()
	if err == io.EOF {
		return 0, s.syntax("unexpected end of input")
	}
	if err != nil {
		return 0, err
	}
	if strings.IndexByte(want, b) < 0 {
		return 0, s.syntax(fmt.Sprintf("%s where %s was expected", quoteByte(b), expected(want)))
	}
	return s.next()
}

// value reads the value at p: whole when capturing or when the handler
// does not open it, else member by member.
func (s *scanner) value(p Path, capturing bool) error {
	b, err := s.space()
	if err == io.EOF {
		return s.syntax("unexpected end of input")
	}
	if err != nil {
		return err
	}
	at := s.pos()
	if !capturing && (b == '{' || b == '[') {
		open, err := s.h.Open(p, b, at)
		if err != nil {
			return err
		}
		if open {
			if err := s.container(p, false); err != nil {
				return err
			}
			return s.h.Close(p, s.pos())
		}
	}
	if !capturing {
		s.capturing, s.buf = true, s.buf[:0]
		defer func() { s.capturing = false }()
	}
	switch {
	case b == '{' || b == '[':
		err = s.container(p, true)
	case b == '"':
		if _, err = s.next(); err == nil {
			_, err = s.str(false)
		}
	case b == 't':
		err = s.word("true")
	case b == 'f':
		err = s.word("false")
	case b == 'n':
		err = s.word("null")
	case b == '-' || (b >= '0' && b <= '9'):
		err = s.number()
	default:
		err = s.syntax(fmt.Sprintf("%s where a value was expected", quoteByte(b)))
	}
	if err != nil || capturing {
		return err
	}
	s.capturing = false
	return s.h.Value(p, s.buf, at)
}

// container reads an object or array; capturing says whether it is part
// of a value read whole.
func (s *scanner) container(p Path, capturing bool) error {
	if s.depth++; s.depth > maxDepth {
		return s.fail(fmt.Sprintf("nested deeper than %d levels", maxDepth))
	}
	defer func() { s.depth-- }()
	open, err := s.next()
	if err != nil {
		return err
	}
	if open == '[' {
		return s.array(p, capturing)
	}
	return s.object(p, capturing)
}

func (s *scanner) array(p Path, capturing bool) error {
	if b, err := s.space(); err == nil && b == ']' {
		_, err = s.next()
		return err
	}
	for i := 0; ; i++ {
		if err := s.value(append(p, i), capturing); err != nil {
			return err
		}
		if c, err := s.expect(",]"); err != nil || c == ']' {
			return err
		}
	}
}

// key is where an object's key was first seen.
type key struct {
	name string
	at   Pos
}

func (s *scanner) object(p Path, capturing bool) error {
	if b, err := s.space(); err == nil && b == '}' {
		_, err = s.next()
		return err
	}
	// Keys compare without case, as encoding/json matches fields.
	seen := map[string]key{}
	size := 0
	for {
		if _, err := s.expect(`"`); err != nil {
			return err
		}
		at := Pos{s.line, s.col - 1}
		name, err := s.str(true)
		if err != nil {
			return err
		}
		fold := strings.ToLower(name)
		if first, dup := seen[fold]; dup {
			return &Error{Pos: at, Msg: fmt.Sprintf("duplicate key %q (first as %q at %s)", name, first.name, first.at)}
		}
		if size += len(name); size > MaxValue {
			return &Error{Pos: at, Msg: fmt.Sprintf("object's keys exceed %d MiB", MaxValue>>20)}
		}
		seen[fold] = key{name, at}
		if _, err := s.expect(":"); err != nil {
			return err
		}
		if err := s.value(append(p, name), capturing); err != nil {
			return err
		}
		if c, err := s.expect(",}"); err != nil || c == '}' {
			return err
		}
	}
}

// str reads a string after its opening quote, checking escapes and UTF-8;
// it returns the decoded text when decode is set.
func (s *scanner) str(decode bool) (string, error) {
	var out []byte
	for {
		if plain := s.plain(); len(plain) > 0 {
			if decode {
				out = append(out, plain...)
			}
			s.skip(plain)
		}
		b, err := s.next()
		if err != nil {
			return "", err
		}
		switch {
		case b == '"':
			return string(out), nil
		case b == '\\':
			r, err := s.escape()
			if err != nil {
				return "", err
			}
			if decode {
				out = utf8.AppendRune(out, r)
			}
		case b < 0x20:
			return "", s.bad("control character in a string")
		case b < utf8.RuneSelf:
			if decode {
				out = append(out, b)
			}
		default:
			seq, err := s.rune(b)
			if err != nil {
				return "", err
			}
			if decode {
				out = append(out, seq...)
			}
		}
	}
}

// plain returns the run of buffered bytes that need no check in a string:
// printable ASCII other than a quote or a backslash. It is the common case,
// read without going byte by byte.
func (s *scanner) plain() []byte {
	buf, _ := s.r.Peek(s.r.Buffered())
	for i, b := range buf {
		if b < 0x20 || b >= utf8.RuneSelf || b == '"' || b == '\\' {
			return buf[:i]
		}
	}
	return buf
}

// skip reads the bytes plain returned, which hold no line break.
func (s *scanner) skip(plain []byte) {
	if s.capturing {
		// Up to the bound: next fails on the byte that goes over.
		plain = plain[:min(len(plain), MaxValue-len(s.buf))]
		s.buf = append(s.buf, plain...)
	}
	s.col += len(plain)
	s.r.Discard(len(plain))
}

// rune reads the rest of a multi-byte UTF-8 sequence that starts with lead.
func (s *scanner) rune(lead byte) ([]byte, error) {
	at := Pos{s.line, s.col - 1}
	n := 0
	switch {
	case lead&0xE0 == 0xC0:
		n = 2
	case lead&0xF0 == 0xE0:
		n = 3
	case lead&0xF8 == 0xF0:
		n = 4
	default:
		return nil, &Error{Pos: at, Msg: fmt.Sprintf("invalid UTF-8 (byte 0x%02X)", lead)}
	}
	seq := make([]byte, 1, 4)
	seq[0] = lead
	for len(seq) < n {
		b, err := s.peek()
		if err != nil || b&0xC0 != 0x80 {
			return nil, &Error{Pos: at, Msg: fmt.Sprintf("invalid UTF-8 (byte 0x%02X)", lead)}
		}
		s.next()
		seq = append(seq, b)
	}
	if !utf8.Valid(seq) {
		return nil, &Error{Pos: at, Msg: fmt.Sprintf("invalid UTF-8 (bytes % X)", seq)}
	}
	return seq, nil
}

// escape reads an escape after its backslash.
func (s *scanner) escape() (rune, error) {
	b, err := s.next()
	if err != nil {
		return 0, err
	}
	switch b {
	case '"', '\\', '/':
		return rune(b), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := s.hex4()
		if err != nil || !utf16.IsSurrogate(r) {
			return r, err
		}
		// A surrogate pair spells one rune; a lone half is kept as
		// encoding/json keeps it, as U+FFFD.
		if b, err := s.peek(); err != nil || b != '\\' {
			return utf8.RuneError, nil
		}
		s.next()
		if b, err := s.next(); err != nil || b != 'u' {
			return 0, s.bad("invalid escape in a string")
		}
		r2, err := s.hex4()
		if err != nil {
			return 0, err
		}
		return utf16.DecodeRune(r, r2), nil
	}
	return 0, s.bad(fmt.Sprintf("invalid escape \\%c in a string", b))
}

func (s *scanner) hex4() (rune, error) {
	var digits [4]byte
	for i := range digits {
		b, err := s.next()
		if err != nil {
			return 0, err
		}
		digits[i] = b
	}
	n, err := strconv.ParseUint(string(digits[:]), 16, 16)
	if err != nil {
		return 0, s.bad("invalid \\u escape in a string")
	}
	return rune(n), nil
}

func (s *scanner) word(w string) error {
	for i := range len(w) {
		b, err := s.next()
		if err != nil {
			return err
		}
		if b != w[i] {
			return s.bad(fmt.Sprintf("%s in literal %s", quoteByte(b), w))
		}
	}
	return s.end()
}

// number reads a JSON number.
func (s *scanner) number() error {
	b, _ := s.next()
	if b == '-' {
		var err error
		if b, err = s.next(); err != nil {
			return err
		}
	}
	switch {
	case b == '0':
	case b >= '1' && b <= '9':
		if err := s.digits(false); err != nil {
			return err
		}
	default:
		return s.bad("invalid number")
	}
	if c, err := s.peek(); err == nil && c == '.' {
		s.next()
		if err := s.digits(true); err != nil {
			return err
		}
	}
	if c, err := s.peek(); err == nil && (c == 'e' || c == 'E') {
		s.next()
		if c, err := s.peek(); err == nil && (c == '+' || c == '-') {
			s.next()
		}
		if err := s.digits(true); err != nil {
			return err
		}
	}
	return s.end()
}

// digits reads a run of digits; one at least when need is set.
func (s *scanner) digits(need bool) error {
	for n := 0; ; n++ {
		c, err := s.peek()
		if err != nil || c < '0' || c > '9' {
			if need && n == 0 {
				return s.syntax("invalid number")
			}
			return nil
		}
		s.next()
	}
}

// end checks that a literal or number is followed by what may follow a
// value.
func (s *scanner) end() error {
	c, err := s.peek()
	if err != nil {
		return nil
	}
	switch c {
	case ' ', '\t', '\n', '\r', ',', ']', '}':
		return nil
	}
	return s.syntax(fmt.Sprintf("%s after a value", quoteByte(c)))
}

func quoteByte(b byte) string {
	if b >= 0x20 && b < 0x7F {
		return strconv.QuoteRune(rune(b))
	}
	return fmt.Sprintf("byte 0x%02X", b)
}

func expected(want string) string {
	parts := make([]string, len(want))
	for i := range len(want) {
		parts[i] = strconv.QuoteRune(rune(want[i]))
	}
	return strings.Join(parts, " or ")
}

// Kind names the kind of the JSON value raw for messages: "an object", "a
// string".
func Kind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '[':
		return "an array"
	case '{':
		return "an object"
	}
	return "a number"
}
