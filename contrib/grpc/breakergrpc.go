// Package breakergrpc puts a fusebox circuit breaker in front of gRPC calls,
// as client interceptors for the calls a service makes and as server
// interceptors that shed load.
//
// It lives in its own Go module (github.com/fusebox-go/fusebox/contrib/grpc)
// so that importing package breaker never pulls in gRPC.
//
//	b := breaker.MustNew(breaker.Config{Name: "inventory"})
//	conn, err := grpc.NewClient(target,
//		grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(b)),
//		grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(b)),
//		...)
//
// With a breaker.Group instead of one breaker, UnaryClientInterceptorGroup
// and StreamClientInterceptorGroup give each method (its full name,
// "/package.Service/Method") its own breaker, so a failing method stops
// only its own calls:
//
//	methods, err := breaker.NewGroup(breaker.GroupConfig{...})
//	...
//	conn, err := grpc.NewClient(target,
//		grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptorGroup(methods)),
//		grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptorGroup(methods)),
//		...)
//
// # What counts
//
// The interceptors classify a call's error by its gRPC status code
// (DefaultClassify), not with the breaker's Config.Classify, which they
// bypass:
//
//   - failure: Unavailable, DeadlineExceeded, ResourceExhausted, Internal,
//     Unknown (which includes errors that carry no status), DataLoss,
//     Aborted: the service is down, overloaded, too slow or broken;
//   - neutral: Canceled (the caller gave up), and a rejection by another
//     breaker or group in the same chain (an error matching breaker.ErrOpen,
//     breaker.ErrTooManyRequests or breaker.ErrGroupFull: the service was
//     not called);
//   - success: OK and every other code (NotFound, InvalidArgument,
//     AlreadyExists, PermissionDenied, Unauthenticated, FailedPrecondition,
//     OutOfRange, Unimplemented): the service answered.
//
// WithClassifier replaces this table.
//
// A unary call counts once, when it returns. A stream counts once, at its
// first sign of life (see StreamClientInterceptor). A call whose context is
// already done when it starts is passed on without asking the breaker and
// without counting: it says nothing about the service.
//
// # Rejections
//
// A call the breaker rejects is not made. Its error is a *RejectedError,
// for which both of these hold:
//
//	status.Code(err) == codes.Unavailable
//	errors.Is(err, breaker.ErrOpen) || errors.Is(err, breaker.ErrTooManyRequests)
//
// and errors.As finds the breaker's *breaker.OpenError (its State and
// RetryAt) in it.
package breakergrpc

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/fusebox-go/fusebox/breaker"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultClassify is the classification used unless WithClassifier replaces
// it; the package documentation lists what counts as what. nil is a
// Success. An error without a gRPC status counts by the code that
// status.Code gives it (Unknown: a Failure), except that errors matching
// context.Canceled, breaker.ErrOpen, breaker.ErrTooManyRequests or
// breaker.ErrGroupFull are Neutral and errors matching
// context.DeadlineExceeded are a Failure.
func DefaultClassify(err error) breaker.Outcome {
	if err == nil {
		return breaker.Success
	}
	if errors.Is(err, breaker.ErrOpen) || errors.Is(err, breaker.ErrTooManyRequests) || errors.Is(err, breaker.ErrGroupFull) {
		return breaker.Neutral
	}
	code := status.Code(err)
	if code == codes.Unknown {
		switch {
		case errors.Is(err, context.Canceled):
			return breaker.Neutral
		case errors.Is(err, context.DeadlineExceeded):
			return breaker.Failure
		}
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Internal, codes.Unknown, codes.DataLoss, codes.Aborted:
		return breaker.Failure
	case codes.Canceled:
		return breaker.Neutral
	}
	return breaker.Success
}

// Option configures an interceptor.
type Option func(*options)

type options struct {
	classify func(error) breaker.Outcome
}

func newOptions(opts []Option) options {
	o := options{classify: DefaultClassify}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithClassifier replaces DefaultClassify: c decides how a call's error
// (nil for a call that succeeded) counts. A nil c keeps the default.
func WithClassifier(c func(error) breaker.Outcome) Option {
	return func(o *options) {
		if c != nil {
			o.classify = c
		}
	}
}

// RejectedError is the error of a call the breaker did not admit. Its gRPC
// status is Unavailable, and it unwraps to the breaker's *breaker.OpenError,
// so errors.Is matches breaker.ErrOpen or breaker.ErrTooManyRequests.
type RejectedError struct {
	// Open is the breaker's rejection; do not modify it (breakers share
	// their OpenErrors).
	Open *breaker.OpenError
}

// Error returns the OpenError's message.
func (e *RejectedError) Error() string { return e.Open.Error() }

// Unwrap returns the *breaker.OpenError.
func (e *RejectedError) Unwrap() error { return e.Open }

// GRPCStatus returns an Unavailable status with the OpenError's message, for
// status.Code, status.FromError and for a server returning the error.
func (e *RejectedError) GRPCStatus() *status.Status {
	return status.New(codes.Unavailable, e.Open.Error())
}

// rejected wraps the error of a refused Allow.
func rejected(err error) error {
	var oe *breaker.OpenError
	if errors.As(err, &oe) {
		return &RejectedError{Open: oe}
	}
	return err // Allow returns only *OpenErrors; keep anything else as is
}

// guard calls fn; if fn panics, it reports a Failure on tk and lets the
// panic go on, as the breaker's own Call does.
func guard[T any](tk breaker.Ticket, fn func() (T, error)) (T, error) {
	returned := false
	defer func() {
		if !returned {
			tk.DoneOutcome(breaker.Failure)
		}
	}()
	v, err := fn()
	returned = true
	return v, err
}

func mustBreaker(b *breaker.Breaker, fn string) {
	if b == nil {
		panic("breakergrpc: " + fn + " with a nil *breaker.Breaker")
	}
}

// UnaryClientInterceptor returns a client interceptor that makes each unary
// call only if b admits it and reports the call's outcome, classified when
// the call returns (see the package documentation). A rejected call returns
// a *RejectedError without being sent. It panics if b is nil.
func UnaryClientInterceptor(b *breaker.Breaker, opts ...Option) grpc.UnaryClientInterceptor {
	mustBreaker(b, "UnaryClientInterceptor")
	o := newOptions(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		if ctx.Err() != nil {
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}
		return unaryCall(b, o, ctx, method, req, reply, cc, invoker, callOpts)
	}
}

// unaryCall makes a unary call if b admits it and reports its outcome.
func unaryCall(b *breaker.Breaker, o options, ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts []grpc.CallOption) error {
	tk, err := b.Allow()
	if err != nil {
		return rejected(err)
	}
	_, err = guard(tk, func() (struct{}, error) {
		return struct{}{}, invoker(ctx, method, req, reply, cc, callOpts...)
	})
	tk.DoneOutcome(o.classify(err))
	return err
}

// StreamClientInterceptor returns a client interceptor that opens each
// stream only if b admits it, and counts the stream once, at the first of:
//
//   - opening it fails: the error is classified;
//   - the first RecvMsg returns: a message or io.EOF (the stream ended with
//     OK) is a success, an error is classified;
//   - the stream's context is done first: classified as the status the
//     context's error maps to (Canceled: neutral, DeadlineExceeded:
//     failure).
//
// So a stream counts as a success once the service has answered it, and
// what happens on the stream afterwards is not counted: a long-lived stream
// does not hold a half-open probe slot beyond its first response. Until that
// first response a probe's slot stays taken (a stream whose caller never
// receives and never cancels it gives its slot back only after the
// breaker's ProbeLease). A rejected stream returns a nil stream and a
// *RejectedError. It panics if b is nil.
func StreamClientInterceptor(b *breaker.Breaker, opts ...Option) grpc.StreamClientInterceptor {
	mustBreaker(b, "StreamClientInterceptor")
	o := newOptions(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		if ctx.Err() != nil {
			return streamer(ctx, desc, cc, method, callOpts...)
		}
		return streamCall(b, o, ctx, desc, cc, method, streamer, callOpts)
	}
}

// streamCall opens a stream if b admits it and arranges for its outcome to
// be reported once (see StreamClientInterceptor).
func streamCall(b *breaker.Breaker, o options, ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts []grpc.CallOption) (grpc.ClientStream, error) {
	tk, err := b.Allow()
	if err != nil {
		return nil, rejected(err)
	}
	cs, err := guard(tk, func() (grpc.ClientStream, error) {
		return streamer(ctx, desc, cc, method, callOpts...)
	})
	if err != nil {
		tk.DoneOutcome(o.classify(err))
		return cs, err
	}
	s := &clientStream{ClientStream: cs, tk: tk, classify: o.classify}
	s.stop = context.AfterFunc(ctx, func() {
		_ = s.report(o.classify(status.FromContextError(ctx.Err()).Err()))
	})
	return s, nil
}

// clientStream reports its stream's outcome once.
type clientStream struct {
	grpc.ClientStream
	tk       breaker.Ticket
	classify func(error) breaker.Outcome
	stop     func() bool
	reported atomic.Bool
}

// report reports o unless an outcome was reported already, and says whether
// it did.
func (s *clientStream) report(o breaker.Outcome) bool {
	if !s.reported.CompareAndSwap(false, true) {
		return false
	}
	s.tk.DoneOutcome(o)
	return true
}

// RecvMsg receives a message and, the first time, reports the outcome.
func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if !s.reported.Load() {
		o := breaker.Success
		if err != nil && err != io.EOF {
			o = s.classify(err)
		}
		if s.report(o) {
			s.stop() // set before the stream was handed out
		}
	}
	return err
}

// UnaryServerInterceptor returns a server interceptor that sheds load: while
// b rejects, calls are answered with Unavailable (a *RejectedError) without
// running the handler; otherwise the handler's error is classified as on the
// client side (a handler returning Internal or Unavailable is a failure, the
// client cancelling is neutral). Use it when the handlers depend on
// something that can fail as a whole (a database, a downstream service), so
// that the server answers at once instead of piling up calls that cannot
// succeed. It panics if b is nil.
func UnaryServerInterceptor(b *breaker.Breaker, opts ...Option) grpc.UnaryServerInterceptor {
	mustBreaker(b, "UnaryServerInterceptor")
	o := newOptions(opts)
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		tk, err := b.Allow()
		if err != nil {
			return nil, rejected(err)
		}
		resp, err := guard(tk, func() (any, error) { return handler(ctx, req) })
		tk.DoneOutcome(o.classify(err))
		return resp, err
	}
}
