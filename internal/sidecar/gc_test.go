package sidecar

import "testing"

func TestGCPercentFor(t *testing.T) {
	tests := []struct {
		name    string
		live    uint64
		current int
		want    int
	}{
		{"small heap", 2 << 20, largeHeapGC, smallHeapGC},
		{"large heap", 64 << 20, smallHeapGC, largeHeapGC},
		{"between the bounds keeps a small heap's setting", 12 << 20, smallHeapGC, smallHeapGC},
		{"between the bounds keeps a large heap's setting", 12 << 20, largeHeapGC, largeHeapGC},
		{"at the small bound", smallHeap, largeHeapGC, largeHeapGC},
		{"just over the large bound", largeHeap + 1, smallHeapGC, largeHeapGC},
	}
	for _, tc := range tests {
		if got := gcPercentFor(tc.live, tc.current); got != tc.want {
			t.Errorf("%s: gcPercentFor(%d, %d) = %d, want %d", tc.name, tc.live, tc.current, got, tc.want)
		}
	}
}
