package diagnose

import "testing"

func TestIsGUID(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"22222222-2222-4222-8222-222222222222", true},
		{"4E8A1C55-7F1B-4C6E-9D2A-1B3C5D7E9F00", true},
		{"4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f0", false},   // one digit short
		{"4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f000", false}, // one too many
		{"4e8a1c55x7f1b-4c6e-9d2a-1b3c5d7e9f00", false},
		{"4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9g00", false},
		{"{4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f0}", false},
		{"contoso.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsGUID(tt.s); got != tt.want {
			t.Errorf("IsGUID(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
