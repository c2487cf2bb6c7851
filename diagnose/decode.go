package diagnose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // PowerShell writes a BOM
	if !utf8.Valid(data) {
		return nil, Errorf(EINVALID, "not UTF-8 text (is it a binary file?)")
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
		if err := checkKind(raw, kind); err != nil {
			return nil, Errorf(EINVALID, "item %d: %s, not a %s", i, err, noun)
		}
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, Errorf(EINVALID, "item %d: %w", i, describeJSONError(err))
		}
		if err := PT(&v).Validate(); err != nil {
			return nil, Errorf(EINVALID, "item %d: %w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// checkKind refuses an item whose @odata.type names another kind of object,
// the usual mistake being the wrong file passed to the wrong flag; without
// @odata.type, its properties tell (checkShape).
func checkKind(raw json.RawMessage, want string) error {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return errors.New("it is not a JSON object")
	}
	var props map[string]json.RawMessage
	if json.Unmarshal(raw, &props) != nil {
		return nil // the decoder will say what is wrong
	}
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
		return Errorf(EINVALID, "malformed JSON at line %d, column %d: %s", line, col, se.Error())
	}
	return Errorf(EINVALID, "%w", describeJSONError(err))
}

func describeJSONError(err error) error {
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
