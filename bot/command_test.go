package bot

import "testing"

func TestUnlinkText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<http://contoso.com|contoso.com>", "contoso.com"},
		{"link <http://contoso.com|contoso.com>", "link contoso.com"},
		{"<https://login.microsoftonline.com/x?a=1&amp;b=2>", "https://login.microsoftonline.com/x?a=1&amp;b=2"},
		{"<mailto:admin@contoso.com|admin@contoso.com>", "admin@contoso.com"},
		{"approvers contoso.com add <@U0NEW|new>", "approvers contoso.com add <@U0NEW|new>"},
		{"<#C0SUPPORT|support> <!channel>", "<#C0SUPPORT|support> <!channel>"},
		{"Contoso Inc.", "Contoso Inc."},
		{"<http://unclosed", "<http://unclosed"},
	}
	for _, tt := range tests {
		if got := unlinkText(tt.in); got != tt.want {
			t.Errorf("unlinkText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
