package querylog

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hearth-dns/hearth/internal/testutil/cycles"
)

// threadCPU returns the calling OS thread's CPU time so far.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSustainedFakeTime logs rate entries a second for b.N seconds
// of fake time into a Writer with the default buffer, and counts the
// entries that would be dropped, the target being 0. It models one core
// for the writer: time passes in 1 ms ticks while the writer is idle, and
// by the CPU time the writer took (measured on its thread) while it
// writes. The entries due by then are logged at every point where the
// writer looks at the buffer again (after a write, and between two
// INSERTs, through Writer.hook); those that do not fit in the buffer are
// counted as dropped. The writer writes when the buffer reaches Buffer/4,
// and commits the rows of the seconds that are over maxCommitDelay after
// its first write or when FlushInterval passed, as the writer goroutine
// does. writer-cpu/s is the writer's CPU-seconds per second of traffic:
// the share of one core the log costs at this rate; max-commit-ms and
// max-write-ms are the longest a commit or a write kept the writer from
// looking at the buffer. Checkpoints run on their own thread, as with
// the writer goroutine; process-cpu/s counts them with the writer and the
// GC. Run with -benchtime 60x for the 60 s.
func BenchmarkSustainedFakeTime(b *testing.B) {
	for _, rate := range []int{50_000, 100_000} {
		b.Run("rate="+strconv.Itoa(rate), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var now time.Duration
			// The clock closes seconds too (commitClosed): fake time.
			w := newWriter(b, Config{TruncateIPv4Bits: 24, Now: func() time.Time { return t0.Add(now) }})
			ctx := context.Background()
			// As the writer goroutine does: checkpoints on their own thread.
			stopCheckpoints := w.startCheckpoints(ctx)
			entries := benchEntries(rate, 5000)
			const tick = time.Millisecond
			end := time.Duration(b.N) * time.Second
			due := func(at time.Duration) int { return int(int64(at) * int64(rate) / int64(time.Second)) }
			var lastFlush, busy, txStart time.Duration
			txOpen := false
			var maxD, maxW, longest time.Duration
			logged, dropped := 0, 0
			logUntil := func(at time.Duration) {
				free := w.cfg.Buffer - w.buffered()
				n := due(at) - logged
				if n > free {
					dropped += n - free
					logged += n - free
					n = free
				}
				for range n {
					e := &entries[logged%len(entries)]
					e.Time = t0.UnixNano() + int64(logged)*int64(time.Second)/int64(rate)
					w.Log(e)
					logged++
				}
			}
			b.ResetTimer()
			cpu0 := cycles.ProcessCPU()
			for now < end {
				now += tick
				logUntil(now)
				tick := now-lastFlush >= w.cfg.FlushInterval
				commit := txOpen && now-txStart >= maxCommitDelay
				if w.buffered() < w.wakeAt && !tick && !commit {
					continue
				}
				c0 := threadCPU(b)
				// Between two INSERTs the writer looks at the buffer:
				// log what arrived meanwhile.
				start, last := now, time.Duration(0)
				w.hook = func() {
					d := threadCPU(b) - c0
					longest = max(longest, d-last)
					last = d
					logUntil(start + d)
				}
				longest = 0
				mode := keepOpen
				if tick || commit {
					mode = commitClosed
				}
				if err := w.write(ctx, mode); err != nil {
					b.Fatal(err)
				}
				if mode == keepOpen {
					if !txOpen {
						txOpen, txStart = true, now
					}
				} else {
					txOpen = false
				}
				d := threadCPU(b) - c0
				longest = max(longest, d-last)
				if mode == commitClosed {
					maxD = max(maxD, longest)
				} else {
					maxW = max(maxW, longest)
				}
				busy += d
				now += d
				if tick {
					lastFlush = now
				}
				logUntil(now)
			}
			b.StopTimer()
			// The whole process: the writer, the checkpoints, the GC.
			b.ReportMetric((cycles.ProcessCPU()-cpu0).Seconds()/now.Seconds(), "process-cpu/s")
			stopCheckpoints()
			flush(b, w)
			s := w.Stats()
			dropped += int(s.Dropped)
			b.ReportMetric(float64(dropped), "dropped")
			b.ReportMetric(float64(s.Written), "written")
			b.ReportMetric(busy.Seconds()/now.Seconds(), "writer-cpu/s")
			b.ReportMetric(float64(maxD.Milliseconds()), "max-commit-ms")
			b.ReportMetric(float64(maxW.Milliseconds()), "max-write-ms")
			if rate <= 50_000 && (dropped != 0 || s.Failed != 0) {
				b.Errorf("at %d/s: %d dropped, %+v; want none", rate, dropped, s)
			}
		})
	}
}
