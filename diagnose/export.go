package diagnose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Exports as people keep them. Graph's own JSON decodes as it is; what the
// tools around it write needs undoing first:
//   - Windows PowerShell 5.1 writes files as UTF-16 (Out-File, >);
//   - ConvertTo-Json of Get-MgIdentityConditionalAccessPolicy has PascalCase
//     names, puts what the SDK's model lacks (@odata.type, the members of an
//     enumerated tenant list, an IP location's ranges) in a nested
//     AdditionalProperties, gives empty objects for what is not set, and in
//     Windows PowerShell writes dates as "/Date(1700000000000)/";
//   - baselines and templates hold [] or {} where Graph has an object or
//     null.
// normalizeExport turns such an item into Graph's shape. It never guesses a
// value: what it cannot read it says, such as an export that ConvertTo-Json
// cut at its default depth.

// utf16Order tells UTF-16 text from its start: the zero bytes of ASCII
// characters, after a byte order mark or without one. bom is the mark's
// length (0 or 2).
func utf16Order[S string | []byte](s S) (ok, big bool, bom int) {
	if len(s) >= 2 && (s[0] == 0xff && s[1] == 0xfe || s[0] == 0xfe && s[1] == 0xff) {
		big, bom = s[0] == 0xfe, 2
	}
	t := s[bom:]
	if len(t) < 4 {
		return bom > 0 && len(t)%2 == 0, big, bom
	}
	switch {
	case t[0] != 0 && t[1] == 0 && t[2] != 0 && t[3] == 0:
		return !big || bom == 0, false, bom
	case t[0] == 0 && t[1] != 0 && t[2] == 0 && t[3] != 0:
		return big || bom == 0, true, bom
	}
	return false, false, 0
}

// looksUTF16 reports whether s is UTF-16 text (utf16Order).
func looksUTF16(s string) bool {
	ok, _, _ := utf16Order(s)
	return ok
}

// textOf returns data as UTF-8 when it is UTF-16 (utf16Order), and as it is
// otherwise, for the UTF-8 check to judge.
func textOf(data []byte) []byte {
	ok, big, bom := utf16Order(data)
	if !ok {
		return data
	}
	data = data[bom:]
	units := make([]uint16, len(data)/2)
	for i := range units {
		if big {
			units[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
		} else {
			units[i] = uint16(data[2*i+1])<<8 | uint16(data[2*i])
		}
	}
	out := make([]byte, 0, len(units)+len(units)/8)
	for _, r := range utf16.Decode(units) {
		out = utf8.AppendRune(out, r)
	}
	return out
}

// objectProperties are the properties that Graph gives an object (or null)
// in the kinds this package decodes: [] or a string there is not that.
var objectProperties = map[string]bool{
	"conditions": true, "users": true, "applications": true, "clientApplications": true, "platforms": true,
	"locations": true, "devices": true, "authenticationFlows": true, "times": true, "deviceStates": true,
	"includeGuestsOrExternalUsers": true, "excludeGuestsOrExternalUsers": true, "externalTenants": true,
	"deviceFilter": true, "applicationFilter": true, "servicePrincipalFilter": true,
	"grantControls": true, "sessionControls": true, "authenticationStrength": true,
	"applicationEnforcedRestrictions": true, "cloudAppSecurity": true, "signInFrequency": true,
	"persistentBrowser": true, "continuousAccessEvaluation": true, "secureSignInSession": true,
	"status": true, "deviceDetail": true, "location": true, "inboundTrust": true,
	"b2bCollaborationInbound": true, "b2bDirectConnectInbound": true, "b2bCollaborationOutbound": true,
	"b2bDirectConnectOutbound": true, "tenantRestrictions": true, "automaticUserConsentSettings": true,
}

// maxExportDepth bounds the nesting normalizeExport follows.
const maxExportDepth = 64

// errExportDepth is an object ConvertTo-Json wrote as its type name.
var errExportDepth = errors.New("cut short")

// normalizeExport rewrites one exported item into Graph's shape: names in
// camelCase, AdditionalProperties merged into the object that holds it,
// "/Date(…)/" as RFC 3339, and [] or an object with nothing set where Graph
// has an object as null. An object that ConvertTo-Json wrote as its type
// name is an error that says how to export it whole.
func normalizeExport(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if err := v.normalize(""); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	v.write(&out)
	return out.Bytes(), nil
}

// jsonValue is a JSON value with its object members in order.
type jsonValue struct {
	kind    byte // '{', '[', or 0 for a scalar
	members []jsonMember
	items   []*jsonValue
	scalar  any // string, json.Number, bool or nil
}

type jsonMember struct {
	name  string
	value *jsonValue
}

func readValue(dec *json.Decoder, depth int) (*jsonValue, error) {
	if depth > maxExportDepth {
		return nil, fmt.Errorf("nested more than %d deep", maxExportDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		v := &jsonValue{kind: byte(t)}
		for dec.More() {
			if v.kind == '{' {
				nt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				name, _ := nt.(string)
				mv, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.members = append(v.members, jsonMember{name, mv})
				continue
			}
			item, err := readValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return v, nil
	default:
		return &jsonValue{scalar: t}, nil
	}
}

// normalize rewrites v in place; path names it in errors.
func (v *jsonValue) normalize(path string) error {
	switch v.kind {
	case '[':
		for i, it := range v.items {
			if err := it.normalize(fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case 0:
		if s, ok := v.scalar.(string); ok {
			if t, ok := msDate(s); ok {
				v.scalar = t
			}
		}
		return nil
	}
	// AdditionalProperties hold what the SDK's model lacks: they belong
	// to this object. The object's own members win.
	var members []jsonMember
	var extra []jsonMember
	for _, m := range v.members {
		if strings.EqualFold(m.name, "AdditionalProperties") {
			if m.value.kind == '{' {
				extra = append(extra, m.value.members...)
			}
			continue
		}
		m.name = camelCase(m.name)
		members = append(members, m)
	}
	for _, m := range extra {
		m.name = camelCase(m.name)
		if !v.has(members, m.name) {
			members = append(members, m)
		}
	}
	v.members = members
	for i := range v.members {
		m := &v.members[i]
		p := m.name
		if path != "" {
			p = path + "." + m.name
		}
		if objectProperties[m.name] {
			switch m.value.kind {
			case '[':
				if len(m.value.items) == 0 {
					m.value = &jsonValue{} // [] where an object belongs: not set
					continue
				}
				return fmt.Errorf("property %q should be an object, not a list", p)
			case 0:
				if s, ok := m.value.scalar.(string); ok {
					if s == "" {
						m.value = &jsonValue{}
						continue
					}
					return fmt.Errorf("property %q is the text %q where an object belongs: the export was %w by ConvertTo-Json's default depth; export again with ConvertTo-Json -Depth 10", p, truncate(s, 100), errExportDepth)
				}
			}
		}
		if err := m.value.normalize(p); err != nil {
			return err
		}
		if objectProperties[m.name] && m.value.kind == '{' && m.value.unset() {
			m.value = &jsonValue{} // what the SDK gives for "not set"
		}
	}
	return nil
}

func (v *jsonValue) has(members []jsonMember, name string) bool {
	for _, m := range members {
		if m.name == name {
			return true
		}
	}
	return false
}

// unset reports whether an object has nothing set: every member null, "",
// an empty list or such an object, @odata annotations aside.
func (v *jsonValue) unset() bool {
	for _, m := range v.members {
		if strings.HasPrefix(m.name, "@") || strings.Contains(m.name, "@odata.") {
			continue
		}
		switch mv := m.value; mv.kind {
		case '{':
			if !mv.unset() {
				return false
			}
		case '[':
			if len(mv.items) > 0 {
				return false
			}
		default:
			if mv.scalar != nil && mv.scalar != "" {
				return false
			}
		}
	}
	return true
}

func (v *jsonValue) write(b *bytes.Buffer) {
	switch v.kind {
	case '{':
		b.WriteByte('{')
		for i, m := range v.members {
			if i > 0 {
				b.WriteByte(',')
			}
			name, _ := json.Marshal(m.name)
			b.Write(name)
			b.WriteByte(':')
			m.value.write(b)
		}
		b.WriteByte('}')
	case '[':
		b.WriteByte('[')
		for i, it := range v.items {
			if i > 0 {
				b.WriteByte(',')
			}
			it.write(b)
		}
		b.WriteByte(']')
	default:
		s, _ := json.Marshal(v.scalar) // a string, a json.Number, a bool or nil
		b.Write(s)
	}
}

// camelCase is a PascalCase name as Graph spells it: "DisplayName" is
// displayName, "IPRanges" ipRanges, "ID" id; others are left alone.
func camelCase(name string) string {
	if name == "" || name[0] < 'A' || name[0] > 'Z' {
		return name
	}
	n := 0
	for n < len(name) && name[n] >= 'A' && name[n] <= 'Z' {
		n++
	}
	if n > 1 && n < len(name) && name[n] >= 'a' && name[n] <= 'z' {
		n-- // "IPRanges": the last capital starts the next word
	}
	return strings.ToLower(name[:n]) + name[n:]
}

// msDate reads the "/Date(1700000000000)/" (optionally with an offset,
// "/Date(1700000000000+0100)/") that Windows PowerShell's ConvertTo-Json
// writes for a date, as RFC 3339.
func msDate(s string) (string, bool) {
	inner, ok := strings.CutPrefix(s, "/Date(")
	if !ok {
		return "", false
	}
	inner, ok = strings.CutSuffix(inner, ")/")
	if !ok {
		return "", false
	}
	if i := strings.IndexAny(inner[min(1, len(inner)):], "+-"); i >= 0 {
		inner = inner[:i+1] // the offset says how it was shown, not when
	}
	ms, err := strconv.ParseInt(inner, 10, 64)
	if err != nil {
		return "", false
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano), true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// pascalCase reports whether an item's properties are those of a PowerShell
// object (PascalCase, AdditionalProperties) rather than Graph's JSON.
func pascalCase(props map[string]json.RawMessage) bool {
	for k := range props {
		if k == "AdditionalProperties" || k != "" && k[0] >= 'A' && k[0] <= 'Z' {
			return true
		}
	}
	return false
}

// isPlaceholder reports a value a template leaves to fill in:
// <ExclusionGroup>, {tenantId}, ${groupId}, [GroupId].
func isPlaceholder(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) < 3 {
		return false
	}
	switch {
	case s[0] == '<' && s[len(s)-1] == '>', s[0] == '{' && s[len(s)-1] == '}',
		s[0] == '[' && s[len(s)-1] == ']', strings.HasPrefix(s, "${") && s[len(s)-1] == '}':
		return true
	}
	return false
}

// IsPlaceholder reports whether an ID is a template's placeholder
// ("<ExclusionGroup>", "{policyId}") rather than an ID: policies from one
// template share it, so it identifies none of them.
func IsPlaceholder(id string) bool { return isPlaceholder(id) }
