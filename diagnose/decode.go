package diagnose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxExportSize bounds one exported JSON document; a tenant's whole CA
// configuration is a few MiB at most.
const MaxExportSize = 64 << 20

// validator is what every decodable evidence type implements.
type validator interface{ Validate() error }

// DecodePolicies decodes Conditional Access policies from a Graph list
// ({"value":[...]}), a bare array, or one object.
func DecodePolicies(data []byte) ([]Policy, error) {
	return decodeList[Policy](data, "conditionalAccessPolicy", "policy")
}

// DecodeNamedLocations decodes named locations in any of DecodePolicies' shapes.
func DecodeNamedLocations(data []byte) ([]NamedLocation, error) {
	return decodeList[NamedLocation](data, "namedLocation", "named location")
}

// DecodeSignIns decodes sign-in log entries in any of DecodePolicies' shapes.
func DecodeSignIns(data []byte) ([]SignIn, error) {
	return decodeList[SignIn](data, "signIn", "sign-in")
}

// DecodeCrossTenant decodes cross-tenant access partner settings in any of
// DecodePolicies' shapes.
func DecodeCrossTenant(data []byte) ([]CrossTenantPartner, error) {
	return decodeList[CrossTenantPartner](data, "crossTenantAccessPolicyConfiguration", "cross-tenant setting")
}

// odataKinds are the @odata.type fragments of the kinds this package decodes;
// an item whose type names another kind is refused, saying what it is.
var odataKinds = []string{"conditionalAccessPolicy", "namedLocation", "signIn", "crossTenantAccessPolicyConfiguration"}

func decodeList[T any, PT interface {
	*T
	validator
}](data []byte, kind, noun string) ([]T, error) {
	if len(data) > MaxExportSize {
		return nil, Errorf(EINVALID, "file is %d bytes; the limit is %d", len(data), MaxExportSize)
	}
	data = textOf(data)                                   // Windows PowerShell writes UTF-16
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // and UTF-8 with a BOM
	if !utf8.Valid(data) {
		return nil, Errorf(EINVALID, "not UTF-8 or UTF-16 text (is it a binary file?)")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, Errorf(EINVALID, "empty file: expected JSON")
	}
	var items []json.RawMessage
	switch trimmed[0] {
	case '[':
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, jsonError(trimmed, err)
		}
	case '{':
		var probe struct {
			Value *[]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(trimmed, &probe); err != nil {
			return nil, jsonError(trimmed, err)
		}
		if probe.Value != nil {
			items = *probe.Value
		} else {
			items = []json.RawMessage{trimmed}
		}
	default:
		return nil, Errorf(EINVALID, "not JSON: expected a Graph list {\"value\":[...]}, an array, or one %s object", noun)
	}
	out := make([]T, 0, len(items))
	for i, raw := range items {
		v, err := decodeItem[T](raw, kind, noun)
		if err != nil {
			return nil, Errorf(EINVALID, "item %d: %w", i, err)
		}
		if err := PT(&v).Validate(); err != nil {
			return nil, Errorf(EINVALID, "item %d: %w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// decodeItem decodes one item of a list. An item in PowerShell's shape is
// normalized first (normalizeExport); a Graph-shaped one only when it does
// not decode as it is (a baseline's "locations": []), so Graph's own answers
// cost one decode.
func decodeItem[T any](raw json.RawMessage, kind, noun string) (T, error) {
	var v T
	props, err := objectProps(raw)
	if err != nil {
		return v, err
	}
	normalized := false
	if pascalCase(props) {
		if raw, err = normalizeExport(raw); err != nil {
			return v, err
		}
		if props, err = objectProps(raw); err != nil {
			return v, err
		}
		normalized = true
	}
	if inner, ok := wrapped(props, kind); ok {
		// A tool's own export around the object ({"ExportDate":…,
		// "PolicyConfig":{…}}): the object is what is read.
		raw = inner
		if props, err = objectProps(raw); err != nil {
			return v, err
		}
		if pascalCase(props) && !normalized {
			if raw, err = normalizeExport(raw); err != nil {
				return v, err
			}
			normalized = true
		}
	}
	if err := checkKind(props, kind); err != nil {
		return v, fmt.Errorf("%s, not a %s", err, noun)
	}
	err = json.Unmarshal(raw, &v)
	if err == nil || normalized {
		return v, describeJSONError(err)
	}
	fixed, nerr := normalizeExport(raw)
	if nerr != nil {
		if errors.Is(nerr, errExportDepth) {
			return v, nerr
		}
		return v, describeJSONError(err)
	}
	var w T
	if json.Unmarshal(fixed, &w) != nil {
		return v, describeJSONError(err)
	}
	return w, nil
}

// objectProps returns an item's properties, refusing what is not an object.
func objectProps(raw json.RawMessage) (map[string]json.RawMessage, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("it is not a JSON object")
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil {
		return nil, describeJSONError(err)
	}
	return props, nil
}

// checkKind refuses an item whose @odata.type names another kind of object,
// the usual mistake being the wrong file passed to the wrong flag; without
// @odata.type, its properties tell (checkShape).
func checkKind(props map[string]json.RawMessage, want string) error {
	var odataType string
	if json.Unmarshal(props["@odata.type"], &odataType) != nil || odataType == "" {
		return checkShape(props, want)
	}
	t := strings.ToLower(odataType)
	if strings.Contains(t, strings.ToLower(want)) {
		return nil
	}
	for _, k := range odataKinds {
		if strings.Contains(t, strings.ToLower(k)) {
			return fmt.Errorf("it is a %s", strings.TrimPrefix(odataType, "#"))
		}
	}
	// A type this package does not know (a subtype Graph added): accept.
	return nil
}

// kindShapes are properties only one kind of object has. Exports carry no
// @odata.type (Graph leaves it out of lists of one kind), so these tell a
// policy file passed as --named-locations from a named location file.
var kindShapes = []struct {
	kind, noun string
	props      []string
}{
	{"conditionalAccessPolicy", "Conditional Access policy", []string{"conditions", "grantControls", "sessionControls"}},
	{"namedLocation", "named location", []string{"ipRanges", "countriesAndRegions", "countryLookupMethod", "isTrusted"}},
	{"signIn", "sign-in log entry", []string{"appliedConditionalAccessPolicies", "conditionalAccessStatus", "userPrincipalName", "clientAppUsed"}},
	{"crossTenantAccessPolicyConfiguration", "cross-tenant access setting", []string{"inboundTrust", "b2bCollaborationInbound", "b2bDirectConnectInbound", "isServiceProvider"}},
}

// wrapped returns the one object among an item's properties that has the
// properties of kind, when the item itself has none of them: the export of
// a tool that wraps each object with its own details.
func wrapped(props map[string]json.RawMessage, kind string) (json.RawMessage, bool) {
	var shape []string
	for _, k := range kindShapes {
		if k.kind == kind {
			shape = k.props
		}
	}
	has := func(m map[string]json.RawMessage) bool {
		for name := range m {
			if slices.ContainsFunc(shape, func(p string) bool { return strings.EqualFold(p, name) }) {
				return true
			}
		}
		return false
	}
	if has(props) {
		return nil, false
	}
	var found json.RawMessage
	for _, v := range props {
		if t := bytes.TrimSpace(v); len(t) == 0 || t[0] != '{' {
			continue
		}
		var inner map[string]json.RawMessage
		if json.Unmarshal(v, &inner) != nil || !has(inner) {
			continue
		}
		if found != nil {
			return nil, false // two candidates: not a wrapper
		}
		found = v
	}
	return found, found != nil
}

// checkShape refuses an object without @odata.type that has properties of
// another kind and none of its own.
func checkShape(props map[string]json.RawMessage, want string) error {
	var other string
	for _, k := range kindShapes {
		for _, p := range k.props {
			if _, ok := props[p]; !ok {
				continue
			}
			if k.kind == want {
				return nil
			}
			if other == "" {
				other = fmt.Sprintf("it looks like a %s (it has %q)", k.noun, p)
			}
		}
	}
	if other != "" {
		return errors.New(other)
	}
	return nil
}

// jsonError turns a syntax error into one that says where, as line:column.
func jsonError(data []byte, err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		line, col := position(data, se.Offset)
		if se.Offset >= int64(len(data)) {
			return Errorf(EINVALID, "truncated JSON: it ends at line %d, column %d before the document is complete", line, col)
		}
		if se.Offset > 0 && se.Offset <= int64(len(data)) && data[se.Offset-1] == '<' {
			// A template's placeholder, <ExclusionGroup>, where a value belongs.
			ph := data[se.Offset-1:]
			if end := bytes.IndexByte(ph[:min(len(ph), 80)], '>'); end > 0 {
				return Errorf(EINVALID, "a placeholder, %s, at line %d, column %d where a JSON value belongs: fill it in (a quoted ID) or remove it", ph[:end+1], line, col)
			}
		}
		return Errorf(EINVALID, "malformed JSON at line %d, column %d: %s", line, col, se.Error())
	}
	return Errorf(EINVALID, "%w", describeJSONError(err))
}

func describeJSONError(err error) error {
	if err == nil {
		return nil
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Errorf("property %q should be %s, not a JSON %s", te.Field, te.Type, te.Value)
	}
	return err
}

func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line = 1 + bytes.Count(data[:offset], []byte("\n"))
	col = int(offset) - bytes.LastIndexByte(data[:offset], '\n')
	return line, col
}
