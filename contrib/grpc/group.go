package breakergrpc

import (
	"context"
	"errors"

	"github.com/fusebox-go/fusebox/breaker"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// NoBreakerError is the error of a call for which the group of a Group
// interceptor had no breaker and could not make one. The call is not made.
// Its gRPC status is Unavailable when the group is full (Err matches
// breaker.ErrGroupFull: the group holds GroupConfig.MaxBreakers breakers and
// none is closed) and Internal otherwise (Err is the *breaker.ConfigError of
// the Config the group's Config func returned for the method).
type NoBreakerError struct {
	// Method is the full method name, the group's key.
	Method string
	// Err is the error breaker.Group.Get returned.
	Err error
}

// Error says which method had no breaker, and why.
func (e *NoBreakerError) Error() string {
	return "breakergrpc: no breaker for " + e.Method + ": " + e.Err.Error()
}

// Unwrap returns Err, so errors.Is matches breaker.ErrGroupFull or
// breaker.ErrInvalidConfig.
func (e *NoBreakerError) Unwrap() error { return e.Err }

// GRPCStatus returns Unavailable for a full group and Internal otherwise,
// with the error's message.
func (e *NoBreakerError) GRPCStatus() *status.Status {
	code := codes.Internal
	if errors.Is(e.Err, breaker.ErrGroupFull) {
		code = codes.Unavailable
	}
	return status.New(code, e.Error())
}

func mustGroup(g *breaker.Group, fn string) {
	if g == nil {
		panic("breakergrpc: " + fn + " with a nil *breaker.Group")
	}
}

// breakerFor returns g's breaker for method.
func breakerFor(g *breaker.Group, method string) (*breaker.Breaker, error) {
	b, err := g.Get(method)
	if err != nil {
		return nil, &NoBreakerError{Method: method, Err: err}
	}
	return b, nil
}

// UnaryClientInterceptorGroup is UnaryClientInterceptor with one breaker per
// method: each unary call asks g for the breaker of its full method name
// ("/package.Service/Method", the group's key and, unless the group's
// Config func names it, the breaker's name) and goes through that breaker
// as UnaryClientInterceptor describes. When g has no breaker for the method
// and cannot make one, the call is not made and the error is a
// *NoBreakerError. A call whose context is already done is passed on
// without asking g. It panics if g is nil.
func UnaryClientInterceptorGroup(g *breaker.Group, opts ...Option) grpc.UnaryClientInterceptor {
	mustGroup(g, "UnaryClientInterceptorGroup")
	o := newOptions(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		if ctx.Err() != nil {
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}
		b, err := breakerFor(g, method)
		if err != nil {
			return err
		}
		return unaryCall(b, o, ctx, method, req, reply, cc, invoker, callOpts)
	}
}

// StreamClientInterceptorGroup is StreamClientInterceptor with one breaker
// per method, taken from g by full method name as for
// UnaryClientInterceptorGroup; each stream counts once, as
// StreamClientInterceptor describes. The unary and stream interceptors may
// share one group: method names never collide. It panics if g is nil.
func StreamClientInterceptorGroup(g *breaker.Group, opts ...Option) grpc.StreamClientInterceptor {
	mustGroup(g, "StreamClientInterceptorGroup")
	o := newOptions(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		if ctx.Err() != nil {
			return streamer(ctx, desc, cc, method, callOpts...)
		}
		b, err := breakerFor(g, method)
		if err != nil {
			return nil, err
		}
		return streamCall(b, o, ctx, desc, cc, method, streamer, callOpts)
	}
}

// StreamServerInterceptor returns a server interceptor that sheds streams
// as UnaryServerInterceptor sheds unary calls: while b rejects, a stream is
// answered with Unavailable (a *RejectedError) without running the handler;
// otherwise the stream counts once, when the handler returns, by the
// handler's error, classified as on the client side (nil and OK are a
// success, Internal or Unavailable a failure, the client cancelling
// neutral); a panicking handler is a failure and the panic goes on. A
// stream holds its half-open probe slot for as long as its handler runs, so
// a long-lived stream admitted as a probe gives the slot back only when it
// ends or after the breaker's ProbeLease. It panics if b is nil.
func StreamServerInterceptor(b *breaker.Breaker, opts ...Option) grpc.StreamServerInterceptor {
	mustBreaker(b, "StreamServerInterceptor")
	o := newOptions(opts)
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		tk, err := b.Allow()
		if err != nil {
			return rejected(err)
		}
		_, err = guard(tk, func() (struct{}, error) { return struct{}{}, handler(srv, ss) })
		tk.DoneOutcome(o.classify(err))
		return err
	}
}
