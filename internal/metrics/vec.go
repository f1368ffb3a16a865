package metrics

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
)

// vec holds the labelled children of a family, each created once.
type vec[T any] struct {
	desc
	newChild func() *T

	mu       sync.Mutex
	children map[string]*child[T] // by encoded label values
	list     []*child[T]          // append-only, in creation order
}

// child is one series of a vec.
type child[T any] struct {
	values []string
	m      *T
}

func newVec[T any](d desc, newChild func() *T) vec[T] {
	return vec[T]{desc: d, newChild: newChild, children: make(map[string]*child[T])}
}

// with returns the child for labelValues, creating it on first use. It
// panics if the number of values is wrong. With few, short values and an
// existing child it does not allocate.
func (v *vec[T]) with(labelValues []string) *T {
	if len(labelValues) != len(v.labelNames) {
		panic(fmt.Sprintf("metrics: %s: got %d label values, want %d", v.name, len(labelValues), len(v.labelNames)))
	}
	var buf [128]byte
	key := appendKey(buf[:0], labelValues)

	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.children[string(key)]; ok {
		return c.m
	}
	c := &child[T]{values: slices.Clone(labelValues), m: v.newChild()}
	v.children[string(key)] = c
	v.list = append(v.list, c)
	return c.m
}

// snapshot returns the children sorted by label values. Only the slice
// header is read under the lock: list is append-only, so the elements
// below its length never change.
func (v *vec[T]) snapshot() []*child[T] {
	v.mu.Lock()
	list := v.list
	v.mu.Unlock()
	s := slices.Clone(list)
	slices.SortFunc(s, func(a, b *child[T]) int { return slices.Compare(a.values, b.values) })
	return s
}

// appendKey encodes values unambiguously (length-prefixed), so that
// ("a,b", "c") and ("a", "b,c") never share a key whatever the bytes.
func appendKey(b []byte, values []string) []byte {
	for _, s := range values {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}
