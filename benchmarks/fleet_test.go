package benchmarks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/fusebox-go/fusebox/benchmarks/peers"
	"github.com/fusebox-go/fusebox/breaker"
	breakerredis "github.com/fusebox-go/fusebox/contrib/redis"
)

// The Fleet scenario (BenchmarkFleet): a closed breaker, every call
// succeeds, three implementations against one redis-server that the
// benchmark starts itself:
//
//   - fusebox: a local breaker, breaker.Config with a name only;
//   - fuseboxFleet: the same breaker attached to a breakerredis Fleet, which
//     exchanges with the server in the background every fleetInterval (the
//     call path is the local one);
//   - gobreakerDistributed: gobreaker v2's DistributedCircuitBreaker on a
//     SharedDataStore over go-redis (redisStore below): every call reads
//     the shared state, takes a lock in Redis, runs, writes the state back
//     and unlocks, so it costs round trips to the server.

// fleetInterval is the Fleet's exchange interval in the benchmark: a fifth
// of the default, so that the background work is more frequent than in a
// default deployment, not less.
const fleetInterval = 100 * time.Millisecond

// redisServer is a redis-server process started for a test or benchmark,
// listening on a Unix socket in a temporary directory only (--port 0: no
// TCP), persisting nothing.
type redisServer struct {
	dir  string
	sock string
	cmd  *exec.Cmd
	done chan error // receives Wait's result once the process has ended
}

// startRedis starts a redis-server for tb, waits until it answers PING and
// stops it when tb ends. It fails tb, never skips, when redis-server is not
// installed.
func startRedis(tb testing.TB) *redisServer {
	tb.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("the Fleet benchmark and its test start their own redis-server, and none is in PATH "+
			"(.ci/run installs it: apt-get install redis-server): %v", err)
	}
	// os.MkdirTemp, not tb.TempDir: a Unix socket path must stay short.
	dir, err := os.MkdirTemp("", "fusebox-redis-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &redisServer{dir: dir, sock: filepath.Join(dir, "redis.sock"), done: make(chan error, 1)}
	s.cmd = exec.Command(path,
		"--port", "0", "--unixsocket", s.sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"), "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("starting redis-server: %v", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	tb.Cleanup(s.stop)

	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s
		}
		select {
		case werr := <-s.done:
			s.done <- werr // for stop
			tb.Fatalf("redis-server exited before answering (%v); its log: %s", werr, s.log())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server did not answer PING within 10s: %v; its log: %s", err, s.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server (it holds nothing worth saving) and waits for it.
func (s *redisServer) stop() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

func (s *redisServer) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

// client returns a go-redis client of the server, closed when tb ends.
func (s *redisServer) client(tb testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// redisStore is a gobreaker.SharedDataStore on go-redis, written here
// (gobreaker v2.4.0's module has no Redis store, and the module proxy serves
// no version of its separate v2/redis module). The state is a plain string key. The lock is
// a key set with SET NX and a 5 s expiry, holding a token unique to the
// acquisition; Unlock deletes it only if it still holds that token. Lock
// waits for a lock held by someone else by retrying after 20 µs, doubling up
// to 1 ms, for up to lockWait.
type redisStore struct {
	c      *redis.Client
	prefix string        // makes every acquisition's token unique to this store
	seq    atomic.Uint64 // numbers the acquisitions

	mu     sync.Mutex
	tokens map[string]string // lock name -> token of the acquisition that holds it
}

const (
	lockExpiry = 5 * time.Second
	lockWait   = 4 * time.Second // less than gobreaker's own 5 s retry budget
)

// unlockScript deletes a lock key only if it holds the caller's token.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

func newRedisStore(c *redis.Client) *redisStore {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return &redisStore{c: c, prefix: hex.EncodeToString(r[:]) + "-", tokens: map[string]string{}}
}

// Lock implements gobreaker.SharedDataStore.
func (s *redisStore) Lock(name string) error {
	token := s.prefix + strconv.FormatUint(s.seq.Add(1), 10)
	wait, deadline := 20*time.Microsecond, time.Now().Add(lockWait)
	for {
		ok, err := s.c.SetNX(context.Background(), name, token, lockExpiry).Result()
		if err != nil {
			return err
		}
		if ok {
			s.mu.Lock()
			s.tokens[name] = token
			s.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redisStore: lock %s still held after %v", name, lockWait)
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Millisecond)
	}
}

// Unlock implements gobreaker.SharedDataStore.
func (s *redisStore) Unlock(name string) error {
	s.mu.Lock()
	token, ok := s.tokens[name]
	delete(s.tokens, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("redisStore: unlock of %s, which this store does not hold", name)
	}
	n, err := unlockScript.Run(context.Background(), s.c, []string{name}, token).Int()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("redisStore: lock %s expired before unlock", name)
	}
	return nil
}

// GetData implements gobreaker.SharedDataStore; a missing key is no data.
func (s *redisStore) GetData(name string) ([]byte, error) {
	b, err := s.c.Get(context.Background(), name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

// SetData implements gobreaker.SharedDataStore.
func (s *redisStore) SetData(name string, data []byte) error {
	return s.c.Set(context.Background(), name, data, 0).Err()
}

// fuseboxLocal is a fusebox breaker behind peers.Breaker.
// fuseboxLocal is a fusebox breaker, local or attached to a Fleet (f). Both
// implementations have this one type, so that their calls take the same
// path through the peers.Breaker interface: a distinct wrapper type for the
// attached one would add its own method wrapper and boxing, which is the
// harness's cost, not the Fleet's.
type fuseboxLocal struct {
	b *breaker.Breaker
	f *breakerredis.Fleet // nil: local
}

func (a fuseboxLocal) Call(fn func() error) error { return a.b.Call(fn) }
func (a fuseboxLocal) State() peers.State {
	switch a.b.State() {
	case breaker.StateClosed:
		return peers.Closed
	case breaker.StateOpen, breaker.StateForcedOpen:
		return peers.Open
	case breaker.StateHalfOpen:
		return peers.HalfOpen
	}
	return peers.Unknown
}
func (a fuseboxLocal) Read() peers.State { return a.State() }

// gobreakerDist is gobreaker's DistributedCircuitBreaker behind
// peers.Breaker.
type gobreakerDist struct {
	cb    *gobreaker.DistributedCircuitBreaker[struct{}]
	store *redisStore
	name  string
}

func (a gobreakerDist) Call(fn func() error) error {
	_, err := a.cb.Execute(func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// State reads the shared state (which itself goes through Redis and its
// lock); an error reads as Unknown.
func (a gobreakerDist) State() peers.State {
	s, err := a.cb.State()
	if err != nil {
		return peers.Unknown
	}
	return gobreakerState(s)
}
func (a gobreakerDist) Read() peers.State { return a.State() }

func gobreakerState(s gobreaker.State) peers.State {
	switch s {
	case gobreaker.StateClosed:
		return peers.Closed
	case gobreaker.StateOpen:
		return peers.Open
	case gobreaker.StateHalfOpen:
		return peers.HalfOpen
	}
	return peers.Unknown
}

// fleetImpl builds one implementation of the Fleet scenario against srv;
// whatever it starts is stopped when tb ends.
type fleetImpl struct {
	name  string
	build func(tb testing.TB, srv *redisServer) peers.Breaker
}

var fleetImpls = []fleetImpl{
	{peers.FleetLocal, func(tb testing.TB, _ *redisServer) peers.Breaker {
		return fuseboxLocal{b: breaker.MustNew(breaker.Config{Name: peers.UniqueName(peers.FleetLocal)})}
	}},
	{peers.FleetAttached, buildAttached},
	{peers.FleetDistributed, buildDistributed},
}

// buildAttached attaches a fusebox breaker with breaker.Config{} (a name
// only) to a Fleet with default Options but the interval, and waits for the
// Fleet's first successful exchange, so that the breaker is shared before
// the clock starts.
func buildAttached(tb testing.TB, srv *redisServer) peers.Breaker {
	tb.Helper()
	f, err := breakerredis.NewFleet(srv.client(tb), breakerredis.Options{Namespace: "bench", Interval: fleetInterval})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Close() }) // runs before the client's Close
	b := breaker.MustNew(breaker.Config{Name: peers.UniqueName(peers.FleetAttached)})
	if err := f.Attach(b); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.Status().Exchanges == 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("the Fleet made no exchange with redis-server within 10s: %+v", f.Status())
		}
		time.Sleep(time.Millisecond)
	}
	return fuseboxLocal{b: b, f: f}
}

// buildDistributed builds gobreaker's DistributedCircuitBreaker with the
// classic scenarios' gobreaker Settings (trip after 5 consecutive failures,
// one probe, a one-hour open period) on a redisStore.
func buildDistributed(tb testing.TB, srv *redisServer) peers.Breaker {
	tb.Helper()
	store := newRedisStore(srv.client(tb))
	name := peers.UniqueName(peers.FleetDistributed)
	cb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](store, gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     longOpen,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= peers.TripAfter },
	})
	if err != nil {
		tb.Fatalf("NewDistributedCircuitBreaker: %v", err)
	}
	return gobreakerDist{cb: cb, store: store, name: name}
}

// BenchmarkFleet: closed success through a local fusebox breaker, the same
// breaker attached to a Fleet, and gobreaker's DistributedCircuitBreaker,
// against one redis-server the benchmark starts and stops.
func BenchmarkFleet(b *testing.B) {
	srv := startRedis(b)
	ok := func() error { return nil }
	for _, mode := range []string{"serial", "parallel"} {
		for _, impl := range fleetImpls {
			b.Run(mode+"/impl="+impl.name, func(b *testing.B) {
				br := impl.build(b, srv)
				var (
					mu   sync.Mutex
					ops  int
					errs int
					last error
				)
				b.ReportAllocs()
				if mode == "serial" {
					for b.Loop() {
						ops++
						if err := br.Call(ok); err != nil {
							errs++
							last = err
						}
					}
				} else {
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						n, e := 0, 0
						var l error
						for pb.Next() {
							n++
							if err := br.Call(ok); err != nil {
								e++
								l = err
							}
						}
						mu.Lock()
						ops, errs = ops+n, errs+e
						if l != nil {
							last = l
						}
						mu.Unlock()
					})
				}
				b.StopTimer()
				if ops != b.N || errs != 0 {
					b.Fatalf("%d calls (b.N = %d), %d failed; last error: %v", ops, b.N, errs, last)
				}
				if s := br.State(); s != peers.Closed {
					b.Fatalf("breaker is %v after the loop, want closed", s)
				}
			})
		}
	}
}

// TestFleetImplementations checks that the implementations of BenchmarkFleet
// admit and run calls against a redis-server started here, and that the
// shared ones really share through it: the Fleet's figures reach the
// server's window, and gobreaker's shared state in Redis counts the calls.
func TestFleetImplementations(t *testing.T) {
	srv := startRedis(t)
	const calls = 10
	for _, impl := range fleetImpls {
		t.Run(impl.name, func(t *testing.T) {
			br := impl.build(t, srv)
			ran := 0
			for i := range calls {
				if err := br.Call(func() error { ran++; return nil }); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if ran != calls {
				t.Fatalf("%d of %d calls ran", ran, calls)
			}
			if s := br.State(); s != peers.Closed {
				t.Fatalf("state %v after %d successes, want closed", s, calls)
			}
			switch br := br.(type) {
			case fuseboxLocal:
				if (br.f != nil) != (impl.name == peers.FleetAttached) {
					t.Fatalf("%s: attached to a Fleet: %v", impl.name, br.f != nil)
				}
				deadline := time.Now().Add(10 * time.Second)
				for br.f != nil {
					st := br.f.Status()
					if len(st.Breakers) == 1 && st.Breakers[0].Calls >= calls {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the fleet window never held the %d calls: %+v", calls, st)
					}
					time.Sleep(5 * time.Millisecond)
				}
			case gobreakerDist:
				data, err := br.store.GetData("gobreaker:state:" + br.name)
				if err != nil || len(data) == 0 {
					t.Fatalf("no shared state in redis-server (err %v)", err)
				}
				var st gobreaker.SharedState
				if err := json.Unmarshal(data, &st); err != nil {
					t.Fatalf("shared state %q: %v", data, err)
				}
				if st.Counts.TotalSuccesses != calls {
					t.Fatalf("shared state counts %d successes, want %d: %s", st.Counts.TotalSuccesses, calls, data)
				}
			}
		})
	}
}
