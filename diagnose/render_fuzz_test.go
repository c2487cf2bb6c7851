package diagnose

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var unescapeMrkdwn = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

func FuzzEscapeMrkdwn(f *testing.F) {
	for _, s := range []string{"", "plain", hostile, "&amp;", "&lt;&gt;", "<<>>&&", "a\xffb", "<!subteam^S1|x>", "ünï & <ß>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := EscapeMrkdwn(s)
		if strings.ContainsAny(out, "<>") {
			t.Fatalf("EscapeMrkdwn(%q) = %q has a raw < or >", s, out)
		}
		if brokenEntity(out) {
			t.Fatalf("EscapeMrkdwn(%q) = %q has an & that is not an escape", s, out)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("EscapeMrkdwn(%q) is not valid UTF-8", s)
		}
		if utf8.ValidString(s) {
			if back := unescapeMrkdwn.Replace(out); back != s {
				t.Fatalf("unescape(EscapeMrkdwn(%q)) = %q", s, back)
			}
		}
	})
}

func FuzzMrkdwnPolicy(f *testing.F) {
	f.Add(hostile, hostile, "reason", "id", "b2bCollaborationGuest", "t1,t2", uint8(1))
	f.Add("name", "", "", "", "", "", uint8(0))
	f.Add(strings.Repeat("é&<", 100), strings.Repeat("`&amp;", 50), "\n*x*\n", "`id`", "serviceProvider", examplePartner, uint8(60))
	f.Add("\xff\xfe", "\x1b[2J\u202e", "a|b", "\r", "internalGuest,serviceProvider", "", uint8(255))
	f.Fuzz(func(t *testing.T, name, reason1, reason2, id, types, members string, n uint8) {
		// Repeat the inputs so that long ones reach the limits.
		name = strings.Repeat(name, int(n%8)+1)
		var reasons []string
		for range int(n%64) + 1 {
			reasons = append(reasons, reason1, reason2)
		}
		var ext *GuestsOrExternalUsers
		if types != "" {
			ext = &GuestsOrExternalUsers{GuestOrExternalUserTypes: types,
				ExternalTenants: &ExternalTenants{MembershipKind: MembershipEnumerated, Members: strings.Split(strings.Repeat(members+",", int(n%16)+1), ",")}}
		}
		pol := Policy{ID: id, DisplayName: name, State: StateEnabled, Conditions: Conditions{Users: &UsersCondition{IncludeUsers: []string{"All"}, ExcludeGuestsOrExternalUsers: ext}}}
		plan := PlanFix(&pol, examplePartner, n%2 == 1)
		body, err := PatchBody(&pol, plan.After)
		if err != nil {
			t.Fatal(err)
		}
		for _, eff := range []Effect{EffectBlocks, EffectMayBlock, EffectReportOnly, EffectSatisfied, Effect(reason2)} {
			r := PolicyResult{ID: id, DisplayName: name, State: reason2, Effect: eff, WouldBe: EffectBlocks, Reasons: reasons, Plan: &plan, Widens: plan.Widens, Patch: body}
			out := MrkdwnPolicy(r)
			if len(out) > MrkdwnLimit {
				t.Fatalf("%d bytes, over %d", len(out), MrkdwnLimit)
			}
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8: %q", out)
			}
			if strings.ContainsAny(out, "<>") {
				t.Fatalf("raw < or >: %q", out)
			}
			if brokenEntity(out) {
				t.Fatalf("an & that is not an escape: %q", out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.Count(line, "`")%2 != 0 {
					t.Fatalf("unbalanced backticks in %q", line)
				}
			}
		}
	})
}
