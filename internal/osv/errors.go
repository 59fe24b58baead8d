package osv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/patchpilot/patchpilot"
)

// hintBadRecord tells an operator what to do about a record that fails to
// parse.
const hintBadRecord = "fix or remove the named record, or import a fresh export from osv.dev"

// fieldError reports a semantic problem at a field path of a record.
func fieldError(source, path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return patchpilot.Errorf(patchpilot.EINVALID, "%s: %s: %s", source, path, msg).WithHint(hintBadRecord)
}

// decodeError turns an encoding/json error into one that names the file and
// the line and column where decoding stopped.
func decodeError(data []byte, source string, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, syn.Offset)
		return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d:%d: invalid JSON: %s", source, line, col, syn.Error()).WithHint(hintBadRecord)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		line, col := position(data, typ.Offset)
		field := typ.Field
		if field == "" {
			field = "record"
		}
		return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d:%d: %s: expected %s, got JSON %s",
			source, line, col, field, jsonKind(typ.Type), typ.Value).WithHint(hintBadRecord)
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "%s: invalid JSON: %w", source, err).WithHint(hintBadRecord)
}

// position converts a byte offset as encoding/json reports it (the number of
// bytes read when the error was found) to a 1-based line and column of the
// last byte read.
func position(data []byte, offset int64) (line, col int) {
	end := int(offset)
	if end > len(data) {
		end = len(data)
	}
	if end > 0 {
		end-- // the offending byte is the last one read
	}
	if end < 0 {
		end = 0
	}
	prefix := data[:end]
	line = 1 + bytes.Count(prefix, []byte{'\n'})
	col = end - bytes.LastIndexByte(prefix, '\n')
	return line, col
}

// jsonKind names the JSON shape a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}
