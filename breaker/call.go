package breaker

import "context"

// The wrapped calls: Call, Do and Execute. Each makes one admission, runs the
// caller's function, and reports its result; a panic in the function counts
// as a failure (freeing a probe's slot) and goes on up the caller's stack.

// misuse panics with a message that names the caller's mistake, before the
// breaker is touched: a programming error never counts against the
// dependency.
func (b *Breaker) misuse(nilFunc bool, api string) {
	if b == nil {
		panic("breaker: " + api + " on a nil *Breaker: make one with breaker.New or breaker.MustNew")
	}
	if nilFunc {
		panic("breaker: " + api + " with a nil function")
	}
}

// failIfPanicked is the one panic guard of the wrapped calls, deferred before
// the caller's function runs: if the function did not return (it panicked,
// or called runtime.Goexit), the call counts as a failure, which frees a
// probe's slot; the panic goes on. Once the function returned, reporting the
// result is Done's business, including a panicking Classify.
func (t *Ticket) failIfPanicked(returned *bool) {
	if !*returned {
		t.b.finish(*t, Failure)
	}
}

// Call runs fn if the breaker admits it and records its result. A rejected
// call returns an *OpenError matching ErrOpen or ErrTooManyRequests without
// running fn. If fn panics, the panic counts as a failure, frees fn's
// half-open slot, and continues up the caller's stack. Call(nil) panics
// with a message saying so, and changes nothing.
func (b *Breaker) Call(fn func() error) error {
	if b == nil || fn == nil {
		b.misuse(fn == nil, "Call")
	}
	w := b.word.Load()
	if phaseOf(w) == phaseClosed && b.s.slowDur == 0 {
		// The hot path: no clock, and the ticket built from the word.
		return Ticket{b: b, gen: genOf(w), kind: kindClosed}.run(fn)
	}
	if phaseOf(w) == phaseOpen && !isDue(w) && b.ts != nil {
		// The common rejection, without allowSlow's loop and switch
		// (BenchmarkCallOpen measures it). When it finds the period over,
		// the same transition as allowSlow's admits the call.
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
	returned := false
	defer t.failIfPanicked(&returned)
	err := fn()
	returned = true
	t.Done(err)
	return err
}

// Do runs fn(ctx) if ctx is not already done and the breaker admits the call,
// and records its result. With the default classifier a context.Canceled
// result is neutral. If ctx is done before the call, Do returns ctx.Err()
// without running fn or counting anything. Do(ctx, nil) panics with a
// message saying so, and changes nothing.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if b == nil || fn == nil {
		b.misuse(fn == nil, "Do")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := b.Allow()
	if err != nil {
		return err
	}
	returned := false
	defer t.failIfPanicked(&returned)
	err = fn(ctx)
	returned = true
	t.Done(err)
	return err
}

// Execute runs fn through b and returns its result, typed. A rejected call
// returns the zero T and an *OpenError. Execute(b, nil) panics with a message
// saying so, and changes nothing.
func Execute[T any](b *Breaker, fn func() (T, error)) (T, error) {
	if b == nil || fn == nil {
		b.misuse(fn == nil, "Execute")
	}
	t, err := b.Allow()
	if err != nil {
		var zero T
		return zero, err
	}
	returned := false
	defer t.failIfPanicked(&returned)
	v, err := fn()
	returned = true
	t.Done(err)
	return v, err
}
