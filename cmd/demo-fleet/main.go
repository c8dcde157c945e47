// Command demo-fleet shows fleet-shared breakers: it starts a redis-server
// on a Unix socket in a temporary directory, a flaky dependency on
// loopback, and four instances of a small service (this program, run again
// with -instance), each calling the dependency through a breaker attached
// to a breakerredis.Fleet. The dependency fails for a few seconds: the fleet
// trips every instance together, then one elected instance probes, and its
// success closes the breaker everywhere. It needs redis-server on the PATH
// and ends by itself in about 12 seconds.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerredis "github.com/fusebox-go/fusebox/contrib/redis"
	"github.com/redis/go-redis/v9"
)

func main() {
	inst := flag.String("instance", "", "run as the instance with this id (internal)")
	sock := flag.String("redis", "", "redis Unix socket (internal)")
	dep := flag.String("dep", "", "dependency URL (internal)")
	flag.Parse()
	if *inst != "" {
		if err := instance(*inst, *sock, *dep); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := orchestrate(); err != nil {
		fmt.Fprintln(os.Stderr, "demo-fleet:", err)
		os.Exit(1)
	}
}

var start = time.Now()

func stamp() string { return fmt.Sprintf("%6.2fs", time.Since(start).Seconds()) }

func orchestrate() error {
	dir, err := os.MkdirTemp("", "demo-fleet")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "redis.sock")
	srv := exec.Command("redis-server", "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir)
	if err := srv.Start(); err != nil {
		return fmt.Errorf("starting redis-server (apt-get install redis-server): %w", err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	if err := waitRedis(sock); err != nil {
		return err
	}

	// the dependency: healthy, failing from 2s to 5s, then healthy again
	var failing atomic.Bool
	var requests, whileFailing atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		if failing.Load() {
			whileFailing.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	fmt.Printf("%s redis-server on %s, dependency on %s, 4 instances\n", stamp(), sock, ln.Addr())
	var wg sync.WaitGroup
	var procs []*exec.Cmd
	for i := range 4 {
		cmd := exec.Command(os.Args[0], "-instance", fmt.Sprintf("pod-%d", i+1), "-redis", sock, "-dep", "http://"+ln.Addr().String())
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				fmt.Printf("%s %s\n", stamp(), sc.Text())
			}
		}()
	}
	time.Sleep(2 * time.Second)
	fmt.Printf("%s --- the dependency starts failing\n", stamp())
	failing.Store(true)
	time.Sleep(3 * time.Second)
	fmt.Printf("%s --- the dependency recovers (%d requests reached it while failing)\n", stamp(), whileFailing.Load())
	failing.Store(false)
	time.Sleep(7 * time.Second)
	for _, p := range procs {
		_ = p.Process.Signal(os.Interrupt)
	}
	wg.Wait()
	for _, p := range procs {
		_ = p.Wait()
	}
	fmt.Printf("%s done: %d requests reached the dependency\n", stamp(), requests.Load())
	return nil
}

func waitRedis(sock string) error {
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	defer c.Close()
	for range 200 {
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("redis-server did not answer")
}

// instance is one replica of the service: it calls the dependency every
// 50ms through a breaker attached to the fleet, and prints its transitions.
func instance(id, sock, dep string) error {
	client := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, ContextTimeoutEnabled: true})
	defer client.Close()
	fleet, err := breakerredis.NewFleet(client, breakerredis.Options{Namespace: "demo", Instance: id, Interval: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	defer fleet.Close()
	b := breaker.MustNew(breaker.Config{
		Name:                 "dependency",
		FailureRateThreshold: 0.5,
		MinimumCalls:         100, // more than one instance sees before the fleet trips
		WindowType:           breaker.TimeWindow,
		WindowDuration:       10 * time.Second,
		Timeout:              3 * time.Second,
		OnStateChange: func(t breaker.Transition) {
			fmt.Printf("%s: %s -> %s (%s)\n", id, t.From, t.To, t.Reason)
		},
	})
	err = fleet.Attach(b,
		breakerredis.WithRule(breakerredis.Rule{FailureRate: 0.5, MinimumCalls: 20, MinInstances: 3, Window: 2 * time.Second}),
		breakerredis.WithOpenDuration(2*time.Second),
		breakerredis.WithProbes(1, time.Second, 3))
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second}
	stop := make(chan os.Signal, 1)
	notify(stop)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
			_ = b.Call(func() error {
				resp, err := hc.Get(dep)
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return errors.New(resp.Status)
				}
				return nil
			})
		}
	}
}
