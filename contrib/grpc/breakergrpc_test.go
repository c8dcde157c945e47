package breakergrpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakergrpc "github.com/fusebox-go/fusebox/contrib/grpc"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a breaker.Clock that moves only when advanced.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// healthServer is the test service: its Check and Watch do what the test
// sets.
type healthServer struct {
	grpc_health_v1.UnimplementedHealthServer
	mu    sync.Mutex
	check func(ctx context.Context) error
	watch func(grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error
	calls atomic.Int32
}

func (h *healthServer) setCheck(f func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.check = f
}

func (h *healthServer) setCode(c codes.Code) {
	h.setCheck(func(context.Context) error { return status.Error(c, "set by the test") })
}

func (h *healthServer) setWatch(f func(grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watch = f
}

func (h *healthServer) Check(ctx context.Context, _ *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	h.calls.Add(1)
	h.mu.Lock()
	f := h.check
	h.mu.Unlock()
	if f != nil {
		if err := f(ctx); err != nil {
			return nil, err
		}
	}
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
}

func (h *healthServer) Watch(_ *grpc_health_v1.HealthCheckRequest, s grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error {
	h.calls.Add(1)
	h.mu.Lock()
	f := h.watch
	h.mu.Unlock()
	if f == nil {
		return s.Send(&grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING})
	}
	return f(s)
}

// setup serves a healthServer over bufconn and returns a client whose
// connection uses dialOpts. Everything is closed when the test ends.
func setup(t *testing.T, serverOpts []grpc.ServerOption, dialOpts ...grpc.DialOption) (*healthServer, grpc_health_v1.HealthClient) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(serverOpts...)
	hs := &healthServer{}
	grpc_health_v1.RegisterHealthServer(srv, hs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	conn := dial(t, lis, dialOpts...)
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Errorf("conn.Close: %v", err)
		}
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return hs, grpc_health_v1.NewHealthClient(conn)
}

func dial(t *testing.T, lis *bufconn.Listener, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, opts...)
	conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return conn
}

func newBreaker(clk *fakeClock, threshold uint32) *breaker.Breaker {
	return breaker.MustNew(breaker.Config{
		Name: "health", FailureThreshold: threshold, Timeout: 10 * time.Second,
		HalfOpenMaxCalls: 1, Clock: clk,
	})
}

func check(c grpc_health_v1.HealthClient, ctx context.Context) error {
	_, err := c.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	return err
}

func counts(t *testing.T, b *breaker.Breaker, success, failure, neutral, rejected uint64) {
	t.Helper()
	c := b.Counts()
	if c.SuccessCalls != success || c.FailureCalls != failure || c.NeutralCalls != neutral || c.Rejected != rejected {
		t.Fatalf("counts success/failure/neutral/rejected = %d/%d/%d/%d, want %d/%d/%d/%d",
			c.SuccessCalls, c.FailureCalls, c.NeutralCalls, c.Rejected, success, failure, neutral, rejected)
	}
}

// assertRejected checks the two promises of a rejection.
func assertRejected(t *testing.T, err error, sentinel error) {
	t.Helper()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("rejection %v: code %v, want Unavailable", err, status.Code(err))
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("rejection %v does not match %v", err, sentinel)
	}
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.Name != "health" {
		t.Fatalf("rejection %v: no *breaker.OpenError of the breaker", err)
	}
}

// TestUnaryTripRejectRecover: failures trip the breaker, the open breaker
// rejects without calling the service, a NotFound probe (the service
// answered) closes it again.
func TestUnaryTripRejectRecover(t *testing.T) {
	clk := newClock()
	b := newBreaker(clk, 3)
	hs, c := setup(t, nil, grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(b)))
	ctx := context.Background()

	hs.setCode(codes.Unavailable)
	for range 3 {
		if err := check(c, ctx); status.Code(err) != codes.Unavailable {
			t.Fatalf("call: %v", err)
		}
	}
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %v, want open", b.State())
	}
	err := check(c, ctx)
	assertRejected(t, err, breaker.ErrOpen)
	var rej *breakergrpc.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("rejection %T is not a *RejectedError", err)
	}
	if want := clk.Now().Add(10 * time.Second); !rej.Open.RetryAt.Equal(want) {
		t.Fatalf("RetryAt %v, want %v", rej.Open.RetryAt, want)
	}
	if n := hs.calls.Load(); n != 3 {
		t.Fatalf("service called %d times, want 3", n)
	}
	counts(t, b, 0, 3, 0, 1)

	clk.Advance(10 * time.Second)
	hs.setCode(codes.NotFound)
	if err := check(c, ctx); status.Code(err) != codes.NotFound {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != breaker.StateClosed {
		t.Fatalf("state %v after a NotFound probe, want closed", b.State())
	}
	counts(t, b, 1, 3, 0, 1)
}

// TestUnaryHalfOpenFull: while the one probe is in flight, another call is
// rejected with ErrTooManyRequests and codes.Unavailable.
func TestUnaryHalfOpenFull(t *testing.T) {
	clk := newClock()
	b := newBreaker(clk, 1)
	hs, c := setup(t, nil, grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(b)))
	b.RecordFailure()
	clk.Advance(10 * time.Second)

	started, release := make(chan struct{}), make(chan struct{})
	hs.setCheck(func(context.Context) error { close(started); <-release; return nil })
	probe := make(chan error)
	go func() { probe <- check(c, context.Background()) }()
	<-started
	assertRejected(t, check(c, context.Background()), breaker.ErrTooManyRequests)
	close(release)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != breaker.StateClosed {
		t.Fatalf("state %v, want closed", b.State())
	}
}

// TestUnaryCodes runs every status code over the wire against a breaker
// that trips on one failure.
func TestUnaryCodes(t *testing.T) {
	failures := map[codes.Code]bool{
		codes.Unavailable: true, codes.DeadlineExceeded: true, codes.ResourceExhausted: true,
		codes.Internal: true, codes.Unknown: true, codes.DataLoss: true, codes.Aborted: true,
	}
	clk := newClock()
	var b atomic.Pointer[breaker.Breaker]
	// The interceptor is built per call, so that one connection serves a
	// fresh breaker for each code.
	hs, c := setup(t, nil, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return breakergrpc.UnaryClientInterceptor(b.Load())(ctx, method, req, reply, cc, invoker, opts...)
	}))
	for code := codes.OK; code <= codes.Unauthenticated; code++ {
		b.Store(newBreaker(clk, 1))
		if code == codes.OK {
			hs.setCheck(nil)
		} else {
			hs.setCode(code)
		}
		err := check(c, context.Background())
		if status.Code(err) != code {
			t.Fatalf("%v: got %v", code, err)
		}
		cnt := b.Load().Counts()
		switch {
		case code == codes.Canceled:
			if cnt.NeutralCalls != 1 || b.Load().State() != breaker.StateClosed {
				t.Errorf("%v: %+v, want one neutral call", code, cnt)
			}
		case failures[code]:
			if cnt.FailureCalls != 1 || b.Load().State() != breaker.StateOpen {
				t.Errorf("%v: %+v, want a failure that trips", code, cnt)
			}
		default:
			if cnt.SuccessCalls != 1 || b.Load().State() != breaker.StateClosed {
				t.Errorf("%v: %+v, want a success", code, cnt)
			}
		}
	}
}

// TestUnaryCancel: a call the caller cancels in flight is neutral; a call
// whose context is already done is not counted at all.
func TestUnaryCancel(t *testing.T) {
	b := newBreaker(newClock(), 1)
	hs, c := setup(t, nil, grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(b)))
	started := make(chan struct{})
	hs.setCheck(func(ctx context.Context) error { close(started); <-ctx.Done(); return ctx.Err() })
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if err := check(c, ctx); status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled call: %v", err)
	}
	counts(t, b, 0, 0, 1, 0)

	if err := check(c, ctx); status.Code(err) != codes.Canceled {
		t.Fatalf("call with a done context: %v", err)
	}
	counts(t, b, 0, 0, 1, 0)
	if b.State() != breaker.StateClosed {
		t.Fatalf("state %v, want closed", b.State())
	}
}

// TestUnaryServerDown: a connection that cannot be made fails the calls
// (Unavailable) and trips the breaker.
func TestUnaryServerDown(t *testing.T) {
	b := newBreaker(newClock(), 2)
	lis := bufconn.Listen(1 << 10)
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, lis, grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(b)))
	defer conn.Close()
	c := grpc_health_v1.NewHealthClient(conn)
	for range 2 {
		if err := check(c, context.Background()); status.Code(err) != codes.Unavailable {
			t.Fatalf("call to a closed listener: %v", err)
		}
	}
	assertRejected(t, check(c, context.Background()), breaker.ErrOpen)
}

// TestWithClassifier: a classifier that counts NotFound as a failure.
func TestWithClassifier(t *testing.T) {
	b := newBreaker(newClock(), 1)
	strict := breakergrpc.WithClassifier(func(err error) breaker.Outcome {
		if status.Code(err) == codes.NotFound {
			return breaker.Failure
		}
		return breakergrpc.DefaultClassify(err)
	})
	hs, c := setup(t, nil, grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(b, strict)))
	hs.setCode(codes.NotFound)
	_ = check(c, context.Background())
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %v, want open", b.State())
	}
}

func watch(t *testing.T, c grpc_health_v1.HealthClient, ctx context.Context) (grpc_health_v1.Health_WatchClient, error) {
	t.Helper()
	return c.Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
}

// TestStreamFailsOnFirstResponse: a stream the service fails before its
// first message counts as a failure; two trip the breaker, and the next
// stream is rejected without reaching the service.
func TestStreamFailsOnFirstResponse(t *testing.T) {
	b := newBreaker(newClock(), 2)
	hs, c := setup(t, nil, grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(b)))
	hs.setWatch(func(grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error {
		return status.Error(codes.ResourceExhausted, "overloaded")
	})
	for range 2 {
		s, err := watch(t, c, context.Background())
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		if _, err := s.Recv(); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("Recv: %v", err)
		}
		if _, err := s.Recv(); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("second Recv: %v", err) // not counted again
		}
	}
	counts(t, b, 0, 2, 0, 0)
	s, err := watch(t, c, context.Background())
	if s != nil {
		t.Fatal("a rejected stream was returned")
	}
	assertRejected(t, err, breaker.ErrOpen)
	if n := hs.calls.Load(); n != 2 {
		t.Fatalf("service saw %d streams, want 2", n)
	}
}

// TestStreamSucceedsOnFirstMessage: the first message is a success; what the
// stream does afterwards, its end by cancellation included, is not counted.
func TestStreamSucceedsOnFirstMessage(t *testing.T) {
	b := newBreaker(newClock(), 1)
	hs, c := setup(t, nil, grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(b)))
	hs.setWatch(func(s grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error {
		if err := s.Send(&grpc_health_v1.HealthCheckResponse{}); err != nil {
			return err
		}
		<-s.Context().Done()
		return status.Error(codes.Internal, "late failure")
	})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := watch(t, c, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first Recv: %v", err)
	}
	counts(t, b, 1, 0, 0, 0)
	cancel()
	if _, err := s.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancel: %v", err)
	}
	counts(t, b, 1, 0, 0, 0)

	// A stream the service ends with OK and no message: io.EOF, a success.
	hs.setWatch(func(grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error { return nil })
	s, err = watch(t, c, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	counts(t, b, 2, 0, 0, 0)
}

// TestStreamCancelledBeforeResponse: a stream cancelled before any response
// is neutral, counted when the context ends even if the caller never calls
// Recv.
func TestStreamCancelledBeforeResponse(t *testing.T) {
	b := newBreaker(newClock(), 1)
	classified := make(chan breaker.Outcome, 1)
	spy := breakergrpc.WithClassifier(func(err error) breaker.Outcome {
		o := breakergrpc.DefaultClassify(err)
		classified <- o
		return o
	})
	hs, c := setup(t, nil, grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(b, spy)))
	started := make(chan struct{})
	hs.setWatch(func(s grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error {
		close(started)
		<-s.Context().Done()
		return s.Context().Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := watch(t, c, ctx); err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	if o := <-classified; o != breaker.Neutral {
		t.Fatalf("outcome %v, want neutral", o)
	}
	// The classifier runs just before the outcome is reported, on the
	// goroutine of the context's AfterFunc: wait for the report.
	for b.Counts().NeutralCalls == 0 {
		runtime.Gosched()
	}
	counts(t, b, 0, 0, 1, 0)
}

// TestStreamAlreadyCancelled: a stream opened with a done context is not
// counted.
func TestStreamAlreadyCancelled(t *testing.T) {
	b := newBreaker(newClock(), 1)
	_, c := setup(t, nil, grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(b)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := watch(t, c, ctx); status.Code(err) != codes.Canceled {
		t.Fatalf("Watch: %v", err)
	}
	counts(t, b, 0, 0, 0, 0)
}

// TestServerSheds: the server interceptor trips on Internal answers and then
// answers Unavailable without running the handler.
func TestServerSheds(t *testing.T) {
	clk := newClock()
	b := newBreaker(clk, 2)
	hs, c := setup(t, []grpc.ServerOption{grpc.UnaryInterceptor(breakergrpc.UnaryServerInterceptor(b))})
	hs.setCode(codes.Internal)
	for range 2 {
		_ = check(c, context.Background())
	}
	err := check(c, context.Background())
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "circuit open") {
		t.Fatalf("shed call: %v, want Unavailable: circuit open", err)
	}
	if n := hs.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
	counts(t, b, 0, 2, 0, 1)

	clk.Advance(10 * time.Second)
	hs.setCode(codes.InvalidArgument) // the server did its job
	if err := check(c, context.Background()); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != breaker.StateClosed {
		t.Fatalf("state %v, want closed", b.State())
	}
}

// TestPanics: a panicking invoker, streamer or handler counts as a failure
// and the panic goes on.
func TestPanics(t *testing.T) {
	b := newBreaker(newClock(), 100)
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: the panic did not propagate", name)
			}
		}()
		f()
	}
	ctx := context.Background()
	mustPanic("unary", func() {
		_ = breakergrpc.UnaryClientInterceptor(b)(ctx, "/m", nil, nil, nil,
			func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { panic("boom") })
	})
	mustPanic("stream", func() {
		_, _ = breakergrpc.StreamClientInterceptor(b)(ctx, &grpc.StreamDesc{}, nil, "/m",
			func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
				panic("boom")
			})
	})
	mustPanic("server", func() {
		_, _ = breakergrpc.UnaryServerInterceptor(b)(ctx, nil, &grpc.UnaryServerInfo{},
			func(context.Context, any) (any, error) { panic("boom") })
	})
	counts(t, b, 0, 3, 0, 0)
	mustPanic("nil breaker", func() { breakergrpc.UnaryClientInterceptor(nil) })
}

func TestDefaultClassify(t *testing.T) {
	b := newBreaker(newClock(), 1)
	b.RecordFailure()
	_, openErr := b.Allow()
	for _, tc := range []struct {
		err  error
		want breaker.Outcome
	}{
		{nil, breaker.Success},
		{status.Error(codes.NotFound, ""), breaker.Success},
		{status.Error(codes.Unimplemented, ""), breaker.Success},
		{status.Error(codes.PermissionDenied, ""), breaker.Success},
		{status.Error(codes.Unavailable, ""), breaker.Failure},
		{status.Error(codes.Aborted, ""), breaker.Failure},
		{status.Error(codes.Canceled, ""), breaker.Neutral},
		{errors.New("no status"), breaker.Failure},
		{context.Canceled, breaker.Neutral},
		{fmt.Errorf("wrapped: %w", context.Canceled), breaker.Neutral},
		{context.DeadlineExceeded, breaker.Failure},
		{fmt.Errorf("wrapped: %w", status.Error(codes.NotFound, "")), breaker.Success},
		{openErr, breaker.Neutral},
		{&breakergrpc.RejectedError{Open: asOpen(t, openErr)}, breaker.Neutral},
	} {
		if got := breakergrpc.DefaultClassify(tc.err); got != tc.want {
			t.Errorf("DefaultClassify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func asOpen(t *testing.T, err error) *breaker.OpenError {
	t.Helper()
	var oe *breaker.OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("%v is not an *OpenError", err)
	}
	return oe
}

func TestRejectedError(t *testing.T) {
	b := newBreaker(newClock(), 1)
	b.RecordFailure()
	_, err := b.Allow()
	rej := &breakergrpc.RejectedError{Open: asOpen(t, err)}
	var wrapped error = fmt.Errorf("calling inventory: %w", rej)
	st, ok := status.FromError(wrapped)
	if !ok || st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "circuit open") {
		t.Fatalf("status %v %v", st, ok)
	}
	if !errors.Is(wrapped, breaker.ErrOpen) || errors.Is(wrapped, breaker.ErrTooManyRequests) {
		t.Fatal("errors.Is does not reach the sentinel")
	}
	if rej.Error() != err.Error() {
		t.Fatalf("Error() = %q, want %q", rej.Error(), err.Error())
	}
}
