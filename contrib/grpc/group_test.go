package breakergrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakergrpc "github.com/fusebox-go/fusebox/contrib/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

const (
	methodCheck = grpc_health_v1.Health_Check_FullMethodName
	methodList  = grpc_health_v1.Health_List_FullMethodName
	methodWatch = grpc_health_v1.Health_Watch_FullMethodName
)

// methodServer is a health service whose methods fail with the code the
// test sets for each (OK: they work), counting the calls that reach them.
type methodServer struct {
	grpc_health_v1.UnimplementedHealthServer
	check, list, watch atomic.Int32 // codes.Code to fail with
	hits               [3]atomic.Int32
}

func (s *methodServer) fail(code *atomic.Int32) error {
	if c := codes.Code(code.Load()); c != codes.OK {
		return status.Error(c, "set by the test")
	}
	return nil
}

func (s *methodServer) Check(context.Context, *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	s.hits[0].Add(1)
	if err := s.fail(&s.check); err != nil {
		return nil, err
	}
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
}

func (s *methodServer) List(context.Context, *grpc_health_v1.HealthListRequest) (*grpc_health_v1.HealthListResponse, error) {
	s.hits[1].Add(1)
	if err := s.fail(&s.list); err != nil {
		return nil, err
	}
	return &grpc_health_v1.HealthListResponse{}, nil
}

func (s *methodServer) Watch(_ *grpc_health_v1.HealthCheckRequest, ws grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error {
	s.hits[2].Add(1)
	if err := s.fail(&s.watch); err != nil {
		return err
	}
	return ws.Send(&grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING})
}

// serveTCP serves a methodServer on a real TCP listener on 127.0.0.1 and
// returns a client connected to it with dialOpts.
func serveTCP(t *testing.T, serverOpts []grpc.ServerOption, dialOpts ...grpc.DialOption) (*methodServer, grpc_health_v1.HealthClient) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(serverOpts...)
	ms := &methodServer{}
	grpc_health_v1.RegisterHealthServer(srv, ms)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(),
		append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Errorf("conn.Close: %v", err)
		}
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ms, grpc_health_v1.NewHealthClient(conn)
}

func methodGroup(t *testing.T, clk breaker.Clock, gc breaker.GroupConfig) *breaker.Group {
	t.Helper()
	if gc.Config == nil {
		gc.Config = func(string) breaker.Config {
			return breaker.Config{FailureThreshold: 3, Timeout: 10 * time.Second, Clock: clk}
		}
	}
	g, err := breaker.NewGroup(gc)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func stateOf(t *testing.T, g *breaker.Group, method string) breaker.State {
	t.Helper()
	b, err := g.Get(method)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != method {
		t.Fatalf("breaker for %s is named %q", method, b.Name())
	}
	return b.State()
}

func list(c grpc_health_v1.HealthClient, ctx context.Context) error {
	_, err := c.List(ctx, &grpc_health_v1.HealthListRequest{})
	return err
}

// recvOne opens a Watch stream and receives its first message.
func recvOne(c grpc_health_v1.HealthClient, ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := c.Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		return err
	}
	_, err = s.Recv()
	return err
}

// TestUnaryGroupPerMethod: Check fails, List works, over TCP: only Check's
// breaker opens; its calls then fail fast while List keeps being served.
func TestUnaryGroupPerMethod(t *testing.T) {
	clk := newClock()
	g := methodGroup(t, clk, breaker.GroupConfig{})
	ms, c := serveTCP(t, nil, grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptorGroup(g)))
	ctx := context.Background()
	ms.check.Store(int32(codes.Unavailable))

	for i := range 5 {
		err := check(c, ctx)
		if i < 3 {
			if status.Code(err) != codes.Unavailable || errors.Is(err, breaker.ErrOpen) {
				t.Fatalf("Check %d: %v, want the service's Unavailable", i, err)
			}
		} else {
			if status.Code(err) != codes.Unavailable || !errors.Is(err, breaker.ErrOpen) {
				t.Fatalf("Check %d: %v, want a rejection", i, err)
			}
			var rej *breakergrpc.RejectedError
			if !errors.As(err, &rej) || rej.Open.Name != methodCheck {
				t.Fatalf("Check %d: %v is not the Check breaker's rejection", i, err)
			}
		}
		if err := list(c, ctx); err != nil {
			t.Fatalf("List %d: %v", i, err)
		}
	}
	if n := ms.hits[0].Load(); n != 3 {
		t.Fatalf("Check reached the service %d times, want 3", n)
	}
	if n := ms.hits[1].Load(); n != 5 {
		t.Fatalf("List reached the service %d times, want 5", n)
	}
	if s := stateOf(t, g, methodCheck); s != breaker.StateOpen {
		t.Fatalf("Check breaker %v", s)
	}
	if s := stateOf(t, g, methodList); s != breaker.StateClosed {
		t.Fatalf("List breaker %v", s)
	}
	if g.Len() != 2 {
		t.Fatalf("%d breakers, want one per method", g.Len())
	}

	// Check recovers: one probe after the open period closes its breaker.
	ms.check.Store(int32(codes.OK))
	clk.Advance(10 * time.Second)
	if err := check(c, ctx); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if s := stateOf(t, g, methodCheck); s != breaker.StateClosed {
		t.Fatalf("Check breaker %v after a good probe", s)
	}
}

// TestStreamGroupPerMethod: one group shared by the unary and stream
// interceptors; the failing Watch stream opens its own breaker, Check is
// unaffected.
func TestStreamGroupPerMethod(t *testing.T) {
	g := methodGroup(t, newClock(), breaker.GroupConfig{})
	ms, c := serveTCP(t, nil,
		grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptorGroup(g)),
		grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptorGroup(g)))
	ctx := context.Background()
	ms.watch.Store(int32(codes.Internal))

	for i := range 5 {
		err := recvOne(c, ctx)
		switch {
		case i < 3 && status.Code(err) != codes.Internal:
			t.Fatalf("Watch %d: %v, want the service's Internal", i, err)
		case i >= 3 && !errors.Is(err, breaker.ErrOpen):
			t.Fatalf("Watch %d: %v, want a rejection", i, err)
		}
		if err := check(c, ctx); err != nil {
			t.Fatalf("Check %d: %v", i, err)
		}
	}
	if n := ms.hits[2].Load(); n != 3 {
		t.Fatalf("Watch reached the service %d times, want 3", n)
	}
	if s := stateOf(t, g, methodWatch); s != breaker.StateOpen {
		t.Fatalf("Watch breaker %v", s)
	}
	if s := stateOf(t, g, methodCheck); s != breaker.StateClosed {
		t.Fatalf("Check breaker %v", s)
	}
}

// TestGroupNoBreaker: a full group, or an invalid Config, means no breaker
// for the method: the call is not made and the error says why, with a
// fitting status code.
func TestGroupNoBreaker(t *testing.T) {
	invoked := 0
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
		invoked++
		return nil
	}
	streamer := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
		invoked++
		return nil, nil
	}
	ctx := context.Background()

	full := methodGroup(t, newClock(), breaker.GroupConfig{MaxBreakers: 1})
	b, err := full.Get("/other.Service/Method")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ForceOpen(0); err != nil {
		t.Fatal(err)
	}
	err = breakergrpc.UnaryClientInterceptorGroup(full)(ctx, methodCheck, nil, nil, nil, invoker)
	assertNoBreaker(t, err, breaker.ErrGroupFull, codes.Unavailable)
	_, err = breakergrpc.StreamClientInterceptorGroup(full)(ctx, &grpc.StreamDesc{}, nil, methodWatch, streamer)
	assertNoBreaker(t, err, breaker.ErrGroupFull, codes.Unavailable)

	bad := methodGroup(t, nil, breaker.GroupConfig{Config: func(string) breaker.Config {
		return breaker.Config{HalfOpenMaxCalls: 1 << 20}
	}})
	err = breakergrpc.UnaryClientInterceptorGroup(bad)(ctx, methodCheck, nil, nil, nil, invoker)
	assertNoBreaker(t, err, breaker.ErrInvalidConfig, codes.Internal)
	var ce *breaker.ConfigError
	if !errors.As(err, &ce) || ce.Field != "HalfOpenMaxCalls" {
		t.Fatalf("%v: no *breaker.ConfigError for HalfOpenMaxCalls", err)
	}
	if invoked != 0 {
		t.Fatalf("the call was made %d times without a breaker", invoked)
	}
	// In a chain, a breaker further out does not count a full group as the
	// service failing: the service was not called.
	fullErr := breakergrpc.UnaryClientInterceptorGroup(full)(ctx, methodCheck, nil, nil, nil, invoker)
	if o := breakergrpc.DefaultClassify(fullErr); o != breaker.Neutral {
		t.Fatalf("DefaultClassify(group full) = %v, want neutral", o)
	}
}

func assertNoBreaker(t *testing.T, err, sentinel error, code codes.Code) {
	t.Helper()
	var nb *breakergrpc.NoBreakerError
	if !errors.As(err, &nb) {
		t.Fatalf("%v (%T) is not a *NoBreakerError", err, err)
	}
	if !errors.Is(err, sentinel) || status.Code(err) != code {
		t.Fatalf("%v: want %v and code %v, got code %v", err, sentinel, code, status.Code(err))
	}
}

// TestStreamServerInterceptor: a server whose Watch handler fails sheds
// streams once its breaker opens: the handler no longer runs, the client
// sees Unavailable; a probe that works closes it again.
func TestStreamServerInterceptor(t *testing.T) {
	clk := newClock()
	closed := make(chan struct{}, 1)
	b := breaker.MustNew(breaker.Config{
		Name: "health", FailureThreshold: 2, Timeout: 10 * time.Second, Clock: clk,
		OnStateChange: func(tr breaker.Transition) {
			if tr.To == breaker.StateClosed {
				closed <- struct{}{}
			}
		},
	})
	ms, c := serveTCP(t, []grpc.ServerOption{grpc.StreamInterceptor(breakergrpc.StreamServerInterceptor(b))})
	ctx := context.Background()
	ms.watch.Store(int32(codes.Internal))

	for i := range 2 {
		if err := recvOne(c, ctx); status.Code(err) != codes.Internal {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %v after two failed streams", b.State())
	}
	err := recvOne(c, ctx)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("shed stream: %v, want Unavailable", err)
	}
	if n := ms.hits[2].Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2: a shed stream must not reach it", n)
	}
	if err := check(c, ctx); err != nil {
		t.Fatalf("unary calls are not behind the stream interceptor: %v", err)
	}
	counts(t, b, 0, 2, 0, 1)

	clk.Advance(10 * time.Second)
	ms.watch.Store(int32(codes.OK))
	if err := recvOne(c, ctx); err != nil && err != io.EOF {
		t.Fatalf("probe stream: %v", err)
	}
	// The handler's outcome is reported on the server once it has returned,
	// which the client does not see: wait for the closing transition.
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("state %v: the probe stream's success was never reported", b.State())
	}
	counts(t, b, 1, 2, 0, 1)
}

// TestStreamServerInterceptorDirect: the interceptor's outcomes without a
// network: a canceled stream is neutral, a panic is a failure that goes on.
func TestStreamServerInterceptorDirect(t *testing.T) {
	b := newBreaker(newClock(), 5)
	si := breakergrpc.StreamServerInterceptor(b)
	info := &grpc.StreamServerInfo{FullMethod: methodWatch, IsServerStream: true}
	if err := si(nil, nil, info, func(any, grpc.ServerStream) error { return nil }); err != nil {
		t.Fatal(err)
	}
	err := si(nil, nil, info, func(any, grpc.ServerStream) error { return status.Error(codes.Canceled, "client went away") })
	if status.Code(err) != codes.Canceled {
		t.Fatalf("handler error not returned as is: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the handler's panic did not go on")
			}
		}()
		_ = si(nil, nil, info, func(any, grpc.ServerStream) error { panic("handler bug") })
	}()
	counts(t, b, 1, 1, 1, 0)
	defer func() {
		if recover() == nil {
			t.Fatal("StreamServerInterceptor(nil) did not panic")
		}
	}()
	breakergrpc.StreamServerInterceptor(nil)
}

func TestGroupInterceptorsNilPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"unary":  func() { breakergrpc.UnaryClientInterceptorGroup(nil) },
		"stream": func() { breakergrpc.StreamClientInterceptorGroup(nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("%s with a nil group did not panic", name)
				}
			}()
			f()
		}()
	}
}
