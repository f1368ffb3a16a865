package cycles

// Ticks returns the time-stamp counter, read after every earlier
// instruction has completed (LFENCE; RDTSC; LFENCE).
func Ticks() uint64
