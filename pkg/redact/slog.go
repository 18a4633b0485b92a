package redact

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
)

// Logger returns l with every message and attribute passed through String.
// A nil l stays nil; a logger that already redacts is returned as is.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	if _, ok := l.Handler().(handler); ok {
		return l
	}
	return slog.New(handler{l.Handler()})
}

// handler masks credentials before its inner handler sees a record.
type handler struct{ inner slog.Handler }

func (h handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = attr(a)
	}
	return handler{h.inner.WithAttrs(masked)}
}

func (h handler) WithGroup(name string) slog.Handler { return handler{h.inner.WithGroup(name)} }

// attr masks the credentials in a's value. Errors and Stringers become
// their masked text; numbers, times and other values carry none.
func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, String(v.String()))
	case slog.KindGroup:
		group := v.Group()
		masked := make([]any, len(group))
		for i, g := range group {
			masked[i] = attr(g)
		}
		return slog.Group(a.Key, masked...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, String(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, String(x.String()))
		case []string:
			return slog.Any(a.Key, Lines(append([]string(nil), x...)))
		case []byte:
			return slog.String(a.Key, String(string(x)))
		}
		if rv := reflect.ValueOf(v.Any()); rv.Kind() == reflect.String {
			return slog.String(a.Key, String(rv.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
