package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
)

// lineWriter prints the lines of check and triage as they come, as JSON
// lines or as a table, so that memory does not grow with the input.
type lineWriter[T any] struct {
	json  bool
	enc   *json.Encoder
	tw    *tabwriter.Writer
	head  string
	row   func(T) string
	rows  int
	wrote bool
}

// tableBlock is how many rows a table aligns at once: a huge input still
// prints in bounded memory, in blocks each aligned on its own.
const tableBlock = 1000

func newLineWriter[T any](w io.Writer, asJSON bool, head string, row func(T) string) *lineWriter[T] {
	return &lineWriter[T]{json: asJSON, enc: json.NewEncoder(w), tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0), head: head, row: row}
}

func (lw *lineWriter[T]) write(l T) error {
	if lw.json {
		return lw.enc.Encode(l)
	}
	if !lw.wrote {
		lw.wrote = true
		fmt.Fprintln(lw.tw, lw.head)
	}
	fmt.Fprintln(lw.tw, lw.row(l))
	if lw.rows++; lw.rows%tableBlock == 0 {
		return lw.tw.Flush()
	}
	return nil
}

// flush prints the rows not yet printed.
func (lw *lineWriter[T]) flush() error {
	if lw.json {
		return nil
	}
	return lw.tw.Flush()
}

// end ends the output of a whole input: a table without rows still has
// its header.
func (lw *lineWriter[T]) end() error {
	if !lw.json && !lw.wrote {
		lw.wrote = true
		fmt.Fprintln(lw.tw, lw.head)
	}
	return lw.flush()
}

// ender is what finish needs of a lineWriter.
type ender interface {
	flush() error
	end() error
}

// outputError is stdout failing: the input was fine.
type outputError struct{ error }

// finish says how reading the input ended and returns the exit code. What
// was read before a problem is printed; exit 2 then says the input as a
// whole was not read.
func finish(stderr io.Writer, command, name string, readErr error, out ender, code int) int {
	var flushErr error
	if readErr != nil {
		out.flush()
	} else {
		flushErr = out.end()
	}
	var oe outputError
	switch {
	case errors.As(readErr, &oe):
		fmt.Fprintf(stderr, "aksguard %s: %v\n", command, oe.error)
	case readErr != nil:
		fmt.Fprintf(stderr, "aksguard %s: %s: %v\n", command, name, readErr)
	case flushErr != nil:
		fmt.Fprintf(stderr, "aksguard %s: %v\n", command, flushErr)
	default:
		return code
	}
	return exitUsage
}
