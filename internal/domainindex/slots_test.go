package domainindex

import "testing"

// TestNewSlots checks that the slot table has the asked length and capacity
// and is empty, for sizes below, at and around the huge-page threshold
// (where the Linux version advises the kernel about an interior range).
func TestNewSlots(t *testing.T) {
	tests := []struct {
		name string
		n, c int
	}{
		{"empty", 0, 0},
		{"small", 3, 67},
		{"below two huge pages", 2*hugePage/8 - 1, 2*hugePage/8 - 1},
		{"two huge pages", 2 * hugePage / 8, 2 * hugePage / 8},
		{"unaligned large", 3*hugePage/8 + 5, 3*hugePage/8 + 69},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSlots(tt.n, tt.c)
			if len(s) != tt.n || cap(s) != tt.c {
				t.Fatalf("len %d cap %d, want %d %d", len(s), cap(s), tt.n, tt.c)
			}
			s = s[:cap(s)]
			for i, v := range s {
				if v != 0 {
					t.Fatalf("slot %d = %#x, want 0", i, v)
				}
				s[i] = uint64(i) // the whole capacity is writable
			}
		})
	}
}
