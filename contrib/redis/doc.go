// Package breakerredis shares the decisions of fusebox circuit breakers
// across the replicas of a service through Redis, without touching the
// breakers' call path.
//
// It lives in its own Go module (github.com/fusebox-go/fusebox/contrib/redis)
// so that importing package breaker never pulls in a Redis client. It uses
// github.com/redis/go-redis/v9 and takes any redis.UniversalClient (a
// Client, a ClusterClient, a FailoverClient, a Ring), with the TLS, ACL user
// and password of its options.
//
//	client := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	fleet, err := breakerredis.NewFleet(client, breakerredis.Options{Namespace: "checkout-prod"})
//	...
//	defer fleet.Close()
//	err = fleet.Attach(inventory) // shared under inventory.Name()
//
// # Design
//
// Nothing happens on the call path. Call, Allow, Done and the rest run
// exactly the code of a local breaker: no I/O, no lock, no allocation. One
// goroutine per Fleet does all the work in the background:
//
//   - Every Options.Interval (default 500ms) it reads each attached
//     breaker's lifetime totals (Counts) and sends the deltas since the last
//     exchange, for every attached breaker in one pipelined round trip: one
//     EVALSHA of the sync script per breaker, in one pipeline. The script
//     answers with the fleet's state for that breaker, so every exchange is
//     also a reconcile.
//   - It listens to each breaker's transitions (Subscribe). A local trip
//     (ModeAny), or the outcome of a probe this replica was elected to make,
//     is reported in an exchange made at once. Transitions the fleet caused
//     (breaker.Reason.Fleet) are skipped, so nothing is echoed.
//   - It subscribes to one pub/sub channel per namespace, on which the
//     script publishes every fleet trip and close: other replicas apply them
//     within about a millisecond. A lost message (a reconnect, a full
//     buffer) is made up for by the next exchange; every (re)subscription
//     triggers one at once.
//
// The fleet acts on a breaker only through breaker.FleetTrip (open for a
// duration, never forced open), breaker.FleetProbe (end the open period
// now: this replica was elected to probe) and breaker.FleetClose.
//
// # The fleet rule
//
// Counts are kept in Redis in a time window (Rule.Window, Rule.Buckets)
// bucketed by the Redis server's clock. The fleet trips (ModeQuorum, the
// default) when, over the window, the fleet made at least Rule.MinimumCalls
// calls, the failure rate reached Rule.FailureRate or the slow-call rate
// Rule.SlowRate, and at least Rule.MinInstances instances are failing
// themselves (their own calls since their previous exchange were at those
// rates, or their own breaker tripped). The last condition keeps one
// replica with a broken network path from opening the breaker everywhere;
// the first lets a fleet of replicas that each see few calls trip together.
// ModeAny also turns every local trip into a fleet trip; ModeObserve
// computes the rule and applies nothing (for rollout).
//
// # Probes
//
// A fleet open period lasts WithOpenDuration (a ModeAny trip: the local
// breaker's period). Each replica opens its breaker for that long plus all
// the probe rounds plus a random part of one round. When the fleet period
// ends, the script elects at most n replicas per round (WithProbes) among
// those whose breaker is open because of the fleet; each calls FleetProbe
// and its breaker probes with its own HalfOpenMaxCalls and ProbeLease. A
// successful probe closes the fleet: every replica's breaker closes
// (FleetClose). A failed one reopens it for another period. If no outcome
// comes within the rounds (the probers died, Redis is gone), the fleet lets
// go and each replica probes on its own when its local period runs out,
// spread by the jitter: exactly what a local breaker would do.
//
// # Data in Redis
//
// Every key is Prefix + Namespace + ":{" + name + "}:" + a suffix (the hash
// tag keeps one breaker's keys in one Cluster slot), and every key has a
// TTL:
//
//	st     hash: inc (incarnation: the server TIME when the state was
//	       made), epoch (counts fleet transitions), phase (0 idle, 1 open,
//	       3 closed by a probe), until (server ms of the end of the open
//	       period); 24h, refreshed by every exchange
//	w      hash: "<bucket>:c|f|s" call, failure and slow counts per bucket
//	       of server time; Window + one bucket
//	bad    sorted set: instance id scored by the server ms of its last
//	       failing report, at most 1024; Window
//	probe  hash: the epoch, the instances elected and the count per round;
//	       (rounds + 1) x round
//
// and the channel Prefix + Namespace + ":events" carries
// "v1|name|inc|epoch|o|ttl_ms" (a trip) and "v1|name|inc|epoch|c|0" (a
// close).
//
// # Clocks
//
// No wall-clock reading crosses machines. Buckets and the failing
// instances' timestamps come from the Redis server's TIME inside the
// script; open periods travel as remaining milliseconds and become local
// deadlines on the breaker's own monotonic clock when applied.
//
// # Failures
//
// Redis is advisory: when it is down, killed, restarted with its data lost,
// paused, slow, partitioned away or returning garbage, every attached
// breaker behaves exactly as a local breaker, because none of its calls
// ever waits for Redis. Each exchange has a deadline (Options.Timeout) and
// at most one is under way; the figures of a failed exchange are dropped,
// not queued; every value read (replies, events) is validated and counted
// in Status.InvalidValues when it is not valid; the script repairs keys of
// the wrong type or with values it cannot trust; an incarnation that
// changes (data lost) resets what the Fleet remembers of that breaker's
// epochs; the Fleet's goroutine never lets a panic out. When Redis answers
// again, the next exchange resumes sharing. Status reports all of it.
//
// # Security
//
// Keys and channels are all under Options.Prefix and Options.Namespace, so
// a Redis user confined by ACL to them works, for example:
//
//	ACL SETUSER svc on >secret resetkeys ~fusebox:v1:* resetchannels &fusebox:v1:*
//	    -@all +evalsha +eval +subscribe +ping +hello +publish +time +type
//	    +hmget +hset +hget +hgetall +hincrby +hdel +hexists +del +pexpire
//	    +zadd +zremrangebyscore +zremrangebyrank +zcard
//
// (the commands the script runs are checked against the user too). Breaker
// names key shared state, so they must come from configuration, never from
// request data: Attach takes one breaker at a time, and AttachGroup shares
// only the keys of an explicit allow-list; Options.MaxBreakers bounds the
// total. Names, namespaces and instance ids are restricted to a small
// character set. The script text is fixed; no user-supplied Lua is sent.
// Anyone who may write the keys may open the breakers of the namespace
// (bounded by MaxOpenDuration); ModeObserve and the ACL are the defenses.
package breakerredis
