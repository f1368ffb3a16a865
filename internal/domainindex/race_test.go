//go:build race

package domainindex

// raceEnabled makes the big-data tests check a sample: the race detector
// slows the hashing loops about tenfold.
const raceEnabled = true
