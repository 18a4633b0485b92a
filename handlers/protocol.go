// Package handlers speaks the Azure Functions custom-handler protocol: the
// host POSTs {"Data": …, "Metadata": …} to /<FunctionName> and expects
// {"Outputs": …, "Logs": […], "ReturnValue": …} back. It decodes trigger
// values, calls the domain, and is the one place that maps domain outcomes
// and errors to host responses: 2xx once state is recorded, non-2xx only
// when the host should deliver again.
package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// invocation is the host's request body.
type invocation struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// response is the handler's answer to the host.
type response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// binding returns the trigger value named name from the invocation's Data,
// with the JSON string layers the host wraps around non-HTTP trigger values
// peeled off: the value may arrive as an object, as a string holding JSON,
// or as a string holding such a string.
func (in invocation) binding(name string) ([]byte, error) {
	v, ok := in.Data[name]
	if !ok {
		keys := make([]string, 0, len(in.Data))
		for k := range in.Data {
			keys = append(keys, strconv.Quote(k))
		}
		return nil, fmt.Errorf("Data has no %q binding (it has %v)", name, keys)
	}
	return unwrap(v)
}

// unwrap peels up to three JSON string layers off v.
func unwrap(v []byte) ([]byte, error) {
	for range 3 {
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] != '"' {
			return v, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("trigger value is a malformed JSON string: %w", err)
		}
		v = []byte(s)
	}
	if v = bytes.TrimSpace(v); len(v) > 0 && v[0] == '"' {
		return nil, errors.New("trigger value is a string nested more than three deep")
	}
	return v, nil
}

// meta returns a Metadata entry as a string. The host quotes strings (and
// sometimes quotes them twice) and passes numbers as strings or numbers.
func (in invocation) meta(name string) string {
	v, ok := in.Metadata[name]
	if !ok {
		return ""
	}
	b, err := unwrap(v)
	if err != nil || string(b) == "null" {
		return ""
	}
	return string(b)
}
