package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// statuses is the one mapping from patchpilot's error codes to HTTP
// statuses. A code it does not name is a 500.
var statuses = map[patchpilot.Code]int{
	patchpilot.EINVALID:         http.StatusBadRequest,
	patchpilot.EUNAUTHENTICATED: http.StatusUnauthorized,
	patchpilot.EFORBIDDEN:       http.StatusForbidden,
	patchpilot.ENOTFOUND:        http.StatusNotFound,
	patchpilot.ECONFLICT:        http.StatusConflict,
	patchpilot.EHALTED:          http.StatusConflict,
	patchpilot.EROLLEDBACK:      http.StatusConflict,
	patchpilot.EROLLBACKFAILED:  http.StatusConflict,
	patchpilot.EUNREACHABLE:     http.StatusBadGateway,
	patchpilot.EHOSTKEY:         http.StatusBadGateway,
	patchpilot.ETIMEOUT:         http.StatusGatewayTimeout,
	patchpilot.ECANCELED:        499, // client closed request
	patchpilot.EUNAVAILABLE:     http.StatusServiceUnavailable,
	patchpilot.EPARTIAL:         http.StatusMultiStatus,
	patchpilot.EUNSUPPORTED:     http.StatusNotImplemented,
	patchpilot.EUNFINISHED:      http.StatusNotImplemented,
	patchpilot.EAPPROVAL:        http.StatusAccepted,
	patchpilot.EPAUSED:          http.StatusAccepted,
	patchpilot.EINTERNAL:        http.StatusInternalServerError,
}

// Status returns the HTTP status of an error's code.
func Status(err error) int {
	if s, ok := statuses[patchpilot.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// apiError is the body of every error response.
type apiError struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    patchpilot.Code `json:"code"`
	Message string          `json:"message"`
	Hint    string          `json:"hint,omitempty"`
	Field   string          `json:"field,omitempty"`
	// Line and Column locate the error in a plan sent as YAML.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// fieldError is a bad request naming the field at fault.
type fieldError struct {
	field  string
	status int // 0: the code's status
	err    *patchpilot.Error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// badField returns an EINVALID error naming field.
func badField(field, format string, args ...any) error {
	return &fieldError{field: field, err: patchpilot.Errorf(patchpilot.EINVALID, format, args...)}
}

// tooLarge is a body over its cap: 413.
func tooLarge(limit int64) error {
	return &fieldError{status: http.StatusRequestEntityTooLarge, err: patchpilot.Errorf(patchpilot.EINVALID,
		"request body is larger than %d bytes", limit).WithHint("send a smaller body; docs/api.md lists each endpoint's cap")}
}

// planPosition reads the planner's "source:line:col: field: ..." message.
var planPosition = regexp.MustCompile(`^[^:\s]+:(\d+):(\d+): (.*)$`)

// planLabel is one level of the field path in a planner message: a key
// ("targets", "stages[0]") or a named item ("stage \"first\"").
var planLabel = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_\[\]]*|[a-z]+ "[^"]*")$`)

// unknownField reads the name in the planner's "unknown field "x"".
var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// planField reads the field path at the head of a planner message, such
// as `stage "first".targets`; for an unknown field it is the field's name.
func planField(msg string) string {
	if u := unknownField.FindStringSubmatch(msg); u != nil {
		return u[1]
	}
	segs := strings.Split(msg, ": ")
	var path []string
	for _, seg := range segs[:len(segs)-1] {
		if !planLabel.MatchString(seg) {
			break
		}
		path = append(path, seg)
	}
	return strings.Join(path, ".")
}

// errorResponse builds the status and body of an error. Internal errors
// are not described to the caller beyond their code: they are logged.
func errorResponse(err error) (int, apiError) {
	status := Status(err)
	body := errorBody{Code: patchpilot.ErrorCode(err), Message: err.Error(), Hint: patchpilot.ErrorHint(err)}
	var fe *fieldError
	if errors.As(err, &fe) {
		body.Field = fe.field
		if fe.status != 0 {
			status = fe.status
		}
	}
	if body.Code == patchpilot.EINVALID {
		if m := planPosition.FindStringSubmatch(body.Message); m != nil {
			body.Line, _ = strconv.Atoi(m[1])
			body.Column, _ = strconv.Atoi(m[2])
			if body.Field == "" {
				body.Field = planField(m[3])
			}
		}
	}
	if body.Code == patchpilot.EINTERNAL {
		body.Message = "internal error"
		body.Hint = "see the server's log"
	}
	return status, apiError{Error: body}
}

// decodeJSON reads a JSON body of at most limit bytes into v: unknown
// fields, trailing data and a body over the cap are refused.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	data, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return badField("", "the request body is empty: expected a JSON object")
	}
	return decodeBytes(data, v)
}

// decodeBytes decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeBytes(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badField("", "the request body holds more than one JSON value")
	}
	return nil
}

// readBody reads the whole body, refusing more than limit bytes with 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(limit)
	}
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "read the request body: %w", err)
	}
	return data, nil
}

// jsonError turns the JSON decoder's errors into ones naming the field.
func jsonError(err error) error {
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return badField("", "the request body is a JSON %s: expected a JSON object", te.Value)
		}
		return badField(field, "field %q: expected %s, got JSON %s", field, jsonKind(te.Type), te.Value)
	case errors.As(err, &se):
		return badField("", "the request body is not valid JSON at byte %d: %s", se.Offset, se.Error())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badField(field, "unknown field %q", field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badField("", "the request body ends in the middle of a JSON value")
	}
	return badField("", "the request body: %s", err)
}

// requireField is a missing required field.
func requireField(field, what string) error {
	return badField(field, "field %q is required: %s", field, what)
}

// jsonKind names the JSON a Go type is read from, for an error a client
// reads (never a Go type name).
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}
