package breaker

import "context"

// The wrapped calls: Call, Do and Execute.

// Call runs fn if the breaker admits it and records its result. A rejected
// call returns an *OpenError matching ErrOpen or ErrTooManyRequests without
// running fn. If fn panics, the panic counts as a failure, frees fn's
// half-open slot, and continues up the caller's stack.
func (b *Breaker) Call(fn func() error) error {
	w := b.word.Load()
	if phaseOf(w) == phaseClosed && b.s.slowDur == 0 {
		// The hot path, spelled out: no Ticket, and on success one add to
		// the totals (and one to the window, if kept).
		gen := genOf(w)
		finished := false
		defer func() {
			if !finished {
				b.finish(Ticket{b: b, gen: gen, kind: kindClosed}, Failure)
			}
		}()
		err := fn()
		finished = true
		if err == nil && b.s.quick {
			b.closedSuccess(gen)
		} else {
			b.finish(Ticket{b: b, gen: gen, kind: kindClosed}, b.classify(err))
		}
		return err
	}
	if phaseOf(w) == phaseOpen && !isDue(w) && b.ts != nil {
		// The common rejection, without allowSlow's loop and switch: about
		// 2 ns of 11 (BenchmarkCallOpen: 9.2 ns here, 11.3 ns through
		// allowSlow, on a 2-vCPU VM). When it finds the
		// period over, the same transition as allowSlow's admits the call.
		if err := b.rejectTimed(w); err != nil {
			return err
		}
		if t, ok := b.leavePeriod(w); ok {
			return t.run(fn)
		}
		w = b.word.Load()
	}
	t, err := b.allowSlow(w)
	if err != nil {
		return err
	}
	return t.run(fn)
}

func (t Ticket) run(fn func() error) error {
	finished := false
	defer func() {
		if !finished {
			// fn panicked (or called runtime.Goexit): count a failure and
			// let the panic go on.
			t.b.finish(t, Failure)
		}
	}()
	err := fn()
	finished = true
	t.Done(err)
	return err
}

// Do runs fn(ctx) if ctx is not already done and the breaker admits the call,
// and records its result. With the default classifier a context.Canceled
// result is neutral. If ctx is done before the call, Do returns ctx.Err()
// without running fn or counting anything.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := b.Allow()
	if err != nil {
		return err
	}
	// Spelled out rather than through t.run: the closure t.run would need
	// costs about 2 ns a call (BenchmarkDoClosed and BenchmarkExecuteClosed:
	// 12.5 ns spelled out, 14.8 ns through t.run, on a 2-vCPU VM).
	finished := false
	defer func() {
		if !finished {
			t.b.finish(t, Failure)
		}
	}()
	err = fn(ctx)
	finished = true
	t.Done(err)
	return err
}

// Execute runs fn through b and returns its result, typed. A rejected call
// returns the zero T and an *OpenError.
func Execute[T any](b *Breaker, fn func() (T, error)) (T, error) {
	t, err := b.Allow()
	if err != nil {
		var zero T
		return zero, err
	}
	finished := false // spelled out for the same reason as in Do
	defer func() {
		if !finished {
			t.b.finish(t, Failure)
		}
	}()
	v, err := fn()
	finished = true
	t.Done(err)
	return v, err
}
