// swift-tools-version: 6.1
// SOTP benchmarks, a package of their own (ordo-one/benchmark) depending on the root by path. Hot-path
// benchmarks record wall clock, throughput and malloc counts. The COPY throughput comparison with psql
// is a script beside this file (sink-copy.sh) because it needs two processes and the database.
import PackageDescription

let package = Package(
    name: "sotp-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "sotp", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "SinkEncoding",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Sink", package: "sotp"),
            ],
            path: "Benchmarks/SinkEncoding",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "FlowDecoding",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Flow", package: "sotp"),
            ],
            path: "Benchmarks/FlowDecoding",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "FlowAggregation",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Flow", package: "sotp"),
            ],
            path: "Benchmarks/FlowAggregation",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ProbeFlowTable",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Flow", package: "sotp"),
            ],
            path: "Benchmarks/ProbeFlowTable",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ICMPEngine",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Poller", package: "sotp"),
            ],
            path: "Benchmarks/ICMPEngine",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SFlowDecode",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Flow", package: "sotp"),
            ],
            path: "Benchmarks/SFlowDecode",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SyslogParse",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Flow", package: "sotp"),
            ],
            path: "Benchmarks/SyslogParse",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "TrapDecode",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Poller", package: "sotp"),
            ],
            path: "Benchmarks/TrapDecode",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
