package breakerredis_test

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	goleak.VerifyTestMain(m)
}

// redisServer is a redis-server process the test started: on a Unix socket
// in a temporary directory, and on a loopback TCP port when asked. Nothing
// is saved to disk, so a restart loses every key.
type redisServer struct {
	t    testing.TB
	dir  string
	sock string
	port int
	cmd  *exec.Cmd
}

// startRedis starts a redis-server for t and stops it when t ends.
func startRedis(t testing.TB, tcp bool) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is needed (apt-get install redis-server; .ci/run installs it): %v", err)
	}
	dir := t.TempDir()
	r := &redisServer{t: t, dir: dir, sock: filepath.Join(dir, "r.sock")}
	if tcp {
		r.port = freePort(t)
	}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs redis-server and waits until it answers.
func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server",
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--unixsocket", r.sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--loglevel", "warning")
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, io.Discard
	require.NoError(r.t, r.cmd.Start())
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: r.sock, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not answer: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill stops redis-server with SIGKILL (it may be stopped by SIGSTOP).
func (r *redisServer) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
	_ = os.Remove(r.sock)
}

func (r *redisServer) signal(s syscall.Signal) {
	require.NoError(r.t, r.cmd.Process.Signal(s))
}

func (r *redisServer) tcpAddr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// client returns a client of the server's Unix socket, closed when t ends.
func (r *redisServer) client(t testing.TB) *redis.Client {
	return newClient(t, "unix", r.sock, "", "")
}

// newClient returns a go-redis client with short timeouts bound to the
// context, as the package doc recommends.
func newClient(t testing.TB, network, addr, user, pass string) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Network: network, Addr: addr, Username: user, Password: pass,
		ContextTimeoutEnabled: true,
		DialTimeout:           200 * time.Millisecond,
		ReadTimeout:           300 * time.Millisecond,
		WriteTimeout:          300 * time.Millisecond,
		PoolSize:              4,
		MaxRetries:            -1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// proxy is a loopback TCP proxy that can delay or black-hole the traffic.
type proxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // ns added before forwarding each chunk
	hole   atomic.Bool  // drop everything, both ways, keeping connections open
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *proxy) pipe(from, to net.Conn) {
	defer p.wg.Done()
	defer to.Close()
	defer from.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !p.hole.Load() {
			if d := p.delay.Load(); d > 0 {
				time.Sleep(time.Duration(d))
			}
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// reset closes every connection through the proxy.
func (p *proxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.reset()
	p.wg.Wait()
}

// eventually waits for cond, checking every few milliseconds, and fails
// with msg after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
