package pipeline

// Steps are the parts of the query path, each optional except Resolve.
// Build orders them; a nil step is skipped.
type Steps struct {
	// Access refuses sources outside the allowed networks and rate-limits
	// clients. It runs first so that nothing else spends work on a stranger.
	Access Middleware
	// Identify finds the household and device of the request. It runs
	// before Policy, which needs them, and after Access, so that refused
	// sources never touch identity tables.
	Identify Middleware
	// Observe records each answered query: counters, the query log, and
	// new-device discovery. It runs after Identify, whose device and
	// policy it records, and outside Policy, which reports what it decided
	// in Request.Outcome; it records once the steps inside have answered.
	Observe Middleware
	// Policy decides allow, block or rewrite per device. It sits outside
	// Local and Cache so that a device's policy applies to every answer,
	// and so that the shared cache holds only policy-free upstream answers.
	Policy Middleware
	// Local answers local records and routes conditional forwards. It
	// sits before Resolve because local data needs no caching.
	Local Middleware
	// Resolve answers what nothing above answered: from the shared cache,
	// or by asking the upstreams (the cache coalesces identical misses, so
	// it owns the upstream call rather than wrapping a handler).
	Resolve Handler
}

// Build returns the handler chain: Access, Identify, Observe, Policy,
// Local, then Resolve. See Steps for why each step sits where it does.
func Build(s Steps) Handler {
	h := s.Resolve
	for _, m := range []Middleware{s.Local, s.Policy, s.Observe, s.Identify, s.Access} {
		if m != nil {
			h = m(h)
		}
	}
	return h
}
