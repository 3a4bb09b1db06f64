package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// importDecodeProblem says what is wrong with an import line that did not
// decode, without echoing the line: it may hold a password.
func importDecodeProblem(err error) string {
	const want = "want a JSON object with emailAddress and password or passwordHash"
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON (syntax error at byte %d); %s", syn.Offset, want)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%s must be a string; %s", typ.Field, want)
		}
		return "not a JSON object; " + want
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The field name is the client's own key, never a value.
		return fmt.Sprintf("%s; %s", strings.TrimPrefix(err.Error(), "json: "), want)
	}
	return "not a JSON object; " + want
}
