package breakergrpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/fusebox-go/fusebox/breaker"
	breakergrpc "github.com/fusebox-go/fusebox/contrib/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// unhealthy is a health service that is always overloaded.
type unhealthy struct {
	grpc_health_v1.UnimplementedHealthServer
}

func (unhealthy) Check(context.Context, *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	return nil, status.Error(codes.ResourceExhausted, "overloaded")
}

// A client connection whose unary calls go through a breaker: two failures
// trip it, and the third call fails fast with codes.Unavailable and
// breaker.ErrOpen, without reaching the server.
func ExampleUnaryClientInterceptor() {
	lis := bufconn.Listen(1 << 16)
	srv := grpc.NewServer()
	grpc_health_v1.RegisterHealthServer(srv, unhealthy{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	b := breaker.MustNew(breaker.Config{Name: "health", FailureThreshold: 2})
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(b)),
	)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client := grpc_health_v1.NewHealthClient(conn)

	for range 3 {
		_, err := client.Check(context.Background(), &grpc_health_v1.HealthCheckRequest{})
		fmt.Println(status.Code(err), errors.Is(err, breaker.ErrOpen), b.State())
	}
	// Output:
	// ResourceExhausted false closed
	// ResourceExhausted false open
	// Unavailable true open
}

// halfBroken is a health service whose Check is overloaded while List
// works.
type halfBroken struct {
	unhealthy
}

func (halfBroken) List(context.Context, *grpc_health_v1.HealthListRequest) (*grpc_health_v1.HealthListResponse, error) {
	return &grpc_health_v1.HealthListResponse{}, nil
}

// One breaker per method: the failing Check trips its own breaker, while
// List goes on being called.
func ExampleUnaryClientInterceptorGroup() {
	lis := bufconn.Listen(1 << 16)
	srv := grpc.NewServer()
	grpc_health_v1.RegisterHealthServer(srv, halfBroken{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	methods, err := breaker.NewGroup(breaker.GroupConfig{
		Config: func(method string) breaker.Config { return breaker.Config{FailureThreshold: 2} },
	})
	if err != nil {
		panic(err)
	}
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptorGroup(methods)),
	)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client := grpc_health_v1.NewHealthClient(conn)
	ctx := context.Background()

	for range 3 {
		_, errCheck := client.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		_, errList := client.List(ctx, &grpc_health_v1.HealthListRequest{})
		fmt.Println("Check:", status.Code(errCheck), errors.Is(errCheck, breaker.ErrOpen), "| List:", status.Code(errList))
	}
	check, _ := methods.Get(grpc_health_v1.Health_Check_FullMethodName)
	fmt.Println(check.Name(), check.State())
	// Output:
	// Check: ResourceExhausted false | List: OK
	// Check: ResourceExhausted false | List: OK
	// Check: Unavailable true | List: OK
	// /grpc.health.v1.Health/Check open
}
