package dllbridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Result is what a successful call gives back.
//
// Values are decoded from the bridge's JSON forms (docs/cli.md, section 3):
// an integer is an int64 (a uint64 only above math.MaxInt64), a float a
// float64, text a string, a bool a bool, a buffer or array a []any, a struct a
// map[string]any, a null pointer or void nil. Handles are integers.
type Result struct {
	// Return is the function's return value (nil for void).
	Return any
	// Out holds every [out] and [in, out] parameter by name (unnamed ones
	// are "arg0", "arg1", ...); empty when there are none.
	Out map[string]any
	// LastError is errno (POSIX) or GetLastError() (Windows) right after
	// the call, in the surrogate, on the thread that made it.
	LastError int64
	// Elapsed is the call's round trip as this process saw it.
	Elapsed time.Duration
}

// Int returns Return as an int64: integers (a uint64 above math.MaxInt64
// wraps), a bool as 0 or 1, anything else 0.
func (r *Result) Int() int64 { return asInt(r.Return) }

// Float returns Return as a float64 (an integer converted), anything else 0.
func (r *Result) Float() float64 {
	switch v := r.Return.(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	}
	return 0
}

// String returns Return when it is text, else "".
func (r *Result) String() string {
	s, _ := r.Return.(string)
	return s
}

// OutInt returns the out-parameter name as an int64 (0 when absent or not an integer).
func (r *Result) OutInt(name string) int64 { return asInt(r.Out[name]) }

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case uint64:
		return int64(x)
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

// toJSON converts Go arguments to the JSON array the C API takes: integers,
// floats, bools and strings as themselves, a []byte (or any byte slice or
// array) as a list of numbers, other slices and arrays as lists, maps with
// string keys as objects (structs), nil and nil pointers as null. A Go
// struct goes through encoding/json (its json tags name the fields).
func toJSON(args []any) (string, error) {
	list := make([]any, len(args))
	for i, a := range args {
		v, err := jsonValue(reflect.ValueOf(a))
		if err != nil {
			return "", newError(KindBadArgument, "argument %d: %v", i+1, err)
		}
		list[i] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(list); err != nil {
		return "", newError(KindBadArgument, "arguments: %v", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func jsonValue(v reflect.Value) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return jsonValue(v.Elem())
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint(), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v has no JSON form", f)
		}
		return f, nil
	case reflect.String:
		return v.String(), nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil, nil
		}
		list := make([]any, v.Len())
		for i := range list {
			e, err := jsonValue(v.Index(i))
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			list[i] = e
		}
		return list, nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("a map for a struct needs string keys, not %s", v.Type().Key())
		}
		if v.IsNil() {
			return nil, nil
		}
		obj := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			e, err := jsonValue(it.Value())
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", it.Key().String(), err)
			}
			obj[it.Key().String()] = e
		}
		return obj, nil
	case reflect.Struct:
		raw, err := json.Marshal(v.Interface())
		if err != nil {
			return nil, err
		}
		return json.RawMessage(raw), nil
	}
	return nil, fmt.Errorf("a Go %s has no JSON form", v.Type())
}

// callAnswer is the C API's result JSON: success or {"error": ...}.
type callAnswer struct {
	Return    json.RawMessage            `json:"return"`
	Out       map[string]json.RawMessage `json:"out"`
	LastError int64                      `json:"last_error"`
	ElapsedUS float64                    `json:"elapsed_us"`
	Error     *struct {
		Kind    Kind   `json:"kind"`
		Message string `json:"message"`
	} `json:"error"`
}

// parseAnswer turns the C API's result JSON into a Result or an *Error.
func parseAnswer(text string) (*Result, error) {
	var a callAnswer
	if err := json.Unmarshal([]byte(text), &a); err != nil {
		return nil, newError(KindInternal, "unreadable result %q: %v", text, err)
	}
	if a.Error != nil {
		return nil, &Error{Kind: a.Error.Kind, Message: a.Error.Message}
	}
	r := &Result{Out: make(map[string]any, len(a.Out)), LastError: a.LastError,
		Elapsed: time.Duration(a.ElapsedUS * float64(time.Microsecond))}
	var err error
	if r.Return, err = decodeValue(a.Return); err != nil {
		return nil, err
	}
	for k, raw := range a.Out {
		if r.Out[k], err = decodeValue(raw); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// decodeValue decodes one JSON value with integers kept exact.
func decodeValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, newError(KindInternal, "unreadable value %s: %v", raw, err)
	}
	return numbers(v), nil
}

// numbers replaces each json.Number by an int64, a uint64 or a float64.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u
			}
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}
