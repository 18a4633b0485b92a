package clusterjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aksguard/aksguard/pkg/jsonin"
)

// frame is an object or array the walker reads member by member.
type frame struct {
	kind frameKind
	path string
	// members of a record object, in order, kept until its end.
	members []member
	size    int
	// streamed is set when a record object turned out to be a wrapper
	// whose list was read one cluster at a time.
	streamed bool
	columns  []string // of a Resource Graph table
	hasCols  bool
}

type frameKind int

const (
	// record is an object that is a cluster or a wrapper around a list.
	record frameKind = iota
	// list is an array of clusters.
	list
	// table is Resource Graph's {"columns", "rows"}.
	table
	// rows are a table's rows.
	rows
)

type member struct {
	key string
	raw []byte
}

// walker turns the jsonin stream into records: it opens the containers
// that hold clusters and keeps each cluster's members until its end.
type walker struct {
	fn     func(Record) error
	frames []*frame
}

func (w *walker) top() *frame {
	if len(w.frames) == 0 {
		return nil
	}
	return w.frames[len(w.frames)-1]
}

// where names p as the messages do: "[2]", "value[0]", "data.rows[1]",
// "value 2 [3]" for the second value of JSON lines.
func where(p jsonin.Path) string {
	var b strings.Builder
	if n := p[0].(int); n > 0 {
		fmt.Fprintf(&b, "value %d ", n+1)
	}
	for i, step := range p[1:] {
		switch s := step.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(s) + "]")
		case string:
			if i > 0 && !strings.HasSuffix(b.String(), " ") {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
	}
	if b.Len() == 0 {
		return "top level"
	}
	return strings.TrimSpace(b.String())
}

func (w *walker) Open(p jsonin.Path, delim byte, at jsonin.Pos) (bool, error) {
	parent := w.top()
	var kind frameKind
	switch {
	case parent == nil && delim == '[', parent != nil && parent.kind == record && wrapperList(p, delim):
		kind = list
	case parent == nil:
		// A top-level object may be a wrapper around a long list.
		kind = record
	case parent.kind == record && delim == '{' && isKey(p, "data"):
		kind = table
	case parent.kind == table && delim == '[' && isKey(p, "rows"):
		if !parent.hasCols {
			return false, fmt.Errorf("%s: Resource Graph table's rows come before its columns (at %s)", where(p), at)
		}
		kind = rows
	default:
		return false, nil
	}
	if parent != nil && parent.kind == record {
		parent.streamed = true
	}
	w.frames = append(w.frames, &frame{kind: kind, path: where(p)})
	return true, nil
}

// wrapperList reports whether the array at p is the list of a wrapper:
// {"value": […]} or Resource Graph's {"data": […]}.
func wrapperList(p jsonin.Path, delim byte) bool {
	return delim == '[' && (isKey(p, "value") || isKey(p, "data"))
}

func isKey(p jsonin.Path, key string) bool {
	k, ok := p[len(p)-1].(string)
	return ok && strings.EqualFold(k, key)
}

func (w *walker) Value(p jsonin.Path, raw []byte, at jsonin.Pos) error {
	f := w.top()
	switch {
	case f == nil:
		return fmt.Errorf("%s: want a cluster object, a list or an array, got %s", where(p), jsonin.Kind(raw))
	case f.kind == list && raw[0] == '{':
		return w.emit(raw, where(p))
	case f.kind == list:
		return fmt.Errorf("%s: want a cluster object, got %s", where(p), jsonin.Kind(raw))
	case f.kind == record:
		if f.size += len(raw); f.size > jsonin.MaxValue {
			return fmt.Errorf("%s: cluster larger than %d MiB (at %s)", f.path, jsonin.MaxValue>>20, at)
		}
		f.members = append(f.members, member{p[len(p)-1].(string), bytes.Clone(raw)})
	case f.kind == table && isKey(p, "columns"):
		var cols []struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &cols); err != nil {
			return fmt.Errorf("%s: Resource Graph table: %w", f.path, err)
		}
		for _, c := range cols {
			f.columns = append(f.columns, c.Name)
		}
		f.hasCols = true
	case f.kind == rows:
		return w.row(w.frames[len(w.frames)-2].columns, raw, where(p))
	}
	return nil
}

// row reads one row of a Resource Graph table as the object it stands for.
func (w *walker) row(columns []string, raw []byte, path string) error {
	var values []json.RawMessage
	if err := json.Unmarshal(raw, &values); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(values) != len(columns) {
		return fmt.Errorf("%s: %d values for %d columns", path, len(values), len(columns))
	}
	obj := make([]member, len(columns))
	for i, c := range columns {
		obj[i] = member{c, values[i]}
	}
	return w.emit(object(obj), path)
}

func (w *walker) Close(p jsonin.Path, at jsonin.Pos) error {
	f := w.top()
	w.frames = w.frames[:len(w.frames)-1]
	switch {
	case f.kind == record && !f.streamed:
		return w.emit(object(f.members), f.path)
	case f.kind == record:
		// A wrapper's other members: a skip token says the list is one
		// page of several.
		for _, m := range f.members {
			if isSkipToken(m) {
				return fmt.Errorf("%s: %w", f.path, ErrPaged)
			}
		}
	case f.kind == table && !f.hasCols:
		return fmt.Errorf("%s: Resource Graph table has no columns", f.path)
	}
	return nil
}

// ErrPaged says the input was one page of a paged Resource Graph answer:
// the clusters read are not the whole result. Each returns it, wrapped,
// after handing on every cluster of the page.
var ErrPaged = errors.New("this is one page of a paged Resource Graph answer (it carries a skip token): the rest of the clusters are not in it")

// isSkipToken reports whether m is a wrapper's skip token with a value, as
// the REST API ($skipToken) or az graph query (skip_token) spells it.
func isSkipToken(m member) bool {
	k := strings.ToLower(strings.TrimPrefix(m.key, "$"))
	return (k == "skiptoken" || k == "skip_token") && string(bytes.TrimSpace(m.raw)) != "null" && string(bytes.TrimSpace(m.raw)) != `""`
}

// object is the JSON object made of members.
func object(members []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// emit reads the object raw as a cluster and hands it on.
func (w *walker) emit(raw []byte, path string) error {
	rec, err := parseObject(raw, path)
	if err != nil {
		return err
	}
	return w.fn(rec)
}
