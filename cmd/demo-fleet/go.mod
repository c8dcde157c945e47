module github.com/fusebox-go/fusebox/cmd/demo-fleet

go 1.26.0

replace (
	github.com/fusebox-go/fusebox => ../..
	github.com/fusebox-go/fusebox/contrib/redis => ../../contrib/redis
)

require (
	github.com/fusebox-go/fusebox v0.0.0
	github.com/fusebox-go/fusebox/contrib/redis v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
