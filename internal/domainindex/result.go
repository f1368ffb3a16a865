package domainindex

import "slices"

// Result is what a lookup found for one query name: the index entries at the
// name and its parents that can affect the answer, most specific first. It
// is a fixed-size value (about 400 bytes, no pointers into the query) so
// looking up allocates nothing; its methods take a pointer to avoid copying
// it. The zero Result matches nothing.
type Result struct {
	ix       *Index
	nameLen  int  // query length without the trailing dot
	n        int  // number of hits
	positive bool // some hit names a list that matches (before exceptions)
	except   bool // some hit names Exception lists
	sets     [maxSuffixes]SetID
	lens     [maxSuffixes]uint8 // length of the hit suffix
}

// add records the hit of set at the suffix of length l, if it can matter:
// Exact lists only count at the full name.
func (r *Result) add(set SetID, l uint8, full bool) {
	f := r.ix.flags[set]
	pos := f & flagSubtree
	if full {
		pos |= f & flagExact
	}
	if pos == 0 && f&flagExcept == 0 {
		return
	}
	r.sets[r.n] = set
	r.lens[r.n] = l
	r.n++
	r.positive = r.positive || pos != 0
	r.except = r.except || f&flagExcept != 0
}

// Match is one list that matched a query, with the rule that matched it.
type Match struct {
	// List is the list that matched.
	List ListID
	// Kind is how the rule matched: Exact or Subtree.
	Kind Kind
	// Offset is where the listed name starts in the query name: the rule is
	// name[Offset:] without a trailing dot (see Rule). When a list matches
	// at several levels, this is the most specific one.
	Offset int
}

// Rule returns the listed name that matched, as a substring of the query
// name that was looked up (without its trailing dot). It does not allocate.
func (m Match) Rule(name string) string {
	s := name[m.Offset:]
	if n := len(s); n > 0 && s[n-1] == '.' {
		s = s[:n-1]
	}
	return s
}

// Hit is one level of the query name found in the index: the list set
// stored for the suffix name[Offset:], and whether that suffix is the whole
// name (so its Exact lists apply).
type Hit struct {
	Set    SetID
	Offset int
	Full   bool
}

// Hits returns the number of levels of the name found in the index, with
// lists that can affect the answer.
func (r *Result) Hits() int { return r.n }

// Hit returns hit i, 0 <= i < Hits(), most specific first.
func (r *Result) Hit(i int) Hit {
	if i < 0 || i >= r.n {
		panic("domainindex: Hit index out of range")
	}
	return Hit{Set: r.sets[i], Offset: r.nameLen - int(r.lens[i]), Full: int(r.lens[i]) == r.nameLen}
}

// Matched reports whether any list matches the name, after exceptions.
func (r *Result) Matched() bool {
	if !r.positive || !r.except {
		return r.positive
	}
	for i := range r.n {
		ls := r.ix.Set(r.sets[i])
		if int(r.lens[i]) == r.nameLen {
			for _, l := range ls.Exact {
				if !r.excepted(l) {
					return true
				}
			}
		}
		for _, l := range ls.Subtree {
			if !r.excepted(l) {
				return true
			}
		}
	}
	return false
}

// Match reports whether list matches the name, after exceptions, and with
// which rule (the most specific one if several match).
func (r *Result) Match(list ListID) (Match, bool) {
	if !r.positive || (r.except && r.excepted(list)) {
		return Match{}, false
	}
	for i := range r.n {
		ls := r.ix.Set(r.sets[i])
		off := r.nameLen - int(r.lens[i])
		if off == 0 {
			if _, ok := slices.BinarySearch(ls.Exact, list); ok {
				return Match{List: list, Kind: Exact, Offset: 0}, true
			}
		}
		if _, ok := slices.BinarySearch(ls.Subtree, list); ok {
			return Match{List: list, Kind: Subtree, Offset: off}, true
		}
	}
	return Match{}, false
}

// AppendMatches appends every list that matches the name, after exceptions,
// each once with its most specific rule, and returns the extended slice. The
// matches come most specific first, then Exact before Subtree, then by list
// id. It allocates only if dst lacks capacity: pass a stack buffer such as
// make([]Match, 0, 16) on hot paths.
func (r *Result) AppendMatches(dst []Match) []Match {
	if !r.positive {
		return dst
	}
	start := len(dst)
	for i := range r.n {
		ls := r.ix.Set(r.sets[i])
		off := r.nameLen - int(r.lens[i])
		if off == 0 {
			for _, l := range ls.Exact {
				dst = r.appendNew(dst, start, Match{List: l, Kind: Exact, Offset: off})
			}
		}
		for _, l := range ls.Subtree {
			dst = r.appendNew(dst, start, Match{List: l, Kind: Subtree, Offset: off})
		}
	}
	return dst
}

// appendNew appends m unless its list is excepted or already in dst[start:].
func (r *Result) appendNew(dst []Match, start int, m Match) []Match {
	if r.except && r.excepted(m.List) {
		return dst
	}
	for _, d := range dst[start:] {
		if d.List == m.List {
			return dst
		}
	}
	return append(dst, m)
}

// excepted reports whether an Exception entry at any level of the name
// removes list.
func (r *Result) excepted(list ListID) bool {
	for i := range r.n {
		if r.ix.flags[r.sets[i]]&flagExcept == 0 {
			continue
		}
		if _, ok := slices.BinarySearch(r.ix.Set(r.sets[i]).Except, list); ok {
			return true
		}
	}
	return false
}
